package relay

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml"
	"github.com/tandem-rc/tandem/relay/saml/samltest"
	"github.com/tandem-rc/tandem/relay/ssoapi"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// samlSetup makes a SAML method AZ on Acme with the IdP's metadata, an
// imported group and a default group; the IdP trusts the relay's SP.
func samlSetup(t *testing.T, e *env, tok string, ti *samltest.IdP) (wire.SAMLMethod, wire.Group, wire.Group) {
	t.Helper()
	base := "/api/v1/accounts/Acme"
	name := "Newcomers"
	status, body := e.do("POST", base+"/groups", tok, wire.GroupRequest{Name: &name, Kind: "user"})
	if status != http.StatusCreated {
		t.Fatalf("group: %d %s", status, body)
	}
	var newcomers wire.Group
	decode(t, body, &newcomers)
	status, body = e.do("POST", base+"/saml", tok, wire.SAMLMethod{Domain: "AZ", Enabled: true, DefaultGroup: newcomers.ID})
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	var m wire.SAMLMethod
	decode(t, body, &m)
	// Not usable before the IdP's metadata is there.
	if status, _ := e.do("POST", "/api/v1/sso/saml/start", "", wire.SSOStart{Login: `AZ\alice`}); status != http.StatusServiceUnavailable {
		t.Fatalf("start without metadata: %d", status)
	}
	status, body, _ = e.rawDo("PUT", base+"/saml/"+m.ID+"/metadata", tok, "application/xml", []byte(ti.MetadataXML(t)))
	if status != http.StatusOK {
		t.Fatalf("metadata: %d %s", status, body)
	}
	decode(t, body, &m)
	pub := e.ts.URL
	if e.srv.cfg.PublicURL != "" {
		pub = strings.TrimSuffix(e.srv.cfg.PublicURL, "/")
	}
	if m.IdPEntityID != ti.IDP.MetadataURL.String() || len(m.IdPCerts) != 1 || m.IdPCerts[0].NotAfter.IsZero() ||
		m.EntityID != pub+"/api/v1/sso/saml/"+m.ID+"/metadata" || m.ACSURL != pub+ssoapi.SAMLACSPath {
		t.Fatalf("method after upload: %+v", m)
	}
	status, body, _ = e.rawDo("GET", "/api/v1/sso/saml/"+m.ID+"/metadata", "", "", nil)
	if status != http.StatusOK || !strings.Contains(string(body), m.ACSURL) {
		t.Fatalf("SP metadata: %d %s", status, body)
	}
	ti.Trust(t, body)
	status, body = e.do("POST", base+"/saml/"+m.ID+"/groups", tok, wire.LDAPGroupImport{Name: "Engineers"})
	if status != http.StatusCreated {
		t.Fatalf("import: %d %s", status, body)
	}
	var eng wire.Group
	decode(t, body, &eng)
	return m, eng, newcomers
}

// samlBrowser plays the browser: start, the IdP's sign-on page, and the
// form the IdP answers with (SAMLResponse, RelayState).
func samlBrowser(t *testing.T, e *env, ti *samltest.IdP, login string) url.Values {
	t.Helper()
	status, body := e.do("POST", "/api/v1/sso/saml/start", "", wire.SSOStart{Login: login})
	if status != http.StatusOK {
		t.Fatalf("start: %d %s", status, body)
	}
	var sr wire.SSORedirect
	decode(t, body, &sr)
	u, _ := url.Parse(sr.URL)
	return url.Values{"SAMLResponse": {ti.SignIn(t, sr.URL)}, "RelayState": {u.Query().Get("RelayState")}}
}

func (e *env) samlPost(form url.Values) (int, []byte) {
	e.t.Helper()
	status, body, _ := e.rawDo("POST", ssoapi.SAMLACSPath, "", "application/x-www-form-urlencoded", []byte(form.Encode()))
	return status, body
}

func samlRefusals(e *env, reason string) int {
	n := 0
	for _, ev := range e.audit(EvLoginFailed) {
		if d := string(ev.Detail); strings.Contains(d, `"reason":"`+reason+`"`) && strings.Contains(d, `"auth":"saml"`) {
			n++
		}
	}
	return n
}

// TestSAMLSignIn: an Azure AD-like IdP (crewjam/saml's, in-process) signs
// a user in; the user is created in the imported and default groups; the
// same response replayed, a tampered, an unsigned, an expired and a
// wrong-audience one are refused and audited.
func TestSAMLSignIn(t *testing.T) {
	e := newEnv(t)
	tok := e.login(ownerEmail, ownerPass)
	ti := samltest.Start(t)
	ti.Set(func(ti *samltest.IdP) { ti.Groups = []string{"Engineers", "not-imported"} })
	m, eng, newcomers := samlSetup(t, e, tok, ti)
	ctx := context.Background()

	form := samlBrowser(t, e, ti, `AZ\alice`)
	status, body := e.samlPost(form)
	if status != http.StatusOK {
		t.Fatalf("acs: %d %s", status, body)
	}
	var lr wire.LoginResponse
	decode(t, body, &lr)
	if lr.Token == "" || lr.User.Email != "alice@corp.example" || lr.User.Name != "Alice Adams" {
		t.Fatalf("login %+v", lr)
	}
	u, err := e.srv.Store().UserByEmail(ctx, "alice@corp.example")
	if err != nil || u.Auth != store.AuthSAML || u.PasswordHash != "" {
		t.Fatalf("user %+v %v", u, err)
	}
	for _, g := range []string{eng.ID, newcomers.ID} {
		if ids, _ := e.srv.Store().GroupMembers(ctx, g); !slices.Contains(ids, u.ID) {
			t.Fatalf("alice not in group %s: %v", g, ids)
		}
	}
	// A SAML user has no Portal password.
	if status, _ := e.do("POST", "/api/v1/me/password", lr.Token, map[string]string{"current": "x", "new": "Another-Pass-1"}); status != http.StatusForbidden {
		t.Fatalf("password change by a SAML user: %d", status)
	}
	// The same post again: its state is spent.
	if status, _ := e.samlPost(form); status != http.StatusBadRequest || samlRefusals(e, "unknown_state") != 1 {
		t.Fatalf("replayed post: %d", status)
	}
	// The same assertion under a new sign-in's state: the id is spent.
	again := samlBrowser(t, e, ti, `AZ\alice`)
	again.Set("SAMLResponse", form.Get("SAMLResponse"))
	if status, _ := e.samlPost(again); status != http.StatusUnauthorized || samlRefusals(e, "assertion_refused")+samlRefusals(e, "assertion_replayed") != 1 {
		t.Fatalf("replayed assertion: %d", status)
	}

	hostile := map[string]func(*saml.Assertion){
		"wrong audience": func(a *saml.Assertion) {
			a.Conditions.AudienceRestrictions = []saml.AudienceRestriction{{Audience: saml.Audience{Value: e.ts.URL + "/api/v1/sso/saml/other/metadata"}}}
		},
		"expired": func(a *saml.Assertion) {
			a.Conditions.NotOnOrAfter = time.Now().Add(-time.Hour)
			a.Subject.SubjectConfirmations[0].SubjectConfirmationData.NotOnOrAfter = time.Now().Add(-time.Hour)
		},
	}
	n := samlRefusals(e, "assertion_refused")
	for name, mutate := range hostile {
		ti.Set(func(ti *samltest.IdP) { ti.Mutate = mutate })
		f := samlBrowser(t, e, ti, `AZ\alice`)
		ti.Set(func(ti *samltest.IdP) { ti.Mutate = nil })
		if status, body := e.samlPost(f); status != http.StatusUnauthorized {
			t.Fatalf("%s: %d %s", name, status, body)
		}
		n++
	}
	tamper := map[string]func(string) string{
		"tampered": func(x string) string {
			return strings.Replace(x, "alice@corp.example</saml:NameID>", "owner@example.com</saml:NameID>", 1)
		},
		"unsigned": func(x string) string {
			for {
				i := strings.Index(x, "<ds:Signature")
				if i < 0 {
					return x
				}
				j := strings.Index(x[i:], "</ds:Signature>")
				x = x[:i] + x[i+j+len("</ds:Signature>"):]
			}
		},
	}
	for name, fn := range tamper {
		f := samlBrowser(t, e, ti, `AZ\alice`)
		raw, _ := base64.StdEncoding.DecodeString(f.Get("SAMLResponse"))
		bent := fn(string(raw))
		if bent == string(raw) {
			t.Fatalf("%s: nothing changed", name)
		}
		f.Set("SAMLResponse", base64.StdEncoding.EncodeToString([]byte(bent)))
		if status, body := e.samlPost(f); status != http.StatusUnauthorized {
			t.Fatalf("%s: %d %s", name, status, body)
		}
		n++
	}
	if got := samlRefusals(e, "assertion_refused"); got != n {
		t.Fatalf("%d refusals audited, want %d", got, n)
	}
	// A clean one still works after the refusals, for the right user.
	f := samlBrowser(t, e, ti, `AZ\alice`)
	if status, body := e.samlPost(f); status != http.StatusOK || !strings.Contains(string(body), "alice@corp.example") {
		t.Fatalf("clean sign-in: %d %s", status, body)
	}
	// Another account's administrator can't see or change the method.
	if status, _ := e.do("DELETE", "/api/v1/accounts/Acme/saml/"+m.ID, lr.Token, nil); status != http.StatusForbidden {
		t.Fatalf("delete by a user: %d", status)
	}
	if status, _ := e.do("DELETE", "/api/v1/accounts/Acme/saml/"+m.ID, tok, nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d", status)
	}
	if status, _ := e.do("POST", "/api/v1/sso/saml/start", "", wire.SSOStart{Login: `AZ\alice`}); status != http.StatusNotFound {
		t.Fatalf("start after delete: %d", status)
	}
}

// TestSAMLHostileInput: a metadata upload that is not metadata, and posts
// to the ACS that are not responses, are refused with bounded work.
func TestSAMLHostileInput(t *testing.T) {
	e := newEnv(t)
	tok := e.login(ownerEmail, ownerPass)
	status, body := e.do("POST", "/api/v1/accounts/Acme/saml", tok, wire.SAMLMethod{Domain: "AZ", Enabled: true})
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	var m wire.SAMLMethod
	decode(t, body, &m)
	for name, doc := range map[string]string{
		"not xml":  "hello",
		"bomb":     `<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">&b;</EntityDescriptor>`,
		"too long": strings.Repeat(" ", 1<<20+1),
	} {
		if status, _, _ := e.rawDo("PUT", "/api/v1/accounts/Acme/saml/"+m.ID+"/metadata", tok, "application/xml", []byte(doc)); status/100 != 4 {
			t.Fatalf("%s metadata: %d", name, status)
		}
	}
	if status, _ := e.do("POST", "/api/v1/accounts/Acme/saml", tok, wire.SAMLMethod{Domain: "X", IdPSSOURL: "https://evil.example/"}); status != http.StatusBadRequest {
		t.Fatalf("IdP URL set by the client: %d", status)
	}
	for name, f := range map[string]url.Values{
		"no state":      {"SAMLResponse": {"PHg+"}},
		"forged state":  {"SAMLResponse": {"PHg+"}, "RelayState": {"forged"}},
		"huge response": {"SAMLResponse": {strings.Repeat("A", 300<<10)}, "RelayState": {"x"}},
	} {
		if status, _ := e.samlPost(f); status != http.StatusBadRequest {
			t.Fatalf("%s: %d", name, status)
		}
	}
}
