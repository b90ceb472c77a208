package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/store/storetest"
)

// TestActivity: the Dashboard's counts per period, on both engines —
// active members (their logins and their acts in this account, each
// counted once a period), sessions, enrolled devices; other accounts,
// pending devices and OnDemand agents not counted.
func TestActivity(t *testing.T) { storetest.Run(t, testActivity) }

func testActivity(t *testing.T, be storetest.Backend) {
	ctx := context.Background()
	s := open(t, be.Fresh(t))
	a, _ := s.CreateAccount(ctx, Account{Name: "Acme"})
	other, _ := s.CreateAccount(ctx, Account{Name: "Other"})
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	bounds := []time.Time{day, day.AddDate(0, 0, 1), day.AddDate(0, 0, 2), day.AddDate(0, 0, 3)}
	var users []User
	for i := range 3 {
		u, err := s.CreateUser(ctx, User{Email: fmt.Sprintf("u%d@example.com", i), PasswordHash: "x", CreatedAt: day})
		if err != nil {
			t.Fatal(err)
		}
		acct := a.ID
		if i == 2 {
			acct = other.ID // a member of the other account only
		}
		if err := s.AddMembership(ctx, Membership{AccountID: acct, UserID: u.ID, Type: Member, CreatedAt: day}); err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	audit := func(at time.Time, acct, user, ev string) {
		if err := s.AddAudit(ctx, AuditEvent{At: at, AccountID: acct, ActorUserID: user, Event: ev}, true); err != nil {
			t.Fatal(err)
		}
	}
	h := time.Hour
	audit(day.Add(h), "", users[0].ID, "user.login")            // period 0
	audit(day.Add(2*h), a.ID, users[0].ID, "session.requested") // period 0, same user
	audit(day.Add(3*h), "", users[2].ID, "user.login")          // not a member
	audit(day.Add(25*h), a.ID, users[1].ID, "device.approved")  // period 1
	audit(day.Add(26*h), "", users[1].ID, "user.logout")        // no account, not a login
	audit(day.Add(26*h), other.ID, users[0].ID, "x")            // another account
	audit(day.Add(-h), "", users[0].ID, "user.login")           // before
	audit(day.Add(72*h), "", users[0].ID, "user.login")         // after (bounds exclusive)
	audit(day.Add(49*h), "", users[1].ID, "user.login")         // period 2
	audit(day.Add(50*h), "", users[0].ID, "user.login")         // period 2

	dev := func(id, acct, state string, ondemand bool, at time.Time) {
		if _, err := s.db.ExecContext(ctx, `INSERT INTO devices (id, account_id, public_key, state, enrolled_at, ondemand)
			VALUES ($1, $2, $3, $4, $5, $6)`, id, acct, "pk-"+id, state, at.Unix(), ondemand); err != nil {
			t.Fatal(err)
		}
	}
	dev("d1", a.ID, "enrolled", false, day.Add(h))
	dev("d2", a.ID, "revoked", false, day.Add(2*h)) // enrolled then, revoked since: counts
	dev("d3", a.ID, "pending", false, day.Add(3*h))
	dev("d4", a.ID, "enrolled", true, day.Add(4*h)) // an OnDemand agent
	dev("d5", other.ID, "enrolled", false, day.Add(5*h))
	dev("d6", a.ID, "enrolled", false, day.Add(51*h))
	for i, at := range []time.Duration{30 * h, 31 * h, 52 * h, -h} {
		if _, err := s.CreateSession(ctx, Session{AccountID: a.ID, UserID: users[0].ID, DeviceID: "d1", Action: "control",
			CreatedAt: day.Add(at), ExpiresAt: day.Add(at + h)}); err != nil {
			t.Fatal(i, err)
		}
	}
	if _, err := s.CreateSession(ctx, Session{AccountID: other.ID, UserID: users[2].ID, DeviceID: "d5", Action: "control",
		CreatedAt: day.Add(30 * h), ExpiresAt: day.Add(31 * h)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Activity(ctx, a.ID, bounds)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{1, 1, 2}; !slices.Equal(got.ActiveUsers, want) {
		t.Errorf("active users %v, want %v", got.ActiveUsers, want)
	}
	if want := []int{0, 2, 1}; !slices.Equal(got.Sessions, want) {
		t.Errorf("sessions %v, want %v", got.Sessions, want)
	}
	if want := []int{2, 0, 1}; !slices.Equal(got.Enrolled, want) {
		t.Errorf("enrolled %v, want %v", got.Enrolled, want)
	}
	if _, err := s.Activity(ctx, a.ID, bounds[:1]); err == nil {
		t.Error("no period: no error")
	}
	many := make([]time.Time, maxActivityPeriods+2)
	if _, err := s.Activity(ctx, a.ID, many); err == nil {
		t.Error("too many periods: no error")
	}
}

// TestColumns: Choose columns per user, on both engines: replaced in
// place, other users' untouched, at most MaxColumnLists listings, gone
// with the user.
func TestColumns(t *testing.T) { storetest.Run(t, testColumns) }

func testColumns(t *testing.T, be storetest.Backend) {
	ctx := context.Background()
	s := open(t, be.Fresh(t))
	now := time.Unix(1_800_000_000, 0)
	u1, _ := s.CreateUser(ctx, User{Email: "a@example.com", PasswordHash: "x", CreatedAt: now})
	u2, _ := s.CreateUser(ctx, User{Email: "b@example.com", PasswordHash: "x", CreatedAt: now})
	if err := s.SetColumns(ctx, u1.ID, "users", []string{"name", "email"}, now); err != nil {
		t.Fatal(err)
	}
	if err := s.SetColumns(ctx, u1.ID, "users", []string{"email", "type"}, now); err != nil {
		t.Fatal(err)
	}
	if err := s.SetColumns(ctx, u2.ID, "users", []string{"name"}, now); err != nil {
		t.Fatal(err)
	}
	got, err := s.Columns(ctx, u1.ID)
	if err != nil || len(got) != 1 || !slices.Equal(got["users"], []string{"email", "type"}) {
		t.Fatalf("columns %v %v", got, err)
	}
	for i := 1; i < MaxColumnLists; i++ {
		if err := s.SetColumns(ctx, u1.ID, fmt.Sprintf("l%d", i), []string{"c"}, now); err != nil {
			t.Fatal(i, err)
		}
	}
	if err := s.SetColumns(ctx, u1.ID, "one-too-many", []string{"c"}, now); !errors.Is(err, ErrTooMany) {
		t.Fatalf("listing %d: %v, want ErrTooMany", MaxColumnLists+1, err)
	}
	if err := s.SetColumns(ctx, u1.ID, "users", []string{"name"}, now); err != nil {
		t.Fatalf("changing a kept listing at the limit: %v", err)
	}
	if got, _ := s.Columns(ctx, u2.ID); !slices.Equal(got["users"], []string{"name"}) {
		t.Fatalf("the other user's columns %v", got)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, u1.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Columns(ctx, u1.ID); len(got) != 0 {
		t.Fatalf("a removed user's columns %v", got)
	}
}
