package saml

import (
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/tandem-rc/tandem/relay/saml/samltest"
)

type usedIDs struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func (u *usedIDs) use(id string, exp time.Time) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.m[id]; ok {
		return errors.New("seen")
	}
	u.m[id] = exp
	return nil
}

const (
	spEntity = "https://relay.test/api/v1/sso/saml/m1"
	spACS    = "https://relay.test/api/v1/sso/saml/acs"
)

func newSP(t *testing.T, ti *samltest.IdP, now func() time.Time) *SP {
	t.Helper()
	sp, err := New(Config{Metadata: ti.MetadataXML(t)}, spEntity, spACS, now, (&usedIDs{m: map[string]time.Time{}}).use)
	if err != nil {
		t.Fatal(err)
	}
	md, err := sp.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	ti.Trust(t, md)
	return sp
}

// decoded returns the response's XML document, for tampering.
func decoded(t *testing.T, resp string) *etree.Document {
	raw, err := base64.StdEncoding.DecodeString(resp)
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatal(err)
	}
	return doc
}

func encoded(t *testing.T, doc *etree.Document) string {
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func TestMetadata(t *testing.T) {
	ti := samltest.Start(t)
	_, idp, err := ParseMetadata([]byte(ti.MetadataXML(t)))
	if err != nil {
		t.Fatal(err)
	}
	if idp.EntityID != ti.IDP.MetadataURL.String() || idp.SSOURL != ti.IDP.SSOURL.String() || len(idp.Certs) != 1 ||
		idp.Certs[0].Subject != "CN=test idp" || !idp.Certs[0].NotAfter.Equal(ti.IDP.Certificate.NotAfter.UTC()) {
		t.Fatalf("metadata read as %+v", idp)
	}
	for name, doc := range map[string]string{
		"empty":       "",
		"not xml":     "{}",
		"no cert":     strings.Replace(ti.MetadataXML(t), "KeyDescriptor", "KeyDescriptorX", -1),
		"huge":        strings.Repeat(" ", MaxMetadata+1),
		"entity bomb": `<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">&b;</EntityDescriptor>`,
		"javascript":  strings.Replace(ti.MetadataXML(t), ti.IDP.SSOURL.String(), "javascript:alert(1)", -1),
	} {
		if _, _, err := ParseMetadata([]byte(doc)); !errors.Is(err, ErrMetadata) {
			t.Errorf("%s: metadata accepted (%v)", name, err)
		}
	}
}

func TestSignIn(t *testing.T) {
	ti := samltest.Start(t)
	ti.Groups = []string{"7d2c0000-0000-0000-0000-00000000aaaa", "Engineers"}
	sp := newSP(t, ti, time.Now)
	u, reqID, err := sp.Begin("rs")
	if err != nil {
		t.Fatal(err)
	}
	resp := ti.SignIn(t, u)
	id, err := sp.Finish(resp, reqID)
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != "alice@corp.example" || id.Email != "alice@corp.example" || id.DisplayName != "Alice Adams" ||
		!slices.Equal(id.Groups, ti.Groups) || id.AssertionID == "" {
		t.Fatalf("identity %+v", id)
	}
	if _, err := sp.Finish(resp, reqID); !errors.Is(err, ErrReplay) {
		t.Fatalf("replayed response: %v", err)
	}
}

// TestReplayConcurrent sends one response 20 times at once: exactly one
// is accepted.
func TestReplayConcurrent(t *testing.T) {
	ti := samltest.Start(t)
	sp := newSP(t, ti, time.Now)
	u, reqID, _ := sp.Begin("")
	resp := ti.SignIn(t, u)
	var ok, replay atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := sp.Finish(resp, reqID)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrReplay):
				replay.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || replay.Load() != 19 {
		t.Fatalf("accepted %d, replays %d", ok.Load(), replay.Load())
	}
}

// TestHostileResponses: each is made by the real IdP, then bent as an
// attacker (or a misconfigured IdP) would; each must be refused.
func TestHostileResponses(t *testing.T) {
	ti := samltest.Start(t)
	other := samltest.Start(t) // a second IdP with its own key: trusted by nobody
	now := time.Now()
	clock := func() time.Time { return now }
	sp := newSP(t, ti, clock)
	fresh := func(mutate func(*saml.Assertion)) (string, string) {
		ti.Set(func(ti *samltest.IdP) { ti.Mutate = mutate })
		defer ti.Set(func(ti *samltest.IdP) { ti.Mutate = nil })
		u, reqID, err := sp.Begin("")
		if err != nil {
			t.Fatal(err)
		}
		return ti.SignIn(t, u), reqID
	}
	cases := map[string]func() (string, string){
		"unsigned": func() (string, string) {
			resp, id := fresh(nil)
			doc := decoded(t, resp)
			for _, s := range doc.FindElements("//Signature") {
				s.Parent().RemoveChild(s)
			}
			return encoded(t, doc), id
		},
		"tampered name": func() (string, string) {
			resp, id := fresh(nil)
			doc := decoded(t, resp)
			doc.FindElement("//NameID").SetText("admin@corp.example")
			return encoded(t, doc), id
		},
		"wrong audience": func() (string, string) {
			return fresh(func(a *saml.Assertion) {
				a.Conditions.AudienceRestrictions = []saml.AudienceRestriction{{Audience: saml.Audience{Value: "https://other.example/sp"}}}
			})
		},
		"wrong recipient": func() (string, string) {
			return fresh(func(a *saml.Assertion) {
				a.Subject.SubjectConfirmations[0].SubjectConfirmationData.Recipient = "https://other.example/acs"
			})
		},
		"expired": func() (string, string) {
			return fresh(func(a *saml.Assertion) {
				a.Conditions.NotOnOrAfter = now.Add(-10 * time.Minute)
				a.Subject.SubjectConfirmations[0].SubjectConfirmationData.NotOnOrAfter = now.Add(-10 * time.Minute)
			})
		},
		"not yet valid": func() (string, string) {
			return fresh(func(a *saml.Assertion) { a.Conditions.NotBefore = now.Add(time.Hour) })
		},
		"unknown request": func() (string, string) {
			resp, _ := fresh(nil)
			return resp, "id-forged"
		},
		"other idp key": func() (string, string) {
			// An IdP nobody trusts answers for our entity id and ACS with
			// its own key.
			osp := newSP(t, other, clock)
			u, reqID, _ := osp.Begin("")
			return other.SignIn(t, u), reqID
		},
		"wrapping: evil assertion first": func() (string, string) {
			resp, id := fresh(nil)
			doc := decoded(t, resp)
			good := doc.FindElement("//Assertion")
			evil := good.Copy()
			evil.CreateAttr("ID", "id-evil")
			evil.FindElement(".//NameID").SetText("admin@corp.example")
			for _, s := range evil.FindElements(".//Signature") {
				s.Parent().RemoveChild(s)
			}
			root := doc.Root()
			root.InsertChildAt(good.Index(), evil)
			return encoded(t, doc), id
		},
		"wrapping: signed assertion hidden in the evil one": func() (string, string) {
			resp, id := fresh(nil)
			doc := decoded(t, resp)
			good := doc.FindElement("//Assertion")
			evil := good.Copy()
			evil.CreateAttr("ID", "id-evil")
			evil.FindElement(".//NameID").SetText("admin@corp.example")
			for _, s := range evil.FindElements(".//Signature") {
				s.Parent().RemoveChild(s)
			}
			root := doc.Root()
			root.RemoveChild(good)
			adv := evil.CreateElement("saml:Advice")
			adv.AddChild(good)
			root.AddChild(evil)
			return encoded(t, doc), id
		},
		"wrapping: same id twice": func() (string, string) {
			resp, id := fresh(nil)
			doc := decoded(t, resp)
			good := doc.FindElement("//Assertion")
			evil := good.Copy()
			evil.FindElement(".//NameID").SetText("admin@corp.example")
			for _, s := range evil.FindElements(".//Signature") {
				s.Parent().RemoveChild(s)
			}
			doc.Root().InsertChildAt(good.Index(), evil)
			return encoded(t, doc), id
		},
		"wrapping: assertion-only signature, evil assertion first": func() (string, string) {
			resp, id := fresh(nil)
			doc := decoded(t, resp)
			dropResponseSignature(doc)
			good := doc.FindElement("//Assertion")
			evil := good.Copy()
			evil.CreateAttr("ID", "id-evil")
			evil.FindElement(".//NameID").SetText("admin@corp.example")
			for _, s := range evil.FindElements(".//Signature") {
				s.Parent().RemoveChild(s)
			}
			doc.Root().InsertChildAt(good.Index(), evil)
			return encoded(t, doc), id
		},
		"wrapping: assertion-only signature, signed one moved into Extensions": func() (string, string) {
			resp, id := fresh(nil)
			doc := decoded(t, resp)
			dropResponseSignature(doc)
			good := doc.FindElement("//Assertion")
			evil := good.Copy()
			evil.FindElement(".//NameID").SetText("admin@corp.example")
			for _, s := range evil.FindElements(".//Signature") {
				s.Parent().RemoveChild(s)
			}
			root := doc.Root()
			root.RemoveChild(good)
			ext := etree.NewElement("samlp:Extensions")
			ext.AddChild(good)
			root.InsertChildAt(doc.FindElement("//Status").Index(), ext)
			root.AddChild(evil)
			return encoded(t, doc), id
		},
		"not base64": func() (string, string) { return "%%%", "x" },
		"oversized":  func() (string, string) { return strings.Repeat("A", MaxResponse+4), "x" },
		"entity bomb": func() (string, string) {
			return base64.StdEncoding.EncodeToString([]byte(`<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&b;</samlp:Response>`)), "x"
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			resp, reqID := mk()
			id, err := sp.Finish(resp, reqID)
			if err == nil || !errors.Is(err, ErrAssertion) {
				t.Fatalf("accepted as %+v (%v)", id, err)
			}
			t.Log(err)
		})
	}
	// The IdP and the SP still agree on a clean sign-in afterwards, and on
	// one whose assertion alone is signed (so the wrapping cases above met
	// the assertion's signature check, not only the response's).
	resp, reqID := fresh(nil)
	if _, err := sp.Finish(resp, reqID); err != nil {
		t.Fatalf("clean sign-in after the hostile ones: %v", err)
	}
	resp, reqID = fresh(nil)
	doc := decoded(t, resp)
	dropResponseSignature(doc)
	if id, err := sp.Finish(encoded(t, doc), reqID); err != nil || id.Subject != "alice@corp.example" {
		t.Fatalf("assertion-only signature: %+v %v", id, err)
	}
}

// dropResponseSignature removes the Response's own signature, keeping the
// assertion's (what ADFS sends by default).
func dropResponseSignature(doc *etree.Document) {
	if s := doc.Root().SelectElement("Signature"); s != nil {
		doc.Root().RemoveChild(s)
	}
}
