package portal_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestOIDCSignInBrowser: Chromium types CORP\bob on the sign-in page, goes
// through a real OpenID provider (mockoidc on loopback, which signs the
// queued user in without a form) and lands in the Portal as bob, in the
// group the IdP's groups claim names.
func TestOIDCSignInBrowser(t *testing.T) {
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Shutdown() })
	r := relaytest.Start(t, nil)
	api := r.URL + "/api/v1"
	ctx := context.Background()
	var lr wire.LoginResponse
	if s := apiCall(t, "POST", api+"/login", "", wire.LoginRequest{Email: relaytest.OwnerEmail, Password: relaytest.OwnerPassword}, &lr); s != 200 {
		t.Fatalf("login: %d", s)
	}
	ms, err := r.Srv.Store().Memberships(ctx, lr.User.ID)
	if err != nil || len(ms) == 0 {
		t.Fatal(ms, err)
	}
	acct := api + "/accounts/" + ms[0].AccountID
	var m wire.OIDCMethod
	if s := apiCall(t, "POST", acct+"/oidc", lr.Token, wire.OIDCMethod{Domain: "CORP", Enabled: true, Issuer: idp.Issuer(),
		ClientID: idp.ClientID, ClientSecret: idp.ClientSecret, Scopes: []string{"groups"}, Button: "Corp SSO"}, &m); s != 201 {
		t.Fatalf("create method: %d", s)
	}
	var g wire.Group
	if s := apiCall(t, "POST", acct+"/oidc/"+m.ID+"/groups", lr.Token, wire.LDAPGroupImport{Name: "engineering"}, &g); s != 201 {
		t.Fatalf("import group: %d", s)
	}
	idp.QueueUser(&mockoidc.MockUser{Subject: "sub-bob", Email: "bob@corp.example", EmailVerified: true, PreferredUsername: "bob",
		Groups: []string{"engineering"}})

	b := newBrowser(t, r.URL)
	b.open("/signin")
	b.fill("#username", `CORP\bob`)
	b.click("form button[type=submit]")
	defer func() {
		if t.Failed() {
			page, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`location.href + ": " + document.body.innerText`))
			t.Log(page)
		}
	}()
	b.waitJS(`location.pathname === '/' && document.readyState === 'complete'`)
	if c := b.cookies(); !slices.ContainsFunc(c, func(c *network.Cookie) bool { return c.Name == "__Host-tandem" }) {
		t.Fatalf("no session cookie after the IdP: %v", c)
	}
	b.screenshot("oidc-signed-in")
	u, err := r.Srv.Store().UserByEmail(ctx, "bob@corp.example")
	if err != nil || u.Auth != "oidc" {
		t.Fatalf("bob: %+v %v", u, err)
	}
	ids, _ := r.Srv.Store().GroupMembers(ctx, g.ID)
	if len(ids) != 1 || ids[0] != u.ID {
		t.Fatalf("engineering members %v, want bob", ids)
	}
	if page := b.text("body"); !strings.Contains(page, "bob") {
		t.Fatalf("the Portal does not show bob: %s", page)
	}

	// Carol, in another browser, presses the "Sign in with …" button.
	idp.QueueUser(&mockoidc.MockUser{Subject: "sub-carol", Email: "carol@corp.example", EmailVerified: true, PreferredUsername: "carol"})
	b2 := newBrowser(t, r.URL)
	b2.open("/signin")
	if got := b2.text(`button[data-sso="corp"]`); got != "Sign in with Corp SSO" {
		t.Fatalf("button %q", got)
	}
	b2.click(`button[data-sso="corp"]`)
	b2.waitJS(`location.pathname === '/' && document.readyState === 'complete'`)
	if _, err := r.Srv.Store().UserByEmail(ctx, "carol@corp.example"); err != nil {
		t.Fatalf("carol: %v", err)
	}
}
