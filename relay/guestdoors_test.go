package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"

	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// consoleDo sends a request to the browser console's doors as a browser
// would: the Portal's cookie (none when tok is ""), an Origin ("" none).
func (e *sessionEnv) consoleDo(method, path, tok, origin, body string) (int, string) {
	req, _ := http.NewRequest(method, e.ts.URL+path, strings.NewReader(body))
	if tok != "" {
		req.AddCookie(&http.Cookie{Name: "__Host-tandem", Value: tok})
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if method == http.MethodGet {
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := e.ts.Client().Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	return res.StatusCode, string(b)
}

// consoleSignal opens the browser console's signaling socket with the
// cookie, from the relay's own origin.
func (e *sessionEnv) consoleSignal(id, tok string) (*ws, error) {
	w, _, err := e.dialWith("/console/signal/"+id, "", &websocket.DialOptions{HTTPHeader: http.Header{
		"Cookie": {"__Host-tandem=" + tok}, "Origin": {e.ts.URL}}})
	return w, err
}

// guestRefusals flushes the refusals counted so far and returns the
// guest.refused records with their total count.
func (e *sessionEnv) guestRefusals() ([]store.AuditEvent, int, map[string]int) {
	e.t.Helper()
	e.clock.Advance(agentFailWindow)
	e.srv.flushAgentFailures(false)
	evs := e.audit(EvGuestRefused)
	sum, by := 0, map[string]int{}
	for _, ev := range evs {
		var d struct {
			Reason string `json:"reason"`
			Count  int    `json:"count"`
		}
		json.Unmarshal(ev.Detail, &d)
		sum += d.Count
		by[d.Reason] += d.Count
	}
	return evs, sum, by
}

// TestGuestDoorsFloodAdversarial: 100 hostile requests at once at the
// browser console's doors (foreign or missing Origin, no, stale or
// oversized cookie, someone else's session, malformed and oversized
// bodies) are all refused and all audited, as a few records counting
// them (not one row each); a technician's session meanwhile still works;
// a guest socket sending garbage is refused, audited and closed.
func TestGuestDoorsFloodAdversarial(t *testing.T) {
	e := newSessionEnv(t)
	owner := e.tok
	_, other := e.member(e.acme().ID, "other@example.com", store.Admin)
	// The owner's session, which others try to join.
	sr, _ := e.open()
	evil := "http://evil.example"
	kinds := []struct {
		method, path, tok, origin, body string
		want                            int
		reason                          string
	}{
		{"GET", "/console/signal/" + sr.SessionID, owner, evil, "", 403, "signal: cross-origin"},
		{"GET", "/console/signal/" + sr.SessionID, owner, "", "", 403, "signal: cross-origin"},
		{"GET", "/console/signal/" + sr.SessionID, "", e.ts.URL, "", 401, "signal: no cookie"},
		{"GET", "/console/signal/" + sr.SessionID, strings.Repeat("k", 300), e.ts.URL, "", 401, "signal: no cookie"},
		{"GET", "/console/signal/" + sr.SessionID, "stale-token", e.ts.URL, "", 401, "signal: stale cookie"},
		{"GET", "/console/signal/" + sr.SessionID, other, e.ts.URL, "", 404, "signal: no such session of this user"},
		{"POST", "/console/session", owner, evil, `{"device":"pc-1"}`, 403, "session: cross-origin"},
		{"POST", "/console/session", owner, e.ts.URL, `{"device":`, 400, "session: malformed or oversized request"},
		{"POST", "/console/session", owner, e.ts.URL, `{"device":"` + strings.Repeat("x", 8<<10) + `"}`, 400, "session: malformed or oversized request"},
		{"POST", "/console/session", "stale-token", e.ts.URL, `{"device":"pc-1"}`, 401, "session: stale cookie"},
	}
	const n = 100
	var wg sync.WaitGroup
	var mu sync.Mutex
	wrong := []string{}
	wantBy := map[string]int{}
	for i := range n {
		k := kinds[i%len(kinds)]
		wantBy[k.reason]++
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, body := e.consoleDo(k.method, k.path, k.tok, k.origin, k.body); got != k.want {
				mu.Lock()
				wrong = append(wrong, fmt.Sprintf("%s %s: %d %s, want %d", k.method, k.path, got, body, k.want))
				mu.Unlock()
			}
		}()
	}
	// Meanwhile the owner joins their session through the console.
	g, err := e.consoleSignal(sr.SessionID, owner)
	if err != nil {
		t.Fatalf("the owner's console signaling during the flood: %v", err)
	}
	g.expect(wire.SigReady)
	wg.Wait()
	if len(wrong) > 0 {
		t.Fatalf("%d hostile requests not refused as expected:\n%s", len(wrong), strings.Join(wrong, "\n"))
	}

	evs, sum, by := e.guestRefusals()
	t.Logf("%d hostile requests: %d audit records counting %d: %v", n, len(evs), sum, by)
	if sum != n || len(evs) > len(wantBy) {
		t.Fatalf("%d records counting %d refusals, want at most %d records counting %d", len(evs), sum, len(wantBy), n)
	}
	for r, c := range wantBy {
		if by[r] != c {
			t.Errorf("reason %q counted %d times, want %d", r, by[r], c)
		}
	}
	for _, ev := range evs {
		if ev.RemoteAddr != "127.0.0.1" {
			t.Errorf("record without its source: %+v", ev)
		}
	}

	// The owner's session works after the flood: a new one through the
	// console's session door, signaled to the device.
	g.send(&wire.Signal{Type: wire.SigBye})
	e.agent.expect(wire.SigBye)
	code, body := e.consoleDo("POST", "/console/session", owner, e.ts.URL, `{"device":"pc-1"}`)
	if code != http.StatusCreated {
		t.Fatalf("a session after the flood: %d %s", code, body)
	}
	var sr2 wire.SessionResponse
	decode(t, []byte(body), &sr2)
	e.agent.expect(wire.SigGrant)
	g2, err := e.consoleSignal(sr2.SessionID, owner)
	if err != nil {
		t.Fatal(err)
	}
	g2.expect(wire.SigReady)
	g2.send(&wire.Signal{Type: wire.SigOffer, SDP: "v=0 offer"})
	if o := e.agent.expect(wire.SigOffer); o.Session != sr2.SessionID {
		t.Fatalf("offer for %q", o.Session)
	}

	// A signed-in guest sending garbage on its socket: each refusal
	// counted, the socket closed after maxGuestRefusals.
	for range maxGuestRefusals + 5 {
		if err := g2.conn.Write(context.Background(), websocket.MessageText, []byte(`{"type":`)); err != nil {
			break // closed by the relay
		}
	}
	if st := g2.expectClosed(); st != websocket.StatusPolicyViolation {
		t.Fatalf("the garbage-sending guest's socket closed with %v", st)
	}
	_, _, by = e.guestRefusals()
	if by["malformed signal"] != maxGuestRefusals {
		t.Fatalf("malformed signals audited: %v", by)
	}
	// An oversized signal closes the socket and is audited.
	e.agent.expect(wire.SigBye)
	code, body = e.consoleDo("POST", "/console/session", owner, e.ts.URL, `{"device":"pc-1"}`)
	if code != http.StatusCreated {
		t.Fatalf("%d %s", code, body)
	}
	var sr3 wire.SessionResponse
	decode(t, []byte(body), &sr3)
	e.agent.expect(wire.SigGrant)
	g3, err := e.consoleSignal(sr3.SessionID, owner)
	if err != nil {
		t.Fatal(err)
	}
	g3.expect(wire.SigReady)
	g3.conn.Write(context.Background(), websocket.MessageText, []byte(`{"type":"offer","sdp":"`+strings.Repeat("v", wire.MaxSignalSize)+`"}`))
	if st := g3.expectClosed(); st != websocket.StatusMessageTooBig {
		t.Fatalf("the oversized signal's socket closed with %v", st)
	}
	waitFor(t, func() bool { _, _, by = e.guestRefusals(); return by["oversized signal"] == 1 })
}
