package portal_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/relay/saml/samltest"
	"github.com/tandem-rc/tandem/relay/store"
)

// TestSSOMethodsBrowser: an administrator adds a SAML sign-in on the
// Single sign-on page (the IdP's FederationMetadata.xml uploaded as a
// file, its certificate shown with its dates), imports an Azure AD group
// and adds an OpenID Connect sign-in; then, in another browser, a user
// types AZ\alice, signs in at the IdP (crewjam/saml's, in-process, whose
// page posts the signed response back) and lands in the Portal, in the
// imported group. A metadata file that is not metadata is refused next to
// the field.
func TestSSOMethodsBrowser(t *testing.T) {
	r := relaytest.Start(t, nil)
	ctx := context.Background()
	ti := samltest.Start(t)
	ti.Set(func(ti *samltest.IdP) { ti.Groups = []string{"Engineers"} })
	oidc, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { oidc.Shutdown() })

	b := newBrowser(t, r.URL)
	b.open("/signin")
	b.fill("#username", relaytest.OwnerEmail)
	b.submit("button[type=submit]")
	b.fill("#password", relaytest.OwnerPassword)
	b.submit("button[type=submit]")

	b.open("/authentication")
	b.submit(`a[href="/authentication/sso"]`)
	b.submit(`a[href="/authentication/sso?add=saml"]`)
	b.fill("#sa-domain", "AZ")
	b.submit("#saml-dialog button[type=submit]")
	// On to the metadata dialog: a file that is not metadata first.
	dir := t.TempDir()
	bad, good := filepath.Join(dir, "bad.xml"), filepath.Join(dir, "FederationMetadata.xml")
	os.WriteFile(bad, []byte("<html>not metadata</html>"), 0o600)
	os.WriteFile(good, []byte(ti.MetadataXML(t)), 0o600)
	b.upload("#md-file", bad, "#metadata-dialog button[type=submit]")
	if msg := b.text("#metadata-error"); !strings.Contains(msg, "metadata") {
		t.Fatalf("bad metadata: %q", msg)
	}
	b.upload("#md-file", good, "#metadata-dialog button[type=submit]")
	row := b.text(`tr[data-saml="AZ"]`)
	if !strings.Contains(row, ti.IDP.MetadataURL.String()) || !strings.Contains(row, "CN=test idp: "+ti.IDP.Certificate.NotBefore.UTC().Format("2006-01-02")) ||
		!strings.Contains(row, r.URL+"/sso/saml/acs") {
		t.Fatalf("SAML row: %q", row)
	}
	b.screenshot("sso-methods")
	b.submit(`tr[data-saml="AZ"] a[href*="import=saml"]`)
	b.fill("#si-name", "Engineers")
	b.submit("#sso-import-dialog button[type=submit]")
	if got := b.text(`li[data-sso-group="Engineers"]`); got != "Engineers" {
		t.Fatalf("imported group %q", got)
	}
	b.submit(`a[href="/authentication/sso?add=oidc"]`)
	b.fill("#oi-domain", "CORP")
	b.fill("#oi-issuer", oidc.Issuer())
	b.fill("#oi-client", oidc.ClientID)
	b.fill("#oi-secret", oidc.ClientSecret)
	b.fill("#oi-button", "Corp SSO")
	b.submit("#oidc-dialog button[type=submit]")
	if row := b.text(`tr[data-oidc="CORP"]`); !strings.Contains(row, oidc.Issuer()) || !strings.Contains(row, r.URL+"/sso/callback") ||
		strings.Contains(b.text("body"), oidc.ClientSecret) {
		t.Fatalf("OIDC row: %q", row)
	}

	b.axe(axeSource(t), "/authentication/sso")
	b.open("/authentication/sso?metadata=" + b.evalString(`document.querySelector('tr[data-saml="AZ"] a[href*="metadata="]').getAttribute('href').split('=')[1]`))
	b.axe(axeSource(t), "/authentication/sso?metadata=ID")

	// The IdP's administrator registers the relay's metadata.
	id := b.evalString(`document.querySelector('tr[data-saml="AZ"] a[href*="metadata="]').getAttribute('href').split('=')[1]`)
	resp, err := http.Get(r.URL + "/api/v1/sso/saml/" + id + "/metadata")
	if err != nil {
		t.Fatal(err)
	}
	md, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	ti.Trust(t, md)

	b2 := newBrowser(t, r.URL)
	b2.open("/signin")
	b2.fill("#username", `AZ\alice`)
	b2.click("form button[type=submit]")
	b2.waitJS(`location.pathname === '/' && document.readyState === 'complete'`)
	if c := b2.cookies(); !slices.ContainsFunc(c, func(c *network.Cookie) bool { return c.Name == "__Host-tandem" }) {
		t.Fatalf("no session cookie after the IdP: %v", c)
	}
	u, err := r.Srv.Store().UserByEmail(ctx, "alice@corp.example")
	if err != nil || u.Auth != "saml" {
		t.Fatalf("alice: %+v %v", u, err)
	}
	if page := b2.text("body"); !strings.Contains(page, "Alice Adams") {
		t.Fatalf("the Portal does not show alice: %s", page)
	}
	ms, _ := r.Srv.Store().Memberships(ctx, u.ID)
	if len(ms) != 1 {
		t.Fatalf("alice's memberships %+v", ms)
	}
	gs, _ := r.Srv.Store().Groups(ctx, ms[0].AccountID)
	i := slices.IndexFunc(gs, func(g store.Group) bool { return g.Name == "Engineers" })
	if i < 0 {
		t.Fatal("no Engineers group")
	}
	if ids, _ := r.Srv.Store().GroupMembers(ctx, gs[i].ID); !slices.Contains(ids, u.ID) {
		t.Fatalf("alice not in Engineers: %v", ids)
	}
}
