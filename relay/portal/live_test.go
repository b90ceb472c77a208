package portal_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/relay/portal"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// ownerToken logs the relaytest owner in through the API (no MFA there).
func ownerToken(t *testing.T, r *relaytest.Relay) string {
	t.Helper()
	var lr wire.LoginResponse
	if st := apiCall(t, "POST", r.URL+"/api/v1/login", "", wire.LoginRequest{Email: relaytest.OwnerEmail, Password: relaytest.OwnerPassword}, &lr); st != http.StatusOK || lr.Token == "" {
		t.Fatalf("login: %d", st)
	}
	return lr.Token
}

// joinQueue runs an OnDemand agent's join of key, as machine.
func joinQueue(t *testing.T, base, key, machine string) {
	t.Helper()
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	if st := apiCall(t, "POST", base+"/api/v1/ondemand/join", "", wire.OnDemandJoinRequest{Key: key,
		PublicKey: base64.StdEncoding.EncodeToString(pub), Inventory: &wire.Inventory{Hostname: machine, OS: "windows"}}, nil); st != http.StatusOK {
		t.Fatalf("join: %d", st)
	}
}

// stream is one open /sessions/events.
type stream struct {
	resp *http.Response
	sc   *bufio.Scanner
}

func openStream(t *testing.T, ctx context.Context, base, token string) (*stream, int) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/sessions/events", nil)
	if token != "" {
		req.AddCookie(&http.Cookie{Name: "__Host-tandem", Value: token})
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, resp.StatusCode
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &stream{resp: resp, sc: bufio.NewScanner(resp.Body)}, resp.StatusCode
}

// next reads the next event (name, data) or comment ("ping"); the
// context's deadline bounds it.
func (s *stream) next(t *testing.T) (string, string) {
	t.Helper()
	name, data := "", ""
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case line == "":
			if name != "" || data != "" {
				return name, data
			}
		case strings.HasPrefix(line, ": "):
			return "comment", strings.TrimPrefix(line, ": ")
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data += strings.TrimPrefix(line, "data: ")
		case strings.HasPrefix(line, "retry: "):
			name = "retry"
		}
	}
	t.Fatalf("stream ended: %v", s.sc.Err())
	return "", ""
}

// until reads events until one named name comes.
func (s *stream) until(t *testing.T, name string) string {
	t.Helper()
	for {
		if n, d := s.next(t); n == name {
			return d
		}
	}
}

// TestLiveQueueStream: the live queue's event stream, on a Portal of its
// own with fast timing: no cookie is 401 (not a redirect EventSource would
// follow); the rows come at once, a join comes as "joined" with the
// machine's name; heartbeats; at most 4 streams per user (the 5th is 429
// with Retry-After, and a slot comes back when a stream closes); a
// logged-off token ends the stream with "signedout".
func TestLiveQueueStream(t *testing.T) {
	r := relaytest.Start(t, nil)
	relaytest.AllowOnDemand(t, r.Srv)
	p := portal.New(portal.Config{API: r.Srv.Handler()})
	portal.SetLiveTiming(p, 50*time.Millisecond, 100*time.Millisecond, time.Minute)
	ps := httptest.NewServer(p)
	t.Cleanup(ps.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if _, status := openStream(t, ctx, ps.URL, ""); status != http.StatusUnauthorized {
		t.Fatalf("no cookie: %d, want 401", status)
	}
	if _, status := openStream(t, ctx, ps.URL, "forged-token"); status != http.StatusUnauthorized {
		t.Fatalf("a forged cookie: %d, want 401", status)
	}
	tok := ownerToken(t, r)
	var acct []wire.Ref
	var me wire.User
	apiCall(t, "GET", r.URL+"/api/v1/me", tok, nil, &me)
	acct = me.Accounts
	var od wire.OnDemandSession
	if st := apiCall(t, "POST", r.URL+"/api/v1/ondemand", tok, wire.OnDemandCreateRequest{Account: acct[0].ID}, &od); st != http.StatusCreated {
		t.Fatalf("create key: %d", st)
	}
	s1, status := openStream(t, ctx, ps.URL, tok)
	if status != http.StatusOK || s1.resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %v", status, s1.resp.Header)
	}
	var ev struct {
		HTML   string
		Joined []struct{ Key, Machine string }
	}
	json.Unmarshal([]byte(s1.until(t, "queue")), &ev)
	if !strings.Contains(ev.HTML, wire.GroupKey(od.Key)) || len(ev.Joined) != 0 {
		t.Fatalf("first event: %+v", ev)
	}
	joinQueue(t, r.URL, od.Key, "ann-laptop<script>")
	json.Unmarshal([]byte(s1.until(t, "queue")), &ev)
	if len(ev.Joined) != 1 || ev.Joined[0].Machine != "ann-laptop<script>" || ev.Joined[0].Key != wire.GroupKey(od.Key) {
		t.Fatalf("after the join: %+v", ev.Joined)
	}
	if strings.Contains(ev.HTML, "<script>") || !strings.Contains(ev.HTML, "ann-laptop&lt;script&gt;") {
		t.Fatalf("the rows are not escaped: %s", ev.HTML)
	}
	s1.until(t, "comment") // a heartbeat while nothing changes

	// The cap: three more, then refused.
	var streams []*stream
	for range 3 {
		s, status := openStream(t, ctx, ps.URL, tok)
		if status != http.StatusOK {
			t.Fatalf("stream %d: %d", len(streams)+2, status)
		}
		streams = append(streams, s)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", ps.URL+"/sessions/events", nil)
	req.AddCookie(&http.Cookie{Name: "__Host-tandem", Value: tok})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a 5th stream: %d %v", resp.StatusCode, resp.Header)
	}
	streams[0].resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, status := openStream(t, ctx, ps.URL, tok)
		if status == http.StatusOK {
			streams[0] = s
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot back after a stream closed: %d", status)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Log off: the streams end.
	if st := apiCall(t, "POST", r.URL+"/api/v1/logout", tok, nil, nil); st != http.StatusNoContent {
		t.Fatalf("logout: %d", st)
	}
	s1.until(t, "signedout")
}

// notificationSpy replaces the page's Notification API before any script
// runs (headless Chromium shows no notifications): it records permission
// requests and notifications, and grants when asked.
const notificationSpy = `(() => {
  window.tandemSpy = {asked: 0, notes: []};
  class N {
    constructor(title, opts) { window.tandemSpy.notes.push(title + ': ' + (opts && opts.body)); }
    static requestPermission() { window.tandemSpy.asked++; N.permission = 'granted'; return Promise.resolve('granted'); }
  }
  N.permission = 'default';
  window.Notification = N;
})();`

// TestPortalLiveQueue: My sessions in Chromium. Nothing asks for
// notification permission on load; the button does. An agent joining the
// queue shows in the table without a reload, in the status line, and as a
// notification naming the machine.
func TestPortalLiveQueue(t *testing.T) {
	r, outbox, _ := portalRelay(t)
	relaytest.AllowOnDemand(t, r.Srv)
	b := newBrowser(t, r.URL)
	if _, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: notificationSpy}); err != nil {
		t.Fatal(err)
	}
	b.open("/sessions")
	b.signIn(outbox, relaytest.OwnerEmail, relaytest.OwnerPassword)
	b.submit("form[action='/sessions/create'] button")
	key := strings.ReplaceAll(b.text("#new-key"), " ", "")
	b.waitJS(`document.querySelector('#queue').dataset.stream === 'up'`) // the stream is up
	if asked, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`window.tandemSpy.asked`)); err != nil || asked != 0 {
		t.Fatalf("permission asked on load: %d %v", asked, err)
	}
	b.click("#notify-btn")
	b.waitJS(`window.tandemSpy.asked === 1 && document.querySelector('#notify-btn').hidden`)
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`window.tandemOldPage = true`)); err != nil {
		t.Fatal(err)
	}
	joinQueue(t, r.URL, key, "ann-laptop")
	b.waitJS(`!!document.querySelector('#queue .badge.warn')`)
	if state := b.text("#queue .badge"); state != "waiting" {
		t.Fatalf("state %q", state)
	}
	if got := b.text("#queue-status"); got != "ann-laptop joined the queue with key "+wire.GroupKey(key)+"." {
		t.Fatalf("status %q", got)
	}
	notes, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`window.tandemSpy.notes`))
	if err != nil || len(notes) != 1 || !strings.Contains(notes[0], "ann-laptop") {
		t.Fatalf("notifications %q %v", notes, err)
	}
	if old, _ := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`window.tandemOldPage === true`)); !old {
		t.Fatal("the page reloaded")
	}
	b.screenshot("sessions-live")
}

// TestLiveQueueOutlivesServerTimeouts: through a server with short read
// and write timeouts (as relay/frontdoor builds them, shortened), a stream
// still delivers an event after both have passed.
func TestLiveQueueOutlivesServerTimeouts(t *testing.T) {
	r := relaytest.StartServed(t, nil, relaytest.Serving{Server: func(h http.Handler) *http.Server {
		return &http.Server{Handler: h, ReadHeaderTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second}
	}})
	relaytest.AllowOnDemand(t, r.Srv)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A token straight from the store: a password check could outlast
	// the short write timeout under -race.
	owner, err := r.Srv.Store().UserByEmail(ctx, relaytest.OwnerEmail)
	if err != nil {
		t.Fatal(err)
	}
	tok := secret.NewToken()
	if err := r.Srv.Store().CreateLoginToken(ctx, store.LoginToken{Hash: secret.Hash(tok), UserID: owner.ID,
		CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	s, status := openStream(t, ctx, r.URL, tok)
	if status != http.StatusOK {
		t.Fatalf("stream: %d", status)
	}
	s.until(t, "queue")
	// Past both timeouts (no clock to inject into net/http's deadlines).
	time.Sleep(1500 * time.Millisecond)
	var me wire.User
	apiCall(t, "GET", r.URL+"/api/v1/me", tok, nil, &me)
	var od wire.OnDemandSession
	if st := apiCall(t, "POST", r.URL+"/api/v1/ondemand", tok, wire.OnDemandCreateRequest{Account: me.Accounts[0].ID}, &od); st != http.StatusCreated {
		t.Fatalf("create key: %d", st)
	}
	if d := s.until(t, "queue"); !strings.Contains(d, wire.GroupKey(od.Key)) {
		t.Fatalf("event after the timeouts: %s", d)
	}
}
