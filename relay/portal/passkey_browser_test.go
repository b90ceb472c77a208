package portal_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/relay"
	"github.com/tandem-rc/tandem/relay/mfa"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// apiCall posts (or gets, body nil with GET) JSON to the relay and
// decodes the answer into out (may be nil).
func apiCall(t *testing.T, method, url, token string, body, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
	if resp.StatusCode >= 300 {
		t.Logf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// The browser side of a passkey ceremony: Chromium's WebAuthn API on the
// relay's origin, answered by DevTools' virtual authenticator.
const (
	jsCreate = `(async (o) => { const c = await navigator.credentials.create({publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(o.publicKey)}); return JSON.stringify(c.toJSON()); })`
	jsGet    = `(async (o) => { const c = await navigator.credentials.get({publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(o.publicKey)}); return JSON.stringify(c.toJSON()); })`
)

func (b *browser) ceremony(fn string, options json.RawMessage) json.RawMessage {
	b.t.Helper()
	out, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](fn+"("+string(options)+")", chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("WebAuthn in the browser: %v", err)
	}
	return json.RawMessage(out)
}

// passkeyBrowser is a relay reached as localhost (passkeys bind to a
// domain name, never an IP address) and a Chromium with a CTAP2 virtual
// authenticator (DevTools WebAuthn) that verifies the user at once.
func passkeyBrowser(t *testing.T) (*relaytest.Relay, *browser) {
	r := relaytest.Start(t, nil, relaytest.Outbox(t, t.TempDir()), func(c *relay.Config) {
		c.PublicURL = strings.Replace(c.PublicURL, "127.0.0.1", "localhost", 1)
	})
	b := newBrowser(t, strings.Replace(r.URL, "127.0.0.1", "localhost", 1))
	b.open("/signin")
	if _, err := chromedp.Call(b.ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(b.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true}}); err != nil {
		t.Fatal(err)
	}
	return r, b
}

// TestPortalSignInFactors sets up an authenticator app and a passkey on
// the Portal's Sign-in factors page, then signs in with each: the MFA
// step offers the passkey button, the app's code, and email on request.
func TestPortalSignInFactors(t *testing.T) {
	r, b := passkeyBrowser(t)
	signInPassword := func() {
		t.Helper()
		b.open("/signin")
		b.fill("#username", relaytest.OwnerEmail)
		b.submit("button[type=submit]")
		b.fill("#password", relaytest.OwnerPassword)
		b.submit("button[type=submit]")
	}
	signInPassword()
	if p := b.path(); p != "/" {
		t.Fatalf("signed in without MFA: at %s", p)
	}
	b.open("/profile")
	b.click("a[href='/profile/mfa']")
	b.waitJS(`location.pathname === '/profile/mfa'`)
	b.submit("form[action='/profile/mfa/totp-start'] button")
	secret := b.text("#totp-secret")
	if n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelector('img.qr').naturalWidth`)); err != nil || n != 256 {
		t.Fatalf("QR code: width %d, %v", n, err)
	}
	code, err := mfa.Code(secret, mfa.Step(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	b.fill("#totp-code", code)
	b.submit("form[action='/profile/mfa/totp-confirm'] button")
	if !strings.Contains(b.text("main"), "An authenticator app is set up") {
		t.Fatalf("after confirming: %s", b.text("main"))
	}
	b.fill("#pk-name", "Laptop")
	b.click("[data-passkey-add]")
	b.waitJS(`location.pathname === '/profile/mfa' && document.body.innerText.includes('Laptop')`)
	b.screenshot("mfa-factors")
	b.submit("form[action='/logoff'] button")

	// The passkey.
	signInPassword()
	b.screenshot("signin-factors")
	if !strings.Contains(b.text("main"), "Email me a code instead") {
		t.Fatalf("MFA step: %s", b.text("main"))
	}
	b.click("[data-passkey-signin]")
	b.waitJS(`location.pathname === '/'`)
	b.submit("form[action='/logoff'] button")

	// The app's code (the next step: this one was used to confirm).
	signInPassword()
	code, err = mfa.Code(secret, mfa.Step(time.Now())+1)
	if err != nil {
		t.Fatal(err)
	}
	b.fill("#code", code)
	b.submit("form[action='/signin/mfa'] button[type=submit]")
	if p := b.path(); p != "/" {
		t.Fatalf("TOTP sign-in: at %s: %s", p, b.text("main"))
	}
	evs, err := r.Srv.Store().Audit(context.Background(), store.AuditFilter{Event: relay.EvLogin, Limit: 10})
	if err != nil || len(evs) != 3 {
		t.Fatalf("%d sign-ins audited (%v), want 3", len(evs), err)
	}

	// The account's allowed factors on Account security: email unticked.
	b.open("/security")
	b.click("input[name=factors][value=email]")
	b.submit("form[action='/security/mfa'] button")
	got, err := r.Srv.Store().AccountFactors(context.Background(), accountOf(t, r))
	if err != nil || strings.Join(got, ",") != "totp,webauthn" {
		t.Fatalf("allowed factors after the form: %v %v", got, err)
	}
}

func accountOf(t *testing.T, r *relaytest.Relay) string {
	a, err := r.Srv.Store().AccountByName(context.Background(), relaytest.Account)
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// TestPasskeyWithVirtualAuthenticator registers a passkey through
// Chromium's WebAuthn API (a CTAP2 virtual authenticator over DevTools)
// against a real relay reached as localhost, signs in with it as the
// second factor, and has replayed, cross-challenge and tampered answers
// refused and audited.
func TestPasskeyWithVirtualAuthenticator(t *testing.T) {
	r, b := passkeyBrowser(t)
	api := r.URL + "/api/v1"
	b.open("/api/v1/health")
	var lr wire.LoginResponse
	if s := apiCall(t, "POST", api+"/login", "", wire.LoginRequest{Email: relaytest.OwnerEmail, Password: relaytest.OwnerPassword}, &lr); s != 200 || lr.Token == "" {
		t.Fatalf("login: %d %+v", s, lr)
	}
	tok := lr.Token

	// Registration.
	var reg wire.PasskeyCeremony
	if s := apiCall(t, "POST", api+"/me/passkey-ceremonies", tok, nil, &reg); s != 201 {
		t.Fatalf("begin registration: %d", s)
	}
	cred := b.ceremony(jsCreate, reg.Options)
	var pk wire.Passkey
	if s := apiCall(t, "POST", api+"/me/passkeys", tok, wire.PasskeyFinish{Ceremony: reg.Ceremony, Name: "Chromium", Credential: cred}, &pk); s != 201 || pk.Name != "Chromium" {
		t.Fatalf("finish registration: %d %+v", s, pk)
	}
	// The ceremony is used up.
	if s := apiCall(t, "POST", api+"/me/passkeys", tok, wire.PasskeyFinish{Ceremony: reg.Ceremony, Credential: cred}, nil); s != 409 {
		t.Fatalf("registration replayed: %d, want 409", s)
	}

	// Sign-in: the password, then the passkey, chosen among the factors.
	login := func() string {
		t.Helper()
		var lr wire.LoginResponse
		if s := apiCall(t, "POST", api+"/login", "", wire.LoginRequest{Email: relaytest.OwnerEmail, Password: relaytest.OwnerPassword}, &lr); s != 200 ||
			!lr.MFARequired || len(lr.Factors) == 0 || lr.Factors[0] != "webauthn" {
			t.Fatalf("login step 1: %d %+v", s, lr)
		}
		return lr.Challenge
	}
	begin := func(ch string) json.RawMessage {
		t.Helper()
		var c wire.PasskeyCeremony
		if s := apiCall(t, "POST", api+"/login/mfa/passkey", "", wire.LoginPasskey{Challenge: ch}, &c); s != 200 {
			t.Fatalf("begin passkey sign-in: %d", s)
		}
		return c.Options
	}
	finish := func(ch string, assertion json.RawMessage) (int, wire.LoginResponse) {
		t.Helper()
		var lr wire.LoginResponse
		s := apiCall(t, "POST", api+"/login/mfa", "", wire.LoginMFA{Challenge: ch, Factor: "webauthn", Assertion: assertion}, &lr)
		return s, lr
	}
	ch := login()
	assertion := b.ceremony(jsGet, begin(ch))
	if s, lr := finish(ch, assertion); s != 200 || lr.Token == "" || lr.User.Email != relaytest.OwnerEmail {
		t.Fatalf("passkey sign-in: %d %+v", s, lr)
	}

	// Replayed on a new challenge (whose ceremony asked another challenge).
	ch2 := login()
	begin(ch2)
	if s, _ := finish(ch2, assertion); s != 401 {
		t.Fatalf("replayed assertion: %d, want 401", s)
	}
	// The answer to another challenge's ceremony (a new login replaces the
	// user's challenge before).
	fresh := b.ceremony(jsGet, begin(login()))
	ch3 := login()
	begin(ch3)
	if s, _ := finish(ch3, fresh); s != 401 {
		t.Fatalf("assertion of another challenge: %d, want 401", s)
	}
	// Tampered: one bit of the signature flipped.
	ch4 := login()
	a := b.ceremony(jsGet, begin(ch4))
	var m map[string]any
	if err := json.Unmarshal(a, &m); err != nil {
		t.Fatal(err)
	}
	resp := m["response"].(map[string]any)
	sig, err := base64.RawURLEncoding.DecodeString(resp["signature"].(string))
	if err != nil {
		t.Fatal(err)
	}
	sig[len(sig)/2] ^= 1
	resp["signature"] = base64.RawURLEncoding.EncodeToString(sig)
	tampered, _ := json.Marshal(m)
	if s, _ := finish(ch4, tampered); s != 401 {
		t.Fatalf("tampered assertion: %d, want 401", s)
	}
	// The same challenge, begun again, with an honest answer.
	if s, _ := finish(ch4, b.ceremony(jsGet, begin(ch4))); s != 200 {
		t.Fatalf("honest assertion after a tampered one: %d, want 200", s)
	}

	evs, err := r.Srv.Store().Audit(context.Background(), store.AuditFilter{Event: relay.EvLoginFailed, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if strings.Contains(string(ev.Detail), `"factor":"webauthn"`) {
			n++
		}
	}
	if n != 3 {
		for _, ev := range evs {
			t.Logf("%s %s", ev.Event, ev.Detail)
		}
		t.Fatalf("%d refused passkey answers audited, want 3", n)
	}

	// Passwordless: any passkey of this relay, the user verified by the
	// authenticator; the answer works once.
	var pl wire.PasskeyCeremony
	if s := apiCall(t, "POST", api+"/login/passkey", "", nil, &pl); s != 200 || pl.Ceremony == "" {
		t.Fatalf("begin passwordless: %d", s)
	}
	if strings.Contains(string(pl.Options), "allowCredentials") {
		t.Fatalf("passwordless options name credentials: %s", pl.Options)
	}
	plAnswer := b.ceremony(jsGet, pl.Options)
	var plr wire.LoginResponse
	if s := apiCall(t, "POST", api+"/login/passkey/finish", "", wire.PasskeyFinish{Ceremony: pl.Ceremony, Credential: plAnswer}, &plr); s != 200 ||
		plr.Token == "" || plr.User.Email != relaytest.OwnerEmail {
		t.Fatalf("passwordless sign-in: %d %+v", s, plr)
	}
	if s := apiCall(t, "POST", api+"/login/passkey/finish", "", wire.PasskeyFinish{Ceremony: pl.Ceremony, Credential: plAnswer}, nil); s != 401 {
		t.Fatalf("passwordless answer replayed: %d, want 401", s)
	}
	if s := apiCall(t, "POST", api+"/login/passkey/finish", "", wire.PasskeyFinish{Ceremony: pl.Ceremony + "x", Credential: plAnswer}, nil); s != 401 {
		t.Fatalf("tampered passwordless ceremony: %d, want 401", s)
	}
	plRefused, err := r.Srv.Store().Audit(context.Background(), store.AuditFilter{Event: relay.EvLoginFailed, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	details := ""
	for _, ev := range plRefused {
		details += string(ev.Detail)
	}
	if n := strings.Count(details, `"passwordless":true`); n != 2 {
		t.Fatalf("%d refused passwordless answers audited, want 2", n)
	}

	// Listed, then removed with the password: sign-in asks nothing again.
	var list []wire.Passkey
	if s := apiCall(t, "GET", api+"/me/passkeys", tok, nil, &list); s != 200 || len(list) != 1 || list[0].LastUsed == 0 {
		t.Fatalf("passkeys: %d %+v", s, list)
	}
	if s := apiCall(t, "DELETE", api+"/me/passkeys/"+list[0].ID, tok, wire.Reauth{Password: "Wr0ngPassword"}, nil); s != 403 {
		t.Fatalf("delete with a wrong password: %d, want 403", s)
	}
	if s := apiCall(t, "DELETE", api+"/me/passkeys/"+list[0].ID, tok, wire.Reauth{Password: relaytest.OwnerPassword}, nil); s != 204 {
		t.Fatalf("delete: %d", s)
	}
	if s := apiCall(t, "POST", api+"/login", "", wire.LoginRequest{Email: relaytest.OwnerEmail, Password: relaytest.OwnerPassword}, &lr); s != 200 || lr.Token == "" {
		t.Fatalf("login after removal: %d %+v", s, lr)
	}
}
