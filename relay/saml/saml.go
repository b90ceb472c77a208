// Package saml is the relay's SAML 2.0 service provider (issue 17): ADFS
// and Azure AD (Entra ID) sign-in through the HTTP-Redirect binding out
// and the HTTP-POST binding back, on github.com/crewjam/saml. It knows
// nothing of users or accounts: it reads an IdP's metadata, makes
// authentication requests and turns a verified response into an Identity.
//
// A response is accepted only when it carries an assertion signed by a
// certificate of the uploaded metadata (the response or the assertion
// signed), addressed to this method (audience, recipient and destination),
// within its time (NotBefore, NotOnOrAfter of the conditions and of the
// bearer confirmation), answering a request this relay made, and whose ID
// the replay check (the database, on every node) has not seen.
package saml

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"
	"github.com/jonboulle/clockwork"
	dsig "github.com/russellhaering/goxmldsig"
)

// Limits on what an IdP or a browser hands in: both are hostile input.
const (
	MaxMetadata = 1 << 20   // bytes of an uploaded FederationMetadata.xml
	MaxResponse = 256 << 10 // bytes of a base64 SAMLResponse
	maxGroups   = 256       // group values kept from one assertion
	maxValue    = 256       // bytes of one kept attribute value
)

// Claim names Azure AD and ADFS send (the WS-Federation claim URIs).
const (
	AzureGroupsClaim = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
	claimEmail       = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
	claimName        = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
	claimDisplayName = "http://schemas.microsoft.com/identity/claims/displayname"
	claimUPN         = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
)

// Errors: the relay audits each refusal by its kind.
var (
	ErrMetadata  = errors.New("saml: metadata refused")
	ErrAssertion = errors.New("saml: response refused")
	ErrReplay    = errors.New("saml: assertion already used")
)

// Cert is one signing certificate of the IdP, as the Portal shows it.
type Cert struct {
	Subject   string    `json:"subject"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	SHA256    string    `json:"sha256"`
}

// IdP is what an uploaded metadata document says of the identity provider.
type IdP struct {
	EntityID string `json:"entity_id"`
	SSOURL   string `json:"sso_url"`
	Certs    []Cert `json:"certs"`
}

// ParseMetadata reads an IdP's metadata (FederationMetadata.xml): its
// entity id, its HTTP-Redirect sign-on URL and its signing certificates.
// Metadata without a signing certificate or a redirect URL is refused: a
// method could never verify a sign-in.
func ParseMetadata(raw []byte) (*saml.EntityDescriptor, IdP, error) {
	if len(raw) == 0 || len(raw) > MaxMetadata {
		return nil, IdP{}, fmt.Errorf("%w: empty or over %d bytes", ErrMetadata, MaxMetadata)
	}
	ed, err := samlsp.ParseMetadata(raw)
	if err != nil {
		return nil, IdP{}, fmt.Errorf("%w: %v", ErrMetadata, err)
	}
	idp := IdP{EntityID: ed.EntityID}
	sp := saml.ServiceProvider{IDPMetadata: ed}
	idp.SSOURL = sp.GetSSOBindingLocation(saml.HTTPRedirectBinding)
	if u, err := url.Parse(idp.SSOURL); idp.SSOURL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, IdP{}, fmt.Errorf("%w: no http(s) SingleSignOnService with the HTTP-Redirect binding", ErrMetadata)
	}
	for _, d := range ed.IDPSSODescriptors {
		for _, kd := range d.KeyDescriptors {
			if kd.Use != "" && kd.Use != "signing" {
				continue
			}
			for _, c := range kd.KeyInfo.X509Data.X509Certificates {
				cert, err := parseCert(c.Data)
				if err != nil {
					return nil, IdP{}, fmt.Errorf("%w: %v", ErrMetadata, err)
				}
				sum := sha256.Sum256(cert.Raw)
				cc := Cert{Subject: cert.Subject.String(), NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC(), SHA256: hex.EncodeToString(sum[:])}
				if !slices.ContainsFunc(idp.Certs, func(x Cert) bool { return x.SHA256 == cc.SHA256 }) {
					idp.Certs = append(idp.Certs, cc)
				}
			}
		}
	}
	if len(idp.Certs) == 0 {
		return nil, IdP{}, fmt.Errorf("%w: no signing certificate", ErrMetadata)
	}
	return ed, idp, nil
}

// Config is one SAML method's settings.
type Config struct {
	Metadata        string // the IdP's metadata document
	GroupsAttribute string // default AzureGroupsClaim
}

// Identity is what a verified assertion says of its user.
type Identity struct {
	Subject     string // the NameID
	Email       string
	DisplayName string
	Username    string
	Groups      []string
	AssertionID string
}

// SP is one method's service provider.
type SP struct {
	sp     saml.ServiceProvider
	groups string
}

// Used records an assertion id until it expires: ErrReplay (wrapped) when
// it was recorded before. The relay's store keeps them for every node.
type Used func(id string, expires time.Time) error

type replayCache Used

func (r replayCache) Consume(id string, expires time.Time) error {
	if err := r(id, expires); err != nil {
		return fmt.Errorf("%w: %w", saml.ErrAssertionReplayed, err)
	}
	return nil
}

// clock lets the relay's injected clock rule every time check.
type clock struct {
	clockwork.Clock
	now func() time.Time
}

func (c clock) Now() time.Time { return c.now() }

// New builds the service provider of a method: entityID is its own (the
// audience IdPs must name), acs the URL responses are posted to.
func New(c Config, entityID, acs string, now func() time.Time, used Used) (*SP, error) {
	ed, _, err := ParseMetadata([]byte(c.Metadata))
	if err != nil {
		return nil, err
	}
	au, err := url.Parse(acs)
	if err != nil {
		return nil, fmt.Errorf("saml: acs url: %w", err)
	}
	mu, err := url.Parse(entityID)
	if err != nil {
		return nil, fmt.Errorf("saml: entity id: %w", err)
	}
	groups := c.GroupsAttribute
	if groups == "" {
		groups = AzureGroupsClaim
	}
	return &SP{groups: groups, sp: saml.ServiceProvider{
		EntityID:                         entityID,
		MetadataURL:                      *mu,
		AcsURL:                           *au,
		IDPMetadata:                      ed,
		AuthnNameIDFormat:                saml.UnspecifiedNameIDFormat,
		AssertionConsumerServiceBindings: []string{saml.HTTPPostBinding},
		Clock:                            dsig.NewFakeClock(clock{Clock: clockwork.NewRealClock(), now: now}),
		ReplayCache:                      replayCache(used),
		RejectSHA1Signatures:             false, // ADFS still signs with rsa-sha256 by default; some tenants keep sha1
		RejectUnknownConditions:          true,
	}}, nil
}

// Metadata is the SP's metadata document, for the IdP's administrator;
// extraACS are further reply URLs (the Portal's) after the SP's own.
func (s *SP) Metadata(extraACS ...string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	doc := s.sp.Metadata()
	for i := range doc.SPSSODescriptors {
		d := &doc.SPSSODescriptors[i]
		for _, u := range extraACS {
			d.AssertionConsumerServices = append(d.AssertionConsumerServices, saml.IndexedEndpoint{Binding: saml.HTTPPostBinding, Location: u, Index: len(d.AssertionConsumerServices) + 1})
		}
	}
	out, err := xmlMarshal(doc)
	if err != nil {
		return nil, err
	}
	b.Write(out)
	return b.Bytes(), nil
}

// Begin makes an authentication request: the URL to send the browser to
// and the request's id, which the response must answer.
func (s *SP) Begin(relayState string) (string, string, error) {
	req, err := s.sp.MakeAuthenticationRequest(s.sp.GetSSOBindingLocation(saml.HTTPRedirectBinding), saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		return "", "", fmt.Errorf("saml: authentication request: %w", err)
	}
	u, err := req.Redirect(relayState, &s.sp)
	if err != nil {
		return "", "", fmt.Errorf("saml: authentication request: %w", err)
	}
	return u.String(), req.ID, nil
}

// Finish verifies a posted SAMLResponse (base64) answering requestID and
// returns its user. Every refusal wraps ErrAssertion (ErrReplay for an id
// seen before), with the library's private reason.
func (s *SP) Finish(samlResponse, requestID string) (Identity, error) {
	if len(samlResponse) > MaxResponse {
		return Identity{}, fmt.Errorf("%w: over %d bytes", ErrAssertion, MaxResponse)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(samlResponse))
	if err != nil {
		return Identity{}, fmt.Errorf("%w: not base64", ErrAssertion)
	}
	a, err := s.sp.ParseXMLResponse(raw, []string{requestID}, s.sp.AcsURL)
	if err != nil {
		var ire *saml.InvalidResponseError
		if errors.As(err, &ire) {
			err = ire.PrivateErr
		}
		if errors.Is(err, saml.ErrAssertionReplayed) {
			return Identity{}, fmt.Errorf("%w: %w", ErrReplay, err)
		}
		return Identity{}, fmt.Errorf("%w: %v", ErrAssertion, err)
	}
	return s.identity(a)
}

func (s *SP) identity(a *saml.Assertion) (Identity, error) {
	id := Identity{AssertionID: a.ID}
	if a.Subject == nil || a.Subject.NameID == nil || a.Subject.NameID.Value == "" || len(a.Subject.NameID.Value) > maxValue {
		return id, fmt.Errorf("%w: no usable NameID", ErrAssertion)
	}
	id.Subject = a.Subject.NameID.Value
	first := func(names ...string) string {
		for _, st := range a.AttributeStatements {
			for _, at := range st.Attributes {
				if slices.Contains(names, at.Name) || slices.Contains(names, at.FriendlyName) {
					for _, v := range at.Values {
						if v.Value != "" && len(v.Value) <= maxValue {
							return v.Value
						}
					}
				}
			}
		}
		return ""
	}
	id.Email = first(claimEmail, "mail", "email", "urn:oid:0.9.2342.19200300.100.1.3")
	id.DisplayName = first(claimDisplayName, "displayName", "cn", "urn:oid:2.5.4.3")
	id.Username = first(claimUPN, claimName, "uid", "urn:oid:0.9.2342.19200300.100.1.1")
	if id.Username == "" {
		id.Username = id.Subject
	}
	for _, st := range a.AttributeStatements {
		for _, at := range st.Attributes {
			if at.Name != s.groups && at.FriendlyName != s.groups {
				continue
			}
			for _, v := range at.Values {
				if v.Value != "" && len(v.Value) <= maxValue && len(id.Groups) < maxGroups && !slices.Contains(id.Groups, v.Value) {
					id.Groups = append(id.Groups, v.Value)
				}
			}
		}
	}
	return id, nil
}

// parseCert reads a metadata certificate (base64 DER, line breaks allowed).
func parseCert(data string) (*x509.Certificate, error) {
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(data), ""))
	if err != nil {
		return nil, fmt.Errorf("certificate: not base64: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	return cert, nil
}

func xmlMarshal(v any) ([]byte, error) {
	out, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("saml: metadata: %w", err)
	}
	return out, nil
}
