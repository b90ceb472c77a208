package relay

import (
	"bytes"
	"context"
	"encoding/base64"
	"image/png"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/mfa"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// midStep moves the test clock to the middle of a TOTP step, so ±1 step
// is exactly what the test means.
func (e *env) midStep() {
	e.clock.Advance(time.Duration(15-e.clock.Now().Unix()%mfa.Period) * time.Second)
}

func (e *env) totpCode(secret string, offset int64) string {
	e.t.Helper()
	c, err := mfa.Code(secret, mfa.Step(e.clock.Now())+offset)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// enrolTOTP sets up an authenticator app for the token's user and
// returns its secret.
func (e *env) enrolTOTP(tok string) string {
	e.t.Helper()
	status, body := e.do("POST", "/api/v1/me/totp", tok, nil)
	var en wire.TOTPEnrolment
	decode(e.t, body, &en)
	if status != http.StatusCreated || en.Secret == "" {
		e.t.Fatalf("enrol: %d %s", status, body)
	}
	if status, body = e.do("POST", "/api/v1/me/totp/confirm", tok, wire.TOTPCode{Code: e.totpCode(en.Secret, 0)}); status != http.StatusNoContent {
		e.t.Fatalf("confirm: %d %s", status, body)
	}
	return en.Secret
}

// loginFactors posts the password and expects a challenge with factors.
func (e *env) loginFactors(email string, want ...string) string {
	e.t.Helper()
	status, body := e.do("POST", "/api/v1/login", "", wire.LoginRequest{Email: email, Password: memberPass})
	var lr wire.LoginResponse
	decode(e.t, body, &lr)
	if status != 200 || !lr.MFARequired || lr.Challenge == "" || lr.Token != "" || !slices.Equal(lr.Factors, want) {
		e.t.Fatalf("login step 1 of %s: %d %s, want factors %v", email, status, body, want)
	}
	return lr.Challenge
}

func (e *env) totpLogin(ch, code string) (int, []byte) {
	e.t.Helper()
	return e.do("POST", "/api/v1/login/mfa", "", wire.LoginMFA{Challenge: ch, Code: code, Factor: "totp"})
}

func TestTOTPEnrolment(t *testing.T) {
	mb := &mailbox{}
	e := newEnv(t, withMail(mb), func(c *Config) { c.Limits.LoginBurst = 100 })
	e.midStep()
	acme := e.acme().ID
	u, tok := e.member(acme, "m@example.com", store.Member)

	status, body := e.do("POST", "/api/v1/me/totp", tok, nil)
	var first wire.TOTPEnrolment
	decode(t, body, &first)
	if status != http.StatusCreated || !strings.HasPrefix(first.URI, "otpauth://totp/") || !strings.Contains(first.URI, "secret="+first.Secret) ||
		first.Period != 30 || first.Digits != 6 {
		t.Fatalf("enrol: %d %s", status, body)
	}
	qr, err := base64.StdEncoding.DecodeString(first.QRPNG)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(qr)); err != nil {
		t.Fatalf("qr code: %v", err)
	}
	// Stored sealed, never in clear.
	row, err := e.srv.Store().UserTOTP(context.Background(), u.ID)
	if err != nil || row.Secret == first.Secret || strings.Contains(row.Secret, first.Secret) || !row.ConfirmedAt.IsZero() {
		t.Fatalf("stored: %+v %v", row, err)
	}
	// Pending: sign-in does not ask for it yet.
	e.login("m@example.com", memberPass)

	// A restarted enrolment voids the first secret.
	status, body = e.do("POST", "/api/v1/me/totp", tok, nil)
	var en wire.TOTPEnrolment
	decode(t, body, &en)
	if status != http.StatusCreated || en.Secret == first.Secret {
		t.Fatalf("re-enrol: %d %s", status, body)
	}
	confirm := func(code string) (int, []byte) {
		return e.do("POST", "/api/v1/me/totp/confirm", tok, wire.TOTPCode{Code: code})
	}
	status, body = confirm(e.totpCode(first.Secret, 0))
	wantError(t, status, body, http.StatusUnprocessableEntity, api.CodeMFAFailed)
	status, body = confirm(e.totpCode(en.Secret, 2))
	wantError(t, status, body, http.StatusUnprocessableEntity, api.CodeMFAFailed)
	status, body = confirm("12345")
	wantError(t, status, body, http.StatusBadRequest, api.CodeBadRequest)
	if status, body = confirm(e.totpCode(en.Secret, 0)); status != http.StatusNoContent {
		t.Fatalf("confirm: %d %s", status, body)
	}
	status, body = confirm(e.totpCode(en.Secret, 0))
	wantError(t, status, body, http.StatusConflict, api.CodeConflict)
	status, body = e.do("POST", "/api/v1/me/totp", tok, nil)
	wantError(t, status, body, http.StatusConflict, api.CodeConflict)
	if len(e.audit(EvTOTPEnrolled)) != 1 {
		t.Fatal("enrolment not audited once")
	}
	status, body = e.do("GET", "/api/v1/me/mfa", tok, nil)
	var st wire.MFAStatus
	decode(t, body, &st)
	if status != 200 || !st.TOTP || st.TOTPPending || !st.Required || !slices.Equal(st.Allowed, []string{"totp", "webauthn", "sms", "email"}) ||
		strings.Contains(string(body), en.Secret) {
		t.Fatalf("status: %d %s", status, body)
	}

	// Sign-in: the user chooses; nothing is mailed unless asked for.
	sent := mb.count()
	ch := e.loginFactors("m@example.com", "totp", "email")
	if mb.count() != sent {
		t.Fatal("an email code was sent though the user has an authenticator app")
	}
	// The confirmation's code (this step) is used up.
	status, body = e.totpLogin(ch, e.totpCode(en.Secret, 0))
	wantError(t, status, body, http.StatusUnauthorized, api.CodeMFAFailed)
	e.clock.Advance(30 * time.Second)
	// The code of the step before (still within ±1) is older than the last used.
	status, body = e.totpLogin(ch, e.totpCode(en.Secret, -1))
	wantError(t, status, body, http.StatusUnauthorized, api.CodeMFAFailed)
	// An email code on a challenge that mailed none matches nothing.
	status, body = e.do("POST", "/api/v1/login/mfa", "", wire.LoginMFA{Challenge: ch, Code: "000000"})
	wantError(t, status, body, http.StatusUnauthorized, api.CodeMFAFailed)
	// One step ahead (a fast phone clock) is accepted.
	code := e.totpCode(en.Secret, 1)
	status, body = e.totpLogin(ch, code)
	var lr wire.LoginResponse
	decode(t, body, &lr)
	if status != 200 || lr.Token == "" || lr.User.ID != u.ID {
		t.Fatalf("totp login: %d %s", status, body)
	}
	// Replayed on a new challenge: refused, and so is the current step now.
	ch = e.loginFactors("m@example.com", "totp", "email")
	status, body = e.totpLogin(ch, code)
	wantError(t, status, body, http.StatusUnauthorized, api.CodeMFAFailed)
	status, body = e.totpLogin(ch, e.totpCode(en.Secret, 0))
	wantError(t, status, body, http.StatusUnauthorized, api.CodeMFAFailed)
	fails := e.audit(EvLoginFailed)
	if len(fails) < 4 || !strings.Contains(string(fails[len(fails)-1].Detail), `"factor":"totp"`) {
		t.Fatalf("failed TOTP codes not audited: %d", len(fails))
	}
	if status, _ = e.do("POST", "/api/v1/accounts/"+acme+"/users/"+u.ID+"/unlock", e.token(e.accountUser(acme, ownerEmail).UserID), nil); status != 204 {
		t.Fatalf("unlock: %d", status)
	}

	// Two steps on: a fresh code, sent twice at once: one sign-in only.
	e.clock.Advance(60 * time.Second)
	code = e.totpCode(en.Secret, 0)
	chs := []string{e.loginFactors("m@example.com", "totp", "email"), e.loginFactors("m@example.com", "totp", "email")}
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i := range chs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], _ = e.totpLogin(chs[i], code)
		}()
	}
	wg.Wait()
	slices.Sort(statuses)
	if statuses[0] != 200 || statuses[1] != 401 {
		t.Fatalf("one code twice at once: %v, want one 200 and one 401", statuses)
	}

	// Email instead, on request, once.
	ch = e.loginFactors("m@example.com", "totp", "email")
	if status, body = e.do("POST", "/api/v1/login/mfa/email", "", wire.LoginMFAEmail{Challenge: ch}); status != http.StatusNoContent {
		t.Fatalf("email code: %d %s", status, body)
	}
	status, body = e.do("POST", "/api/v1/login/mfa/email", "", wire.LoginMFAEmail{Challenge: ch})
	wantError(t, status, body, http.StatusConflict, api.CodeConflict)
	status, body = e.do("POST", "/api/v1/login/mfa/email", "", wire.LoginMFAEmail{Challenge: ch + "x"})
	wantError(t, status, body, http.StatusUnauthorized, api.CodeMFAFailed)
	if status, body = e.do("POST", "/api/v1/login/mfa", "", wire.LoginMFA{Challenge: ch, Code: mb.lastSecret(t, "m@example.com")}); status != 200 {
		t.Fatalf("email code login: %d %s", status, body)
	}
	status, body = e.do("POST", "/api/v1/login/mfa", "", wire.LoginMFA{Challenge: ch, Code: "123456", Factor: "fax"})
	wantError(t, status, body, http.StatusBadRequest, api.CodeBadRequest)

	// Removal takes a code or the password, not the token alone.
	status, body = e.do("DELETE", "/api/v1/me/totp", tok, wire.Reauth{Password: "wrong-password"})
	wantError(t, status, body, http.StatusForbidden, api.CodeBadCredentials)
	status, body = e.do("DELETE", "/api/v1/me/totp", tok, []byte(`{}`))
	wantError(t, status, body, http.StatusBadRequest, api.CodeBadRequest)
	e.clock.Advance(30 * time.Second)
	if status, body = e.do("DELETE", "/api/v1/me/totp", tok, wire.Reauth{Code: e.totpCode(en.Secret, 0)}); status != http.StatusNoContent {
		t.Fatalf("remove: %d %s", status, body)
	}
	if len(e.audit(EvReauthd)) != 1 {
		t.Fatal("removal not audited")
	}
	e.login("m@example.com", memberPass)
	status, body = e.do("DELETE", "/api/v1/me/totp", tok, wire.Reauth{Password: memberPass})
	wantError(t, status, body, http.StatusNotFound, api.CodeNotFound)
}

// The account's policy: which factors, and whether enforced.
func TestMFAPolicy(t *testing.T) {
	mb := &mailbox{}
	e := newEnv(t, withMail(mb), func(c *Config) { c.Limits.LoginBurst = 100 })
	e.midStep()
	acme := e.acme().ID
	_, adminTok := e.member(acme, "admin@example.com", store.Admin)
	_, tok := e.member(acme, "m@example.com", store.Member)
	secret := e.enrolTOTP(tok)
	sec := "/api/v1/accounts/" + acme + "/security"

	status, body := e.do("GET", sec, adminTok, nil)
	var got wire.Security
	decode(t, body, &got)
	if status != 200 || got.MFA != "disabled" || !slices.Equal(got.Factors, []string{"totp", "webauthn", "sms", "email"}) {
		t.Fatalf("security: %d %s", status, body)
	}
	for _, bad := range []string{`{"mfa":"enforced","factors":["fax"]}`, `{"mfa":"enforced","factors":["totp","totp"]}`,
		`{"mfa":"enforced","factors":[]}`, `{"mfa":"enabled","factors":["recovery"]}`, `{"mfa":"enabled","factors":"totp"}`,
		`{"mfa":"enabled","factors":["totp","email","webauthn","totp","email"]}`} {
		status, body = e.do("PUT", sec, adminTok, []byte(bad))
		wantError(t, status, body, http.StatusBadRequest, api.CodeBadRequest)
	}
	// SMS alone on a relay that sends none would lock everyone out.
	status, body = e.do("PUT", sec, adminTok, wire.Security{MFA: "enforced", Factors: []string{"sms"}})
	wantError(t, status, body, http.StatusConflict, api.CodeConflict)

	// Enforced with TOTP only: the user with an app gets only that; the
	// administrator without one is refused, and that is audited.
	if status, body = e.do("PUT", sec, adminTok, wire.Security{MFA: "enforced", Factors: []string{"totp"}}); status != 200 {
		t.Fatalf("put: %d %s", status, body)
	}
	ch := e.loginFactors("m@example.com", "totp")
	status, body = e.do("POST", "/api/v1/login/mfa/email", "", wire.LoginMFAEmail{Challenge: ch})
	wantError(t, status, body, http.StatusForbidden, api.CodeForbidden)
	if status, body = e.totpLogin(ch, e.totpCode(secret, 1)); status != 200 {
		t.Fatalf("totp login: %d %s", status, body)
	}
	status, body = e.do("POST", "/api/v1/login", "", wire.LoginRequest{Email: "admin@example.com", Password: memberPass})
	wantError(t, status, body, http.StatusForbidden, CodeMFAUnusable)
	if len(e.audit(EvLoginMFAUnusable)) != 1 {
		t.Fatal("refused sign-in not audited")
	}
	// Recovery codes still open the door (and are listed).
	status, body = e.do("POST", "/api/v1/me/recovery-codes", tok, nil)
	var rc wire.RecoveryCodes
	decode(t, body, &rc)
	if status != 201 {
		t.Fatalf("recovery codes: %d %s", status, body)
	}
	ch = e.loginFactors("m@example.com", "totp", "recovery")
	if status, body = e.do("POST", "/api/v1/login/mfa", "", wire.LoginMFA{Challenge: ch, RecoveryCode: rc.Codes[0]}); status != 200 {
		t.Fatalf("recovery: %d %s", status, body)
	}

	// Email only: the app no longer counts, the code is mailed at once.
	adminTok = e.token(e.accountUser(acme, "admin@example.com").UserID)
	if status, body = e.do("PUT", sec, adminTok, wire.Security{MFA: "enforced", Factors: []string{"email"}}); status != 200 {
		t.Fatalf("put: %d %s", status, body)
	}
	sent := mb.count()
	ch = e.loginFactors("m@example.com", "email", "recovery")
	if mb.count() != sent+1 {
		t.Fatal("the email code was not sent at once")
	}
	e.clock.Advance(30 * time.Second)
	status, body = e.totpLogin(ch, e.totpCode(secret, 0))
	wantError(t, status, body, http.StatusUnauthorized, api.CodeMFAFailed)
	// Enrolment is refused where the account forbids the factor.
	_, other := e.member(acme, "n@example.com", store.Member)
	status, body = e.do("POST", "/api/v1/me/totp", other, nil)
	wantError(t, status, body, http.StatusForbidden, api.CodeForbidden)

	// MFA off but TOTP allowed: the user who set it up is still asked.
	if status, body = e.do("PUT", sec, adminTok, wire.Security{MFA: "disabled", Factors: []string{"totp", "email"}}); status != 200 {
		t.Fatalf("put: %d %s", status, body)
	}
	e.loginFactors("m@example.com", "totp", "email", "recovery")
	e.login("n@example.com", memberPass)
	if n := len(e.audit(EvAccountMFAChanged)); n != 3 {
		t.Fatalf("%d policy changes audited, want 3", n)
	}
}
