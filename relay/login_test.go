package relay

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/transport/wire"
)

func TestLogin(t *testing.T) {
	e := newEnv(t)
	status, body := e.do("POST", "/api/v1/login", "", wire.LoginRequest{Email: " Owner@Example.com ", Password: ownerPass})
	if status != 200 {
		t.Fatalf("login: %d %s", status, body)
	}
	var lr wire.LoginResponse
	decode(t, body, &lr)
	if len(lr.Token) != 43 || lr.User.Email != ownerEmail || len(lr.User.Accounts) != 1 || lr.User.Accounts[0].Name != "Acme" {
		t.Fatalf("login response %s", body)
	}
	if d := time.Unix(lr.ExpiresAt, 0).Sub(e.clock.Now()); d < 11*time.Hour || d > 13*time.Hour {
		t.Fatalf("token lifetime %v, want 12 h", d)
	}
	if strings.Contains(string(body), "argon2") {
		t.Fatal("password hash leaked")
	}
	status, body = e.do("GET", "/api/v1/me", lr.Token, nil)
	var me wire.User
	decode(t, body, &me)
	if status != 200 || me.ID != lr.User.ID {
		t.Fatalf("me: %d %s", status, body)
	}
	if len(e.audit(EvLogin)) != 1 {
		t.Fatal("login not audited")
	}

	// Wrong password and unknown user: the same answer.
	status, body = e.do("POST", "/api/v1/login", "", wire.LoginRequest{Email: ownerEmail, Password: "Wr0ngPassword"})
	a1 := wantError(t, status, body, http.StatusUnauthorized, api.CodeBadCredentials)
	status, body = e.do("POST", "/api/v1/login", "", wire.LoginRequest{Email: "nobody@example.com", Password: "Wr0ngPassword"})
	a2 := wantError(t, status, body, http.StatusUnauthorized, api.CodeBadCredentials)
	if a1.Error.Message != a2.Error.Message {
		t.Fatalf("messages differ: %q vs %q", a1.Error.Message, a2.Error.Message)
	}
	if evs := e.audit(EvLoginFailed); len(evs) != 2 || evs[1].ActorUserID != lr.User.ID || evs[0].ActorUserID != "" {
		t.Fatalf("failed logins audited: %+v", evs)
	}
	status, body = e.do("POST", "/api/v1/login", "", wire.LoginRequest{Email: ownerEmail})
	wantError(t, status, body, http.StatusBadRequest, api.CodeBadRequest)

	// Logout kills the token.
	status, _ = e.do("POST", "/api/v1/logout", lr.Token, nil)
	if status != http.StatusNoContent {
		t.Fatalf("logout: %d", status)
	}
	status, body = e.do("GET", "/api/v1/me", lr.Token, nil)
	wantError(t, status, body, http.StatusUnauthorized, api.CodeUnauthorized)
}

func TestTokenRequired(t *testing.T) {
	e := newEnv(t)
	tok := e.login(ownerEmail, ownerPass)
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/v1/devices"}, {"POST", "/api/v1/sessions"}, {"GET", "/api/v1/me"}, {"POST", "/api/v1/logout"},
		{"GET", "/api/v1/sessions/x/signal"},
	} {
		var body any
		if tc.method == "POST" {
			body = wire.SessionRequest{Device: "pc"}
		}
		for name, tk := range map[string]string{"missing": "", "garbage": "garbage", "almost": tok[:len(tok)-1] + "x"} {
			status, b := e.do(tc.method, tc.path, tk, body)
			t.Run(tc.path+"/"+name, func(t *testing.T) { wantError(t, status, b, http.StatusUnauthorized, api.CodeUnauthorized) })
		}
	}
	// Basic auth instead of Bearer.
	req, _ := http.NewRequest("GET", e.ts.URL+"/api/v1/devices", nil)
	req.SetBasicAuth(ownerEmail, ownerPass)
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("basic auth: %d", resp.StatusCode)
	}

	if status, body := e.do("GET", "/api/v1/devices", tok, nil); status != 200 || strings.TrimSpace(string(body)) != "[]" {
		t.Fatalf("devices with a token: %d %s", status, body)
	}
	// Expired.
	e.clock.Advance(12*time.Hour + time.Second)
	status, body := e.do("GET", "/api/v1/devices", tok, nil)
	wantError(t, status, body, http.StatusUnauthorized, api.CodeUnauthorized)
	status, body = e.do("POST", "/api/v1/sessions", tok, wire.SessionRequest{Device: "pc"})
	wantError(t, status, body, http.StatusUnauthorized, api.CodeUnauthorized)
}

func TestLoginThrottle(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limits.LoginBurst = 3; c.Limits.LoginEvery = time.Minute })
	for range 3 {
		status, body := e.do("POST", "/api/v1/login", "", wire.LoginRequest{Email: ownerEmail, Password: "Wr0ngPassword"})
		wantError(t, status, body, http.StatusUnauthorized, api.CodeBadCredentials)
	}
	req, _ := http.NewRequest("POST", e.ts.URL+"/api/v1/login",
		strings.NewReader(`{"email":"`+ownerEmail+`","password":"`+ownerPass+`"}`))
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("4th attempt: %d (Retry-After %q), want 429", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Another email from the same address is not held back by this one.
	status, body := e.do("POST", "/api/v1/login", "", wire.LoginRequest{Email: "other@example.com", Password: "Wr0ngPassword"})
	wantError(t, status, body, http.StatusUnauthorized, api.CodeBadCredentials)
	// A token comes back after a while.
	e.clock.Advance(time.Minute)
	e.login(ownerEmail, ownerPass)
}
