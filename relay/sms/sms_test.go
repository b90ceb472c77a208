package sms

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/relay/store/storetest"
)

// gateway is a local SMS service: it records what it was sent.
type gateway struct {
	mu   sync.Mutex
	reqs []*http.Request
	body []string
	fail bool
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reqs = append(g.reqs, r)
	g.body = append(g.body, string(b))
	if g.fail {
		http.Error(w, "quota exceeded", http.StatusPaymentRequired)
	}
}

func (g *gateway) last() (*http.Request, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reqs[len(g.reqs)-1], g.body[len(g.body)-1]
}

func startGateway(t *testing.T) (*gateway, *httptest.Server) {
	g := &gateway{}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return g, srv
}

func TestNormalizePhone(t *testing.T) {
	for in, want := range map[string]string{"+45 12 34 56 78": "+4512345678", "+1 (555) 123-4567": "+15551234567", "+44.20.7946.0958": "+442079460958"} {
		if got, err := NormalizePhone(in); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	for _, in := range []string{"", "12345678", "+0123456789", "+45", "+4512345678&to=+1999", "+45123456789012345", "+45 1234\n5678", "+45１２３４５６７８"} {
		if got, err := NormalizePhone(in); err == nil {
			t.Errorf("%q accepted as %q", in, got)
		}
	}
}

// TestHTTPGateway: the templates are filled and escaped for where they
// stand; a refusal of the service is an error.
func TestHTTPGateway(t *testing.T) {
	g, srv := startGateway(t)
	ctx := context.Background()
	msg := `Your code is 123456 "&x=1`
	jg := &HTTPGateway{URL: srv.URL + "/send?to={phone}", ContentType: "application/json", Body: `{"to":"{phone}","text":"{message}"}`,
		Header: http.Header{"Authorization": {"Bearer k"}}}
	if err := jg.Send(ctx, "+4512345678", msg); err != nil {
		t.Fatal(err)
	}
	r, body := g.last()
	var got struct{ To, Text string }
	if err := json.Unmarshal([]byte(body), &got); err != nil || got.To != "+4512345678" || got.Text != msg {
		t.Fatalf("json body %q: %+v %v", body, got, err)
	}
	if r.URL.Query().Get("to") != "+4512345678" || r.Header.Get("Authorization") != "Bearer k" || r.Method != "POST" {
		t.Fatalf("request %s %s %v", r.Method, r.URL, r.Header)
	}
	fg := &HTTPGateway{URL: srv.URL + "/form", ContentType: "application/x-www-form-urlencoded", Body: "to={phone}&msg={message}"}
	if err := fg.Send(ctx, "+4512345678", msg); err != nil {
		t.Fatal(err)
	}
	_, body = g.last()
	q, _ := url.ParseQuery(body)
	if len(q) != 2 || q.Get("to") != "+4512345678" || q.Get("msg") != msg {
		t.Fatalf("form body %q", body)
	}
	gg := &HTTPGateway{URL: srv.URL + "/get?to={phone}&text={message}", Method: "GET"}
	if err := gg.Send(ctx, "+4512345678", msg); err != nil {
		t.Fatal(err)
	}
	if r, _ := g.last(); r.URL.Query().Get("text") != msg || len(r.URL.Query()) != 2 {
		t.Fatalf("get query %q", r.URL.RawQuery)
	}
	g.mu.Lock()
	g.fail = true
	g.mu.Unlock()
	if err := jg.Send(ctx, "+4512345678", msg); err == nil || !strings.Contains(err.Error(), "402") {
		t.Fatalf("refused send: %v", err)
	}
	for _, bad := range []HTTPGateway{{URL: "file:///etc/passwd"}, {URL: "http://user:pw@h/"}, {URL: srv.URL, Method: "DELETE"}} {
		if err := bad.Check(); err == nil {
			t.Errorf("gateway %+v accepted", bad)
		}
	}
}

var codeRE = regexp.MustCompile(`\b\d{6}$`)

type fixture struct {
	codes *Codes
	gw    *gateway
	prov  *HTTPGateway
	now   *time.Time
	mu    *sync.Mutex
	db    string
}

func newFixture(t *testing.T, be storetest.Backend) fixture {
	ctx := context.Background()
	db := be.Fresh(t)
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	g, srv := startGateway(t)
	now := time.Now()
	var mu sync.Mutex
	c := NewCodes(st, []byte("relay secret"), func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	return fixture{codes: c, gw: g, prov: &HTTPGateway{URL: srv.URL + "/sms", ContentType: "application/json", Body: `{"to":"{phone}","text":"{message}"}`},
		now: &now, mu: &mu, db: db}
}

func (f fixture) advance(d time.Duration) { f.mu.Lock(); *f.now = f.now.Add(d); f.mu.Unlock() }

func (f fixture) sent(t *testing.T) string {
	_, body := f.gw.last()
	var m struct{ Text string }
	json.Unmarshal([]byte(body), &m)
	c := codeRE.FindString(m.Text)
	if c == "" {
		t.Fatalf("no code in %q", body)
	}
	return c
}

// TestCodes: a code works once, a wrong one counts, the tries run out,
// codes expire, sends are rate-limited, and the table holds no code.
func TestCodes(t *testing.T) { storetest.Run(t, testCodes) }

func testCodes(t *testing.T, be storetest.Backend) {
	ctx := context.Background()
	f := newFixture(t, be)
	key := "login:u1"
	if err := f.codes.Send(ctx, f.prov, key, "+4512345678", "Tandem code {code}"); err != nil {
		t.Fatal(err)
	}
	code := f.sent(t)
	if be.Name == "sqlite" {
		db, err := sql.Open("sqlite", f.db)
		if err != nil {
			t.Fatal(err)
		}
		var h string
		db.QueryRow(`SELECT code_hash FROM sms_codes WHERE id = ?`, key).Scan(&h)
		db.Close()
		if h == "" || strings.Contains(h, code) {
			t.Fatalf("stored %q for code %s", h, code)
		}
	}
	if _, err := f.codes.Check(ctx, key, "000000x"); !errors.Is(err, ErrWrong) {
		t.Fatalf("malformed code: %v", err)
	}
	if p, err := f.codes.Check(ctx, "login:u2", code); !errors.Is(err, ErrNoCode) || p != "" {
		t.Fatalf("another key's code: %q %v", p, err)
	}
	if p, err := f.codes.Check(ctx, key, code); err != nil || p != "+4512345678" {
		t.Fatalf("right code: %q %v", p, err)
	}
	if _, err := f.codes.Check(ctx, key, code); !errors.Is(err, ErrNoCode) {
		t.Fatalf("code used twice: %v", err)
	}
	// The send budget: one per 30 s, five per hour.
	if err := f.codes.Send(ctx, f.prov, key, "+4512345678", "{code}"); !errors.Is(err, ErrLimited) {
		t.Fatalf("second send at once: %v", err)
	}
	for i := 2; i <= 5; i++ {
		f.advance(31 * time.Second)
		if err := f.codes.Send(ctx, f.prov, key, "+4512345678", "{code}"); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	f.advance(31 * time.Second)
	if err := f.codes.Send(ctx, f.prov, key, "+4512345678", "{code}"); !errors.Is(err, ErrLimited) {
		t.Fatalf("sixth send within the hour: %v", err)
	}
	f.advance(time.Hour)
	if err := f.codes.Send(ctx, f.prov, key, "+4512345678", "{code}"); err != nil {
		t.Fatalf("send after the window: %v", err)
	}
	code = f.sent(t)
	f.advance(5*time.Minute + time.Second)
	if _, err := f.codes.Check(ctx, key, code); !errors.Is(err, ErrNoCode) {
		t.Fatalf("expired code: %v", err)
	}
}

// TestCodesConcurrent: 100 guesses at once get the tries of one code (5)
// and no more, after which the right code is refused too; 100 right
// answers at once sign in once; 100 sends at once send one message.
func TestCodesConcurrent(t *testing.T) { storetest.Run(t, testCodesConcurrent) }

func testCodesConcurrent(t *testing.T, be storetest.Backend) {
	ctx := context.Background()
	f := newFixture(t, be)
	key := "login:u1"
	run := func(fn func() error) map[error]int {
		var mu sync.Mutex
		out := map[error]int{}
		var wg sync.WaitGroup
		for range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := fn()
				mu.Lock()
				out[err]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		return out
	}
	got := run(func() error { return f.codes.Send(ctx, f.prov, key, "+4512345678", "{code}") })
	if got[nil] != 1 || got[ErrLimited] != 99 {
		t.Fatalf("100 sends at once: %v", got)
	}
	code := f.sent(t)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	got = run(func() error { _, err := f.codes.Check(ctx, key, wrong); return err })
	if got[ErrWrong] != 5 || got[ErrNoCode] != 95 {
		t.Fatalf("100 guesses at once: %v", got)
	}
	if _, err := f.codes.Check(ctx, key, code); !errors.Is(err, ErrNoCode) {
		t.Fatalf("right code after the tries ran out: %v", err)
	}
	f.advance(31 * time.Second)
	if err := f.codes.Send(ctx, f.prov, key, "+4512345678", "{code}"); err != nil {
		t.Fatal(err)
	}
	code = f.sent(t)
	var ok atomic.Int32
	got = run(func() error {
		_, err := f.codes.Check(ctx, key, code)
		if err == nil {
			ok.Add(1)
		}
		return err
	})
	if ok.Load() != 1 || got[nil] != 1 || got[ErrNoCode] != 99 {
		t.Fatalf("100 right answers at once: %v", got)
	}
}
