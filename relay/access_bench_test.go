package relay

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
)

// BenchmarkCheckPermissions measures a decision with 10 000 role
// assignments over 1 000 groups (the size): "load" reads the
// account's access model from SQLite and indexes it (a cache miss);
// "evaluate" is the decision on an indexed model; "cached" is both through
// the relay's model cache, as session requests and Check permissions run.
func BenchmarkCheckPermissions(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, b.TempDir()+"/bench.db")
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	acct, _ := st.CreateAccount(ctx, store.Account{Name: "Big"})
	u, _ := st.CreateUser(ctx, store.User{Email: "tech@example.com", PasswordHash: "x"})
	st.AddMembership(ctx, store.Membership{AccountID: acct.ID, UserID: u.ID, Type: store.Member})
	var ugs, dgs []string
	for i := range 500 {
		g, err := st.CreateGroup(ctx, store.Group{AccountID: acct.ID, Name: fmt.Sprint("users-", i), Kind: policy.GroupUser, Active: true})
		if err != nil {
			b.Fatal(err)
		}
		ugs = append(ugs, g.ID)
		d, _ := st.CreateGroup(ctx, store.Group{AccountID: acct.ID, Name: fmt.Sprint("devices-", i), Kind: policy.GroupDevice, Active: true})
		dgs = append(dgs, d.ID)
	}
	for i := range 20 {
		st.AddGroupMember(ctx, ugs[i*25], u.ID)
	}
	_, hash := secret.NewEnrollmentKey()
	if _, err := st.CreatePackage(ctx, store.Package{AccountID: acct.ID, Name: "P", KeyHash: hash, EnrollmentState: store.Enrolled, Active: true}); err != nil {
		b.Fatal(err)
	}
	res, err := st.Enroll(ctx, store.EnrollParams{KeyHash: hash, PublicKey: "pk", Inventory: store.Inventory{Hostname: "pc"}, Now: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	devID := res.Device.ID
	for i := range 10 {
		st.AddGroupMember(ctx, dgs[i*50], devID)
	}
	view, _ := policy.NewSet(policy.ViewScreen, policy.Chat)
	role, _ := st.CreateRole(ctx, store.RoleRow{AccountID: acct.ID, Role: policy.Role{Name: "R", Type: policy.RoleDevice, Enabled: true,
		Permissions: view, ClientType: policy.ClientAny}})
	for i := range 10_000 {
		a := policy.Assignment{Name: fmt.Sprint("a", i), Active: true, RoleID: role.Role.ID,
			UserGroupIDs: []string{ugs[i%500]}, DeviceGroupIDs: []string{dgs[(i*7)%500]}}
		if i%3 == 0 {
			a.Schedule = &policy.Schedule{StartDate: policy.Date{Year: 2026, Month: 1, Day: 1}, StartTime: policy.TimeOfDay{Hour: 8},
				EndTime: policy.TimeOfDay{Hour: 18}, TimeZone: "Europe/Bucharest",
				Recurrence: policy.Recurrence{Kind: policy.RecurDaily, Daily: policy.DailyWeekdays}}
		}
		if _, err := st.CreateAssignment(ctx, acct.ID, a); err != nil {
			b.Fatal(err)
		}
	}
	req := policy.Request{UserID: u.ID, DeviceID: devID, ClientType: policy.ClientInstalledGuest,
		At: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), StateUnknown: true}
	b.Run("load", func(b *testing.B) {
		for b.Loop() {
			snap, err := st.Snapshot(ctx, acct.ID)
			if err != nil {
				b.Fatal(err)
			}
			policy.Evaluate(policy.NewModel(snap), req)
		}
	})
	snap, _ := st.Snapshot(ctx, acct.ID)
	m := policy.NewModel(snap)
	if d := policy.Evaluate(m, req); !d.Allowed || len(d.Contributing) == 0 {
		b.Fatalf("the benchmark's request is denied: %+v", d.Reasons[:min(3, len(d.Reasons))])
	}
	b.Run("evaluate", func(b *testing.B) {
		for b.Loop() {
			policy.Evaluate(m, req)
		}
	})
	// What a session request or Check permissions costs while the
	// account's model is cached (modelCache).
	cache := newModelCache(st, time.Hour, time.Now)
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			m, err := cache.model(ctx, acct.ID)
			if err != nil {
				b.Fatal(err)
			}
			policy.Evaluate(m, req)
		}
	})
	// Concurrent decisions while the model keeps expiring (a 500 ms TTL,
	// the load about 100 ms): with single-flight reloads the requests
	// arriving during a reload wait for it instead of each loading again.
	expiring := newModelCache(st, 500*time.Millisecond, time.Now)
	b.Run("parallel-expiring", func(b *testing.B) {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m, err := expiring.model(ctx, acct.ID)
				if err != nil {
					b.Error(err)
					return
				}
				policy.Evaluate(m, req)
			}
		})
	})
}
