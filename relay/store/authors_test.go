package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/store/storetest"
)

// TestAuthorsCountsPresence runs Authors, AccountCounts and LiveSince on
// each engine: the earliest creating and the latest other event's actors
// by name (email when nameless), another account's events ignored, the
// page bound refused; counts of one account only; live sessions only.
func TestAuthorsCountsPresence(t *testing.T) { storetest.Run(t, testAuthorsCountsPresence) }

func testAuthorsCountsPresence(t *testing.T, be storetest.Backend) {
	ctx := context.Background()
	s := open(t, be.Fresh(t))
	now := time.Unix(1_800_000_000, 0).UTC()
	acct, err := s.CreateAccount(ctx, Account{Name: "Acme", CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.CreateAccount(ctx, Account{Name: "Other", CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	ada, _ := s.CreateUser(ctx, User{Email: "ada@example.com", Name: "Ada Lovelace", CreatedAt: now})
	bob, _ := s.CreateUser(ctx, User{Email: "bob@example.com", CreatedAt: now})
	for _, u := range []User{ada, bob} {
		if err := s.AddMembership(ctx, Membership{AccountID: acct.ID, UserID: u.ID, Type: Admin, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	ev := func(i int, account, actor, event, subject string) {
		t.Helper()
		if err := s.AddAudit(ctx, AuditEvent{At: now.Add(time.Duration(i) * time.Second), AccountID: account, ActorUserID: actor,
			Event: event, Subject: subject}); err != nil {
			t.Fatal(err)
		}
	}
	ev(1, acct.ID, ada.ID, "role.created", "role:r1")
	ev(2, acct.ID, bob.ID, "role.updated", "role:r1")
	ev(3, acct.ID, ada.ID, "role.updated", "role:r1")
	ev(4, other.ID, bob.ID, "role.updated", "role:r1") // another account's
	ev(5, acct.ID, bob.ID, "role.updated", "role:r2")  // created while logging was off
	ev(6, acct.ID, bob.ID, "role.created", "role:r3")
	created := []string{"role.created"}
	got, err := s.Authors(ctx, acct.ID, []string{"role:r1", "role:r2", "role:r3", "role:none"}, created)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Authors{"role:r1": {"Ada Lovelace", "Ada Lovelace"}, "role:r2": {"", "bob@example.com"}, "role:r3": {"bob@example.com", ""}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("authors %v, want %v", got, want)
	}
	if _, err := s.Authors(ctx, acct.ID, make([]string, MaxAuthors+1), created); err == nil {
		t.Fatal("more than a page of subjects accepted")
	}

	c, err := s.AccountCounts(ctx, acct.ID)
	if err != nil || c != (AccountCounts{Users: 2}) {
		t.Fatalf("counts %+v %v", c, err)
	}

	if since, err := s.LiveSince(ctx, ada.ID, now); err != nil || !since.IsZero() {
		t.Fatalf("no session: %v %v", since, err)
	}
	for i, exp := range []time.Duration{-time.Minute, time.Hour, 2 * time.Hour} {
		if err := s.CreateLoginToken(ctx, LoginToken{Hash: fmt.Sprint("h", i), UserID: ada.ID, CreatedAt: now.Add(time.Duration(i-3) * time.Hour),
			ExpiresAt: now.Add(exp)}); err != nil {
			t.Fatal(err)
		}
	}
	if since, err := s.LiveSince(ctx, ada.ID, now); err != nil || !since.Equal(now.Add(-2*time.Hour)) {
		t.Fatalf("live since %v %v, want the oldest unexpired session's start", since, err)
	}
}
