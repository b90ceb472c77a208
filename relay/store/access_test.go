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
	// Rows as a build of schema 2 wrote them (later migrations add columns).
	a := Account{ID: NewID()}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO accounts (id, name, created_at) VALUES ($1, 'Acme', 0)`, a.ID); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, typ := range []string{"owner", "admin", "user"} {
		id := NewID()
		if _, err := s.db.ExecContext(ctx, `INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, 'x', 0)`,
			id, typ+"@example.com"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.db.ExecContext(ctx, `INSERT INTO memberships (account_id, user_id, type, created_at) VALUES ($1, $2, $3, 0)`,
			a.ID, id, typ); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
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
