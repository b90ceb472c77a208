package webconsole_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/relay/webconsole"
)

// signedIn starts a relay and returns its URL and the owner's login token
// (what the Portal keeps in its __Host-tandem cookie).
func signedIn(t *testing.T) (string, string) {
	t.Helper()
	r := relaytest.Start(t, slog.New(slog.DiscardHandler))
	c, err := guest.NewClient(r.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Login(ctx, relaytest.OwnerEmail, relaytest.OwnerPassword); err != nil {
		t.Fatal(err)
	}
	return r.URL, c.Token
}

type req struct {
	method, path, body string
	cookie, origin     string
	bearer             string
	upgrade            bool
}

func (q req) do(t *testing.T, base string) (int, string) {
	t.Helper()
	r, err := http.NewRequest(q.method, base+q.path, strings.NewReader(q.body))
	if err != nil {
		t.Fatal(err)
	}
	if q.cookie != "" {
		r.AddCookie(&http.Cookie{Name: "__Host-tandem", Value: q.cookie})
	}
	if q.origin != "" {
		r.Header.Set("Origin", q.origin)
	}
	if q.bearer != "" {
		r.Header.Set("Authorization", "Bearer "+q.bearer)
	}
	if q.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if q.upgrade {
		r.Header.Set("Connection", "Upgrade")
		r.Header.Set("Upgrade", "websocket")
		r.Header.Set("Sec-WebSocket-Version", "13")
		r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	return res.StatusCode, string(b)
}

// The console's two doors, the session request and the signaling socket,
// take only the Portal's cookie, and only from a page of this relay: a
// foreign page (or none) cannot ride the user's cookie, a Bearer token is
// not what they take, and without a valid cookie the API refuses.
func TestConsoleDoorsRefuse(t *testing.T) {
	base, tok := signedIn(t)
	const session = "01a24827-f601-7259-bfac-0871fb6d1888"
	for _, c := range []struct {
		name string
		req  req
		want int
		says string
	}{
		{"signal, foreign origin", req{method: "GET", path: "/console/signal/" + session, cookie: tok, origin: "http://evil.example", upgrade: true}, 403, "only for the console page"},
		{"signal, origin of another port", req{method: "GET", path: "/console/signal/" + session, cookie: tok, origin: "http://127.0.0.1:1", upgrade: true}, 403, "only for the console page"},
		{"signal, no origin", req{method: "GET", path: "/console/signal/" + session, cookie: tok, upgrade: true}, 403, "only for the console page"},
		{"signal, null origin", req{method: "GET", path: "/console/signal/" + session, cookie: tok, origin: "null", upgrade: true}, 403, "only for the console page"},
		{"signal, no cookie", req{method: "GET", path: "/console/signal/" + session, origin: base, upgrade: true}, 401, "sign in"},
		{"signal, bearer instead of cookie", req{method: "GET", path: "/console/signal/" + session, bearer: tok, origin: base, upgrade: true}, 401, "sign in"},
		{"signal, stale cookie", req{method: "GET", path: "/console/signal/" + session, cookie: "not-a-token", origin: base, upgrade: true}, 401, ""},
		{"signal, no such session", req{method: "GET", path: "/console/signal/" + session, cookie: tok, origin: base, upgrade: true}, 404, "no session"},
		{"session, foreign origin", req{method: "POST", path: "/console/session", body: `{"device":"x"}`, cookie: tok, origin: "http://evil.example"}, 403, ""},
		{"session, no cookie", req{method: "POST", path: "/console/session", body: `{"device":"x"}`, origin: base}, 401, "sign in"},
		{"session, not JSON", req{method: "POST", path: "/console/session", body: `device=x`, cookie: tok, origin: base}, 400, "not a session request"},
		{"session, oversized", req{method: "POST", path: "/console/session", body: `{"device":"` + strings.Repeat("x", 8<<10) + `"}`, cookie: tok, origin: base}, 400, "not a session request"},
		{"session, unknown device", req{method: "POST", path: "/console/session", body: `{"device":"nowhere"}`, cookie: tok, origin: base}, 404, ""},
		{"page, signed out", req{method: "GET", path: "/console/?device=x"}, 200, "Sign in"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, body := c.req.do(t, base)
			if got != c.want || !strings.Contains(body, c.says) {
				t.Fatalf("%d %q, want %d with %q", got, body, c.want, c.says)
			}
		})
	}
}

// The page carries the Portal's strict CSP (no inline script) and loads
// only its own modules; an OnDemand key posted to it lands in the page,
// HTML-escaped, not in its address.
func TestConsolePage(t *testing.T) {
	base, tok := signedIn(t)
	r, _ := http.NewRequest("GET", base+"/console/?device=x", nil)
	r.AddCookie(&http.Cookie{Name: "__Host-tandem", Value: tok})
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	csp := res.Header.Get("Content-Security-Policy")
	if res.StatusCode != 200 || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Fatalf("%d, CSP %q", res.StatusCode, csp)
	}
	if strings.Contains(string(b), "<script>") || !strings.Contains(string(b), `src="/console/static/console.js"`) {
		t.Fatalf("page:\n%s", b)
	}
	for _, asset := range []string{"console.js", "worker.js", "decoder.js", "wire.js", "paint.js", "files.js", "vendor/fzstd.js", "vendor/fzstd.LICENSE"} {
		code, _ := req{method: "GET", path: "/console/static/" + asset}.do(t, base)
		if code != 200 {
			t.Errorf("%s: %d", asset, code)
		}
	}
	code, body := req{method: "POST", path: "/console/", cookie: tok, origin: base,
		body: "ondemand=" + `"><script>x</script>`}.doForm(t, base)
	if code != 200 || strings.Contains(body, "<script>x") || !strings.Contains(body, `name="tandem-ondemand" content="&#34;&gt;&lt;script&gt;x&lt;/script&gt;"`) {
		t.Fatalf("posted key: %d\n%s", code, body)
	}
}

func (q req) doForm(t *testing.T, base string) (int, string) {
	t.Helper()
	r, _ := http.NewRequest(q.method, base+q.path, strings.NewReader(q.body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Origin", q.origin)
	r.AddCookie(&http.Cookie{Name: "__Host-tandem", Value: q.cookie})
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// A foreign page making its visitors' browsers knock again and again gets
// one log line per interval, counting the rest, and never reaches the API.
func TestRefusalsDoNotFloodTheLog(t *testing.T) {
	var logged bytes.Buffer
	now := time.Unix(1_800_000_000, 0)
	apiCalls := 0
	c := webconsole.New(webconsole.Config{Cookie: "__Host-tandem", Logger: slog.New(slog.NewTextHandler(&logged, nil)),
		Clock: func() time.Time { return now },
		API:   http.HandlerFunc(func(http.ResponseWriter, *http.Request) { apiCalls++ })})
	knock := func() {
		r := httptest.NewRequest("GET", "/console/signal/x", nil)
		r.AddCookie(&http.Cookie{Name: "__Host-tandem", Value: "tok"})
		r.Header.Set("Origin", "http://evil.example/"+strings.Repeat("\xff", 500))
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		if w.Code != http.StatusForbidden {
			t.Fatalf("%d", w.Code)
		}
	}
	for range 500 {
		knock()
	}
	now = now.Add(11 * time.Second)
	knock()
	lines := strings.Split(strings.TrimSpace(logged.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "also_refused_since_last=499") || apiCalls != 0 {
		t.Fatalf("%d API calls, log:\n%s", apiCalls, logged.String())
	}
	if len(lines[0]) > 400 {
		t.Fatalf("a hostile origin made a %d-byte log line", len(lines[0]))
	}
}
