package relay

import (
	"net/http"
	"strings"
	"testing"

	"github.com/oauth2-proxy/mockoidc"
	"github.com/tandem-rc/tandem/relay/saml/samltest"
	"github.com/tandem-rc/tandem/relay/store/storetest"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestSSOAcrossNodes: OIDC and SAML sign-ins started on node A finish on
// node B (the pending state is a database row, not A's memory), and a
// SAML assertion B accepted is refused by A (used ids are rows too).
func TestSSOAcrossNodes(t *testing.T) {
	public := func(c *Config) { c.PublicURL = "https://relay.test" } // one name behind the balancer
	e := newEnv(t, withDB(storetest.Postgres(t)), public)
	b := joinEnv(t, e, public)
	tok := e.login(ownerEmail, ownerPass)

	idp := startIdP(t)
	status, body := e.do("POST", "/api/v1/accounts/Acme/oidc", tok, wire.OIDCMethod{Domain: "CORP", Enabled: true, Issuer: idp.Issuer(),
		ClientID: idp.ClientID, ClientSecret: idp.ClientSecret})
	if status != http.StatusCreated {
		t.Fatalf("oidc method: %d %s", status, body)
	}
	idp.QueueUser(&mockoidc.MockUser{Subject: "sub-carol", Email: "carol@corp.example", EmailVerified: true, PreferredUsername: "carol"})
	se := &sessionEnv{env: e, tok: tok}
	cb := ssoAuthorize(t, se, `CORP\carol`) // started on A
	status, body = b.do("GET", cb, "", nil) // finished on B
	if status != http.StatusOK || !strings.Contains(string(body), "carol@corp.example") {
		t.Fatalf("OIDC callback on node B: %d %s", status, body)
	}
	if status, _ := e.do("GET", cb, "", nil); status != http.StatusBadRequest {
		t.Fatalf("the same state on node A: %d", status)
	}

	ti := samltest.Start(t)
	samlSetup(t, e, tok, ti)
	form := samlBrowser(t, e, ti, `AZ\alice`) // started on A
	status, body = b.samlPost(form)           // posted to B
	if status != http.StatusOK || !strings.Contains(string(body), "alice@corp.example") {
		t.Fatalf("SAML ACS on node B: %d %s", status, body)
	}
	// The same assertion under a state A issued: refused on A.
	again := samlBrowser(t, e, ti, `AZ\alice`)
	again.Set("SAMLResponse", form.Get("SAMLResponse"))
	if status, _ := e.samlPost(again); status != http.StatusUnauthorized {
		t.Fatalf("replay on node A: %d", status)
	}
	if n := e.pendingSSO(); n != 0 {
		t.Fatalf("%d sign-ins left pending", n)
	}
}
