package relay

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	u, tok := e.member(e.acme().ID, "c@example.com", store.Member)
	other := e.token(u.ID)
	for _, tc := range []struct {
		body   wire.PasswordChange
		status int
		code   string
	}{
		{wire.PasswordChange{Current: memberPass, New: "short1A"}, 400, api.CodeWeakPassword},
		{wire.PasswordChange{Current: memberPass, New: "nouppercase1"}, 400, api.CodeWeakPassword},
		{wire.PasswordChange{Current: memberPass, New: "NOLOWERCASE1"}, 400, api.CodeWeakPassword},
		{wire.PasswordChange{Current: memberPass, New: "NoDigitsHere"}, 400, api.CodeWeakPassword},
		{wire.PasswordChange{New: "G00dPassword"}, 400, api.CodeBadRequest},
		{wire.PasswordChange{Current: "Wr0ngPassword", New: "G00dPassword"}, 403, api.CodeBadCredentials},
	} {
		before := e.snapshot()
		status, body := e.do("POST", "/api/v1/me/password", tok, tc.body)
		wantError(t, status, body, tc.status, tc.code)
		if e.snapshot() != before {
			t.Fatalf("%+v refused but wrote", tc.body)
		}
	}
	if status, body := e.do("POST", "/api/v1/me/password", tok, wire.PasswordChange{Current: memberPass, New: "G00dPassword"}); status != 204 {
		t.Fatalf("change: %d %s", status, body)
	}
	// The caller's token lives on, the user's other logins end.
	if status, _ := e.do("GET", "/api/v1/me", tok, nil); status != 200 {
		t.Fatal("own token revoked")
	}
	status, body := e.do("GET", "/api/v1/me", other, nil)
	wantError(t, status, body, 401, api.CodeUnauthorized)
	e.login("c@example.com", "G00dPassword")
	if len(e.audit(EvPasswordChanged)) != 1 {
		t.Fatal("change not audited")
	}
}

func TestForgotAndResetPassword(t *testing.T) {
	mb := &mailbox{}
	e := newEnv(t, withMail(mb))
	acme := e.acme().ID
	_, tok := e.member(acme, "f@example.com", store.Member)
	ldap, _ := e.srv.Store().CreateUser(context.Background(), store.User{Email: "dir@example.com", PasswordHash: memberHash(), Auth: store.AuthLDAP, CreatedAt: e.clock.Now()})
	e.srv.Store().AddMembership(context.Background(), store.Membership{AccountID: acme, UserID: ldap.ID, Type: store.Member})

	// Same answer for a user, a stranger and a directory user.
	var answers []string
	for _, email := range []string{"f@example.com", "nobody@example.com", "dir@example.com"} {
		status, body := e.do("POST", "/api/v1/password/forgot", "", wire.PasswordForgot{Email: email})
		if status != http.StatusAccepted {
			t.Fatalf("forgot %s: %d %s", email, status, body)
		}
		answers = append(answers, string(body))
	}
	if answers[0] != answers[1] || answers[1] != answers[2] {
		t.Fatalf("answers differ: %q", answers)
	}
	waitFor(t, func() bool { return len(e.audit(EvPasswordResetSent)) == 1 })
	if n := len(mb.to("dir@example.com")) + len(mb.to("nobody@example.com")); n != 0 {
		t.Fatalf("%d reset emails to a stranger or a directory user", n)
	}
	reset := mb.lastSecret(t, "f@example.com")

	status, body := e.do("POST", "/api/v1/password/reset", "", wire.PasswordReset{Token: reset, Password: "weak"})
	wantError(t, status, body, 400, api.CodeWeakPassword)
	status, body = e.do("POST", "/api/v1/password/reset", "", wire.PasswordReset{Token: "not-a-token", Password: "R3setPassword"})
	wantError(t, status, body, 400, api.CodeInvalidToken)
	if status, body = e.do("POST", "/api/v1/password/reset", "", wire.PasswordReset{Token: reset, Password: "R3setPassword"}); status != 204 {
		t.Fatalf("reset: %d %s", status, body)
	}
	status, body = e.do("GET", "/api/v1/me", tok, nil)
	wantError(t, status, body, 401, api.CodeUnauthorized)
	status, body = e.do("POST", "/api/v1/password/reset", "", wire.PasswordReset{Token: reset, Password: "Ag4inPassword"})
	wantError(t, status, body, 400, api.CodeInvalidToken)
	e.login("f@example.com", "R3setPassword")
	if len(e.audit(EvPasswordReset)) != 1 {
		t.Fatal("reset not audited")
	}

	// A reset link lives one hour.
	e.do("POST", "/api/v1/password/forgot", "", wire.PasswordForgot{Email: "f@example.com"})
	waitFor(t, func() bool { return len(mb.to("f@example.com")) == 2 })
	reset = mb.lastSecret(t, "f@example.com")
	e.clock.Advance(time.Hour)
	status, body = e.do("POST", "/api/v1/password/reset", "", wire.PasswordReset{Token: reset, Password: "L4tePassword"})
	wantError(t, status, body, http.StatusGone, api.CodeTokenExpired)

	// Three reset emails per address, then one per 20 minutes (the hour
	// above refilled the bucket); the answer stays 202 so it tells nothing.
	for i := 0; i < 4; i++ {
		if status, _ := e.do("POST", "/api/v1/password/forgot", "", wire.PasswordForgot{Email: "f@example.com"}); status != http.StatusAccepted {
			t.Fatalf("forgot: %d", status)
		}
	}
	waitFor(t, func() bool { return len(e.audit(EvPasswordResetSent)) == 5 })
	if n := len(mb.to("f@example.com")); n != 5 {
		t.Fatalf("%d emails, want 5: 2 before, then 3 of 4", n)
	}
}
