// Package webconsole is the browser support console (spec 3.1.2.2
// "Control through browser", 3.2.1): a page and its ES modules, served by
// the relay under /console/, that talks WebRTC straight to the Host. The
// relay carries only the signaling; the screen never passes through it.
//
// The console is a client of the relay's API like the Portal: it calls the
// API's http.Handler in-process with the Portal's session cookie turned
// into a Bearer token, so the grant, the permissions, confirm access,
// whitelists and audit are the API's. A browser cannot set an
// Authorization header on a WebSocket, so the signaling socket is proxied
// the same way: the cookie (HttpOnly, SameSite=Strict) authenticates it,
// and its Origin must be this relay's, so no other site can open it with
// the user's cookie. No token ever appears in a URL.
//
// The screen decoder (static/decoder.js) mirrors capture/codec's Go
// decoder op for op; golden payloads from the Go encoder, decoded in
// Chromium, keep them identical (golden_browser_test.go).
package webconsole

import (
	"bytes"
	"embed"
	"encoding/json"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tandem-rc/tandem/relay/frontdoor"
	"github.com/tandem-rc/tandem/relay/guard"
	"github.com/tandem-rc/tandem/transport/wire"
)

//go:embed static
var staticFS embed.FS

// Prefix is where the console lives on the relay.
const Prefix = "/console/"

// maxRequest bounds a session request's body (a device id, an action, an
// OnDemand key).
const maxRequest = 4 << 10

// Config configures the console.
type Config struct {
	// API is the relay's HTTP handler; the console sends it /api/v1
	// requests in-process.
	API    http.Handler
	Cookie string           // the Portal's session cookie, holding the login token
	Logger *slog.Logger     // default: discard
	Clock  func() time.Time // default time.Now
	// Refusals counts every refused request at the console's doors for
	// the audit log (the relay writes one record per source and reason
	// per window, so a flood cannot fill the log); nil counts nothing.
	Refusals *guard.Tally
}

// Console serves the browser console.
type Console struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux

	refusedMu   sync.Mutex
	refusedAt   time.Time // last refusal logged
	refusedMore int       // refusals since, not logged yet
}

// refusalEvery is how often at most a refused request is logged: a foreign
// page can make its visitors' browsers knock as often as it likes, and
// must not flood the relay's log.
const refusalEvery = 10 * time.Second

// refused counts a refusal for the audit log and logs it, at most one line
// per refusalEvery with the number of refusals it stood for. sample (a
// session id) is kept as an example.
func (c *Console) refused(r *http.Request, what, sample string) {
	if c.cfg.Refusals != nil {
		c.cfg.Refusals.Add(guard.TallyKey{Source: guard.Source(frontdoor.ClientIP(r)), Reason: what}, bounded(sample, 64))
	}
	c.refusedMu.Lock()
	now := c.cfg.Clock()
	if now.Sub(c.refusedAt) < refusalEvery {
		c.refusedMore++
		c.refusedMu.Unlock()
		return
	}
	more := c.refusedMore
	c.refusedAt, c.refusedMore = now, 0
	c.refusedMu.Unlock()
	c.log.Warn("webconsole: request refused", "what", what, "path", bounded(r.URL.Path, 100),
		"origin", bounded(r.Header.Get("Origin"), 100), "remote", r.RemoteAddr, "also_refused_since_last", more)
}

// CrossOrigin counts a request to the console refused by the Portal's
// cross-origin protection (a POST from another site never reaches the
// console's handlers) and reports whether r was the console's.
func (c *Console) CrossOrigin(r *http.Request) bool {
	if !strings.HasPrefix(r.URL.Path, Prefix) {
		return false
	}
	door := "page"
	if r.URL.Path == "/console/session" {
		door = "session"
	}
	c.refused(r, door+": cross-origin", "")
	return true
}

// bounded bounds what a hostile header or path puts in the log and audit.
func bounded(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "?")
}

// refusalWatch records the status the API answers a proxied request with,
// so its refusals (a stale cookie, someone else's session) are counted
// like the console's own. Unwrap lets the WebSocket upgrade hijack the
// connection underneath.
type refusalWatch struct {
	http.ResponseWriter
	status int
}

func (w *refusalWatch) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *refusalWatch) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// proxy serves req with the API and counts the refusals among its
// answers (reasons by status; the API audits its policy denials itself).
func (c *Console) proxy(w http.ResponseWriter, r, req *http.Request, door, sample string, reasons map[int]string) {
	rw := &refusalWatch{ResponseWriter: w}
	c.cfg.API.ServeHTTP(rw, req)
	if why, ok := reasons[rw.status]; ok {
		c.refused(r, door+": "+why, sample)
	}
}

// New builds the console handler, to be mounted at Prefix.
func New(cfg Config) *Console {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	c := &Console{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	static, _ := fs.Sub(staticFS, "static")
	c.mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	c.mux.HandleFunc("GET /console/{$}", c.handlePage)
	c.mux.HandleFunc("POST /console/{$}", c.handlePage) // My sessions' Start: the OnDemand key in the body
	c.mux.HandleFunc("POST /console/session", c.handleSession)
	c.mux.HandleFunc("GET /console/signal/{id}", c.handleSignal)
	c.mux.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found", http.StatusNotFound)
	})
	return c
}

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.mux.ServeHTTP(w, r) }

// StaticFS is the console's assets (for tests that serve the decoder alone).
func StaticFS() fs.FS {
	s, _ := fs.Sub(staticFS, "static")
	return s
}

func (c *Console) token(r *http.Request) string {
	ck, err := r.Cookie(c.cfg.Cookie)
	if err != nil || ck.Value == "" || len(ck.Value) > 256 {
		return ""
	}
	return ck.Value
}

// handlePage serves the console page; signed out, the Portal's sign-in
// brings the user back here.
func (c *Console) handlePage(w http.ResponseWriter, r *http.Request) {
	if c.token(r) == "" {
		http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	var d struct{ OnDemand string }
	if r.Method == http.MethodPost {
		// An OnDemand key is a secret of the end user's: it comes in a
		// form body (the Portal's cross-origin protection applies), never
		// in the console's URL, and goes into the page, not its address.
		r.Body = http.MaxBytesReader(w, r.Body, maxRequest)
		d.OnDemand = strings.TrimSpace(r.PostFormValue("ondemand"))
		if d.OnDemand == "" || len(d.OnDemand) > 64 {
			http.Error(w, "no OnDemand session key", http.StatusBadRequest)
			return
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := page.Execute(w, d); err != nil {
		c.log.Warn("webconsole: page", "err", err)
	}
}

var page = template.Must(template.ParseFS(staticFS, "static/console.html"))

// sameOrigin reports whether the request comes from a page of this relay:
// its Origin header names this host. A WebSocket handshake is a GET that
// Go's cross-origin protection lets through, so the socket checks it here;
// a missing Origin (not a browser) is refused too, since the cookie is
// only for browsers.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return false
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	if r.TLS != nil && u.Scheme != "https" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

// handleSession asks the API for a session on behalf of the signed-in
// user and returns its answer (session id, permissions, ICE servers).
func (c *Console) handleSession(w http.ResponseWriter, r *http.Request) {
	tok := c.token(r)
	if tok == "" {
		c.refused(r, "session: no cookie", "")
		writeError(w, http.StatusUnauthorized, "unauthorized", "sign in to the Portal first")
		return
	}
	if !sameOrigin(r) {
		c.refused(r, "session: cross-origin", "")
		writeError(w, http.StatusForbidden, "forbidden", "this request did not come from the console page")
		return
	}
	var in wire.SessionRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxRequest))
	if err := dec.Decode(&in); err != nil {
		c.refused(r, "session: malformed or oversized request", "")
		writeError(w, http.StatusBadRequest, "bad_request", "the request is not a session request")
		return
	}
	// Only what a console may ask for goes on.
	out, _ := json.Marshal(wire.SessionRequest{Device: in.Device, Action: in.Action, OnDemand: in.OnDemand, Confirmation: in.Confirmation})
	req := c.apiRequest(r, tok, http.MethodPost, "/api/v1/sessions", bytes.NewReader(out))
	req.Header.Set("Content-Type", "application/json")
	c.proxy(w, r, req, "session", "", sessionRefusals)
}

// The API's answers counted as refusals at each door.
var (
	sessionRefusals = map[int]string{http.StatusUnauthorized: "stale cookie", http.StatusBadRequest: "bad request"}
	signalRefusals  = map[int]string{http.StatusUnauthorized: "stale cookie", http.StatusNotFound: "no such session of this user",
		http.StatusForbidden: "forbidden", http.StatusBadRequest: "bad request"}
)

// handleSignal is the browser's signaling WebSocket: the API's own
// signaling endpoint, authenticated with the cookie's token.
func (c *Console) handleSignal(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	tok := c.token(r)
	if tok == "" {
		c.refused(r, "signal: no cookie", id)
		writeError(w, http.StatusUnauthorized, "unauthorized", "sign in to the Portal first")
		return
	}
	if !sameOrigin(r) {
		c.refused(r, "signal: cross-origin", id)
		writeError(w, http.StatusForbidden, "forbidden", "signaling is only for the console page of this relay")
		return
	}
	req := c.apiRequest(r, tok, http.MethodGet, "/api/v1/sessions/"+url.PathEscape(id)+"/signal", http.NoBody)
	// The WebSocket handshake headers go on unchanged.
	for _, h := range []string{"Connection", "Upgrade", "Sec-Websocket-Key", "Sec-Websocket-Version",
		"Sec-Websocket-Extensions", "Sec-Websocket-Protocol", "Origin"} {
		if v := r.Header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	c.proxy(w, r, req, "signal", id, signalRefusals)
}

// apiRequest is an in-process API request on behalf of r: same client
// address and forwarding headers (the API's throttles and audit see the
// real client), the token as Bearer, no cookies.
func (c *Console) apiRequest(r *http.Request, tok, method, path string, body io.Reader) *http.Request {
	req, _ := http.NewRequestWithContext(r.Context(), method, path, body)
	req.RemoteAddr = r.RemoteAddr
	req.Host = r.Host
	req.TLS = r.TLS
	for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "User-Agent"} {
		if v := r.Header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return req
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	var e wire.APIError
	e.Error.Code, e.Error.Message = code, msg
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(e)
}
