package relay

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

const (
	ownerEmail = "owner@example.com"
	ownerPass  = "Sup3rSecret"
	waitLimit  = 10 * time.Second
)

// clock is a settable clock for the relay under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t     *testing.T
	srv   *Server
	ts    *httptest.Server
	dir   string
	db    string // Config.DB: "" is the SQLite file in dir
	clock *clock
	admin *Admin
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("RELAY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// withDB runs the relay on the database db (see storetest).
func withDB(db string) func(*Config) { return func(c *Config) { c.DB = db } }

// newEnv runs a relay in-process on 127.0.0.1 with an owner account.
func newEnv(t *testing.T, mod ...func(*Config)) *env {
	t.Helper()
	c := &clock{t: time.Now().UTC()}
	cfg := Config{
		DataDir: t.TempDir(), Logger: testLogger(t), Clock: c.Now, Version: "test",
		// Tests change the store directly, as another process would: no
		// cached access models (TestModelCache covers them).
		ModelTTL: -1,
		TURN:     TURNConfig{Host: "127.0.0.1", Port: 3478},
	}
	e := serveEnv(t, cfg, c, mod...)
	if _, err := e.admin.Init(context.Background(), ownerEmail, ownerPass, "Acme"); err != nil {
		t.Fatal(err)
	}
	return e
}

// serveEnv runs a relay configured by cfg and mod until the test ends.
func serveEnv(t *testing.T, cfg Config, c *clock, mod ...func(*Config)) *env {
	t.Helper()
	for _, m := range mod {
		m(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	e := &env{t: t, srv: s, ts: ts, dir: cfg.DataDir, db: cfg.DB, clock: c, admin: s.Admin()}
	t.Cleanup(func() {
		ts.CloseClientConnections()
		s.Close()
		ts.Close()
	})
	return e
}

// do sends a JSON request (body may be nil, a []byte, or a value to encode).
func (e *env) do(method, path, token string, body any) (int, []byte) {
	e.t.Helper()
	var raw []byte
	ct := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		raw, ct = b, "application/json"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		raw, ct = j, "application/json"
	}
	status, out, _ := e.rawDo(method, path, token, ct, raw)
	return status, out
}

// rawDo sends body as is (none when nil) with contentType, and returns
// the answer with its headers.
func (e *env) rawDo(method, path, token, contentType string, body []byte) (int, []byte, http.Header) {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out, resp.Header
}

// decode parses an answer body into v.
func decode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
}

// wantError checks an error answer's status and code.
func wantError(t *testing.T, status int, body []byte, wantStatus int, wantCode string) wire.APIError {
	t.Helper()
	var ae wire.APIError
	if err := json.Unmarshal(body, &ae); err != nil {
		t.Fatalf("status %d, body %s: not an APIError (%v)", status, body, err)
	}
	if status != wantStatus || ae.Error.Code != wantCode {
		t.Fatalf("got %d %q (%s), want %d %q", status, ae.Error.Code, ae.Error.Message, wantStatus, wantCode)
	}
	if ae.Error.Message == "" {
		t.Fatalf("error %q without a message", wantCode)
	}
	return ae
}

// pkg creates a deployment package and returns its key.
func (e *env) pkg(spec PackageSpec) (store.Package, string) {
	e.t.Helper()
	p, key, err := e.admin.CreatePackage(context.Background(), spec)
	if err != nil {
		e.t.Fatal(err)
	}
	return p, key
}

type device struct {
	id   string
	key  ed25519.PrivateKey
	resp wire.EnrollResponse
}

func newKey(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pubB64(k ed25519.PrivateKey) string {
	return base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey))
}

// enroll enrolls a new device key with the package key and hostname.
func (e *env) enroll(key, hostname string) device {
	e.t.Helper()
	k := newKey(e.t)
	status, body := e.do("POST", "/api/v1/enroll", "", wire.EnrollRequest{Key: key, PublicKey: pubB64(k),
		Inventory: &wire.Inventory{Hostname: hostname, OS: "linux"}})
	if status != http.StatusOK {
		e.t.Fatalf("enroll: %d %s", status, body)
	}
	var r wire.EnrollResponse
	decode(e.t, body, &r)
	return device{id: r.DeviceID, key: k, resp: r}
}

// login returns a bearer token.
func (e *env) login(email, pw string) string {
	e.t.Helper()
	status, body := e.do("POST", "/api/v1/login", "", wire.LoginRequest{Email: email, Password: pw})
	if status != http.StatusOK {
		e.t.Fatalf("login %s: %d %s", email, status, body)
	}
	var r wire.LoginResponse
	decode(e.t, body, &r)
	return r.Token
}

func (e *env) wsURL(path string) string { return "ws" + strings.TrimPrefix(e.ts.URL, "http") + path }

// ws is a test WebSocket client speaking wire.Signal.
type ws struct {
	t    *testing.T
	conn *websocket.Conn
}

func (e *env) dial(path, token string) (*ws, *http.Response, error) {
	return e.dialWith(path, token, &websocket.DialOptions{})
}

func (e *env) dialWith(path, token string, opts *websocket.DialOptions) (*ws, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	opts.HTTPClient = e.ts.Client()
	if token != "" {
		opts.HTTPHeader = http.Header{"Authorization": {"Bearer " + token}}
	}
	c, resp, err := websocket.Dial(ctx, e.wsURL(path), opts)
	if err != nil {
		return nil, resp, err
	}
	c.SetReadLimit(wire.MaxSignalSize)
	w := &ws{t: e.t, conn: c}
	e.t.Cleanup(func() { c.CloseNow() })
	return w, resp, nil
}

func (w *ws) send(s *wire.Signal) {
	w.t.Helper()
	b, err := wire.EncodeSignal(s)
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := w.conn.Write(ctx, websocket.MessageText, b); err != nil {
		w.t.Fatalf("send %s: %v", s.Type, err)
	}
}

// recv returns the next signal, or the read error.
func (w *ws) recvErr() (*wire.Signal, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	_, b, err := w.conn.Read(ctx)
	if err != nil {
		return nil, err
	}
	return wire.DecodeSignal(b)
}

func (w *ws) recv() *wire.Signal {
	w.t.Helper()
	s, err := w.recvErr()
	if err != nil {
		w.t.Fatalf("recv: %v", err)
	}
	return s
}

// expect receives the next signal and checks its type (and code, if given).
func (w *ws) expect(typ string, code ...string) *wire.Signal {
	w.t.Helper()
	s := w.recv()
	if s.Type != typ || (len(code) > 0 && s.Code != code[0]) {
		w.t.Fatalf("got %s{code:%q message:%q session:%q}, want %s %v", s.Type, s.Code, s.Message, s.Session, typ, code)
	}
	return s
}

// expectClosed waits for the connection to be closed by the relay and
// returns the close status.
func (w *ws) expectClosed() websocket.StatusCode {
	w.t.Helper()
	for {
		s, err := w.recvErr()
		if err != nil {
			return websocket.CloseStatus(err)
		}
		w.t.Logf("(before close) %s %s", s.Type, s.Code)
	}
}

// agent connects device d and completes the handshake up to the relay's
// first answer after auth (ready, or an error).
func (e *env) agent(d device) (*ws, *wire.Signal) {
	e.t.Helper()
	return e.agentWith(d.id, d.key)
}

func (e *env) agentWith(id string, key ed25519.PrivateKey) (*ws, *wire.Signal) {
	e.t.Helper()
	w, _, err := e.dial("/api/v1/agent/connect", "")
	if err != nil {
		e.t.Fatal(err)
	}
	return e.handshake(w, id, key)
}

// handshake authenticates an agent socket as device id, as a current agent
// does: it checks the relay's proof of its key first.
func (e *env) handshake(w *ws, id string, key ed25519.PrivateKey) (*ws, *wire.Signal) {
	e.t.Helper()
	agentNonce := make([]byte, wire.NonceSize)
	rand.Read(agentNonce)
	w.send(&wire.Signal{Type: wire.SigHello, Role: "agent", Version: wire.Version, Caps: []string{wire.CapInput, wire.CapRelayProof},
		Nonce: base64.StdEncoding.EncodeToString(agentNonce)})
	ch := w.expect(wire.SigChallenge)
	nonce, err := base64.StdEncoding.DecodeString(ch.Nonce)
	if err != nil || len(nonce) != 32 {
		e.t.Fatalf("challenge nonce %q: %v", ch.Nonce, err)
	}
	proof, _ := base64.StdEncoding.DecodeString(ch.Signature)
	if !ed25519.Verify(e.srv.PublicKey(), wire.RelayProofMessage(ch.Version, agentNonce, nonce), proof) {
		e.t.Fatalf("the relay's challenge does not prove its key: %+v", ch)
	}
	sig := ed25519.Sign(key, wire.AuthMessageV2(agentNonce, nonce, id, e.srv.PublicKey()))
	w.send(&wire.Signal{Type: wire.SigAuth, DeviceID: id, Signature: base64.StdEncoding.EncodeToString(sig)})
	return w, w.recv()
}

// online connects d and expects ready.
func (e *env) online(d device) *ws {
	e.t.Helper()
	w, first := e.agent(d)
	if first.Type != wire.SigReady {
		e.t.Fatalf("agent got %s{%s %s}, want ready", first.Type, first.Code, first.Message)
	}
	return w
}

// sync makes sure the relay has handled everything w sent before: it sends
// a message the relay refuses and waits for the refusal.
func (w *ws) sync() {
	w.t.Helper()
	w.send(&wire.Signal{Type: "sync-probe"})
	for {
		s := w.recv()
		if s.Type == wire.SigError && (s.Code == "unsupported" || s.Code == api.CodeForbidden) {
			return
		}
		w.t.Fatalf("unexpected %s{%s} while syncing", s.Type, s.Code)
	}
}

func (e *env) audit(event string) []store.AuditEvent {
	e.t.Helper()
	evs, err := e.srv.Store().Audit(context.Background(), store.AuditFilter{Event: event})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// waitFor polls cond (for state changed by another goroutine with no event
// to wait on, such as a server-side disconnect) until it holds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
