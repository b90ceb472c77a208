package store

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/store/storetest"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestMigrationsFreshAndReopen(t *testing.T) { storetest.Run(t, testMigrationsFreshAndReopen) }

func testMigrationsFreshAndReopen(t *testing.T, be storetest.Backend) {
	ctx := context.Background()
	path := be.Fresh(t)
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.Version(ctx)
	if err != nil || v != SchemaVersion() {
		t.Fatalf("fresh database at version %d (%v), want %d", v, err, SchemaVersion())
	}
	if s.Engine() != be.Name {
		t.Fatalf("engine %q, want %q", s.Engine(), be.Name)
	}
	if be.Name == "sqlite" {
		var mode string
		if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("journal_mode %q (%v), want wal", mode, err)
		}
		var fk int
		if err := s.db.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
			t.Errorf("foreign_keys %d (%v), want 1", fk, err)
		}
	}
	a, err := s.CreateAccount(ctx, Account{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	// Reopening applies nothing twice and keeps the data.
	s = open(t, path)
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_version`).Scan(&n); err != nil || n != len(migrations) {
		t.Fatalf("schema_version has %d rows (%v), want %d", n, err, len(migrations))
	}
	if got, err := s.Account(ctx, a.ID); err != nil || got.Name != "Acme" {
		t.Fatalf("account after reopen: %+v, %v", got, err)
	}

	// A database from a newer build is refused.
	if _, err := s.db.ExecContext(ctx, `INSERT INTO schema_version (version, name, applied_at) VALUES (9999, 'future', 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(ctx, path); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("open of a newer schema: %v, want ErrSchemaTooNew", err)
	}
}

func TestAccountsUsersTokens(t *testing.T) { storetest.Run(t, testAccountsUsersTokens) }

func testAccountsUsersTokens(t *testing.T, be storetest.Backend) {
	ctx := context.Background()
	s := open(t, be.Fresh(t))
	a, err := s.CreateAccount(ctx, Account{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAccount(ctx, Account{Name: "Acme"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate account name: %v, want ErrConflict", err)
	}
	if got, err := s.AccountByName(ctx, "Acme"); err != nil || got.ID != a.ID {
		t.Fatalf("AccountByName: %+v %v", got, err)
	}
	if _, err := s.Account(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing account: %v", err)
	}
	u, err := s.CreateUser(ctx, User{Email: "a@example.com", Name: "A", PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, User{Email: "a@example.com", PasswordHash: "h"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate email: %v", err)
	}
	if got, err := s.UserByEmail(ctx, "a@example.com"); err != nil || got.ID != u.ID || got.Name != "A" || got.Disabled {
		t.Fatalf("UserByEmail: %+v %v", got, err)
	}
	if err := s.AddMembership(ctx, Membership{AccountID: a.ID, UserID: u.ID, Type: "boss"}); err == nil {
		t.Fatal("invalid member type accepted")
	}
	if err := s.AddMembership(ctx, Membership{AccountID: a.ID, UserID: u.ID, Type: Owner}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddMembership(ctx, Membership{AccountID: a.ID, UserID: "ghost", Type: Member}); err == nil {
		t.Fatal("membership of a missing user accepted (foreign keys off?)")
	}
	ms, err := s.Memberships(ctx, u.ID)
	if err != nil || len(ms) != 1 || ms[0].AccountName != "Acme" || ms[0].Type != Owner {
		t.Fatalf("Memberships: %+v %v", ms, err)
	}
	if err := s.SetPassword(ctx, u.ID, "h2"); err != nil {
		t.Fatal(err)
	}

	now := time.Unix(1_800_000_000, 0).UTC()
	if err := s.CreateLoginToken(ctx, LoginToken{Hash: "t1", UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateLoginToken(ctx, LoginToken{Hash: "t2", UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	tok, err := s.LoginToken(ctx, "t1")
	if err != nil || tok.UserID != u.ID || !tok.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("LoginToken: %+v %v", tok, err)
	}
	if n, err := s.DeleteExpiredLoginTokens(ctx, now); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredLoginTokens: %d %v", n, err)
	}
	if err := s.DeleteLoginToken(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoginToken(ctx, "t1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted token: %v", err)
	}
}

func TestPackagesDevicesSessionsAudit(t *testing.T) {
	storetest.Run(t, testPackagesDevicesSessionsAudit)
}

func testPackagesDevicesSessionsAudit(t *testing.T, be storetest.Backend) {
	ctx := context.Background()
	s := open(t, be.Fresh(t))
	now := time.Unix(1_800_000_000, 0).UTC()
	a, _ := s.CreateAccount(ctx, Account{Name: "Acme"})
	b, _ := s.CreateAccount(ctx, Account{Name: "Other"})
	p, err := s.CreatePackage(ctx, Package{AccountID: a.ID, Name: "P", KeyHash: "k1", EnrollmentState: Enrolled,
		Active: true, ValidTo: now.Add(time.Hour), MaxDevices: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreatePackage(ctx, Package{AccountID: a.ID, Name: "P", KeyHash: "k2", EnrollmentState: Enrolled}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate package name: %v", err)
	}
	pb, err := s.CreatePackage(ctx, Package{AccountID: b.ID, Name: "P", KeyHash: "kb", EnrollmentState: Pending, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Package(ctx, p.ID)
	if err != nil || got.MaxDevices != 2 || !got.ValidTo.Equal(now.Add(time.Hour)) || !got.ValidFrom.IsZero() || !got.Active {
		t.Fatalf("Package: %+v %v", got, err)
	}

	mon := json.RawMessage(`[{"x":0,"y":0,"width":1920,"height":1080,"primary":true}]`)
	var checked []int
	enroll := func(key, pub string) (EnrollResult, error) {
		return s.Enroll(ctx, EnrollParams{KeyHash: key, PublicKey: pub, Now: now,
			Inventory: Inventory{Hostname: "pc-" + pub, OS: "linux", Monitors: mon},
			Check: func(p Package, n int) error {
				checked = append(checked, n)
				if p.MaxDevices > 0 && n >= p.MaxDevices {
					return errors.New("full")
				}
				return nil
			}})
	}
	r1, err := enroll("k1", "PUB1")
	if err != nil || !r1.Created || r1.Device.State != Enrolled || r1.Device.AccountID != a.ID || r1.Device.PackageID != p.ID {
		t.Fatalf("enroll: %+v %v", r1, err)
	}
	again, err := enroll("k1", "PUB1")
	if err != nil || again.Created || again.Device.ID != r1.Device.ID {
		t.Fatalf("re-enroll: %+v %v", again, err)
	}
	if _, err := enroll("nokey", "PUB9"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := enroll("kb", "PUB1"); !errors.Is(err, ErrConflict) {
		t.Fatalf("key enrolled in another account: %v", err)
	}
	if _, err := enroll("k1", "PUB2"); err != nil {
		t.Fatal(err)
	}
	if _, err := enroll("k1", "PUB3"); err == nil || err.Error() != "full" {
		t.Fatalf("third device with max 2: %v", err)
	}
	if want := []int{0, 1, 2}; len(checked) != 3 || checked[0] != 0 || checked[1] != 1 || checked[2] != 2 {
		t.Fatalf("Check saw counts %v, want %v", checked, want)
	}
	rb, err := enroll("kb", "PUBB")
	if err != nil || rb.Device.State != Pending {
		t.Fatalf("pending package: %+v %v", rb, err)
	}
	ps, err := s.Packages(ctx, a.ID)
	if err != nil || len(ps) != 1 || ps[0].Devices != 2 {
		t.Fatalf("Packages: %+v %v", ps, err)
	}
	if all, _ := s.Packages(ctx, ""); len(all) != 2 {
		t.Fatalf("all packages: %d", len(all))
	}
	if err := s.SetPackageActive(ctx, pb.ID, false); err != nil {
		t.Fatal(err)
	}

	d := r1.Device
	if err := s.SetDeviceState(ctx, d.ID, Revoked); err != nil {
		t.Fatal(err)
	}
	if _, err := enroll("k1", "PUB1"); !errors.Is(err, ErrRevoked) {
		t.Fatalf("re-enroll of a revoked key: %v", err)
	}
	if ps, _ := s.Packages(ctx, a.ID); ps[0].Devices != 1 {
		t.Fatalf("revoked devices still counted: %d", ps[0].Devices)
	}
	if err := s.SetDeviceState(ctx, d.ID, "lost"); err == nil {
		t.Fatal("invalid state accepted")
	}
	if err := s.SetDeviceState(ctx, "ghost", Revoked); !errors.Is(err, ErrNotFound) {
		t.Fatalf("state of a missing device: %v", err)
	}
	seen := now.Add(time.Minute)
	if err := s.UpdateInventory(ctx, d.ID, Inventory{Hostname: "PC-1", OS: "windows", Arch: "amd64", Version: "1.0",
		LoggedInUser: "bob"}, seen); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDeviceAlias(ctx, d.ID, "Reception"); err != nil {
		t.Fatal(err)
	}
	d, err = s.Device(ctx, d.ID)
	if err != nil || d.Hostname != "PC-1" || d.LoggedInUser != "bob" || !d.LastSeen.Equal(seen) || d.Name() != "Reception" ||
		string(d.Monitors) != "[]" || d.State != Revoked {
		t.Fatalf("device after update: %+v %v", d, err)
	}
	states, err := s.DeviceStates(ctx, []string{d.ID, rb.Device.ID, "ghost"})
	if err != nil || len(states) != 2 || states[d.ID] != Revoked || states[rb.Device.ID] != Pending {
		t.Fatalf("DeviceStates: %v %v", states, err)
	}
	hs, err := s.DevicesByHostname(ctx, []string{a.ID}, "pc-1")
	if err != nil || len(hs) != 1 || hs[0].ID != d.ID {
		t.Fatalf("DevicesByHostname: %+v %v", hs, err)
	}
	if hs, _ := s.DevicesByHostname(ctx, []string{b.ID}, "pc-1"); len(hs) != 0 {
		t.Fatal("hostname lookup crossed accounts")
	}
	if ds, _ := s.Devices(ctx, []string{a.ID}); len(ds) != 2 {
		t.Fatalf("Devices(a): %d", len(ds))
	}
	if ds, _ := s.Devices(ctx, nil); len(ds) != 3 {
		t.Fatalf("Devices(all): %d", len(ds))
	}
	if ds, _ := s.Devices(ctx, []string{}); len(ds) != 0 {
		t.Fatalf("Devices(none): %d", len(ds))
	}

	u, _ := s.CreateUser(ctx, User{Email: "u@example.com", PasswordHash: "h"})
	se, err := s.CreateSession(ctx, Session{AccountID: a.ID, UserID: u.ID, DeviceID: d.ID, Action: "remote_control",
		Permissions: []string{"view_screen"}, CreatedAt: now, ExpiresAt: now.Add(2 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.StartSession(ctx, se.ID, now.Add(time.Second)); !ok || err != nil {
		t.Fatalf("StartSession: %v %v", ok, err)
	}
	if ok, _ := s.StartSession(ctx, se.ID, now.Add(2*time.Second)); ok {
		t.Fatal("session started twice")
	}
	if ok, err := s.EndSession(ctx, se.ID, now.Add(time.Minute), "guest_bye"); !ok || err != nil {
		t.Fatalf("EndSession: %v %v", ok, err)
	}
	if ok, _ := s.EndSession(ctx, se.ID, now.Add(2*time.Minute), "again"); ok {
		t.Fatal("session ended twice")
	}
	got2, err := s.Session(ctx, se.ID)
	if err != nil || got2.EndReason != "guest_bye" || !got2.StartedAt.Equal(now.Add(time.Second)) ||
		!got2.EndedAt.Equal(now.Add(time.Minute)) || len(got2.Permissions) != 1 {
		t.Fatalf("session: %+v %v", got2, err)
	}
	open2, _ := s.CreateSession(ctx, Session{AccountID: a.ID, UserID: u.ID, DeviceID: d.ID, Action: "chat", CreatedAt: now, ExpiresAt: now})
	if ss, _ := s.Sessions(ctx, SessionFilter{DeviceID: d.ID, OpenOnly: true}); len(ss) != 1 || ss[0].ID != open2.ID {
		t.Fatalf("open sessions: %+v", ss)
	}
	if n, err := s.EndOpenSessions(ctx, now, "relay_restart"); n != 1 || err != nil {
		t.Fatalf("EndOpenSessions: %d %v", n, err)
	}
	if ss, _ := s.Sessions(ctx, SessionFilter{UserID: u.ID}); len(ss) != 2 {
		t.Fatalf("sessions of user: %d", len(ss))
	}

	for i, ev := range []string{"x.one", "x.two", "x.one"} {
		if err := s.AddAudit(ctx, AuditEvent{At: now.Add(time.Duration(i) * time.Millisecond), AccountID: a.ID,
			ActorDeviceID: d.ID, Event: ev, Detail: json.RawMessage(`{"i":1}`), RemoteAddr: "127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddAudit(ctx, AuditEvent{At: now, Event: "x.anon"}); err != nil {
		t.Fatal(err)
	}
	evs, err := s.Audit(ctx, AuditFilter{AccountID: a.ID, Event: "x.one"})
	if err != nil || len(evs) != 2 || !evs[0].At.After(evs[1].At) || evs[0].ActorDeviceID != d.ID || evs[0].ActorUserID != "" {
		t.Fatalf("Audit: %+v %v", evs, err)
	}
	if evs, _ := s.Audit(ctx, AuditFilter{Event: "x.anon"}); len(evs) != 1 || string(evs[0].Detail) != "{}" || evs[0].AccountID != "" {
		t.Fatalf("anonymous audit row: %+v", evs)
	}
}
