package relay

import (
	"net/http"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestAPIKeyLifetime: a key without an expiry gets the default lifetime, a
// longer one than the maximum is refused, and a key dies when it expires
// and when its owner's password changes or is reset.
func TestAPIKeyLifetime(t *testing.T) {
	mb := &mailbox{}
	e := newEnv(t, withMail(mb), func(c *Config) { c.APIKeyDays, c.APIKeyMaxDays = 30, 60 })
	acme := e.acme().ID
	u, tok := e.member(acme, "k@example.com", store.Member, func(m *store.Membership) { m.API = true })
	create := func(expires int64) (int, wire.APIKey, []byte) {
		t.Helper()
		status, body := e.do("POST", "/api/v1/me/api-keys", tok, wire.APIKeyRequest{Account: acme, ExpiresAt: expires})
		var k wire.APIKey
		if status == http.StatusCreated {
			decode(t, body, &k)
		}
		return status, k, body
	}
	works := func(key string) bool {
		t.Helper()
		status, _ := e.do("GET", "/api/v1/me", key, nil)
		return status == http.StatusOK
	}
	now := e.clock.Now()
	for _, bad := range []int64{now.AddDate(0, 0, 61).Unix(), now.Unix(), now.Add(-time.Hour).Unix(), 1 << 62} {
		before := e.snapshot()
		status, _, body := create(bad)
		wantError(t, status, body, http.StatusBadRequest, api.CodeBadRequest)
		if e.snapshot() != before {
			t.Fatalf("expires_at %d refused but written", bad)
		}
	}
	status, def, body := create(0)
	if status != http.StatusCreated || def.ExpiresAt != now.AddDate(0, 0, 30).Unix() {
		t.Fatalf("default lifetime: %d %s, want expires_at %d", status, body, now.AddDate(0, 0, 30).Unix())
	}
	status, long, body := create(now.AddDate(0, 0, 60).Unix())
	if status != http.StatusCreated || long.ExpiresAt != now.AddDate(0, 0, 60).Unix() {
		t.Fatalf("maximum lifetime: %d %s", status, body)
	}
	if !works(def.Key) || !works(long.Key) {
		t.Fatal("fresh keys refused")
	}
	e.clock.Advance(30 * 24 * time.Hour)
	if works(def.Key) || !works(long.Key) {
		t.Fatal("after 30 days: the default key must be dead, the 60-day key alive")
	}
	tok = e.token(u.ID) // the login expired meanwhile

	// A password change kills every key of the user.
	_, k1, _ := create(0)
	if status, body := e.do("POST", "/api/v1/me/password", tok, wire.PasswordChange{Current: memberPass, New: "N3wPassword"}); status != http.StatusNoContent {
		t.Fatalf("change password: %d %s", status, body)
	}
	if works(long.Key) || works(k1.Key) {
		t.Fatal("an API key survived its owner's password change")
	}
	// So does a reset.
	_, k2, _ := create(0)
	if status, _ := e.do("POST", "/api/v1/password/forgot", "", wire.PasswordForgot{Email: "k@example.com"}); status != http.StatusAccepted {
		t.Fatal("forgot refused")
	}
	waitFor(t, func() bool { return len(mb.to("k@example.com")) == 1 })
	if status, body := e.do("POST", "/api/v1/password/reset", "", wire.PasswordReset{Token: mb.lastSecret(t, "k@example.com"),
		Password: "R3setPassword"}); status != http.StatusNoContent {
		t.Fatalf("reset: %d %s", status, body)
	}
	if works(k2.Key) {
		t.Fatal("an API key survived its owner's password reset")
	}
}
