package portal_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/relay/store"
)

func writePNG(t *testing.T, dir, name string, w, h int) string {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			img.Set(x, y, color.NRGBA{R: uint8(x), G: 90, B: 200, A: 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// upload chooses a file for an <input type=file> and sends its form.
func (b *browser) upload(input, file, button string) {
	b.t.Helper()
	b.do(chromedp.SetUploadFiles(chromedp.CSS(input), []string{file}))
	b.submit(button)
}

// TestPortalLogoAndOwner: Configuration (spec 6.2, 6.3) as the owner — a
// PNG logo uploaded shows in the sidebar (loaded: its CSP lets it draw);
// a wrong ratio and a hostile SVG with a DOCTYPE are refused next to the
// field and change nothing; a hostile SVG without one is stored without
// its script; Change owner with a wrong password changes nothing, with
// the right one hands the account over.
func TestPortalLogoAndOwner(t *testing.T) {
	r, outbox, acct := portalRelay(t)
	ctx := context.Background()
	st := r.Srv.Store()
	u, err := st.CreateUser(ctx, store.User{Email: "next@example.com", Name: "Next Owner", PasswordHash: "x", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddMembership(ctx, store.Membership{AccountID: acct.ID, UserID: u.ID, Type: store.Admin, RCAction: store.RCBrowser, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rect := writePNG(t, dir, "rect.png", 400, 100)
	wrong := writePNG(t, dir, "wrong.png", 300, 100)
	hostile := filepath.Join(dir, "hostile.svg")
	os.WriteFile(hostile, []byte(`<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 64 64" onload="alert(1)">`+
		`<script>alert(2)</script><foreignObject><iframe xmlns="http://www.w3.org/1999/xhtml" src="javascript:alert(3)"/></foreignObject>`+
		`<a xlink:href="javascript:alert(4)"><circle cx="32" cy="32" r="30" fill="#c33"/></a><rect width="64" height="64" fill="none" stroke="#333"/></svg>`), 0o644)
	xxe := filepath.Join(dir, "xxe.svg")
	os.WriteFile(xxe, []byte(`<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>`+
		`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><text>&x;</text></svg>`), 0o644)

	b := newBrowser(t, r.URL)
	b.open("/configuration")
	b.signIn(outbox, relaytest.OwnerEmail, relaytest.OwnerPassword)
	if b.count("#brand-rect") != 0 {
		t.Fatal("a custom logo shows before any upload")
	}
	b.screenshot("configuration-logo")

	b.upload("#logo-rect", rect, "form[action='/configuration/logo/rect'] button.primary")
	if msg := b.text(".flash"); msg != "The rectangular logo (4:1) is saved." {
		t.Fatalf("upload: %q", msg)
	}
	// The sidebar's logo is the upload, loaded and drawn at 4:1.
	b.waitJS(`(() => { const i = document.querySelector('#brand-rect'); return i && i.complete && i.naturalWidth === 400 && i.naturalHeight === 100 })()`)
	src := b.evalString(`document.querySelector('#brand-rect').getAttribute('src')`)
	b.screenshot("sidebar-logo")

	// A wrong ratio: the message by the field, the logo unchanged.
	b.upload("#logo-rect", wrong, "form[action='/configuration/logo/rect'] button.primary")
	if msg := b.text("#logo-rect-error"); !strings.Contains(msg, "4 times as wide") {
		t.Fatalf("wrong ratio: %q", msg)
	}
	b.evalString(`document.querySelector('#logo-rect-error').scrollIntoView({block: 'center'}), ''`)
	b.screenshot("configuration-logo-error")
	if got := b.evalString(`document.querySelector('#brand-rect').getAttribute('src')`); got != src {
		t.Fatalf("a refused upload changed the logo: %s, was %s", got, src)
	}
	// An SVG with a DOCTYPE (XXE) is refused.
	b.upload("#logo-square", xxe, "form[action='/configuration/logo/square'] button.primary")
	if msg := b.text("#logo-square-error"); !strings.Contains(msg, "DOCTYPE") {
		t.Fatalf("xxe: %q", msg)
	}
	if _, err := st.Logo(ctx, acct.ID, "square"); err == nil {
		t.Fatal("the XXE SVG was stored")
	}
	// A hostile SVG without one: stored and shown, without its scripts.
	b.upload("#logo-square", hostile, "form[action='/configuration/logo/square'] button.primary")
	if msg := b.text(".flash"); msg != "The square logo (1:1) is saved." {
		t.Fatalf("svg upload: %q", msg)
	}
	l, err := st.Logo(ctx, acct.ID, "square")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"alert", "script", "onload", "foreignObject", "iframe", "javascript"} {
		if strings.Contains(string(l.Data), bad) {
			t.Fatalf("%q survived in the stored SVG: %s", bad, l.Data)
		}
	}
	// Opened on its own, the SVG answers with the logo's CSP.
	csp, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`fetch(document.querySelector('img.logo-square').src).then(r => r.headers.get('content-security-policy') + '|' + r.headers.get('x-content-type-options'))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(csp, "default-src 'none'; style-src 'unsafe-inline'") || !strings.HasSuffix(csp, "|nosniff") {
		t.Fatalf("the logo's headers: %q", csp)
	}

	// Change owner: a wrong password changes nothing.
	b.click("[data-open=owner-dialog]")
	b.selectValues("#ow-user", u.ID)
	b.fill("#ow-password", "Wrong-Password-1")
	b.screenshot("change-owner")
	b.submit("#owner-dialog button[type=submit]")
	if msg := b.text("#ow-password-error"); !strings.Contains(msg, "password is wrong") {
		t.Fatalf("wrong password: %q", msg)
	}
	b.screenshot("change-owner-error")
	if m, err := st.AccountUser(ctx, acct.ID, u.ID); err != nil || m.Type != store.Admin {
		t.Fatalf("a wrong password changed the owner: %v %v", m.Type, err)
	}
	b.fill("#ow-password", relaytest.OwnerPassword)
	b.submit("#owner-dialog button[type=submit]")
	if msg := b.text(".flash"); !strings.Contains(msg, "owner is changed") {
		t.Fatalf("change owner: %q", msg)
	}
	if m, err := st.AccountUser(ctx, acct.ID, u.ID); err != nil || m.Type != store.Owner {
		t.Fatalf("the owner did not change: %v %v", m.Type, err)
	}
	b.open("/configuration")
	if b.count("[data-open=owner-dialog]") != 0 || b.count("#logo-rect") != 0 {
		t.Fatal("the former owner still sees the owner's controls")
	}
}
