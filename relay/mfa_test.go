package relay

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/manage"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// loginStep1 posts the password and expects the MFA challenge.
func (e *env) loginStep1(email, pw string) string {
	e.t.Helper()
	status, body := e.do("POST", "/api/v1/login", "", wire.LoginRequest{Email: email, Password: pw})
	var lr wire.LoginResponse
	decode(e.t, body, &lr)
	if status != 200 || !lr.MFARequired || lr.Challenge == "" || lr.Token != "" || strings.Contains(string(body), `"user"`) {
		e.t.Fatalf("login step 1: %d %s", status, body)
	}
	return lr.Challenge
}

func TestEmailMFA(t *testing.T) {
	mb := &mailbox{}
	e := newEnv(t, withMail(mb), func(c *Config) { c.Limits.LoginBurst = 100 })
	acme := e.acme().ID
	_, adminTok := e.member(acme, "admin@example.com", store.Admin)
	u, uTok := e.member(acme, "m@example.com", store.Member)
	sec := "/api/v1/accounts/" + acme + "/security"

	// Disabled: the toggle is stored but asks for nothing.
	if status, body := e.do("PATCH", "/api/v1/me/accounts/"+acme, uTok, wire.MembershipUpdate{MFA: boolp(true)}); status != 200 {
		t.Fatalf("toggle: %d %s", status, body)
	}
	e.login("m@example.com", memberPass)

	// Enabled: the user's toggle applies.
	status, body := e.do("PUT", sec, adminTok, wire.Security{MFA: "sometimes"})
	wantError(t, status, body, 400, api.CodeBadRequest)
	if status, body = e.do("PUT", sec, adminTok, wire.Security{MFA: "enabled"}); status != 200 {
		t.Fatalf("security: %d %s", status, body)
	}
	e.login("admin@example.com", memberPass) // its toggle is off
	ch := e.loginStep1("m@example.com", memberPass)
	code := mb.lastSecret(t, "m@example.com")
	if len(code) != 6 {
		t.Fatalf("code %q", code)
	}
	status, body = e.do("POST", "/api/v1/login/mfa", "", wire.LoginMFA{Challenge: ch, Code: code})
	var lr wire.LoginResponse
	decode(t, body, &lr)
	if status != 200 || lr.Token == "" || lr.User.ID == "" || lr.User.ID != u.ID {
		t.Fatalf("mfa: %d %s", status, body)
	}
	status, body = e.do("POST", "/api/v1/login/mfa", "", wire.LoginMFA{Challenge: ch, Code: code})
	wantError(t, status, body, 401, api.CodeMFAFailed)

	// Five wrong codes kill the challenge, even the right code after.
	ch = e.loginStep1("m@example.com", memberPass)
	code = mb.lastSecret(t, "m@example.com")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	for i := 0; i < 5; i++ {
		status, body = e.do("POST", "/api/v1/login/mfa", "", wire.LoginMFA{Challenge: ch, Code: wrong})
		wantError(t, status, body, 401, api.CodeMFAFailed)
	}
	status, body = e.do("POST", "/api/v1/login/mfa", "", wire.LoginMFA{Challenge: ch, Code: code})
	wantError(t, status, body, 401, api.CodeMFAFailed)
	// Those five wrong codes locked the user too (5 failures in a row).
	if len(e.audit(EvLoginLocked)) != 1 {
		t.Fatal("five wrong codes did not lock the user")
	}
	if status, _ = e.do("POST", "/api/v1/accounts/"+acme+"/users/"+u.ID+"/unlock", adminTok, nil); status != 204 {
		t.Fatalf("unlock: %d", status)
	}

	// Ten minutes, no more.
	ch = e.loginStep1("m@example.com", memberPass)
	code = mb.lastSecret(t, "m@example.com")
	e.clock.Advance(10 * time.Minute)
	status, body = e.do("POST", "/api/v1/login/mfa", "", wire.LoginMFA{Challenge: ch, Code: code})
	wantError(t, status, body, 401, api.CodeMFAFailed)
	adminTok = e.token(e.accountUser(acme, "admin@example.com").UserID)

	// Enforced: everyone, no toggle.
	if status, body = e.do("PUT", sec, adminTok, wire.Security{MFA: "enforced"}); status != 200 {
		t.Fatalf("enforce: %d %s", status, body)
	}
	status, body = e.do("PATCH", "/api/v1/me/accounts/"+acme, uTok, wire.MembershipUpdate{MFA: boolp(false)})
	wantError(t, status, body, http.StatusConflict, api.CodeMFAEnforced)
	status, body = e.do("PATCH", "/api/v1/accounts/"+acme+"/users/"+u.ID, adminTok, wire.MemberUpdate{MFA: boolp(false)})
	wantError(t, status, body, http.StatusConflict, api.CodeMFAEnforced)
	e.loginStep1("admin@example.com", memberPass)
	if len(e.audit(EvAccountMFAChanged)) != 2 {
		t.Fatal("MFA setting changes not audited")
	}

	// Recovery codes: 10, each once; a new set voids the old.
	status, body = e.do("POST", "/api/v1/me/recovery-codes", uTok, nil)
	var rc wire.RecoveryCodes
	decode(t, body, &rc)
	if status != http.StatusCreated || len(rc.Codes) != 10 {
		t.Fatalf("recovery codes: %d %s", status, body)
	}
	ch = e.loginStep1("m@example.com", memberPass)
	if status, body = e.do("POST", "/api/v1/login/mfa", "", wire.LoginMFA{Challenge: ch, RecoveryCode: rc.Codes[3]}); status != 200 {
		t.Fatalf("recovery login: %d %s", status, body)
	}
	ch = e.loginStep1("m@example.com", memberPass)
	status, body = e.do("POST", "/api/v1/login/mfa", "", wire.LoginMFA{Challenge: ch, RecoveryCode: rc.Codes[3]})
	wantError(t, status, body, 401, api.CodeMFAFailed)
	e.do("POST", "/api/v1/me/recovery-codes", uTok, nil)
	status, body = e.do("POST", "/api/v1/login/mfa", "", wire.LoginMFA{Challenge: ch, RecoveryCode: rc.Codes[4]})
	wantError(t, status, body, 401, api.CodeMFAFailed)
	if len(e.audit(EvRecoveryGenerated)) != 2 || len(e.audit(EvRecoveryUsed)) != 1 {
		t.Fatal("recovery codes not audited")
	}
	// Lower case without the dash reads the same.
	status, body = e.do("POST", "/api/v1/me/recovery-codes", uTok, nil)
	decode(t, body, &rc)
	c := rc.Codes[0]
	lower := strings.ToLower(strings.ReplaceAll(c, "-", ""))
	if status, body = e.do("POST", "/api/v1/login/mfa", "", wire.LoginMFA{Challenge: ch, RecoveryCode: lower}); status != 200 {
		t.Fatalf("recovery code %q as %q: %d %s", c, lower, status, body)
	}

	// Bad input.
	for _, req := range []wire.LoginMFA{{Code: "123456"}, {Challenge: ch}, {Challenge: ch, Code: "12345"},
		{Challenge: ch, Code: "123456", RecoveryCode: rc.Codes[1]}, {Challenge: ch, RecoveryCode: "!!"}} {
		status, body = e.do("POST", "/api/v1/login/mfa", "", req)
		wantError(t, status, body, 400, api.CodeBadRequest)
	}
}

func TestLockout(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limits.LoginBurst = 100; c.Limits.LoginIPBurst = 100 })
	acme := e.acme().ID
	_, adminTok := e.member(acme, "admin@example.com", store.Admin)
	u, _ := e.member(acme, "l@example.com", store.Member)
	bad := wire.LoginRequest{Email: "l@example.com", Password: "Wr0ngPassword"}
	var msg string
	for i := 0; i < 5; i++ {
		status, body := e.do("POST", "/api/v1/login", "", bad)
		msg = wantError(t, status, body, 401, api.CodeBadCredentials).Error.Message
	}
	evs := e.audit(EvLoginLocked)
	if len(evs) != 1 || evs[0].ActorUserID != u.ID {
		t.Fatalf("lock audit %+v", evs)
	}
	// Locked: the right password fails exactly like an unknown user.
	status, body := e.do("POST", "/api/v1/login", "", wire.LoginRequest{Email: "l@example.com", Password: memberPass})
	locked := wantError(t, status, body, 401, api.CodeBadCredentials).Error.Message
	status, body = e.do("POST", "/api/v1/login", "", wire.LoginRequest{Email: "ghost@example.com", Password: memberPass})
	unknown := wantError(t, status, body, 401, api.CodeBadCredentials).Error.Message
	if locked != unknown || locked != msg {
		t.Fatalf("messages differ: %q / %q / %q", locked, unknown, msg)
	}
	var m wire.Member
	_, body = e.do("GET", "/api/v1/accounts/"+acme+"/users/"+u.ID, adminTok, nil)
	decode(t, body, &m)
	if !m.Locked {
		t.Fatalf("member not shown locked: %s", body)
	}
	// Fifteen minutes later it is over.
	e.clock.Advance(15 * time.Minute)
	e.login("l@example.com", memberPass)

	// Lock again, from a stranger's address: this one, where the user
	// logged in before, still gets in; strangers do not.
	stranger := "192.0.2.66:4000"
	for i := 0; i < 5; i++ {
		e.doFrom(stranger, "POST", "/api/v1/login", bad)
	}
	status, body, _ = e.doFrom(stranger, "POST", "/api/v1/login", wire.LoginRequest{Email: "l@example.com", Password: memberPass})
	wantError(t, status, body, 401, api.CodeBadCredentials)
	e.login("l@example.com", memberPass)
	// An admin unlocks at once.
	adminTok = e.token(e.accountUser(acme, "admin@example.com").UserID)
	if status, _ = e.do("POST", "/api/v1/accounts/"+acme+"/users/"+u.ID+"/unlock", adminTok, nil); status != 204 {
		t.Fatalf("unlock: %d", status)
	}
	if status, body, _ = e.doFrom(stranger, "POST", "/api/v1/login", wire.LoginRequest{Email: "l@example.com", Password: memberPass}); status != 200 {
		t.Fatalf("after unlock: %d %s", status, body)
	}
	if len(e.audit(EvUserUnlocked)) != 1 || len(e.audit(EvLoginLocked)) != 2 {
		t.Fatal("unlock or second lock not audited")
	}
	// A success clears the count: 4 failures, a success, 4 failures: no lock.
	newcomer := "192.0.2.67:4000"
	for round := 0; round < 2; round++ {
		for i := 0; i < 4; i++ {
			e.doFrom(newcomer, "POST", "/api/v1/login", bad)
		}
		if status, body, _ = e.doFrom(newcomer, "POST", "/api/v1/login", wire.LoginRequest{Email: "l@example.com", Password: memberPass}); status != 200 {
			t.Fatalf("round %d: %d %s", round, status, body)
		}
	}
	if len(e.audit(EvLoginLocked)) != 2 {
		t.Fatal("failures separated by a success locked the user")
	}
}

func TestAPIKeys(t *testing.T) {
	e := newEnv(t)
	acme := e.acme().ID
	_, adminTok := e.member(acme, "admin@example.com", store.Admin)
	u, tok := e.member(acme, "k@example.com", store.Member)
	status, body := e.do("POST", "/api/v1/me/api-keys", tok, wire.APIKeyRequest{Account: acme, Name: "ci"})
	wantError(t, status, body, 403, api.CodeForbidden)
	if status, body = e.do("PATCH", "/api/v1/accounts/"+acme+"/users/"+u.ID, adminTok, wire.MemberUpdate{API: boolp(true)}); status != 200 {
		t.Fatalf("grant API: %d %s", status, body)
	}
	status, body = e.do("POST", "/api/v1/me/api-keys", tok, wire.APIKeyRequest{Account: "nope"})
	wantError(t, status, body, 404, api.CodeNotFound)
	status, body = e.do("POST", "/api/v1/me/api-keys", tok, wire.APIKeyRequest{Account: acme, Name: "ci"})
	var k wire.APIKey
	decode(t, body, &k)
	if status != 201 || len(k.Key) < 40 || k.Key[:4] != "tdk_" || k.Prefix != k.Key[:10] {
		t.Fatalf("create: %d %s", status, body)
	}
	// The key works as the member, in its account.
	e.clock.Advance(time.Minute)
	if status, body = e.do("GET", "/api/v1/accounts/"+acme+"/users/"+u.ID, k.Key, nil); status != 200 {
		t.Fatalf("with key: %d %s", status, body)
	}
	if status, _ = e.do("GET", "/api/v1/devices", k.Key, nil); status != 200 {
		t.Fatalf("devices with key: %d", status)
	}
	status, body = e.do("POST", "/api/v1/me/api-keys", k.Key, wire.APIKeyRequest{Account: acme})
	wantError(t, status, body, 403, api.CodeForbidden)
	// Bound to its account: the same user's other account is not there.
	other, err := e.srv.Store().CreateAccount(context.Background(), store.Account{Name: "Other", CreatedAt: e.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	e.member(other.ID, "k@example.com", store.Admin, func(m *store.Membership) { m.API = true })
	status, body = e.do("GET", "/api/v1/accounts/"+other.ID+"/users", k.Key, nil)
	wantError(t, status, body, 404, api.CodeNotFound)
	if status, _ = e.do("GET", "/api/v1/accounts/"+other.ID+"/users", tok, nil); status != 200 {
		t.Fatalf("same user, logged in, other account: %d", status)
	}
	var list []wire.APIKey
	_, body = e.do("GET", "/api/v1/me/api-keys", tok, nil)
	decode(t, body, &list)
	if len(list) != 1 || list[0].Key != "" || list[0].LastUsed != e.clock.Now().Unix() || list[0].Prefix != k.Prefix {
		t.Fatalf("list: %s", body)
	}
	// Revoked: dead.
	if status, _ = e.do("DELETE", "/api/v1/me/api-keys/"+k.ID, tok, nil); status != 204 {
		t.Fatalf("revoke: %d", status)
	}
	status, body = e.do("GET", "/api/v1/me", k.Key, nil)
	wantError(t, status, body, 401, api.CodeUnauthorized)
	status, body = e.do("DELETE", "/api/v1/me/api-keys/"+k.ID, tok, nil)
	wantError(t, status, body, 404, api.CodeNotFound)
	// Losing the API role kills the keys.
	_, body = e.do("POST", "/api/v1/me/api-keys", tok, wire.APIKeyRequest{Account: acme})
	decode(t, body, &k)
	e.do("PATCH", "/api/v1/accounts/"+acme+"/users/"+u.ID, adminTok, wire.MemberUpdate{API: boolp(false)})
	status, body = e.do("GET", "/api/v1/me", k.Key, nil)
	wantError(t, status, body, 401, api.CodeUnauthorized)
	if len(e.audit(manage.EvAPIKeyCreated)) != 2 || len(e.audit(manage.EvAPIKeyRevoked)) != 1 {
		t.Fatal("keys not audited")
	}
}
