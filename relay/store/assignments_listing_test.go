package store

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/listing"
	"github.com/tandem-rc/tandem/relay/store/storetest"
)

// hostileGroup is a group name made of what breaks naive SQL: quotes, LIKE
// wildcards, a backslash and non-ASCII letters.
const hostileGroup = `O'Brien "100%" _ü\ 東京`

func TestAssignmentsPage(t *testing.T) { storetest.Run(t, testAssignmentsPage) }

// The role assignments listing filters on the groups named in each
// assignment's JSON arrays, by name, on both engines: a value, Blanks (an
// empty array), contains; and by role name, status, schedule; it sorts and
// pages, and never shows another account's assignments.
func testAssignmentsPage(t *testing.T, be storetest.Backend) {
	ctx := context.Background()
	s := open(t, be.Fresh(t))
	now := time.Unix(1_800_000_000, 0).UTC()
	a, _ := s.CreateAccount(ctx, Account{Name: "Acme", CreatedAt: now})
	b, _ := s.CreateAccount(ctx, Account{Name: "Other", CreatedAt: now})
	group := func(acct, name string, kind policy.GroupKind) string {
		t.Helper()
		g, err := s.CreateGroup(ctx, Group{AccountID: acct, Name: name, Kind: kind, Active: true, CreatedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		return g.ID
	}
	night, hostile, tech := group(a.ID, "Night shift", policy.GroupUser), group(a.ID, hostileGroup, policy.GroupUser), group(a.ID, "Tech", policy.GroupUser)
	lab := group(a.ID, "Lab", policy.GroupDevice)
	theirNight := group(b.ID, "Night shift", policy.GroupUser)
	role := func(name string, typ policy.RoleType) string {
		t.Helper()
		r, err := s.CreateRole(ctx, RoleRow{AccountID: a.ID, Role: policy.Role{Name: name, Type: typ, Enabled: true}, CreatedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		return r.Role.ID
	}
	helpdesk, queue, doomed := role("Helpdesk", policy.RoleDevice), role("Queue", policy.RoleOnDemand), role("Doomed", policy.RoleDevice)
	// as00..as11: roles Administrator (i%3 == 0), Helpdesk, Queue (OnDemand:
	// no device groups); as11's role is removed below. User groups by i%4:
	// Night shift, the hostile one and Tech, Everyone, none. Device groups
	// Lab, or Lab and Everything for odd i. as05 inactive, as07 scheduled.
	names := map[string]string{}
	for i := range 12 {
		as := policy.Assignment{Name: fmt.Sprintf("as%02d", i), Active: i != 5, RoleID: []string{policy.RoleIDAdministrator, helpdesk, queue}[i%3],
			UserGroupIDs: [][]string{{night}, {hostile, tech}, {policy.GroupIDEveryone}, {}}[i%4], DeviceGroupIDs: []string{lab}}
		if i == 11 {
			as.RoleID = doomed
		}
		if i%2 == 1 {
			as.DeviceGroupIDs = append(as.DeviceGroupIDs, policy.GroupIDEverything)
		}
		if as.RoleID == queue {
			as.DeviceGroupIDs = nil
		}
		if i%2 == 0 {
			as.Description = "Described"
		}
		if i == 7 {
			as.Schedule = &policy.Schedule{AllDay: true, TimeZone: "Asia/Tokyo"}
		}
		got, err := s.CreateAssignment(ctx, a.ID, as)
		if err != nil {
			t.Fatal(err)
		}
		names[got.ID] = got.Name
	}
	if _, err := s.DeleteRole(ctx, a.ID, doomed); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAssignment(ctx, b.ID, policy.Assignment{Name: "theirs", Active: true, RoleID: policy.RoleIDAdministrator,
		UserGroupIDs: []string{theirNight}, DeviceGroupIDs: []string{policy.GroupIDEverything}}); err != nil {
		t.Fatal(err)
	}
	page := func(raw string) ([]string, int, error) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return nil, 0, err
		}
		q, err := listing.Parse(v, AssignmentColumns)
		if err != nil {
			return nil, 0, err
		}
		ids, total, err := s.AssignmentsPage(ctx, a.ID, q)
		var got []string
		for _, id := range ids {
			got = append(got, names[id])
		}
		return got, total, err
	}
	check := func(raw string, wantTotal int, want ...string) {
		t.Helper()
		got, total, err := page(raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if total != wantTotal || !slices.Equal(got, want) {
			t.Errorf("%q: %v of %d, want %v of %d", raw, got, total, want, wantTotal)
		}
	}
	q := url.QueryEscape
	check("size=10&page=2", 12, "as10", "as11")
	check("v.role=Administrator", 4, "as00", "as03", "as06", "as09")
	check("v.role=", 1, "as11")                                   // the removed role: Blanks
	check("v.user_groups=Night+shift", 3, "as00", "as04", "as08") // not their Night shift
	check("v.user_groups="+q(hostileGroup), 3, "as01", "as05", "as09")
	check("v.user_groups=", 3, "as03", "as07", "as11") // Blanks: an empty array
	check("v.user_groups=Everyone", 3, "as02", "as06", "as10")
	check("v.user_groups=&v.user_groups=Tech", 6, "as01", "as03", "as05", "as07", "as09", "as11")
	check("v.device_groups=", 3, "as02", "as05", "as08") // the OnDemand ones
	check("v.device_groups=Everything&v.device_groups=Nowhere", 5, "as01", "as03", "as07", "as09", "as11")
	check("v.device_groups=Lab&v.user_groups=Night+shift&v.role=Helpdesk", 1, "as04")
	for _, text := range []string{"%", "_", "'", `"`, `\`, "ü", "東京", "brien"} { // wildcards are only text
		check("f.user_groups="+q(text), 3, "as01", "as05", "as09")
	}
	check("f.user_groups="+q("%'"), 0)
	check("v.user_groups="+q("x' OR '1'='1"), 0)
	check("v.user_groups="+q(`O'Brien "100%" _Ü\ 東京`), 0) // values match exactly
	check("v.active=no", 2, "as05", "as11")               // removing a role disables its assignments
	check("v.schedule=yes", 1, "as07")
	check("v.description=&f.name=as0", 5, "as01", "as03", "as05", "as07", "as09")
	check("sort=-name&size=10", 12, "as11", "as10", "as09", "as08", "as07", "as06", "as05", "as04", "as03", "as02")
	// By role name: Administrator, Helpdesk, Queue, then the removed one.
	check("sort=role", 12, "as00", "as03", "as06", "as09", "as01", "as04", "as07", "as10", "as02", "as05", "as08", "as11")
	check("sort=-created&v.role=Queue", 3, "as02", "as05", "as08") // same instant: by name
	// By a set: its first name; empty sets last. "Everyone" < "Night
	// shift" < "O'Brien…" (as01's Tech comes after).
	check("sort=user_groups", 12, "as02", "as06", "as10", "as00", "as04", "as08", "as01", "as05", "as09", "as03", "as07", "as11")
	check("sort=-device_groups&size=10", 12, "as00", "as04", "as06", "as10", "as01", "as03", "as07", "as09", "as11", "as02") // Lab, then Everything
	if _, _, err := page("f.user_groups_json=x"); err == nil {
		t.Error("an unlisted column was accepted")
	}

	// 100 listings at once: each gets its own right answer.
	queries := []struct {
		raw  string
		want []string
	}{
		{"v.user_groups=" + q(hostileGroup) + "&sort=-name", []string{"as09", "as05", "as01"}},
		{"v.device_groups=&sort=name", []string{"as02", "as05", "as08"}},
		{"v.role=&v.user_groups=", []string{"as11"}},
		{"f.user_groups=%25&v.active=no", []string{"as05"}},
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		c := queries[i%len(queries)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, total, err := page(c.raw)
			switch {
			case err != nil:
				errs <- fmt.Errorf("%s: %w", c.raw, err)
			case total != len(c.want) || !slices.Equal(got, c.want):
				errs <- fmt.Errorf("%s: %v of %d, want %v", c.raw, got, total, c.want)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkAssignmentsPage: one filtered, sorted page of 2,000 role
// assignments, by a user group's name (the JSON array taken apart by the
// engine) — the Role assignments listing's query.
func BenchmarkAssignmentsPage(b *testing.B) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			ctx := context.Background()
			s, err := Open(ctx, be.Fresh(b))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			a, _ := s.CreateAccount(ctx, Account{Name: "Acme"})
			var ids []string
			for i := range 20 {
				g, err := s.CreateGroup(ctx, Group{AccountID: a.ID, Name: fmt.Sprintf("Team %02d", i), Kind: policy.GroupUser, Active: true})
				if err != nil {
					b.Fatal(err)
				}
				ids = append(ids, g.ID)
			}
			for i := range 2000 {
				if _, err := s.CreateAssignment(ctx, a.ID, policy.Assignment{Name: fmt.Sprintf("as%04d", i), Active: true, RoleID: policy.RoleIDWebSupport,
					UserGroupIDs: []string{ids[i%20], ids[(i+7)%20]}, DeviceGroupIDs: []string{policy.GroupIDEverything}}); err != nil {
					b.Fatal(err)
				}
			}
			for _, c := range []struct {
				name, raw string
				total     int
			}{{"plain", "", 2000}, {"group", "v.user_groups=Team+03&page=2", 200}, {"role", "sort=-role&page=2", 2000}, {"group-role", "v.user_groups=Team+03&sort=-role&page=2", 200}} {
				v, _ := url.ParseQuery(c.raw)
				q, err := listing.Parse(v, AssignmentColumns)
				if err != nil {
					b.Fatal(err)
				}
				b.Run(c.name, func(b *testing.B) {
					for b.Loop() {
						if _, total, err := s.AssignmentsPage(ctx, a.ID, q); err != nil || total != c.total {
							b.Fatal(total, err)
						}
					}
				})
			}
		})
	}
}
