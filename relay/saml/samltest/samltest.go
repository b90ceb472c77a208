// Package samltest runs a real SAML identity provider for tests:
// crewjam/saml's IdentityProvider in-process on loopback (request parsing,
// ACS checks, assertion making and XML signing), with an assertion maker
// that adds Azure AD's groups claim and lets a test turn it hostile.
package samltest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/xml"
	"errors"
	"html"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

// AzureGroupsClaim is the attribute Azure AD sends group ids in.
const AzureGroupsClaim = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"

// IdP is one identity provider; its fields are guarded by Set.
type IdP struct {
	IDP    *saml.IdentityProvider
	Server *httptest.Server
	Key    *rsa.PrivateKey
	mu     sync.Mutex
	spMeta *saml.EntityDescriptor
	User   saml.Session
	Groups []string
	Mutate func(*saml.Assertion) // applied before signing
}

func NewCert(t testing.TB, cn string) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return key, cert
}

// Start runs an IdP; its metadata is MetadataXML.
func Start(t testing.TB) *IdP {
	t.Helper()
	ti := &IdP{User: saml.Session{ID: "s1", NameID: "alice@corp.example", UserName: "alice", UserEmail: "alice@corp.example", UserCommonName: "Alice Adams"}}
	key, cert := NewCert(t, "test idp")
	ti.Key = key
	var h http.Handler
	ti.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(ti.Server.Close)
	md, _ := url.Parse(ti.Server.URL + "/metadata")
	sso, _ := url.Parse(ti.Server.URL + "/sso")
	ti.IDP = &saml.IdentityProvider{
		Key: key, Certificate: cert, Logger: log.New(io.Discard, "", 0),
		MetadataURL:             *md,
		SSOURL:                  *sso,
		ServiceProviderProvider: ti,
		SessionProvider:         ti,
		AssertionMaker:          ti,
		SignatureMethod:         dsig.RSASHA256SignatureMethod,
	}
	h = ti.IDP.Handler()
	return ti
}

func (ti *IdP) MetadataXML(t testing.TB) string {
	b, err := xml.Marshal(ti.IDP.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Trust registers an SP's metadata at the IdP (what an Azure AD
// administrator does with the relay's metadata URL).
func (ti *IdP) Trust(t testing.TB, spMetadata []byte) {
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal(spMetadata, &ed); err != nil {
		t.Fatal(err)
	}
	ti.mu.Lock()
	ti.spMeta = &ed
	ti.mu.Unlock()
}

func (ti *IdP) GetServiceProvider(_ *http.Request, id string) (*saml.EntityDescriptor, error) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	if ti.spMeta == nil || ti.spMeta.EntityID != id {
		return nil, errNotExist
	}
	return ti.spMeta, nil
}

var errNotExist = errors.New("no such service provider")

func (ti *IdP) GetSession(_ http.ResponseWriter, _ *http.Request, _ *saml.IdpAuthnRequest) *saml.Session {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	s := ti.User
	s.CreateTime, s.ExpireTime = ti.IDP.Clock.Now(), ti.IDP.Clock.Now().Add(time.Hour)
	return &s
}

func (ti *IdP) MakeAssertion(req *saml.IdpAuthnRequest, s *saml.Session) error {
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, s); err != nil {
		return err
	}
	ti.mu.Lock()
	defer ti.mu.Unlock()
	if len(ti.Groups) > 0 {
		at := saml.Attribute{Name: AzureGroupsClaim}
		for _, g := range ti.Groups {
			at.Values = append(at.Values, saml.AttributeValue{Type: "xs:string", Value: g})
		}
		req.Assertion.AttributeStatements[0].Attributes = append(req.Assertion.AttributeStatements[0].Attributes, at)
	}
	if ti.Mutate != nil {
		ti.Mutate(req.Assertion)
	}
	return nil
}

var formValue = regexp.MustCompile(`name="SAMLResponse" value="([^"]+)"`)

// SignIn plays the browser at the IdP: it follows the authentication
// request URL and returns the SAMLResponse the IdP's form would post.
func (ti *IdP) SignIn(t testing.TB, authURL string) string {
	t.Helper()
	resp, err := http.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := formValue.FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("IdP answered %d: %.300s", resp.StatusCode, body)
	}
	return html.UnescapeString(string(m[1]))
}

// Set changes the IdP's user, groups and assertion mutation under its lock.
func (ti *IdP) Set(fn func(ti *IdP)) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	fn(ti)
}
