package relay

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// sessionEnv is a relay with an owner logged in and one online device.
type sessionEnv struct {
	*env
	tok   string
	key   string // enrollment key
	dev   device
	agent *ws
}

func newSessionEnv(t *testing.T, mod ...func(*Config)) *sessionEnv {
	e := newEnv(t, mod...)
	_, key := e.pkg(PackageSpec{Name: "P"})
	d := e.enroll(key, "pc-1")
	return &sessionEnv{env: e, tok: e.login(ownerEmail, ownerPass), key: key, dev: d, agent: e.online(d)}
}

func (e *sessionEnv) request(ref string) (int, []byte) {
	e.t.Helper()
	return e.do("POST", "/api/v1/sessions", e.tok, wire.SessionRequest{Device: ref})
}

// open requests a session on the device and returns it with the grant the
// agent received.
func (e *sessionEnv) open() (wire.SessionResponse, *wire.Signal) {
	e.t.Helper()
	status, body := e.request(e.dev.id)
	if status != http.StatusCreated {
		e.t.Fatalf("session: %d %s", status, body)
	}
	var sr wire.SessionResponse
	decode(e.t, body, &sr)
	g := e.agent.expect(wire.SigGrant)
	if g.Session != sr.SessionID {
		e.t.Fatalf("grant for session %q, want %q", g.Session, sr.SessionID)
	}
	return sr, g
}

// guest opens the session's signal socket and expects ready.
func (e *sessionEnv) guest(sr wire.SessionResponse) *ws {
	e.t.Helper()
	g, resp, err := e.dial(sr.SignalURL, e.tok)
	if err != nil {
		e.t.Fatalf("signal socket: %v (%v)", err, resp)
	}
	if r := g.expect(wire.SigReady); r.Session != sr.SessionID {
		e.t.Fatalf("ready for %q", r.Session)
	}
	return g
}

func (e *sessionEnv) session(id string) store.Session {
	e.t.Helper()
	se, err := e.srv.Store().Session(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return se
}

func TestSessionGrant(t *testing.T) {
	e := newSessionEnv(t)
	sr, g := e.open()
	if sr.DeviceID != e.dev.id || sr.SignalURL != "/api/v1/sessions/"+sr.SessionID+"/signal" {
		t.Fatalf("session response %+v", sr)
	}
	full := policy.FullSet().Strings()
	if !slices.Equal(sr.Permissions, full) {
		t.Fatalf("permissions %v, want %v", sr.Permissions, full)
	}
	grant, err := policy.Verify(g.Grant, e.srv.PublicKey(), e.dev.id, e.clock.Now())
	if err != nil {
		t.Fatalf("grant does not verify: %v", err)
	}
	if grant.SessionID != sr.SessionID || grant.User.Email != ownerEmail || grant.Action != ActionRemoteControl ||
		grant.Set() != policy.FullSet() || grant.AccountID != e.dev.resp.AccountID {
		t.Fatalf("grant %+v", grant)
	}
	if exp := time.Unix(grant.ExpiresAt, 0).Sub(time.Unix(grant.IssuedAt, 0)); exp != 2*time.Minute {
		t.Fatalf("grant lifetime %v", exp)
	}
	// Not for another device, not with another key.
	if _, err := policy.Verify(g.Grant, e.srv.PublicKey(), "other", e.clock.Now()); err == nil {
		t.Fatal("grant verified for another device")
	}
	if _, err := policy.Verify(g.Grant, newKey(t).Public().(ed25519.PublicKey), e.dev.id, e.clock.Now()); err == nil {
		t.Fatal("grant verified with another key")
	}
	// ICE servers: the host's and the guest's credentials differ, both TURN REST.
	if len(grant.ICEServers) != 2 || len(sr.ICEServers) != 2 {
		t.Fatalf("ICE servers: grant %+v, guest %+v", grant.ICEServers, sr.ICEServers)
	}
	h, gs := grant.ICEServers[1], sr.ICEServers[1]
	if h.Username == gs.Username || !strings.HasSuffix(h.Username, ":"+sr.SessionID+".host") ||
		!strings.HasSuffix(gs.Username, ":"+sr.SessionID+".guest") || h.Credential != turnPassword(e.srv.turnSecret, h.Username) {
		t.Fatalf("TURN credentials: host %+v guest %+v", h, gs)
	}
	if want := []string{"turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp"}; !slices.Equal(gs.URLs, want) ||
		sr.ICEServers[0].URLs[0] != "stun:127.0.0.1:3478" {
		t.Fatalf("ICE URLs %+v", sr.ICEServers)
	}
	se := e.session(sr.SessionID)
	if se.UserID == "" || se.DeviceID != e.dev.id || !se.StartedAt.IsZero() || !se.EndedAt.IsZero() || len(se.Permissions) != len(full) {
		t.Fatalf("session row %+v", se)
	}
	if len(e.audit(EvSessionRequested)) != 1 {
		t.Fatal("request not audited")
	}
	// By hostname, case-insensitively, with an explicit action.
	status, body := e.do("POST", "/api/v1/sessions", e.tok, wire.SessionRequest{Device: "PC-1", Action: ActionFileTransfer})
	if status != http.StatusCreated {
		t.Fatalf("by hostname: %d %s", status, body)
	}
	g2 := e.agent.expect(wire.SigGrant)
	if gr, err := policy.Verify(g2.Grant, e.srv.PublicKey(), e.dev.id, e.clock.Now()); err != nil || gr.Action != ActionFileTransfer {
		t.Fatalf("second grant %+v %v", gr, err)
	}
	status, body = e.do("POST", "/api/v1/sessions", e.tok, wire.SessionRequest{Device: "pc-1", Action: "format_disk"})
	wantError(t, status, body, http.StatusBadRequest, api.CodeBadRequest)
}

func TestSessionRefusals(t *testing.T) {
	e := newSessionEnv(t)
	ctx := context.Background()

	status, body := e.request("no-such-device")
	wantError(t, status, body, http.StatusNotFound, api.CodeNotFound)

	// Another account's device, online, is exactly as missing.
	if _, err := e.admin.Init(ctx, "boss@other.example", "0therBoss", "Other"); err != nil {
		t.Fatal(err)
	}
	_, otherKey := e.pkg(PackageSpec{Name: "OP", Account: "Other"})
	od := e.enroll(otherKey, "secret-pc")
	e.online(od)
	status, body = e.request(od.id)
	notFoundID := wantError(t, status, body, http.StatusNotFound, api.CodeNotFound)
	status, body = e.request("secret-pc")
	wantError(t, status, body, http.StatusNotFound, api.CodeNotFound)
	if strings.Contains(notFoundID.Error.Message, "Other") {
		t.Fatalf("404 leaks the other account: %q", notFoundID.Error.Message)
	}

	// Offline.
	off := e.enroll(e.key, "pc-off")
	status, body = e.request(off.id)
	wantError(t, status, body, http.StatusConflict, api.CodeDeviceOffline)

	// Pending and revoked.
	_, pendKey := e.pkg(PackageSpec{Name: "Review", Pending: true, Account: "Acme"})
	pd := e.enroll(pendKey, "pc-pending")
	status, body = e.request(pd.id)
	wantError(t, status, body, http.StatusConflict, api.CodeDevicePending)
	if _, _, err := e.admin.RevokeDevice(ctx, off.id); err != nil {
		t.Fatal(err)
	}
	status, body = e.request(off.id)
	wantError(t, status, body, http.StatusConflict, api.CodeDeviceRevoked)
	if n := len(e.audit(EvSessionDenied)); n != 3 {
		t.Fatalf("%d denials audited, want 3", n)
	}

	// Two devices with one hostname: ambiguous, with both ids.
	twin := e.enroll(e.key, "PC-1")
	status, body = e.request("pc-1")
	ae := wantError(t, status, body, http.StatusConflict, api.CodeAmbiguous)
	var ids []string
	for _, c := range ae.Error.Candidates {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	want := []string{e.dev.id, twin.id}
	slices.Sort(want)
	if !slices.Equal(ids, want) || !strings.Contains(ae.Error.Message, twin.id) {
		t.Fatalf("candidates %v (%q), want %v", ids, ae.Error.Message, want)
	}
	// Revoking one of them resolves the name again.
	if _, _, err := e.admin.RevokeDevice(ctx, twin.id); err != nil {
		t.Fatal(err)
	}
	if status, body := e.request("pc-1"); status != http.StatusCreated {
		t.Fatalf("after revoking the twin: %d %s", status, body)
	}
}

func TestSignaling(t *testing.T) {
	e := newSessionEnv(t)
	sr, _ := e.open()
	a := e.agent
	g := e.guest(sr)

	cand := json.RawMessage(`{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host","sdpMid":"0"}`)
	// guest → agent: the relay stamps the session, whatever the guest wrote.
	g.send(&wire.Signal{Type: wire.SigOffer, Session: "forged", SDP: "v=0 offer"})
	if s := a.expect(wire.SigOffer); s.Session != sr.SessionID || s.SDP != "v=0 offer" {
		t.Fatalf("agent got %+v", s)
	}
	g.send(&wire.Signal{Type: wire.SigCandidate, Candidate: cand})
	if s := a.expect(wire.SigCandidate); s.Session != sr.SessionID || string(s.Candidate) != string(cand) {
		t.Fatalf("agent got candidate %+v", s)
	}
	// A guest may not answer, grant or inject anything else.
	for _, typ := range []string{wire.SigAnswer, wire.SigGrant, wire.SigInventory, wire.SigAuth, wire.SigRevoked} {
		g.send(&wire.Signal{Type: typ, SDP: "x", Grant: "x"})
		if s := g.expect(wire.SigError, api.CodeForbidden); s.Session != sr.SessionID {
			t.Fatalf("error for session %q", s.Session)
		}
	}
	// ... and none of it reached the agent: its next signal is this one.
	g.send(&wire.Signal{Type: wire.SigCandidate, Candidate: json.RawMessage(`{"candidate":"second"}`)})
	if s := a.expect(wire.SigCandidate); string(s.Candidate) != `{"candidate":"second"}` {
		t.Fatalf("agent got %+v", s)
	}

	// agent → guest.
	a.send(&wire.Signal{Type: wire.SigAnswer, Session: sr.SessionID, SDP: "v=0 answer"})
	if s := g.expect(wire.SigAnswer); s.SDP != "v=0 answer" || s.Session != sr.SessionID {
		t.Fatalf("guest got %+v", s)
	}
	if se := e.session(sr.SessionID); se.StartedAt.IsZero() || !se.EndedAt.IsZero() {
		t.Fatalf("after the answer: %+v", se)
	}
	a.send(&wire.Signal{Type: wire.SigCandidate, Session: sr.SessionID, Candidate: cand})
	g.expect(wire.SigCandidate)
	a.send(&wire.Signal{Type: wire.SigError, Session: sr.SessionID, Code: "capture_failed", Message: "no display"})
	g.expect(wire.SigError, "capture_failed")
	// Agents may not send offers or grants to guests.
	a.send(&wire.Signal{Type: wire.SigOffer, Session: sr.SessionID, SDP: "x"})
	a.expect(wire.SigError, "unsupported")

	// Guest leaves: the agent hears bye, the session is over.
	g.conn.Close(websocket.StatusNormalClosure, "")
	if s := a.expect(wire.SigBye, "guest_left"); s.Session != sr.SessionID {
		t.Fatalf("bye for %q", s.Session)
	}
	se := e.session(sr.SessionID)
	if se.EndedAt.IsZero() || se.EndReason != "guest_disconnected" {
		t.Fatalf("after the guest left: %+v", se)
	}
	if len(e.audit(EvSessionStarted)) != 1 || len(e.audit(EvSessionEnded)) != 1 {
		t.Fatal("start and end not audited")
	}
	// An ended session cannot be joined again.
	_, resp, err := e.dial(sr.SignalURL, e.tok)
	if err == nil || resp == nil || resp.StatusCode != http.StatusConflict {
		t.Fatalf("rejoin an ended session: %v %v", err, resp)
	}
	// The agent may not talk into it any more.
	a.send(&wire.Signal{Type: wire.SigCandidate, Session: sr.SessionID, Candidate: cand})
	a.expect(wire.SigError, "unknown_session")
}

func TestSignalingIsolation(t *testing.T) {
	e := newSessionEnv(t)
	sr, _ := e.open()
	g := e.guest(sr)

	// Another device of the same account cannot speak into this session.
	d2 := e.enroll(e.key, "pc-2")
	a2 := e.online(d2)
	a2.send(&wire.Signal{Type: wire.SigAnswer, Session: sr.SessionID, SDP: "evil"})
	a2.expect(wire.SigError, "unknown_session")
	// The guest's next signal is the real answer.
	e.agent.send(&wire.Signal{Type: wire.SigAnswer, Session: sr.SessionID, SDP: "real"})
	if s := g.expect(wire.SigAnswer); s.SDP != "real" {
		t.Fatalf("guest got %q", s.SDP)
	}

	// Another user may not join; neither without a token.
	if _, err := e.admin.Init(context.Background(), "tech@example.com", "Techn1cian", "Acme"); err != nil {
		t.Fatal(err)
	}
	tok2 := e.login("tech@example.com", "Techn1cian")
	_, resp, err := e.dial(sr.SignalURL, tok2)
	if err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("other user joins: %v %v", err, resp)
	}
	_, resp, err = e.dial(sr.SignalURL, "")
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %v %v", err, resp)
	}
	// A second connection of the same user is busy.
	_, resp, err = e.dial(sr.SignalURL, e.tok)
	if err == nil || resp == nil || resp.StatusCode != http.StatusConflict {
		t.Fatalf("second guest: %v %v", err, resp)
	}
}

func TestSignalingByeAndOffline(t *testing.T) {
	e := newSessionEnv(t)

	// Guest says bye: the agent hears it, the guest's socket closes.
	sr, _ := e.open()
	g := e.guest(sr)
	g.send(&wire.Signal{Type: wire.SigBye, Code: "done", Message: "thanks"})
	if s := e.agent.expect(wire.SigBye, "done"); s.Session != sr.SessionID {
		t.Fatalf("bye for %q", s.Session)
	}
	if st := g.expectClosed(); st != websocket.StatusNormalClosure {
		t.Fatalf("guest closed with %v", st)
	}
	if se := e.session(sr.SessionID); se.EndReason != "guest_bye" {
		t.Fatalf("end reason %q", se.EndReason)
	}

	// Agent says bye.
	sr, _ = e.open()
	g = e.guest(sr)
	e.agent.send(&wire.Signal{Type: wire.SigBye, Session: sr.SessionID, Code: "user_ended"})
	g.expect(wire.SigBye, "user_ended")
	g.expectClosed()
	if se := e.session(sr.SessionID); se.EndReason != "host_bye" || se.EndedAt.IsZero() {
		t.Fatalf("after the host's bye: %+v", se)
	}

	// Agent signals before the guest joins are kept for it (a refused grant, say).
	sr, _ = e.open()
	e.agent.send(&wire.Signal{Type: wire.SigError, Session: sr.SessionID, Code: "grant_refused"})
	e.agent.sync()
	g = e.guest(sr)
	g.expect(wire.SigError, "grant_refused")

	// The agent disconnects: the guest gets bye device_offline.
	e.agent.conn.Close(websocket.StatusNormalClosure, "")
	g.expect(wire.SigBye, api.CodeDeviceOffline)
	g.expectClosed()
	se := e.session(sr.SessionID)
	if se.EndReason != "device_offline" || se.EndedAt.IsZero() {
		t.Fatalf("after the agent left: %+v", se)
	}
}

func TestSessionExpiry(t *testing.T) {
	e := newSessionEnv(t)
	sr, _ := e.open()
	e.clock.Advance(2*time.Minute + time.Second)
	_, resp, err := e.dial(sr.SignalURL, e.tok)
	if err == nil || resp == nil || resp.StatusCode != http.StatusConflict {
		t.Fatalf("late guest: %v %v", err, resp)
	}
	// The sweep ends it and tells the agent.
	e.srv.sweep()
	e.agent.expect(wire.SigBye, "expired")
	if se := e.session(sr.SessionID); se.EndReason != "expired" {
		t.Fatalf("end reason %q", se.EndReason)
	}
}
