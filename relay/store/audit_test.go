package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/store/storetest"
)

func TestAuditLog(t *testing.T) { storetest.Run(t, testAuditLog) }

func testAuditLog(t *testing.T, be storetest.Backend) {
	ctx := context.Background()
	s := open(t, be.Fresh(t))
	a, err := s.CreateAccount(ctx, Account{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateAccount(ctx, Account{Name: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Account(ctx, a.ID); !got.AuditEnabled {
		t.Fatal("audit logging is off for a new account")
	}
	u, err := s.CreateUser(ctx, User{Email: "ann@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	add := func(acct, user, ev string, at time.Time, force ...bool) {
		t.Helper()
		if err := s.AddAudit(ctx, AuditEvent{At: at, AccountID: acct, ActorUserID: user, Event: ev, Detail: []byte(`{"k":"v"}`)}, force...); err != nil {
			t.Fatal(err)
		}
	}
	add(a.ID, u.ID, "user.login", t0)
	add(a.ID, "", "device.enrolled", t0.Add(time.Hour))
	add(b.ID, u.ID, "user.login", t0.Add(2*time.Hour))
	add("", "", "relay.started", t0.Add(3*time.Hour))

	// Logging off: the account's events are dropped, forced ones kept, other
	// accounts unaffected.
	if err := s.SetAccountAudit(ctx, a.ID, false); err != nil {
		t.Fatal(err)
	}
	add(a.ID, u.ID, "user.logout", t0.Add(4*time.Hour))
	add(a.ID, u.ID, "audit.settings_changed", t0.Add(5*time.Hour), true)
	add(b.ID, "", "user.logout", t0.Add(6*time.Hour))
	if got, _ := s.Account(ctx, a.ID); got.AuditEnabled {
		t.Fatal("still enabled")
	}
	if err := s.SetAccountAudit(ctx, "nope", true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown account: %v", err)
	}
	evs, err := s.Audit(ctx, AuditFilter{AccountID: a.ID})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range evs {
		names = append(names, e.Event)
	}
	if strings.Join(names, ",") != "audit.settings_changed,device.enrolled,user.login" {
		t.Fatalf("account events %v", names)
	}

	// Filters: user, time range (From inclusive, To exclusive).
	evs, _ = s.Audit(ctx, AuditFilter{UserID: u.ID, From: t0.Add(time.Hour), To: t0.Add(5 * time.Hour)})
	if len(evs) != 1 || evs[0].AccountID != b.ID {
		t.Fatalf("user+range: %+v", evs)
	}
	var lines []AuditLine
	err = s.AuditEach(ctx, AuditFilter{AccountID: a.ID, From: t0, To: t0.Add(2 * time.Hour)}, func(l AuditLine) error {
		lines = append(lines, l)
		return nil
	})
	if err != nil || len(lines) != 2 || lines[0].Event != "user.login" || lines[0].UserEmail != "ann@example.com" || lines[1].UserEmail != "" {
		t.Fatalf("AuditEach: %v %+v", err, lines)
	}
	stop := errors.New("stop")
	if err := s.AuditEach(ctx, AuditFilter{}, func(AuditLine) error { return stop }); err != stop {
		t.Fatalf("AuditEach did not stop: %v", err)
	}

	// Reports: stored with their CSV, listed without, per account.
	r, err := s.CreateAuditReport(ctx, AuditReport{AccountID: a.ID, CreatedBy: u.ID, From: t0, To: t0.Add(24 * time.Hour),
		Events: 2, CreatedAt: t0.Add(7 * time.Hour), CSV: "'a','b'\n"})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := s.AuditReports(ctx, a.ID)
	if err != nil || len(rs) != 1 || rs[0].CSV != "" || rs[0].Events != 2 || !rs[0].From.Equal(t0) {
		t.Fatalf("reports: %v %+v", err, rs)
	}
	if got, err := s.AuditReport(ctx, a.ID, r.ID); err != nil || got.CSV != "'a','b'\n" {
		t.Fatalf("report: %v %+v", err, got)
	}
	if _, err := s.AuditReport(ctx, b.ID, r.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another account's report: %v", err)
	}
	if err := s.DeleteAuditReport(ctx, b.ID, r.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleting another account's report: %v", err)
	}

	// Retention: everything before the cutoff goes, events and reports.
	n, err := s.PruneAudit(ctx, t0.Add(150*time.Minute))
	if err != nil || n != 3 {
		t.Fatalf("pruned %d (%v), want 3", n, err)
	}
	if evs, _ := s.Audit(ctx, AuditFilter{Limit: 100}); len(evs) != 3 {
		t.Fatalf("%d events left, want 3", len(evs))
	}
	if rs, _ := s.AuditReports(ctx, a.ID); len(rs) != 1 {
		t.Fatal("a report newer than the cutoff was pruned")
	}
	if _, err := s.PruneAudit(ctx, t0.Add(8*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if rs, _ := s.AuditReports(ctx, a.ID); len(rs) != 0 {
		t.Fatal("an old report survived the pruning")
	}
}

// TestPruneAuditBatches deletes more rows than one batch (exactly three
// batches' worth, the edge where the loop must go round once more).
func TestPruneAuditBatches(t *testing.T) {
	ctx := context.Background()
	s := open(t, storetest.SQLite(t))
	defer func(b int) { pruneBatch = b }(pruneBatch)
	pruneBatch = 100
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 301 {
		if err := s.AddAudit(ctx, AuditEvent{At: t0.Add(time.Duration(i) * time.Second), Event: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PruneAudit(ctx, t0.Add(300*time.Second))
	if err != nil || n != 300 {
		t.Fatalf("pruned %d (%v), want 300", n, err)
	}
}
