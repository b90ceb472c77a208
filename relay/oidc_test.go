package relay

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"github.com/tandem-rc/tandem/relay/ssoapi"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// startIdP runs a real OpenID provider (mockoidc: discovery, JWKS, code
// flow with PKCE, signed ID tokens) on loopback for the test.
func startIdP(t *testing.T) *mockoidc.MockOIDC {
	t.Helper()
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown() })
	return m
}

// ssoAuthorize plays the browser at the IdP: it follows the start URL and
// returns the relay callback's path and query the IdP redirects to.
func ssoAuthorize(t *testing.T, e *sessionEnv, login string) string {
	t.Helper()
	status, body := e.do("POST", "/api/v1/sso/oidc/start", "", wire.SSOStart{Login: login})
	if status != http.StatusOK {
		t.Fatalf("start: %d %s", status, body)
	}
	var sr wire.SSORedirect
	decode(t, body, &sr)
	au, _ := url.Parse(sr.URL)
	q := au.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Fatalf("authorization URL lacks PKCE, nonce or state: %s", sr.URL)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(sr.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || loc.Path != ssoapi.OIDCCallbackPath {
		t.Fatalf("IdP answered %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.RequestURI()
}

func ssoRefusals(e *sessionEnv, reason string) int {
	n := 0
	for _, ev := range e.audit(EvLoginFailed) {
		if d := string(ev.Detail); strings.Contains(d, `"reason":"`+reason+`"`) && strings.Contains(d, `"auth":"oidc"`) {
			n++
		}
	}
	return n
}

func TestOIDCSignIn(t *testing.T) {
	idp := startIdP(t)
	e := newSessionEnv(t)
	ctx := context.Background()
	base := "/api/v1/accounts/Acme"
	name := "Newcomers"
	status, body := e.do("POST", base+"/groups", e.tok, wire.GroupRequest{Name: &name, Kind: "user"})
	if status != http.StatusCreated {
		t.Fatalf("group: %d %s", status, body)
	}
	var newcomers wire.Group
	decode(t, body, &newcomers)
	method := wire.OIDCMethod{Domain: "CORP", Enabled: true, Issuer: idp.Issuer(), ClientID: idp.ClientID, ClientSecret: idp.ClientSecret,
		Scopes: []string{"groups"}, DefaultGroup: newcomers.ID}
	status, body = e.do("POST", base+"/oidc", e.tok, method)
	if status != http.StatusCreated || strings.Contains(string(body), idp.ClientSecret) {
		t.Fatalf("create: %d %s", status, body)
	}
	var created wire.OIDCMethod
	decode(t, body, &created)
	ms, _ := e.srv.Store().OIDCMethods(ctx, e.dev.resp.AccountID)
	if len(ms) != 1 || strings.Contains(ms[0].Config+ms[0].Secret, idp.ClientSecret) {
		t.Fatalf("stored method %+v: secret not sealed", ms)
	}
	if status, body := e.do("GET", base+"/oidc", e.tok, nil); status != 200 || strings.Contains(string(body), idp.ClientSecret) {
		t.Fatalf("list: %d %s", status, body)
	}
	if status, _ := e.do("POST", base+"/oidc", e.tok, method); status != http.StatusConflict {
		t.Fatalf("duplicate domain: %d", status)
	}
	// An OIDC domain is no LDAP domain: no password sign-in through it.
	if status, _ := e.do("POST", "/api/v1/login", "", wire.LoginRequest{Email: `CORP\bob`, Password: "x"}); status != http.StatusUnauthorized {
		t.Fatalf("password login on an OIDC domain: %d", status)
	}
	status, body = e.do("POST", base+"/oidc/"+created.ID+"/groups", e.tok, wire.LDAPGroupImport{Name: "engineering"})
	if status != http.StatusCreated {
		t.Fatalf("import: %d %s", status, body)
	}
	var eng wire.Group
	decode(t, body, &eng)

	// The round trip: start, the IdP, the callback; a user is created.
	bob := &mockoidc.MockUser{Subject: "sub-bob-1", Email: "bob@corp.example", EmailVerified: true, PreferredUsername: "bob",
		Groups: []string{"Engineering", "not-imported"}}
	idp.QueueUser(bob)
	cb := ssoAuthorize(t, e, `CORP\bob`)
	status, body = e.do("GET", cb, "", nil)
	if status != http.StatusOK {
		t.Fatalf("callback: %d %s", status, body)
	}
	var lr wire.LoginResponse
	decode(t, body, &lr)
	if lr.Token == "" || lr.User.Email != "bob@corp.example" {
		t.Fatalf("login %+v", lr)
	}
	u, err := e.srv.Store().UserByEmail(ctx, "bob@corp.example")
	if err != nil || u.Auth != store.AuthOIDC || u.PasswordHash != "" {
		t.Fatalf("user %+v %v", u, err)
	}
	for _, g := range []string{eng.ID, newcomers.ID} {
		if ids, _ := e.srv.Store().GroupMembers(ctx, g); !slices.Contains(ids, u.ID) {
			t.Fatalf("bob not in group %s: %v", g, ids)
		}
	}
	// Like LDAP users: no password or profile of their own here.
	if status, _ := e.do("POST", "/api/v1/me/password", lr.Token, map[string]string{"current": "x", "new": "Another-Pass-1"}); status != http.StatusForbidden {
		t.Fatalf("password change by an OIDC user: %d", status)
	}

	// The same answer replayed: the state is spent.
	if status, _ := e.do("GET", cb, "", nil); status != http.StatusBadRequest || ssoRefusals(e, "unknown_state") != 1 {
		t.Fatalf("replayed callback: %d", status)
	}
	// A forged state never started here.
	if status, _ := e.do("GET", ssoapi.OIDCCallbackPath+"?state=forged&code=x", "", nil); status != http.StatusBadRequest || ssoRefusals(e, "unknown_state") != 2 {
		t.Fatalf("forged state: %d", status)
	}
	// An expired ID token (the IdP's clock an hour behind) is refused.
	idp.QueueUser(bob)
	cb = ssoAuthorize(t, e, `CORP\bob`)
	idp.FastForward(-time.Hour)
	status, body = e.do("GET", cb, "", nil)
	idp.FastForward(time.Hour)
	if status != http.StatusUnauthorized || ssoRefusals(e, "id_token_refused") != 1 {
		t.Fatalf("expired ID token: %d %s", status, body)
	}
	// Second sign-in: the groups follow the IdP's claim; no second user.
	bob.Groups = nil
	idp.QueueUser(bob)
	if status, body := e.do("GET", ssoAuthorize(t, e, `CORP\bob`), "", nil); status != http.StatusOK {
		t.Fatalf("second sign-in: %d %s", status, body)
	}
	if ids, _ := e.srv.Store().GroupMembers(ctx, eng.ID); slices.Contains(ids, u.ID) {
		t.Fatal("bob still in engineering after the IdP dropped it")
	}
	if n := len(e.audit(EvUserCreated)); n != 2 { // the owner and bob
		t.Fatalf("%d users created", n)
	}
	// The account's MFA policy still applies after the IdP: no token yet.
	if status, body := e.do("PUT", "/api/v1/accounts/"+e.dev.resp.AccountID+"/security", e.tok, wire.Security{MFA: "enforced", Factors: []string{"totp"}}); status != 200 {
		t.Fatalf("enforce MFA: %d %s", status, body)
	}
	idp.QueueUser(bob)
	status, body = e.do("GET", ssoAuthorize(t, e, `CORP\bob`), "", nil)
	lr = wire.LoginResponse{}
	if status == http.StatusOK {
		decode(t, body, &lr)
	}
	if lr.Token != "" || !(status == http.StatusOK && lr.MFARequired || status == http.StatusForbidden && strings.Contains(string(body), CodeMFAUnusable)) {
		t.Fatalf("sign-in under enforced MFA: %d %s", status, body)
	}
	// An unknown domain starts nothing.
	if status, _ := e.do("POST", "/api/v1/sso/oidc/start", "", wire.SSOStart{Login: `NOPE\x`}); status != http.StatusNotFound {
		t.Fatalf("unknown domain: %d", status)
	}
	if e.pendingSSO() != 0 {
		t.Fatalf("%d flows left", e.pendingSSO())
	}
	// One address cannot fill the flows: its starts are throttled.
	throttled := 0
	for range 2 * ssoapi.StartBurst {
		status, _ := e.do("POST", "/api/v1/sso/oidc/start", "", wire.SSOStart{Login: "CORP"})
		if status == http.StatusTooManyRequests {
			throttled++
		} else if status != http.StatusOK {
			t.Fatalf("start: %d", status)
		}
	}
	if throttled == 0 || e.pendingSSO() > ssoapi.StartBurst {
		t.Fatalf("%d starts throttled, %d flows held", throttled, e.pendingSSO())
	}
}

// Forged callbacks from one address: each refusal is audited until the
// address is throttled, then refused without an audit row each.
func TestOIDCForgedCallbacksBounded(t *testing.T) {
	e := newSessionEnv(t)
	const n = 200
	throttled := 0
	for i := range n {
		status, _ := e.do("GET", ssoapi.OIDCCallbackPath+"?code=x&state=forged"+strings.Repeat("a", i%7), "", nil)
		switch status {
		case http.StatusTooManyRequests:
			throttled++
		case http.StatusBadRequest:
		default:
			t.Fatalf("forged callback: %d", status)
		}
	}
	if audited := ssoRefusals(e, "unknown_state"); throttled == 0 || audited == 0 || audited+throttled != n || audited > n/4 {
		t.Fatalf("%d audited, %d throttled of %d", audited, throttled, n)
	}
}

// pendingSSO counts the sign-ins under way, in the database.
func (e *env) pendingSSO() int {
	e.t.Helper()
	n, err := e.srv.Store().CountPending(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}
