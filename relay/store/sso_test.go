package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/store/storetest"
)

// Pending sign-ins are taken once, expire, and are bounded; a used
// assertion id is refused a second time, also when both arrive at once.
func TestSSOState(t *testing.T) { storetest.Run(t, testSSOState) }

func testSSOState(t *testing.T, be storetest.Backend) {
	ctx := context.Background()
	s := open(t, be.Fresh(t))
	now := time.Now()
	s.now = func() time.Time { return now }
	if err := s.PutPending(ctx, "oidc", "st1", `{"a":1}`, now.Add(time.Minute), 2); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPending(ctx, "saml", "st2", `x`, now.Add(time.Minute), 2); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPending(ctx, "oidc", "st3", `x`, now.Add(time.Minute), 2); !errors.Is(err, ErrFull) {
		t.Fatalf("third pending of 2: %v", err)
	}
	if _, err := s.TakePending(ctx, "saml", "st1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("taken as another kind: %v", err)
	}
	var won atomic.Int32
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if d, err := s.TakePending(ctx, "oidc", "st1"); err == nil && d == `{"a":1}` {
				won.Add(1)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("a state was taken %d times", won.Load())
	}
	now = now.Add(2 * time.Minute)
	if _, err := s.TakePending(ctx, "saml", "st2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired state taken: %v", err)
	}
	// Expired rows no longer count against the bound.
	for _, st := range []string{"a", "b"} {
		if err := s.PutPending(ctx, "oidc", st, "x", now.Add(time.Minute), 2); err != nil {
			t.Fatal(err)
		}
	}

	var ok, dup atomic.Int32
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.UseAssertion(ctx, "id-1", now.Add(time.Hour))
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrConflict):
				dup.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || dup.Load() != 9 {
		t.Fatalf("assertion used %d times, %d refused", ok.Load(), dup.Load())
	}
}

// Migration 20 rebuilt the methods' table: a SAML method is accepted, and
// methods and identities made before it keep working (the identity's
// foreign key follows the rebuilt table).
func TestSAMLMethods(t *testing.T) { storetest.Run(t, testSAMLMethods) }

func testSAMLMethods(t *testing.T, be storetest.Backend) {
	ctx := context.Background()
	s := open(t, be.Fresh(t))
	a, err := s.CreateAccount(ctx, Account{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.CreateLDAPMethod(ctx, LDAPMethod{AccountID: a.ID, Domain: "AZ", Enabled: true, Config: "{}", Kind: AuthSAML})
	if err != nil {
		t.Fatal(err)
	}
	if ms, _ := s.SAMLMethods(ctx, a.ID); len(ms) != 1 || ms[0].ID != m.ID {
		t.Fatalf("saml methods %+v", ms)
	}
	if ms, _ := s.OIDCMethods(ctx, a.ID); len(ms) != 0 {
		t.Fatalf("a SAML method listed as OIDC: %+v", ms)
	}
	u, created, err := s.LDAPLogin(ctx, m, "Alice@Corp", "alice@corp.example", "Alice", nil)
	if err != nil || !created || u.Auth != AuthSAML {
		t.Fatalf("first sign-in: %+v %v %v", u, created, err)
	}
	if err := s.DeleteMethod(ctx, a.ID, m.ID, AuthSAML); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM ldap_identities WHERE method_id = $1`, m.ID).Scan(&n); err != nil || n != 0 {
		t.Fatalf("identities left after the method went: %d %v", n, err)
	}
}
