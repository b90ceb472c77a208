package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// doFrom sends a request through the relay's handler as if from the
// client address remote ("192.0.2.7:4242", "[2001:db8::1]:4242"): the
// tests' way to be several sources at once on one loopback machine.
func (e *env) doFrom(remote, method, path string, body any) (int, []byte, http.Header) {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, r)
	req.RemoteAddr = remote
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes(), rec.Header()
}

// storm sends n requests at once (released together) through real HTTP
// and returns how many got each status.
func (e *env) storm(n int, req func(i int) (string, any)) map[int]int {
	e.t.Helper()
	var mu sync.Mutex
	counts := map[int]int{}
	start := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	defer client.CloseIdleConnections()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path, body := req(i)
			j, _ := json.Marshal(body)
			<-start
			status := -1
			resp, err := client.Post(e.ts.URL+path, "application/json", bytes.NewReader(j))
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
			}
			mu.Lock()
			counts[status]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return counts
}

// 100 simultaneous wrong passwords for one user are 100 attempts in a
// row: exactly the limit are checked, the rest wait (today 49 of 100 were
// checked).
func TestLoginRaceChecksOnlyTheLimit(t *testing.T) {
	e := newEnv(t)
	before := e.srv.gd.hash.Ran()
	counts := e.storm(100, func(int) (string, any) {
		return "/api/v1/login", wire.LoginRequest{Email: ownerEmail, Password: "Wr0ngPassword"}
	})
	limit := e.srv.cfg.Limits.LockAfter
	if counts[http.StatusUnauthorized] != limit || counts[http.StatusTooManyRequests] != 100-limit {
		t.Fatalf("answers %v, want %d × 401 and the rest 429", counts, limit)
	}
	if n := len(e.audit(EvLoginFailed)); n != limit {
		t.Fatalf("%d failed logins evaluated, want %d", n, limit)
	}
	if ran := e.srv.gd.hash.Ran() - before; ran != int64(limit) {
		t.Fatalf("%d password hashes computed, want %d", ran, limit)
	}
}

// Guessers from many addresses lock the owner against strangers, never
// out of the place the owner logs in from; an administrator, or the admin
// command, lifts the lock for everyone.
func TestOwnerNotLockableByStrangers(t *testing.T) {
	e := newEnv(t)
	acme := e.acme().ID
	home := "198.51.100.10:5000"
	right := wire.LoginRequest{Email: ownerEmail, Password: ownerPass}
	if status, body, _ := e.doFrom(home, "POST", "/api/v1/login", right); status != 200 {
		t.Fatalf("first login: %d %s", status, body)
	}
	// Strangers, one wrong password each (well inside each one's own
	// budget): the owner is locked for strangers.
	for i := range e.srv.cfg.Limits.LockAfter {
		e.doFrom(fmt.Sprintf("[2001:db8:%x::1]:4000", i), "POST", "/api/v1/login",
			wire.LoginRequest{Email: ownerEmail, Password: "Wr0ngPassword"})
	}
	if len(e.audit(EvLoginLocked)) == 0 {
		t.Fatal("spread-out guessing did not lock the user against strangers")
	}
	if status, body, _ := e.doFrom("203.0.113.5:4000", "POST", "/api/v1/login", right); status != 401 {
		t.Fatalf("stranger with the right password while locked: %d %s", status, body)
	}
	for range 3 {
		if status, body, _ := e.doFrom(home, "POST", "/api/v1/login", right); status != 200 {
			t.Fatalf("owner from home while strangers are locked out: %d %s", status, body)
		}
	}

	// The owner's own address, shared with a guesser (one NAT): that
	// pair backs off with growing delays, 429 with Retry-After.
	shared := "198.51.100.20:5000"
	e.doFrom(shared, "POST", "/api/v1/login", right)
	var retries []string
	for range e.srv.cfg.Limits.LoginBurst + 2 {
		status, body, h := e.doFrom(shared, "POST", "/api/v1/login", wire.LoginRequest{Email: ownerEmail, Password: "Wr0ngPassword"})
		if status == http.StatusTooManyRequests {
			wantError(t, status, body, http.StatusTooManyRequests, api.CodeThrottled)
			retries = append(retries, h.Get("Retry-After"))
			e.clock.Advance(time.Duration(mustAtoi(t, h.Get("Retry-After"))) * time.Second)
		}
	}
	if len(retries) < 2 || mustAtoi(t, retries[1]) <= mustAtoi(t, retries[0]) {
		t.Fatalf("delays do not grow: Retry-After %v", retries)
	}

	// An administrator lifts it, owner included.
	_, adminTok := e.member(acme, "admin@example.com", store.Admin)
	owner := e.accountUser(acme, ownerEmail).UserID
	if status, body := e.do("POST", "/api/v1/accounts/"+acme+"/users/"+owner+"/unlock", adminTok, nil); status != 204 {
		t.Fatalf("admin unlocks the owner: %d %s", status, body)
	}
	for _, from := range []string{"203.0.113.5:4000", shared} {
		if status, body, _ := e.doFrom(from, "POST", "/api/v1/login", right); status != 200 {
			t.Fatalf("after the unlock, from %s: %d %s", from, status, body)
		}
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

// tandem-relay admin user unlock: another process's unlock reaches the
// running relay's per-source delays too.
func TestAdminUnlockOwner(t *testing.T) {
	e := newEnv(t)
	stranger := "192.0.2.9:4000"
	bad := wire.LoginRequest{Email: ownerEmail, Password: "Wr0ngPassword"}
	for range e.srv.cfg.Limits.LockAfter {
		e.doFrom(stranger, "POST", "/api/v1/login", bad)
	}
	status, body, _ := e.doFrom(stranger, "POST", "/api/v1/login", wire.LoginRequest{Email: ownerEmail, Password: ownerPass})
	if status == 200 {
		t.Fatalf("locked owner logged in: %s", body)
	}
	a, err := OpenAdminDB(context.Background(), e.dir, e.db)
	if err != nil {
		t.Fatal(err)
	}
	a.now = e.clock.Now
	if _, err := a.UnlockUser(context.Background(), "Owner@Example.com"); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if status, body, _ = e.doFrom(stranger, "POST", "/api/v1/login", wire.LoginRequest{Email: ownerEmail, Password: ownerPass}); status != 200 {
		t.Fatalf("after admin user unlock: %d %s", status, body)
	}
	if evs := e.audit(EvUserUnlocked); len(evs) != 1 || !strings.Contains(string(evs[0].Detail), `"via":"admin"`) {
		t.Fatalf("unlock audit: %+v", evs)
	}
	if _, err := e.admin.UnlockUser(context.Background(), "nobody@example.com"); err == nil {
		t.Fatal("unlocking an unknown user succeeded")
	}
}

// Guessing budgets are per /64 for IPv6: the addresses of one /64 share
// one; the next /64 has its own.
func TestBudgetsPerIPv6Prefix(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limits.EnrollBurst = 3; c.Limits.EnrollEvery = time.Hour })
	guess := func(from string) int {
		status, _, _ := e.doFrom(from, "POST", "/api/v1/enroll", wire.EnrollRequest{
			Key: "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA", PublicKey: pubB64(newKey(t))})
		return status
	}
	for i := range 3 {
		if st := guess(fmt.Sprintf("[2001:db8:1:2::%x]:4000", i+1)); st != http.StatusForbidden {
			t.Fatalf("guess %d: %d", i, st)
		}
	}
	if st := guess("[2001:db8:1:2:ffff:ffff:ffff:fffe]:4000"); st != http.StatusTooManyRequests {
		t.Fatalf("a fresh address in the same /64: %d, want 429", st)
	}
	if st := guess("[2001:db8:1:3::1]:4000"); st != http.StatusForbidden {
		t.Fatalf("the next /64: %d, want its own budget", st)
	}
}

// A valid installer link works from an address throttled for guessing
// (a neighbour behind the same NAT guessed); guesses stay refused.
func TestValidLinkNotRefusedForOthersGuesses(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limits.EnrollBurst = 2; c.Limits.EnrollEvery = time.Hour })
	_, key := e.pkg(PackageSpec{Name: "Office"})
	nat := "192.0.2.44:1000"
	for range 3 {
		e.doFrom(nat, "GET", "/d/AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA", nil)
	}
	if status, _, h := e.doFrom(nat, "GET", "/d/BBBB-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA", nil); status != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Fatalf("guess from a throttled address: %d", status)
	}
	if status, body, _ := e.doFrom(nat, "GET", "/d/"+key, nil); status != 200 {
		t.Fatalf("valid link from a throttled address: %d %s", status, body)
	}
	if n := len(e.audit(EvDownloadFailed)); n != 2 {
		t.Fatalf("%d failed links audited, want 2 (throttled tries are not)", n)
	}
}

// Simultaneous wrong MFA codes for one challenge are tries in a row: no
// more than the challenge's five are evaluated.
func TestMFARaceChecksOnlyFiveCodes(t *testing.T) {
	mb := &mailbox{}
	e := newEnv(t, withMail(mb), func(c *Config) { c.Limits.LoginBurst = 100; c.Limits.LoginIPBurst = 1000 })
	acme := e.acme().ID
	_, adminTok := e.member(acme, "admin@example.com", store.Admin)
	e.member(acme, "m@example.com", store.Member, func(m *store.Membership) { m.MFA = true })
	if status, body := e.do("PUT", "/api/v1/accounts/"+acme+"/security", adminTok, wire.Security{MFA: "enabled"}); status != 200 {
		t.Fatalf("security: %d %s", status, body)
	}
	ch := e.loginStep1("m@example.com", memberPass)
	wrong := "000000"
	if mb.lastSecret(t, "m@example.com") == wrong {
		wrong = "111111"
	}
	counts := e.storm(40, func(int) (string, any) {
		return "/api/v1/login/mfa", wire.LoginMFA{Challenge: ch, Code: wrong}
	})
	if n := len(e.audit(EvLoginFailed)); n != mfaMaxTries {
		t.Fatalf("%d wrong codes evaluated (answers %v), want %d", n, counts, mfaMaxTries)
	}
}

// A valid reset code works from an address throttled for wrong codes
// (someone else behind it guessed); wrong codes stay refused.
func TestValidResetCodeNotRefusedForOthersGuesses(t *testing.T) {
	mb := &mailbox{}
	e := newEnv(t, withMail(mb), func(c *Config) { c.Limits.LoginIPBurst = 2; c.Limits.LoginEvery = time.Hour })
	e.member(e.acme().ID, "f@example.com", store.Member)
	if status, body := e.do("POST", "/api/v1/password/forgot", "", wire.PasswordForgot{Email: "f@example.com"}); status != http.StatusAccepted {
		t.Fatalf("forgot: %d %s", status, body)
	}
	waitFor(t, func() bool { return len(mb.to("f@example.com")) == 1 })
	nat := "192.0.2.80:1000"
	for range 2 {
		e.doFrom(nat, "POST", "/api/v1/password/reset", wire.PasswordReset{Token: "guessed-code", Password: "R3setPassword"})
	}
	status, body, _ := e.doFrom(nat, "POST", "/api/v1/password/reset", wire.PasswordReset{Token: "guessed-again", Password: "R3setPassword"})
	wantError(t, status, body, http.StatusTooManyRequests, api.CodeThrottled)
	code := mb.lastSecret(t, "f@example.com")
	if status, body, _ = e.doFrom(nat, "POST", "/api/v1/password/reset", wire.PasswordReset{Token: code, Password: "R3setPassword"}); status != http.StatusNoContent {
		t.Fatalf("valid code from a throttled address: %d %s", status, body)
	}
}

// After a restart (or on another node) the places a user logged in from
// are known again from the audit log: the owner still gets in while
// strangers are locked out.
func TestKnownSourceSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	home := "[2001:db8:77:1::10]:5000"
	right := wire.LoginRequest{Email: ownerEmail, Password: ownerPass}
	if status, body, _ := e.doFrom(home, "POST", "/api/v1/login", right); status != 200 {
		t.Fatalf("first login: %d %s", status, body)
	}
	e.srv.Close()
	s, err := New(e.srv.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e.srv = s
	for i := range e.srv.cfg.Limits.LockAfter {
		e.doFrom(fmt.Sprintf("192.0.2.%d:4000", 100+i), "POST", "/api/v1/login", wire.LoginRequest{Email: ownerEmail, Password: "Wr0ngPassword"})
	}
	if status, _, _ := e.doFrom("192.0.2.99:4000", "POST", "/api/v1/login", right); status != 401 {
		t.Fatalf("stranger while locked: %d", status)
	}
	// Another address of the same /64 is the same place.
	if status, body, _ := e.doFrom("[2001:db8:77:1::99]:5000", "POST", "/api/v1/login", right); status != 200 {
		t.Fatalf("owner from home after a restart: %d %s", status, body)
	}
}
