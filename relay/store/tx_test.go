package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/store/storetest"
)

func TestWithTx(t *testing.T) { storetest.Run(t, testWithTx) }

// testWithTx: writes through a transaction's Store, its own multi-statement
// methods and its audit events commit together or not at all, on both
// engines; nested calls join the outer transaction.
func testWithTx(t *testing.T, be storetest.Backend) {
	ctx := context.Background()
	s := open(t, be.Fresh(t))
	a, err := s.CreateAccount(ctx, Account{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ev := func(name string) AuditEvent { return AuditEvent{At: now, AccountID: a.ID, Event: name} }
	count := func(name string) int {
		t.Helper()
		evs, err := s.Audit(ctx, AuditFilter{AccountID: a.ID, Event: name})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}

	boom := errors.New("boom")
	err = s.WithTx(ctx, func(tx *Store) error {
		if !tx.InTx() || s.InTx() {
			t.Error("InTx wrong")
		}
		u, err := tx.CreateUser(ctx, User{Email: "ann@example.com", PasswordHash: "x"})
		if err != nil {
			return err
		}
		if err := tx.AddMembership(ctx, Membership{AccountID: a.ID, UserID: u.ID, Type: Admin}); err != nil {
			return err
		}
		if err := tx.SeedAccess(ctx, a.ID, u.ID); err != nil { // its own transaction joins this one
			return err
		}
		if err := tx.AddAudit(ctx, ev("user.created")); err != nil {
			return err
		}
		return tx.WithTx(ctx, func(inner *Store) error { return boom })
	})
	if !errors.Is(err, boom) {
		t.Fatalf("WithTx: %v, want boom", err)
	}
	if _, err := s.UserByEmail(ctx, "ann@example.com"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rolled-back user exists: %v", err)
	}
	if _, err := s.Group(ctx, a.ID, AdministratorsGroupID(a.ID)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rolled-back seed exists: %v", err)
	}
	if n := count("user.created"); n != 0 {
		t.Fatalf("%d rolled-back events", n)
	}

	// A failing statement inside (a conflict) aborts it all, PostgreSQL's
	// aborted transaction included.
	err = s.WithTx(ctx, func(tx *Store) error {
		if err := tx.AddAudit(ctx, ev("account.created")); err != nil {
			return err
		}
		_, err := tx.CreateAccount(ctx, Account{Name: "Acme"})
		return err
	})
	if !errors.Is(err, ErrConflict) || count("account.created") != 0 {
		t.Fatalf("conflict: %v, %d events", err, count("account.created"))
	}

	// Committed: all of it.
	err = s.WithTx(ctx, func(tx *Store) error {
		u, err := tx.CreateUser(ctx, User{Email: "ann@example.com", PasswordHash: "x"})
		if err != nil {
			return err
		}
		if err := tx.AddMembership(ctx, Membership{AccountID: a.ID, UserID: u.ID, Type: Admin}); err != nil {
			return err
		}
		return tx.AddAudit(ctx, ev("user.created"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UserByEmail(ctx, "ann@example.com"); err != nil || count("user.created") != 1 {
		t.Fatalf("committed: %v, %d events", err, count("user.created"))
	}
}
