package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tandem-rc/tandem/internal/setupname"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/mail"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/relay/store/storetest"
	"github.com/tandem-rc/tandem/transport/wire"
)

// odEnv is a relay whose owner may create OnDemand sessions (an
// assignment of the Full Access OnDemand role to the Administrators group).
type odEnv struct {
	*env
	acct string
	tok  string // the owner's
}

func newODEnv(t *testing.T, mod ...func(*Config)) *odEnv {
	t.Helper()
	e := newEnv(t, mod...)
	a, err := e.srv.Store().AccountByName(context.Background(), "Acme")
	if err != nil {
		t.Fatal(err)
	}
	o := &odEnv{env: e, acct: a.ID, tok: e.login(ownerEmail, ownerPass)}
	o.assign(policy.RoleIDFullAccessOnDemand, store.AdministratorsGroupID(a.ID))
	return o
}

// assign gives the user group an OnDemand role.
func (e *odEnv) assign(roleID, group string) {
	e.t.Helper()
	status, body := e.do("POST", "/api/v1/accounts/"+e.acct+"/assignments", e.tok,
		wire.Assignment{Name: "OnDemand " + group, Active: true, RoleID: roleID, UserGroups: []string{group}})
	if status != http.StatusCreated {
		e.t.Fatalf("assignment: %d %s", status, body)
	}
}

// userGroup makes a user group holding members.
func (e *odEnv) userGroup(name string, members ...string) string {
	e.t.Helper()
	ctx := context.Background()
	g, err := e.srv.Store().CreateGroup(ctx, store.Group{AccountID: e.acct, Name: name, Kind: policy.GroupUser, Active: true})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, m := range members {
		if err := e.srv.Store().AddGroupMember(ctx, g.ID, m); err != nil {
			e.t.Fatal(err)
		}
	}
	return g.ID
}

func (e *odEnv) create(tok string) wire.OnDemandSession {
	e.t.Helper()
	status, body := e.do("POST", "/api/v1/ondemand", tok, wire.OnDemandCreateRequest{})
	if status != http.StatusCreated {
		e.t.Fatalf("create: %d %s", status, body)
	}
	var o wire.OnDemandSession
	decode(e.t, body, &o)
	return o
}

func (e *odEnv) joinReq(key string, k ed25519.PrivateKey) (int, []byte) {
	e.t.Helper()
	return e.do("POST", "/api/v1/ondemand/join", "", wire.OnDemandJoinRequest{Key: key, PublicKey: pubB64(k),
		Inventory: &wire.Inventory{Hostname: "ann-laptop", OS: "windows", User: "ann"}})
}

// join runs the agent's join and returns its ephemeral identity.
func (e *odEnv) join(key string) (device, wire.OnDemandJoinResponse) {
	e.t.Helper()
	k := newKey(e.t)
	status, body := e.joinReq(key, k)
	if status != http.StatusOK {
		e.t.Fatalf("join: %d %s", status, body)
	}
	var jr wire.OnDemandJoinResponse
	decode(e.t, body, &jr)
	return device{id: jr.DeviceID, key: k}, jr
}

func (e *odEnv) list(tok string) []wire.OnDemandSession {
	e.t.Helper()
	status, body := e.do("GET", "/api/v1/ondemand", tok, nil)
	if status != http.StatusOK {
		e.t.Fatalf("list: %d %s", status, body)
	}
	var out []wire.OnDemandSession
	decode(e.t, body, &out)
	return out
}

func (e *odEnv) start(tok, key string) (int, []byte) {
	e.t.Helper()
	return e.do("POST", "/api/v1/sessions", tok, wire.SessionRequest{OnDemand: key})
}

// odLive is a key whose agent is online and whose session the owner
// started: the agent holds its grant, the technician's signalling is ready.
type odLive struct {
	key          string
	dev          device
	agent, guest *ws
	sr           wire.SessionResponse
}

func (e *odEnv) live() odLive {
	e.t.Helper()
	o := e.create(e.tok)
	d, _ := e.join(o.Key)
	w := e.online(d)
	e.t.Cleanup(func() { w.conn.CloseNow() })
	status, body := e.start(e.tok, o.Key)
	if status != http.StatusCreated {
		e.t.Fatalf("start: %d %s", status, body)
	}
	var sr wire.SessionResponse
	decode(e.t, body, &sr)
	w.expect(wire.SigGrant)
	gw, _, err := e.dial(sr.SignalURL, e.tok)
	if err != nil {
		e.t.Fatal(err)
	}
	gw.expect(wire.SigReady)
	return odLive{key: o.Key, dev: d, agent: w, guest: gw, sr: sr}
}

// expectOver checks that the relay disconnects an OnDemand agent because
// its key died: a revoked signal with wire.CodeOnDemandOver, then the close.
func expectOver(t *testing.T, w *ws) {
	t.Helper()
	for {
		s, err := w.recvErr()
		if err != nil {
			if st := websocket.CloseStatus(err); st != closeOnDemandOver {
				t.Fatalf("closed with %d (%v), want %d", st, err, closeOnDemandOver)
			}
			return
		}
		if s.Type == wire.SigRevoked && s.Code != wire.CodeOnDemandOver {
			t.Fatalf("revoked with %q, want %q", s.Code, wire.CodeOnDemandOver)
		}
	}
}

// expectRefusedOver checks that a handshake as d is refused as over.
func (e *odEnv) expectRefusedOver(d device) {
	e.t.Helper()
	e.env.expectRefusedOverOn(e.t, d)
}

func TestOnDemandCreatePermissions(t *testing.T) {
	e := newODEnv(t)
	o := e.create(e.tok)
	if !regexp.MustCompile(`^[0-9]{9}$`).MatchString(o.Key) {
		t.Fatalf("key %q: want 9 digits", o.Key)
	}
	if o.Link != e.ts.URL+"/s/"+o.Key || o.State != wire.OnDemandCreated || o.CreatedBy != ownerEmail ||
		o.AccountID != e.acct || o.ExpiresAt-o.CreatedAt != int64(ODKeyTTL/time.Second) {
		t.Fatalf("created: %+v", o)
	}
	if !slices.Contains(o.Permissions, "view_screen") || !slices.Contains(o.Permissions, "keyboard_mouse") {
		t.Fatalf("permissions %v", o.Permissions)
	}
	// Keys are credentials: the database holds neither the key nor a plain hash of it.
	row, err := e.srv.Store().OnDemandByKeyHash(context.Background(), e.srv.odKeyHash(o.Key))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(row.KeyHash+row.KeySealed, o.Key) || row.KeyHash == sha256hex(o.Key) {
		t.Fatalf("the key is readable in the store: %+v", row)
	}
	if got := e.audit(EvODCreated); len(got) != 1 || strings.Contains(string(got[0].Detail), o.Key) {
		t.Fatalf("created audit: %+v", got)
	}

	// A member with OnDemand disabled, though in the assigned group: refused.
	off, offTok := e.member(e.acct, "off@example.com", store.Member, func(m *store.Membership) { m.OnDemand = false })
	if err := e.srv.Store().AddGroupMember(context.Background(), store.AdministratorsGroupID(e.acct), off.ID); err != nil {
		t.Fatal(err)
	}
	status, body := e.do("POST", "/api/v1/ondemand", offTok, wire.OnDemandCreateRequest{})
	if ae := wantError(t, status, body, http.StatusForbidden, api.CodeForbidden); !strings.Contains(ae.Error.Message, "disabled") {
		t.Fatalf("message %q: want the evaluator's reason", ae.Error.Message)
	}
	// OnDemand enabled but no OnDemand assignment applies: refused.
	_, plainTok := e.member(e.acct, "plain@example.com", store.Member)
	status, body = e.do("POST", "/api/v1/ondemand", plainTok, wire.OnDemandCreateRequest{})
	if ae := wantError(t, status, body, http.StatusForbidden, api.CodeForbidden); !strings.Contains(ae.Error.Message, "OnDemand role assignment") {
		t.Fatalf("message %q: want the evaluator's reason", ae.Error.Message)
	}
	// Naming an account that is not theirs.
	status, body = e.do("POST", "/api/v1/ondemand", e.tok, wire.OnDemandCreateRequest{Account: "Other Co"})
	wantError(t, status, body, http.StatusNotFound, api.CodeNotFound)
	if n := len(e.audit(EvODCreated)); n != 1 {
		t.Fatalf("%d created events after refusals", n)
	}
}

func sha256hex(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s))) }

func TestOnDemandJoinReconnectSingleUse(t *testing.T) {
	e := newODEnv(t)
	o := e.create(e.tok)
	now := e.clock.Now()
	// Typed the way people read it out.
	typed := o.Key[:3] + " " + o.Key[3:6] + "-" + o.Key[6:]
	d, jr := e.join(typed)
	if jr.AccountID != e.acct || jr.RelayPublicKey != e.srv.PublicKeyString() || jr.DeviceID == "" || jr.Technician == "" {
		t.Fatalf("join answer: %+v", jr)
	}
	if jr.ExpiresAt != now.Add(ODQueueTTL).Unix() {
		t.Fatalf("queue expiry %d, want %d", jr.ExpiresAt, now.Add(ODQueueTTL).Unix())
	}
	if ev := e.audit(EvODJoined); len(ev) != 1 || ev[0].ActorDeviceID != d.id {
		t.Fatalf("joined audit: %+v", ev)
	}

	// Single use: a second join is refused and audited, without the key.
	status, body := e.joinReq(o.Key, newKey(t))
	wantError(t, status, body, http.StatusGone, wire.CodeOnDemandOver)
	rej := e.audit(EvODKeyRejected)
	if len(rej) != 1 || !strings.Contains(string(rej[0].Detail), "key_waiting") || strings.Contains(string(rej[0].Detail), o.Key) {
		t.Fatalf("key_rejected audit: %+v", rej)
	}

	// The agent authenticates like a Host, and may reconnect while waiting.
	w := e.online(d)
	w.conn.Close(websocket.StatusNormalClosure, "network drop")
	waitFor(t, func() bool { return !e.srv.hub.online(d.id) })
	w = e.online(d)
	defer w.conn.CloseNow()

	// Listed nowhere as a device, and no target for device sessions.
	for _, path := range []string{"/api/v1/devices", "/api/v1/accounts/" + e.acct + "/devices"} {
		status, body := e.do("GET", path, e.tok, nil)
		if status != http.StatusOK || strings.Contains(string(body), d.id) || strings.Contains(string(body), "ann-laptop") {
			t.Fatalf("%s lists the OnDemand device: %d %s", path, status, body)
		}
	}
	for _, ref := range []string{d.id, "ann-laptop"} {
		status, body := e.do("POST", "/api/v1/sessions", e.tok, wire.SessionRequest{Device: ref})
		wantError(t, status, body, http.StatusNotFound, api.CodeNotFound)
	}
	status, body = e.do("PATCH", "/api/v1/accounts/"+e.acct+"/devices/"+d.id, e.tok, wire.DeviceUpdate{Alias: new(string)})
	wantError(t, status, body, http.StatusNotFound, api.CodeNotFound)

	l := e.list(e.tok)
	if len(l) != 1 || l[0].State != wire.OnDemandWaiting || l[0].Hostname != "ann-laptop" || l[0].User != "ann" ||
		l[0].JoinedAt != now.Unix() || l[0].Key != o.Key {
		t.Fatalf("list: %+v", l)
	}
}

func TestOnDemandQueueShared(t *testing.T) {
	e := newODEnv(t)
	ctx := context.Background()
	// tech: an OnDemand role that only views; idle: no OnDemand assignment.
	tech, techTok := e.member(e.acct, "tech@example.com", store.Member)
	_, idleTok := e.member(e.acct, "idle@example.com", store.Member)
	status, body := e.do("POST", "/api/v1/accounts/"+e.acct+"/roles", e.tok,
		wire.RoleInfo{Name: "Watch", Type: "ondemand", Enabled: true, Permissions: []string{"view_screen"}})
	if status != http.StatusCreated {
		t.Fatalf("role: %d %s", status, body)
	}
	var role wire.RoleInfo
	decode(t, body, &role)
	e.assign(role.ID, e.userGroup("Help desk", tech.ID))

	unused := e.create(e.tok)
	queued := e.create(e.tok)
	e.join(queued.Key)
	techOwn := e.create(techTok)

	got := map[string]wire.OnDemandSession{}
	for _, s := range e.list(techTok) {
		got[s.Key] = s
	}
	// tech sees their own key and the queue, not the owner's unused key.
	if len(got) != 2 || got[unused.Key].Key != "" || got[techOwn.Key].State != wire.OnDemandCreated {
		t.Fatalf("tech's list: %+v", got)
	}
	if q := got[queued.Key]; q.State != wire.OnDemandWaiting || !slices.Equal(q.Permissions, []string{"view_screen"}) || q.CreatedBy != ownerEmail {
		t.Fatalf("queued as tech sees it: %+v", q)
	}
	if l := e.list(idleTok); len(l) != 0 {
		t.Fatalf("a user without OnDemand roles sees the queue: %+v", l)
	}
	owner := e.list(e.tok)
	if len(owner) != 2 {
		t.Fatalf("owner's list: %+v", owner)
	}
	for _, s := range owner {
		if len(s.Permissions) != 2 {
			t.Fatalf("owner's permissions on %s: %v", s.Key, s.Permissions)
		}
	}
	// The shared queue: tech may reject the owner's waiting session; idle may not.
	status, body = e.do("POST", "/api/v1/ondemand/"+queued.Key+"/reject", idleTok, nil)
	wantError(t, status, body, http.StatusForbidden, api.CodeForbidden)
	if status, body := e.do("POST", "/api/v1/ondemand/"+queued.Key+"/reject", techTok, nil); status != http.StatusNoContent {
		t.Fatalf("tech rejects: %d %s", status, body)
	}
	if ev := e.audit(EvODRejected); len(ev) != 1 || ev[0].ActorUserID != tech.ID {
		t.Fatalf("rejected audit: %+v", ev)
	}
	if row, _ := e.srv.Store().OnDemandByKeyHash(ctx, e.srv.odKeyHash(queued.Key)); row.State != store.ODRejected || row.EndedBy != tech.ID {
		t.Fatalf("after the reject: %+v", row)
	}
}

func TestOnDemandStartGrantAndEnd(t *testing.T) {
	e := newODEnv(t)
	o := e.create(e.tok)
	status, body := e.start(e.tok, o.Key)
	wantError(t, status, body, http.StatusConflict, api.CodeConflict) // nobody joined yet
	d, _ := e.join(o.Key)
	status, body = e.start(e.tok, o.Key)
	wantError(t, status, body, http.StatusConflict, api.CodeDeviceOffline)
	w := e.online(d)
	defer w.conn.CloseNow()

	status, body = e.do("POST", "/api/v1/sessions", e.tok, wire.SessionRequest{OnDemand: o.Key, Device: "pc-1"})
	wantError(t, status, body, http.StatusBadRequest, api.CodeBadRequest)

	status, body = e.start(e.tok, o.Key)
	if status != http.StatusCreated {
		t.Fatalf("start: %d %s", status, body)
	}
	var sr wire.SessionResponse
	decode(t, body, &sr)
	g := w.expect(wire.SigGrant)
	grant, err := policy.Verify(g.Grant, e.srv.PublicKey(), d.id, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !grant.ConfirmLocal || grant.SessionID != sr.SessionID || grant.DeviceID != d.id {
		t.Fatalf("grant: %+v", grant)
	}
	for _, p := range []string{"view_screen", "keyboard_mouse", "clipboard"} {
		if !slices.Contains(grant.Permissions, p) {
			t.Fatalf("grant permissions %v lack %s", grant.Permissions, p)
		}
	}
	if len(grant.Permissions) != 3 {
		t.Fatalf("grant permissions %v: want exactly view, keyboard and mouse, clipboard", grant.Permissions)
	}
	status, body = e.start(e.tok, o.Key)
	wantError(t, status, body, http.StatusConflict, api.CodeSessionBusy)
	if l := e.list(e.tok); len(l) != 1 || l[0].State != wire.OnDemandStarted {
		t.Fatalf("list after the start: %+v", l)
	}

	// The end user denies consent: the agent says bye. The key is dead.
	gw, _, err := e.dial(sr.SignalURL, e.tok)
	if err != nil {
		t.Fatal(err)
	}
	gw.expect(wire.SigReady)
	w.send(&wire.Signal{Type: wire.SigBye, Session: sr.SessionID, Code: "consent_denied"})
	gw.expect(wire.SigBye, "consent_denied")
	expectOver(t, w)
	if _, err := e.srv.Store().Device(context.Background(), d.id); err == nil {
		t.Fatal("the ephemeral device outlived its session")
	}
	e.expectRefusedOver(d)
	if ev := e.audit(EvODEnded); len(ev) != 1 {
		t.Fatalf("ended audit: %+v", ev)
	}
	if ev := e.audit(EvODStarted); len(ev) != 1 {
		t.Fatalf("started audit: %+v", ev)
	}
	status, body = e.start(e.tok, o.Key)
	wantError(t, status, body, http.StatusGone, wire.CodeOnDemandOver)
	status, body = e.joinReq(o.Key, newKey(t))
	wantError(t, status, body, http.StatusGone, wire.CodeOnDemandOver)
	if l := e.list(e.tok); len(l) != 0 {
		t.Fatalf("a dead key is listed: %+v", l)
	}
}

func TestOnDemandGuestLeavingEndsKey(t *testing.T) {
	e := newODEnv(t)
	l := e.live()
	w, d := l.agent, l.dev
	l.guest.conn.Close(websocket.StatusNormalClosure, "technician closed the window")
	w.expect(wire.SigBye, "guest_left")
	expectOver(t, w)
	e.expectRefusedOver(d)
}

func TestOnDemandRejectKicksAgent(t *testing.T) {
	e := newODEnv(t)
	o := e.create(e.tok)
	d, _ := e.join(o.Key)
	w := e.online(d)
	defer w.conn.CloseNow()
	if status, body := e.do("POST", "/api/v1/ondemand/"+o.Key+"/reject", e.tok, nil); status != http.StatusNoContent {
		t.Fatalf("reject: %d %s", status, body)
	}
	expectOver(t, w)
	e.expectRefusedOver(d)
	if _, err := e.srv.Store().Device(context.Background(), d.id); err == nil {
		t.Fatal("the ephemeral device outlived the reject")
	}
	status, body := e.do("POST", "/api/v1/ondemand/"+o.Key+"/reject", e.tok, nil)
	wantError(t, status, body, http.StatusGone, wire.CodeOnDemandOver)
	status, body = e.do("POST", "/api/v1/ondemand/000000000/reject", e.tok, nil)
	wantError(t, status, body, http.StatusNotFound, api.CodeNotFound)
	if l := e.list(e.tok); len(l) != 0 {
		t.Fatalf("a rejected key is listed: %+v", l)
	}
}

func TestOnDemandExpiry(t *testing.T) {
	e := newODEnv(t)
	never := e.create(e.tok)
	queued := e.create(e.tok)
	late := e.create(e.tok)
	d, _ := e.join(queued.Key)
	w := e.online(d)
	defer w.conn.CloseNow()

	// 59 minutes in the queue: still there.
	e.clock.Advance(59 * time.Minute)
	e.srv.sweep()
	if l := e.list(e.tok); len(l) != 3 {
		t.Fatalf("after 59 min: %+v", l)
	}
	// One hour: the queue gives up (here lazily, on the listing) and the agent goes.
	e.clock.Advance(time.Minute)
	if l := e.list(e.tok); len(l) != 2 {
		t.Fatalf("after 1 h: %+v", l)
	}
	expectOver(t, w)
	e.expectRefusedOver(d)
	if ev := e.audit(EvODExpired); len(ev) != 1 || !strings.Contains(string(ev[0].Detail), "queue_expired") {
		t.Fatalf("expired audit: %+v", ev)
	}

	// A key joined 30 min before its 24 h are up leaves the queue then.
	e.clock.Advance(ODKeyTTL - time.Hour - 30*time.Minute)
	d2, jr := e.join(late.Key)
	if want := e.clock.Now().Add(30 * time.Minute).Unix(); jr.ExpiresAt != want {
		t.Fatalf("late join expires at %d, want %d", jr.ExpiresAt, want)
	}
	// 24 h after creation: the janitor expires the unused key too.
	e.clock.Advance(30 * time.Minute)
	e.srv.sweep()
	if ev := e.audit(EvODExpired); len(ev) != 3 {
		t.Fatalf("%d expired events after 24 h, want 3", len(ev))
	}
	e.expectRefusedOver(d2)
	status, body := e.joinReq(never.Key, newKey(t))
	if ae := wantError(t, status, body, http.StatusGone, wire.CodeOnDemandOver); !strings.Contains(ae.Error.Message, "expired") {
		t.Fatalf("message %q", ae.Error.Message)
	}
	// A week later the dead keys are gone (their numbers may be drawn again).
	e.clock.Advance(odRetention + time.Minute)
	e.srv.sweep()
	status, body = e.joinReq(never.Key, newKey(t))
	wantError(t, status, body, http.StatusForbidden, api.CodeInvalidKey)
}

func TestOnDemandWrongKeysThrottled(t *testing.T) {
	e := newODEnv(t, func(c *Config) { c.Limits.EnrollBurst = 3 })
	o := e.create(e.tok)
	for _, k := range []string{"123", "12345678x", "000000001"} {
		status, body := e.joinReq(k, newKey(t))
		wantError(t, status, body, http.StatusForbidden, api.CodeInvalidKey)
	}
	// The bucket is empty: even the right key waits (per address), and so does the page.
	status, body := e.joinReq(o.Key, newKey(t))
	wantError(t, status, body, http.StatusTooManyRequests, api.CodeThrottled)
	resp, err := e.ts.Client().Get(e.ts.URL + "/s/" + o.Key)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("page while throttled: %d", resp.StatusCode)
	}
	ev := e.audit(EvODKeyRejected)
	if len(ev) != 3 {
		t.Fatalf("%d key_rejected events, want 3", len(ev))
	}
	for _, x := range ev {
		if strings.Contains(string(x.Detail), "000000001") || x.RemoteAddr != "127.0.0.1" {
			t.Fatalf("audit %+v", x)
		}
	}
	e.clock.Advance(e.srv.cfg.Limits.EnrollEvery)
	e.join(o.Key)
	for p, want := range map[string]string{
		"/s/613220463":                     "/s/<key>/",
		"/s/613220463/tandem-ondemand-x":   "/s/<key>/tandem-ondemand-x",
		"/api/v1/ondemand/613220463/email": "/api/v1/ondemand/<key>/email",
		"/api/v1/ondemand/join":            "/api/v1/ondemand/join",
	} {
		if got := logPath(p); got != want {
			t.Errorf("logPath(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestOnDemandPage(t *testing.T) {
	dl := t.TempDir()
	files := map[string]string{
		"tandem-ondemand-windows-amd64.exe": "MZ windows build",
		"tandem-ondemand-linux-amd64":       "\x7fELF linux build",
		"tandem-ondemand-darwin-universal":  "mach-o build",
		"tandem-ondemand-freebsd-amd64":     "not offered",
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dl, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e := newODEnv(t, func(c *Config) { c.Downloads = dl })
	o := e.create(e.tok)
	get := func(path, ua string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", e.ts.URL+path, nil)
		req.Header.Set("User-Agent", ua)
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	const winUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"
	resp, page := get("/s/"+o.Key, winUA)
	if resp.StatusCode != 200 || !strings.Contains(page, "Acme") || !strings.Contains(page, "someone you trust") ||
		!strings.Contains(page, "I understand") || strings.Contains(page, "tandem-ondemand-windows") {
		t.Fatalf("page before I understand: %d %s", resp.StatusCode, page)
	}
	h := resp.Header
	if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") || h.Get("Cache-Control") != "no-store" ||
		h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("headers: %v", h)
	}
	_, page = get("/s/"+o.Key+"?understood=1", winUA)
	win, lin, mac := strings.Index(page, "windows-amd64.exe"), strings.Index(page, "linux-amd64"), strings.Index(page, "darwin-universal")
	if win < 0 || lin < 0 || mac < 0 || win > lin || win > mac || !strings.Contains(page, "Other platforms") || strings.Contains(page, "freebsd") {
		t.Fatalf("windows first, the others below: %s", page)
	}
	_, page = get("/s/"+o.Key+"?understood=1", "Mozilla/5.0 (X11; Linux x86_64)")
	if strings.Index(page, "linux-amd64") > strings.Index(page, "windows-amd64") {
		t.Fatalf("linux first for a Linux browser: %s", page)
	}

	// The binary is served under a name that carries the relay and the key.
	resp, body := get("/s/"+o.Key+"/tandem-ondemand-windows-amd64.exe", winUA)
	if resp.StatusCode != 200 || body != files["tandem-ondemand-windows-amd64.exe"] {
		t.Fatalf("download: %d %q", resp.StatusCode, body)
	}
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
	if err != nil {
		t.Fatal(err)
	}
	relay, key, ok := setupname.ParseOnDemand(params["filename"])
	if !ok || relay != e.ts.URL || key != o.Key || !strings.HasSuffix(params["filename"], ".exe") {
		t.Fatalf("served as %q: %q %q %v", params["filename"], relay, key, ok)
	}
	resp, _ = get("/s/"+o.Key+"/tandem-ondemand-linux-amd64", winUA)
	_, params, _ = mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
	if _, key, ok := setupname.ParseOnDemand(params["filename"]); !ok || key != o.Key || strings.Contains(params["filename"], ".") {
		t.Fatalf("linux binary served as %q", params["filename"])
	}
	for _, f := range []string{"tandem-ondemand-freebsd-amd64", "..%2ftandem.db", "tandem-ondemand-linux-arm64"} {
		if resp, _ := get("/s/"+o.Key+"/"+f, winUA); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: %d, want 404", f, resp.StatusCode)
		}
	}
	if ev := e.audit(EvODDownload); len(ev) != 2 || strings.Contains(string(ev[0].Detail), o.Key) {
		t.Fatalf("download audit: %+v", ev)
	}

	// Unknown keys are 404, dead ones 410 with the reason.
	if resp, _ := get("/s/999999999", winUA); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown key: %d", resp.StatusCode)
	}
	e.join(o.Key)
	if resp, page := get("/s/"+o.Key, winUA); resp.StatusCode != http.StatusGone || !strings.Contains(page, "already used") {
		t.Fatalf("used key: %d %s", resp.StatusCode, page)
	}
	e.do("POST", "/api/v1/ondemand/"+o.Key+"/reject", e.tok, nil)
	if resp, page := get("/s/"+o.Key, winUA); resp.StatusCode != http.StatusGone || !strings.Contains(page, "rejected") {
		t.Fatalf("rejected key: %d %s", resp.StatusCode, page)
	}
	if resp, _ := get("/s/"+o.Key+"/tandem-ondemand-windows-amd64.exe", winUA); resp.StatusCode != http.StatusGone {
		t.Fatalf("download of a rejected key: %d", resp.StatusCode)
	}
}

func TestOnDemandEmail(t *testing.T) {
	outDir := t.TempDir()
	var box *mail.Outbox
	e := newODEnv(t, func(c *Config) {
		var err error
		box, err = mail.NewOutbox(mail.OutboxConfig{Dir: outDir, Now: c.Clock}, c.Logger)
		if err != nil {
			t.Fatal(err)
		}
		c.Mail = box
		c.PublicURL = "https://relay.example.com"
	})
	o := e.create(e.tok)
	if o.Link != "https://relay.example.com/s/"+o.Key {
		t.Fatalf("link %q", o.Link)
	}
	status, body := e.do("POST", "/api/v1/ondemand/"+o.Key+"/email", e.tok, wire.OnDemandEmailRequest{Email: "not an address"})
	wantError(t, status, body, http.StatusBadRequest, api.CodeBadRequest)
	if status, body := e.do("POST", "/api/v1/ondemand/"+o.Key+"/email", e.tok, wire.OnDemandEmailRequest{Email: "ann@example.org"}); status != http.StatusNoContent {
		t.Fatalf("email: %d %s", status, body)
	}
	ents, err := os.ReadDir(outDir)
	if err != nil || len(ents) != 1 {
		t.Fatalf("outbox: %v %v", ents, err)
	}
	eml, err := os.ReadFile(filepath.Join(outDir, ents[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(eml), "ann@example.org") || !strings.Contains(string(eml), "https://relay.example.com/s/"+o.Key) {
		t.Fatalf("message:\n%s", eml)
	}
	if ev := e.audit(EvODEmailed); len(ev) != 1 || strings.Contains(string(ev[0].Detail), o.Key) {
		t.Fatalf("emailed audit: %+v", ev)
	}
	// Another technician may not email someone else's key.
	tech, techTok := e.member(e.acct, "tech@example.com", store.Member)
	e.assign(policy.RoleIDFullAccessOnDemand, e.userGroup("Help desk", tech.ID))
	status, body = e.do("POST", "/api/v1/ondemand/"+o.Key+"/email", techTok, wire.OnDemandEmailRequest{Email: "ann@example.org"})
	wantError(t, status, body, http.StatusForbidden, api.CodeForbidden)
	// Per-user rate limit.
	for i := 1; i < odMailBurst; i++ {
		if status, body := e.do("POST", "/api/v1/ondemand/"+o.Key+"/email", e.tok, wire.OnDemandEmailRequest{Email: "ann@example.org"}); status != http.StatusNoContent {
			t.Fatalf("email %d: %d %s", i, status, body)
		}
	}
	status, body = e.do("POST", "/api/v1/ondemand/"+o.Key+"/email", e.tok, wire.OnDemandEmailRequest{Email: "ann@example.org"})
	wantError(t, status, body, http.StatusTooManyRequests, api.CodeThrottled)
	if ents, _ := os.ReadDir(outDir); len(ents) != odMailBurst {
		t.Fatalf("%d messages in the outbox, want %d", len(ents), odMailBurst)
	}
	// Once used, the link is no use to anyone: no more emails.
	e.clock.Advance(odMailEvery)
	e.join(o.Key)
	status, body = e.do("POST", "/api/v1/ondemand/"+o.Key+"/email", e.tok, wire.OnDemandEmailRequest{Email: "ann@example.org"})
	wantError(t, status, body, http.StatusGone, wire.CodeOnDemandOver)
}

func TestDeviceGroupsListed(t *testing.T) {
	e := newSessionEnv(t)
	ctx := context.Background()
	acct := e.dev.resp.AccountID
	g, err := e.srv.Store().CreateGroup(ctx, store.Group{AccountID: acct, Name: "Servers", Kind: policy.GroupDevice, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Store().AddGroupMember(ctx, g.ID, e.dev.id); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/v1/devices", "/api/v1/accounts/" + acct + "/devices"} {
		status, body := e.do("GET", path, e.tok, nil)
		var ds []wire.Device
		decode(t, body, &ds)
		if status != 200 || len(ds) != 1 || !slices.Equal(ds[0].Groups, []string{"Servers"}) {
			t.Fatalf("%s: %d %+v", path, status, ds)
		}
	}
}

// A started OnDemand session whose technician never connects: the grant
// expires, and with it the key.
func TestOnDemandGrantExpiryEndsKey(t *testing.T) {
	e := newODEnv(t)
	o := e.create(e.tok)
	d, _ := e.join(o.Key)
	w := e.online(d)
	defer w.conn.CloseNow()
	if status, body := e.start(e.tok, o.Key); status != http.StatusCreated {
		t.Fatalf("start: %d %s", status, body)
	}
	w.expect(wire.SigGrant)
	e.clock.Advance(e.srv.cfg.GrantTTL)
	e.srv.sweep()
	w.expect(wire.SigBye, "expired")
	expectOver(t, w)
	e.expectRefusedOver(d)
}

// The whole OnDemand path on each store engine, and a restart against the
// same database ends a started session's key.
func TestOnDemandOnEachStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		e := newODEnv(t, withDB(be.Fresh(t)))
		rejected := e.create(e.tok)
		e.join(rejected.Key)
		if status, body := e.do("POST", "/api/v1/ondemand/"+rejected.Key+"/reject", e.tok, nil); status != http.StatusNoContent {
			t.Fatalf("reject: %d %s", status, body)
		}
		o := e.create(e.tok)
		d, _ := e.join(o.Key)
		w := e.online(d)
		defer w.conn.CloseNow()
		if status, body := e.start(e.tok, o.Key); status != http.StatusCreated {
			t.Fatalf("start: %d %s", status, body)
		}
		w.expect(wire.SigGrant)

		s2, err := New(Config{DataDir: t.TempDir(), DB: e.db, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		row, err := s2.Store().OnDemandByKeyHash(context.Background(), e.srv.odKeyHash(o.Key))
		if be.Name == "postgres" {
			// Another node, not a restart: the first one's session goes on.
			if err != nil || row.State != store.ODStarted {
				t.Fatalf("after a second node started: %+v %v", row, err)
			}
			return
		}
		if err != nil || row.State != store.ODEnded || row.EndReason != "relay_restart" {
			t.Fatalf("after a restart: %+v %v", row, err)
		}
		if _, err := s2.Store().Device(context.Background(), d.id); err == nil {
			t.Fatal("the ephemeral device survived the restart")
		}
	})
}

// Rejecting a started session ends it on both sides, then the key.
func TestOnDemandRejectStarted(t *testing.T) {
	e := newODEnv(t)
	l := e.live()
	w, gw := l.agent, l.guest
	if status, body := e.do("POST", "/api/v1/ondemand/"+l.key+"/reject", e.tok, nil); status != http.StatusNoContent {
		t.Fatalf("reject: %d %s", status, body)
	}
	gw.expect(wire.SigBye, wire.CodeOnDemandOver)
	w.expect(wire.SigBye, wire.CodeOnDemandOver)
	expectOver(t, w)
	ended := e.audit(EvSessionEnded)
	if len(ended) != 1 || !strings.Contains(string(ended[0].Detail), `"rejected"`) {
		t.Fatalf("session.ended: %+v", ended)
	}
	if ev := e.audit(EvODRejected); len(ev) != 1 {
		t.Fatalf("rejected: %+v", ev)
	}
	if ev := e.audit(EvODEnded); len(ev) != 0 {
		t.Fatalf("a rejected key also recorded as ended: %+v", ev)
	}
}

// TestOnDemandJoinAndRejectCommitWithEvents: an OnDemand key's join and
// its end are recorded only with their audit events: refused, the key
// stays as it was; then each succeeds with its event.
func TestOnDemandJoinAndRejectCommitWithEvents(t *testing.T) {
	e := newODEnv(t)
	db := e.sqliteDB()
	o := e.create(e.tok)
	state := func() string {
		od, err := e.srv.Store().OnDemandByKeyHash(context.Background(), e.srv.odKeyHash(o.Key))
		if err != nil {
			t.Fatal(err)
		}
		return od.State
	}
	failAudit(t, db, EvODJoined)
	if status, body := e.joinReq(o.Key, newKey(t)); status < 500 || state() != store.ODCreated {
		t.Fatalf("join with its event refused: %d %s, key %s", status, body, state())
	}
	failAudit(t, db, "")
	d, _ := e.join(o.Key)
	if state() != store.ODWaiting || len(e.audit(EvODJoined)) != 1 {
		t.Fatalf("join: key %s, %d events", state(), len(e.audit(EvODJoined)))
	}
	failAudit(t, db, EvODRejected)
	if status, body := e.do("POST", "/api/v1/ondemand/"+o.Key+"/reject", e.tok, nil); status < 400 || state() != store.ODWaiting {
		t.Fatalf("reject with its event refused: %d %s, key %s", status, body, state())
	}
	if _, err := e.srv.Store().Device(context.Background(), d.id); err != nil {
		t.Fatalf("the device went with the uncommitted reject: %v", err)
	}
	failAudit(t, db, "")
	if status, body := e.do("POST", "/api/v1/ondemand/"+o.Key+"/reject", e.tok, nil); status != http.StatusNoContent || state() != store.ODRejected {
		t.Fatalf("reject: %d %s, key %s", status, body, state())
	}
	if len(e.audit(EvODRejected)) != 1 {
		t.Fatal("no reject event")
	}
}

// TestOnDemandStartCommitsWithEvent: a start whose event the database
// refuses leaves the key waiting, creates no session and sends no grant;
// then the same start is granted with its events.
func TestOnDemandStartCommitsWithEvent(t *testing.T) {
	e := newODEnv(t)
	db := e.sqliteDB()
	o := e.create(e.tok)
	d, _ := e.join(o.Key)
	w := e.online(d)
	defer w.conn.CloseNow()
	state := func() string {
		od, err := e.srv.Store().OnDemandByKeyHash(context.Background(), e.srv.odKeyHash(o.Key))
		if err != nil {
			t.Fatal(err)
		}
		return od.State
	}
	failAudit(t, db, EvODStarted)
	if status, body := e.start(e.tok, o.Key); status < 500 || state() != store.ODWaiting {
		t.Fatalf("start with its event refused: %d %s, key %s", status, body, state())
	}
	failAudit(t, db, "")
	status, body := e.start(e.tok, o.Key)
	if status != http.StatusCreated || state() != store.ODStarted {
		t.Fatalf("start: %d %s, key %s", status, body, state())
	}
	var sr wire.SessionResponse
	decode(t, body, &sr)
	if g := w.expect(wire.SigGrant); g.Session != sr.SessionID { // the first grant the agent sees
		t.Fatalf("grant for %q, want %q", g.Session, sr.SessionID)
	}
	if len(e.audit(EvODStarted)) != 1 || len(e.audit(EvSessionRequested)) != 1 {
		t.Fatal("start not audited")
	}
}
