package store

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/store/storetest"
)

// A database written by schema 1 keeps its memberships through migration 2
// and gains the new columns with their defaults.
func TestMigration2KeepsMemberships(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		url := be.Fresh(t)
		driver, dsn := "sqlite", url
		if be.Name == "postgres" {
			driver = "pgx"
		}
		db, err := sql.Open(driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		s1 := &Store{db: db, eng: sqliteEngine, now: time.Now}
		if be.Name == "postgres" {
			s1.eng = postgresEngine
		}
		saved := migrations
		migrations = saved[:1]
		err = s1.migrate(ctx)
		migrations = saved
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{
			`INSERT INTO accounts (id, name, created_at) VALUES ('a1', 'Acme', 1)`,
			`INSERT INTO users (id, email, password_hash, created_at) VALUES ('u1', 'x@example.com', 'h', 1)`,
			`INSERT INTO memberships (account_id, user_id, type, created_at) VALUES ('a1', 'u1', 'admin', 5)`,
		} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
		s := open(t, url)
		au, err := s.AccountUser(ctx, "a1", "u1")
		if err != nil {
			t.Fatal(err)
		}
		if au.Type != Admin || !au.OnDemand || au.RCAction != RCBrowser || au.API || au.Disabled || au.AccountMFA != MFADisabled ||
			au.User.Auth != AuthInternal || au.CreatedAt.Unix() != 5 || au.UpdatedAt.Unix() != 5 {
			t.Fatalf("migrated membership %+v", au)
		}
	})
}

func TestUsersStore(t *testing.T) { storetest.Run(t, testUsersStore) }

func testUsersStore(t *testing.T, be storetest.Backend) {
	ctx := context.Background()
	s := open(t, be.Fresh(t))
	now := time.Unix(1_800_000_000, 0).UTC()
	acct, err := s.CreateAccount(ctx, Account{Name: "Acme", CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	if acct, err = s.Account(ctx, acct.ID); err != nil || acct.MFA != MFADisabled {
		t.Fatalf("account %+v %v", acct, err)
	}
	if err := s.SetAccountMFA(ctx, acct.ID, "sometimes"); err == nil {
		t.Fatal("invalid MFA mode accepted")
	}
	if err := s.SetAccountMFA(ctx, acct.ID, MFAEnforced); err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, User{Email: "a@example.com", PasswordHash: "h", CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddMembership(ctx, Membership{AccountID: acct.ID, UserID: u.ID, Type: GroupManager, API: true, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddMembership(ctx, Membership{AccountID: acct.ID, UserID: u.ID, Type: "boss"}); err == nil {
		t.Fatal("invalid type accepted")
	}
	ms, err := s.Memberships(ctx, u.ID)
	if err != nil || len(ms) != 1 || ms[0].Type != GroupManager || !ms[0].MFARequired() || ms[0].AccountName != "Acme" {
		t.Fatalf("memberships %+v %v", ms, err)
	}

	// API keys go with the API role and with disabling.
	k, err := s.CreateAPIKey(ctx, APIKey{AccountID: acct.ID, UserID: u.ID, Prefix: "tdk_abcd", Hash: "kh", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.APIKeyByHash(ctx, "kh"); err != nil || got.ID != k.ID {
		t.Fatalf("key by hash %+v %v", got, err)
	}
	if err := s.TouchAPIKey(ctx, k.ID, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if ks, _ := s.APIKeys(ctx, u.ID); len(ks) != 1 || !ks[0].LastUsed.Equal(now.Add(time.Minute)) {
		t.Fatalf("keys %+v", ks)
	}
	m := ms[0]
	m.Disabled = true
	if err := s.UpdateMembership(ctx, m); err != nil {
		t.Fatal(err)
	}
	if ks, _ := s.APIKeys(ctx, u.ID); len(ks) != 0 {
		t.Fatalf("keys of a disabled member survive: %+v", ks)
	}
	if _, err := s.CreateAPIKey(ctx, APIKey{AccountID: acct.ID, UserID: "nobody", Prefix: "p", Hash: "x", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err == nil {
		t.Fatal("key for a non-member stored")
	}

	// Lockout: the 3rd failure locks and starts over.
	for i, want := range []bool{false, false, true, false} {
		locked, err := s.LoginFailed(ctx, u.ID, now, 3, 15*time.Minute)
		if err != nil || locked != want {
			t.Fatalf("failure %d: locked %v %v", i+1, locked, err)
		}
	}
	if got, _ := s.User(ctx, u.ID); got.FailedLogins != 1 || !got.LockedUntil.Equal(now.Add(15*time.Minute)) {
		t.Fatalf("after lock: %+v", got)
	}
	if err := s.ResetLoginFailures(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.User(ctx, u.ID); got.FailedLogins != 0 || !got.LockedUntil.IsZero() {
		t.Fatalf("after reset: %+v", got)
	}

	// Invites: pending conflict, resend limit, single use.
	in, err := s.CreateInvite(ctx, Invite{AccountID: acct.ID, Email: "b@example.com", Type: Member, RCAction: RCGuest,
		TokenHash: "t0", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateInvite(ctx, Invite{AccountID: acct.ID, Email: "b@example.com", Type: Member, TokenHash: "tx",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); !errors.Is(err, ErrConflict) {
		t.Fatalf("second pending invite: %v", err)
	}
	for i := 1; i <= 2; i++ {
		if got, err := s.ResendInvite(ctx, in.ID, "t"+string(rune('0'+i)), now.Add(2*time.Hour), 2); err != nil || got.Resends != i {
			t.Fatalf("resend %d: %+v %v", i, got, err)
		}
	}
	if _, err := s.ResendInvite(ctx, in.ID, "t3", now, 2); !errors.Is(err, ErrLimit) {
		t.Fatalf("resend past the limit: %v", err)
	}
	if _, err := s.AcceptInvite(ctx, "t0", now, &User{ID: NewID(), Email: "b@example.com", PasswordHash: "h"}, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("replaced token accepted: %v", err)
	}
	if _, err := s.AcceptInvite(ctx, "t2", now.Add(2*time.Hour), &User{ID: NewID(), Email: "b@example.com", PasswordHash: "h"}, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired token accepted: %v", err)
	}
	nu := &User{ID: NewID(), Email: "b@example.com", Name: "B", PasswordHash: "h"}
	if _, err := s.AcceptInvite(ctx, "t2", now, nu, ""); err != nil {
		t.Fatal(err)
	}
	au, err := s.AccountUser(ctx, acct.ID, nu.ID)
	if err != nil || au.Type != Member || au.RCAction != RCGuest || au.User.Name != "B" {
		t.Fatalf("accepted member %+v %v", au, err)
	}
	if _, err := s.AcceptInvite(ctx, "t2", now, &User{ID: NewID(), Email: "c@example.com", PasswordHash: "h"}, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("token used twice: %v", err)
	}
	if list, _ := s.AccountUsers(ctx, acct.ID); len(list) != 2 {
		t.Fatalf("%d members", len(list))
	}

	// One-off tokens: only the newest of a purpose, consumed once.
	for _, h := range []string{"r1", "r2"} {
		if err := s.CreateUserToken(ctx, UserToken{Hash: h, UserID: u.ID, Purpose: PurposeReset, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ConsumeUserToken(ctx, "r1", PurposeReset); !errors.Is(err, ErrNotFound) {
		t.Fatalf("older reset token: %v", err)
	}
	if got, err := s.ConsumeUserToken(ctx, "r2", PurposeReset); err != nil || got.UserID != u.ID {
		t.Fatalf("consume %+v %v", got, err)
	}
	if _, err := s.ConsumeUserToken(ctx, "r2", PurposeReset); !errors.Is(err, ErrNotFound) {
		t.Fatalf("consumed twice: %v", err)
	}
	if err := s.CreateUserToken(ctx, UserToken{Hash: "m1", UserID: u.ID, Purpose: PurposeMFA, CodeHash: "c", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.UserTokenFailed(ctx, "m1"); err != nil || n != 1 {
		t.Fatalf("tries %d %v", n, err)
	}
	if n, _ := s.DeleteExpiredUserTokens(ctx, now.Add(time.Minute)); n != 1 {
		t.Fatalf("expired tokens deleted: %d", n)
	}

	// Recovery codes: a new set voids the old, each works once.
	if err := s.ReplaceRecoveryCodes(ctx, u.ID, []string{"a", "b"}, now); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceRecoveryCodes(ctx, u.ID, []string{"c", "d"}, now); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.UseRecoveryCode(ctx, u.ID, "a", now); ok {
		t.Fatal("old set still works")
	}
	if ok, _ := s.UseRecoveryCode(ctx, u.ID, "c", now); !ok {
		t.Fatal("new code refused")
	}
	if ok, _ := s.UseRecoveryCode(ctx, u.ID, "c", now); ok {
		t.Fatal("code used twice")
	}
	if n, _ := s.RecoveryCodesLeft(ctx, u.ID); n != 1 {
		t.Fatalf("%d codes left", n)
	}

	// Password change keeps only the named login token, and no API key.
	for _, h := range []string{"l1", "l2"} {
		if err := s.CreateLoginToken(ctx, LoginToken{Hash: h, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateAPIKey(ctx, APIKey{AccountID: acct.ID, UserID: u.ID, Prefix: "tdk_pw", Hash: "kp", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAPIKey(ctx, APIKey{AccountID: acct.ID, UserID: u.ID, Prefix: "tdk_pw", Hash: "kn", CreatedAt: now}); err == nil {
		t.Fatal("a key that never expires was stored")
	}
	if err := s.ChangePassword(ctx, u.ID, "h2", "l1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.APIKeyByHash(ctx, "kp"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("API key survives the password change: %v", err)
	}
	if _, err := s.LoginToken(ctx, "l2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other token survives: %v", err)
	}
	if _, err := s.LoginToken(ctx, "l1"); err != nil {
		t.Fatalf("own token gone: %v", err)
	}

	// Removing the last membership removes the user; another stays.
	if gone, err := s.RemoveMembership(ctx, acct.ID, nu.ID); err != nil || !gone {
		t.Fatalf("remove: %v %v", gone, err)
	}
	if _, err := s.User(ctx, nu.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("user without account survives: %v", err)
	}
	if _, err := s.RemoveMembership(ctx, acct.ID, nu.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
	// Ownership moves in one piece, only from the owner to an enabled member.
	own, _ := s.CreateUser(ctx, User{Email: "o@example.com", PasswordHash: "h", CreatedAt: now})
	if err := s.AddMembership(ctx, Membership{AccountID: acct.ID, UserID: own.ID, Type: Owner}); err != nil {
		t.Fatal(err)
	}
	if err := s.TransferOwnership(ctx, acct.ID, u.ID, own.ID, now); !errors.Is(err, ErrConflict) {
		t.Fatalf("transfer from a non-owner: %v", err)
	}
	if err := s.TransferOwnership(ctx, acct.ID, own.ID, u.ID, now); !errors.Is(err, ErrConflict) {
		t.Fatalf("transfer to a disabled member: %v", err)
	}
	m.Disabled = false
	if err := s.UpdateMembership(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := s.TransferOwnership(ctx, acct.ID, own.ID, u.ID, now); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.AccountUser(ctx, acct.ID, own.ID); a.Type != Admin {
		t.Fatalf("old owner %s", a.Type)
	}
	if a, _ := s.AccountUser(ctx, acct.ID, u.ID); a.Type != Owner {
		t.Fatalf("new owner %s", a.Type)
	}

	// The email can be invited again.
	if _, err := s.CreateInvite(ctx, Invite{AccountID: acct.ID, Email: "b@example.com", Type: Member, TokenHash: "t9",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatalf("re-invite: %v", err)
	}
}
