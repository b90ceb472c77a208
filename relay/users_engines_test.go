package relay

import (
	"net/http"
	"testing"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/relay/store/storetest"
	"github.com/tandem-rc/tandem/transport/wire"
)

// The users' whole path through the store on each engine: invitation,
// acceptance, MFA login with a code and a recovery code, lockout and
// unlock, an API key, removal.
func TestUsersOnEachStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		mb := &mailbox{}
		e := newEnv(t, withDB(be.Fresh(t)), withMail(mb), func(c *Config) { c.Limits.LoginBurst = 100 })
		if got := e.srv.Store().Engine(); got != be.Name {
			t.Fatalf("engine %q, want %q", got, be.Name)
		}
		acme := e.acme().ID
		_, adminTok := e.member(acme, "admin@example.com", store.Admin)
		status, body := e.do("POST", "/api/v1/accounts/"+acme+"/invites", adminTok,
			wire.InviteRequest{Email: "n@example.com", Type: "group_manager", MFA: true, API: true})
		if status != http.StatusCreated {
			t.Fatalf("invite: %d %s", status, body)
		}
		status, body = e.do("POST", "/api/v1/invites/accept", "", wire.InviteAccept{Token: mb.lastSecret(t, "n@example.com"), Password: "N3wPassword"})
		var u wire.User
		decode(t, body, &u)
		if status != http.StatusCreated {
			t.Fatalf("accept: %d %s", status, body)
		}
		if status, body = e.do("PUT", "/api/v1/accounts/"+acme+"/security", adminTok, wire.Security{MFA: "enabled"}); status != 200 {
			t.Fatalf("security: %d %s", status, body)
		}
		ch := e.loginStep1("n@example.com", "N3wPassword")
		status, body = e.do("POST", "/api/v1/login/mfa", "", wire.LoginMFA{Challenge: ch, Code: mb.lastSecret(t, "n@example.com")})
		var lr wire.LoginResponse
		decode(t, body, &lr)
		if status != 200 || lr.Token == "" {
			t.Fatalf("mfa: %d %s", status, body)
		}
		status, body = e.do("POST", "/api/v1/me/recovery-codes", lr.Token, nil)
		var rc wire.RecoveryCodes
		decode(t, body, &rc)
		ch = e.loginStep1("n@example.com", "N3wPassword")
		if status, body = e.do("POST", "/api/v1/login/mfa", "", wire.LoginMFA{Challenge: ch, RecoveryCode: rc.Codes[0]}); status != 200 {
			t.Fatalf("recovery: %d %s", status, body)
		}
		status, body = e.do("POST", "/api/v1/me/api-keys", lr.Token, wire.APIKeyRequest{Account: acme})
		var k wire.APIKey
		decode(t, body, &k)
		if status, body = e.do("GET", "/api/v1/accounts/"+acme+"/users", k.Key, nil); status != 200 {
			t.Fatalf("key: %d %s", status, body)
		}
		for i := 0; i < 5; i++ { // from a stranger: this address logged in before
			e.doFrom("192.0.2.50:4000", "POST", "/api/v1/login", wire.LoginRequest{Email: "n@example.com", Password: "Wr0ngPassword"})
		}
		if len(e.audit(EvLoginLocked)) != 1 {
			t.Fatal("not locked")
		}
		if status, _ = e.do("POST", "/api/v1/accounts/"+acme+"/users/"+u.ID+"/unlock", adminTok, nil); status != 204 {
			t.Fatalf("unlock: %d", status)
		}
		e.loginStep1("n@example.com", "N3wPassword")
		if status, _ = e.do("DELETE", "/api/v1/accounts/"+acme+"/users/"+u.ID, adminTok, nil); status != 204 {
			t.Fatalf("remove: %d", status)
		}
		status, body = e.do("GET", "/api/v1/me", k.Key, nil)
		wantError(t, status, body, http.StatusUnauthorized, api.CodeUnauthorized)
	})
}
