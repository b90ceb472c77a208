package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/store/storetest"
)

// Relay nodes starting together against one database: every Open succeeds
// and each migration is applied exactly once.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		db := be.Fresh(t)
		const nodes = 4
		var wg sync.WaitGroup
		stores := make([]*Store, nodes)
		errs := make([]error, nodes)
		for i := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				stores[i], errs[i] = Open(ctx, db)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("node %d: %v", i, err)
			}
			defer stores[i].Close()
		}
		var n int
		if err := stores[0].db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_version`).Scan(&n); err != nil || n != len(migrations) {
			t.Fatalf("schema_version has %d rows (%v), want %d", n, err, len(migrations))
		}
		// Every node sees the others' writes.
		if _, err := stores[1].CreateAccount(ctx, Account{Name: "Acme"}); err != nil {
			t.Fatal(err)
		}
		if _, err := stores[nodes-1].AccountByName(ctx, "Acme"); err != nil {
			t.Fatal(err)
		}
	})
}

// A package's device limit holds when devices enroll at the same moment,
// through one handle or several (relay nodes).
func TestConcurrentEnrollKeepsLimit(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		db := be.Fresh(t)
		s1 := open(t, db)
		s2 := open(t, db)
		now := time.Unix(1_800_000_000, 0).UTC()
		a, err := s1.CreateAccount(ctx, Account{Name: "Acme"})
		if err != nil {
			t.Fatal(err)
		}
		const limit, tries = 3, 12
		if _, err := s1.CreatePackage(ctx, Package{AccountID: a.ID, Name: "P", KeyHash: "k", EnrollmentState: Enrolled,
			Active: true, MaxDevices: limit}); err != nil {
			t.Fatal(err)
		}
		if ok := enrollAtOnce(t, []*Store{s1, s2}, "k", tries, now); ok != limit {
			t.Fatalf("%d enrollments succeeded, want %d", ok, limit)
		}
		ps, err := s1.Packages(ctx, a.ID)
		if err != nil || len(ps) != 1 || ps[0].Devices != limit {
			t.Fatalf("Packages: %+v %v", ps, err)
		}
	})
}

// Enrollment costs the same at any package size: a package without a
// device limit is never counted, and a limited one still refuses at its
// limit under 50 enrollments at once.
func TestEnrollCountsOnlyWithALimit(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		s := open(t, be.Fresh(t))
		var counts atomic.Int32
		s.onCount = func() { counts.Add(1) }
		now := time.Unix(1_800_000_000, 0).UTC()
		a, err := s.CreateAccount(ctx, Account{Name: "Acme"})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []Package{{Name: "Unlimited", KeyHash: "u"}, {Name: "Ten", KeyHash: "t", MaxDevices: 10}} {
			p.AccountID, p.EnrollmentState, p.Active = a.ID, Enrolled, true
			if _, err := s.CreatePackage(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		enrollAll := func(key string, tries int) int { return enrollAtOnce(t, []*Store{s}, key, tries, now) }
		if ok := enrollAll("u", 50); ok != 50 {
			t.Fatalf("unlimited: %d of 50 enrolled", ok)
		}
		if n := counts.Load(); n != 0 {
			t.Fatalf("enrollments into a package without a limit counted its devices %d times", n)
		}
		if ok := enrollAll("t", 50); ok != 10 {
			t.Fatalf("limited to 10: %d of 50 enrolled", ok)
		}
		if n := counts.Load(); n != 50 {
			t.Fatalf("the limited package was counted %d times for 50 enrollments", n)
		}
		ps, err := s.Packages(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if want := map[string]int{"Unlimited": 50, "Ten": 10}[p.Name]; p.Devices != want {
				t.Errorf("%s holds %d devices, want %d", p.Name, p.Devices, want)
			}
		}
	})
}

// enrollAtOnce runs tries enrollments with package key at the same time,
// spread over stores, each with its own public key and a Check refusing
// at the package's device limit; it returns how many succeeded (any error
// but that refusal fails t).
func enrollAtOnce(t *testing.T, stores []*Store, key string, tries int, now time.Time) (ok int) {
	t.Helper()
	full := errors.New("full")
	check := func(p Package, n int) error {
		if p.MaxDevices > 0 && n >= p.MaxDevices {
			return full
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make([]error, tries)
	for i := range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = stores[i%len(stores)].Enroll(context.Background(), EnrollParams{KeyHash: key,
				PublicKey: fmt.Sprintf("%s-PUB%d", key, i), Now: now, Check: check})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, full):
			t.Errorf("%s: enroll %d: %v", key, i, err)
		}
	}
	return ok
}
