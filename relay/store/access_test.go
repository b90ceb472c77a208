package store

import (
	"context"
	"slices"
	"testing"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/store/storetest"
)

// TestAccessSeedOnUpgrade: a database from before the access model (schema
// 2) keeps its owners' and administrators' access after the migration,
// and plain members get none (deny by default).
func TestAccessSeedOnUpgrade(t *testing.T) { storetest.Run(t, testAccessSeedOnUpgrade) }

func testAccessSeedOnUpgrade(t *testing.T, be storetest.Backend) {
	ctx := context.Background()
	path := be.Fresh(t)
	all := migrations
	migrations = all[:2]
	s, err := Open(ctx, path)
	migrations = all
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.CreateAccount(ctx, Account{Name: "Acme"})
	var ids []string
	for _, x := range []struct {
		email string
		typ   MemberType
	}{{"owner@example.com", Owner}, {"admin@example.com", Admin}, {"user@example.com", Member}} {
		u, err := s.CreateUser(ctx, User{Email: x.email, PasswordHash: "x"})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AddMembership(ctx, Membership{AccountID: a.ID, UserID: u.ID, Type: x.typ}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	s.Close()

	s = open(t, path)
	snap, err := s.Snapshot(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	m := policy.NewModel(snap)
	for i, want := range []bool{true, true, false} {
		var in bool
		for _, u := range snap.Users {
			if u.ID == ids[i] {
				in = slices.Contains(u.GroupIDs, AdministratorsGroupID(a.ID))
			}
		}
		if in != want {
			t.Errorf("user %d in Administrators: %v, want %v", i, in, want)
		}
	}
	if len(snap.Assignments) != 1 || snap.Assignments[0].RoleID != policy.RoleIDAdministrator ||
		!slices.Equal(snap.Assignments[0].DeviceGroupIDs, []string{policy.GroupIDEverything}) {
		t.Fatalf("assignments %+v", snap.Assignments)
	}
	if p := m.Problems(); len(p) != 0 {
		t.Fatalf("model problems: %v", p)
	}
	// Seeding again (a new owner) is idempotent and adds the owner.
	u, _ := s.CreateUser(ctx, User{Email: "second@example.com", PasswordHash: "x"})
	for range 2 {
		if err := s.SeedAccess(ctx, a.ID, u.ID); err != nil {
			t.Fatal(err)
		}
	}
	snap, _ = s.Snapshot(ctx, a.ID)
	if len(snap.Assignments) != 1 || len(snap.Groups) != 3 {
		t.Fatalf("after seeding twice: %d assignments, %d groups", len(snap.Assignments), len(snap.Groups))
	}
}
