package store

import (
	"context"
	"errors"
	"testing"

	"github.com/tandem-rc/tandem/relay/store/storetest"
)

// OIDC methods share LDAP's table: each kind's routes see only its own
// methods, and an OIDC identity keeps the IdP's subject as it is.
func TestOIDCMethods(t *testing.T) { storetest.Run(t, testOIDCMethods) }

func testOIDCMethods(t *testing.T, be storetest.Backend) {
	ctx := context.Background()
	s := open(t, be.Fresh(t))
	a, err := s.CreateAccount(ctx, Account{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.CreateLDAPMethod(ctx, LDAPMethod{AccountID: a.ID, Domain: "LAB", Enabled: true, Config: "{}"})
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.CreateLDAPMethod(ctx, LDAPMethod{AccountID: a.ID, Domain: "CORP", Enabled: true, Config: "{}", Kind: AuthOIDC})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateLDAPMethod(ctx, LDAPMethod{AccountID: a.ID, Domain: "corp", Config: "{}"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("an LDAP domain taking an OIDC one's name: %v", err)
	}
	if ls, _ := s.LDAPMethods(ctx, a.ID); len(ls) != 1 || ls[0].ID != l.ID {
		t.Fatalf("LDAP methods %+v", ls)
	}
	if os, _ := s.OIDCMethods(ctx, a.ID); len(os) != 1 || os[0].ID != o.ID || os[0].Kind != AuthOIDC {
		t.Fatalf("OIDC methods %+v", os)
	}
	// An LDAP route cannot change or delete an OIDC method.
	if err := s.UpdateLDAPMethod(ctx, o); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LDAP update of an OIDC method: %v", err)
	}
	if err := s.DeleteLDAPMethod(ctx, a.ID, o.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LDAP delete of an OIDC method: %v", err)
	}
	u, created, err := s.LDAPLogin(ctx, o, "Sub|ABC", "", "Bob", nil)
	if err != nil || !created || u.Auth != AuthOIDC || u.PasswordHash != "" {
		t.Fatalf("first sign-in: %+v %v %v", u, created, err)
	}
	if _, created, err := s.LDAPLogin(ctx, o, "sub|abc", "", "Bob", nil); err != nil || !created {
		t.Fatalf("subjects differing in case are two users: %v %v", created, err)
	}
	if u2, created, err := s.LDAPLogin(ctx, o, "Sub|ABC", "", "Bob", nil); err != nil || created || u2.ID != u.ID {
		t.Fatalf("second sign-in: %+v %v %v", u2, created, err)
	}
	if err := s.DeleteMethod(ctx, a.ID, o.ID, AuthOIDC); err != nil {
		t.Fatal(err)
	}
}
