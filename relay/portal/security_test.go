package portal_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/relay/portal"
)

// Go-side checks of the Portal's defences, without a browser.

func TestLocalNext(t *testing.T) {
	for next, want := range map[string]string{
		"/users?f.email=a":        "/users?f.email=a",
		"/":                       "/",
		"":                        "/",
		"//evil.example/x":        "/",
		"/\\evil.example":         "/",
		"https://evil.example/":   "/",
		"javascript:alert(1)":     "/",
		"/users\r\nSet-Cookie: x": "/",
		"/signin?next=/":          "/",
		"/logoff":                 "/",
		"users":                   "/",
		"/%2F%2Fevil.example":     "/%2F%2Fevil.example", // a path on this site, not a host
	} {
		if got := portal.LocalNext(next); got != want {
			t.Errorf("LocalNext(%q) = %q, want %q", next, got, want)
		}
	}
}

// signInPost signs the owner in through the Portal's form (no MFA here)
// and returns the session cookie.
func signInPost(t *testing.T, base string, next string) (*http.Response, *http.Cookie) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := url.Values{"username": {relaytest.OwnerEmail}, "password": {relaytest.OwnerPassword}, "next": {next}}
	resp, err := client.PostForm(base+"/signin", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-tandem" {
			return resp, c
		}
	}
	t.Fatalf("no session cookie: %d %v", resp.StatusCode, resp.Header)
	return nil, nil
}

func TestSessionCookieAndRedirects(t *testing.T) {
	r := relaytest.Start(t, nil)
	resp, c := signInPost(t, r.URL, "//evil.example/steal")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("open redirect: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	raw := resp.Header.Values("Set-Cookie")
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" || c.MaxAge <= 0 {
		t.Fatalf("session cookie flags: %+v (%q)", c, raw)
	}
	resp, _ = signInPost(t, r.URL, "/users?size=50")
	if resp.Header.Get("Location") != "/users?size=50" {
		t.Fatalf("next: %q", resp.Header.Get("Location"))
	}

	// Signed out: a page redirects to sign-in with where it was.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(r.URL + "/users?v.name=")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin?next=%2Fusers%3Fv.name%3D" {
		t.Fatalf("signed out: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A made-up or logged-off token is signed out too, and the cookie goes.
	req, _ := http.NewRequest("GET", r.URL+"/", nil)
	req.AddCookie(&http.Cookie{Name: "__Host-tandem", Value: "made-up"})
	resp, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/signin") {
		t.Fatalf("made-up token: %d", resp.StatusCode)
	}
	if sc := resp.Header.Get("Set-Cookie"); !strings.Contains(sc, "__Host-tandem=;") || !strings.Contains(sc, "Max-Age=0") {
		t.Fatalf("the bad cookie is not cleared: %q", sc)
	}
}

func TestSecurityHeaders(t *testing.T) {
	r := relaytest.Start(t, nil)
	_, c := signInPost(t, r.URL, "/")
	for _, path := range []string{"/signin", "/invite", "/reset", "/forgot", "/", "/users", "/nowhere",
		"/roles?add=1", "/assignments?add=1&check=1&user=x&device=y", "/authentication?add=1", "/configuration"} {
		req, _ := http.NewRequest("GET", r.URL+path, nil)
		req.AddCookie(c)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		if csp != portal.CSP || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: headers %v", path, h)
		}
		// No inline script or style for the CSP to block.
		for _, bad := range []string{"<script>", "style=", " on" + "click=", "<style"} {
			if strings.Contains(string(body), bad) {
				t.Errorf("%s: page contains %q", path, bad)
			}
		}
	}
}

// TestCrossOriginRefused: a state-changing form sent from another site is
// refused before it reaches the API: no invitation, no log off.
func TestCrossOriginRefused(t *testing.T) {
	r := relaytest.Start(t, nil)
	_, c := signInPost(t, r.URL, "/")
	for _, hdr := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Origin": "https://evil.example"},
	} {
		for _, path := range []string{"/users/invite", "/logoff", "/users/remove", "/columns"} {
			req, _ := http.NewRequest("POST", r.URL+path, strings.NewReader("emails=victim%40example.com"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			req.AddCookie(c)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s with %v: %d", path, hdr, resp.StatusCode)
			}
		}
	}
	acct, err := r.Srv.Store().AccountByName(context.Background(), relaytest.Account)
	if err != nil {
		t.Fatal(err)
	}
	if ins, err := r.Srv.Store().Invites(context.Background(), acct.ID); err != nil || len(ins) != 0 {
		t.Fatalf("invites after refused requests: %v %v", ins, err)
	}
	// The session still works (log off was refused too).
	req, _ := http.NewRequest("GET", r.URL+"/users", nil)
	req.AddCookie(c)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the session ended: %d", resp.StatusCode)
	}
	// Same-origin works: the browser says so.
	req, _ = http.NewRequest("POST", r.URL+"/users/invite", strings.NewReader("emails=friend%40example.com&type=user&rc_action=browser"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.AddCookie(c)
	resp, err = (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("same-origin invite: %d", resp.StatusCode)
	}
}
