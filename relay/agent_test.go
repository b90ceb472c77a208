package relay

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/relay/store/storetest"
	"github.com/tandem-rc/tandem/transport/wire"
)

func TestAgentAuthAndInventory(t *testing.T) {
	e := newEnv(t)
	_, key := e.pkg(PackageSpec{Name: "P"})
	d := e.enroll(key, "pc-1")
	a := e.online(d)
	if !e.srv.hub.online(d.id) {
		t.Fatal("device not online after ready")
	}
	a.send(&wire.Signal{Type: wire.SigInventory, Inventory: &wire.Inventory{
		Hostname: "pc-renamed", OS: "linux", Arch: "amd64", Version: "0.1", User: "alice",
		Monitors: []wire.MonitorInfo{{Name: "HDMI-1", Width: 1920, Height: 1080, Primary: true}},
	}})
	a.sync()
	got, err := e.srv.Store().Device(context.Background(), d.id)
	if err != nil || got.Hostname != "pc-renamed" || got.LoggedInUser != "alice" || got.Arch != "amd64" || got.LastSeen.IsZero() {
		t.Fatalf("device after inventory: %+v %v", got, err)
	}
	tok := e.login(ownerEmail, ownerPass)
	_, body := e.do("GET", "/api/v1/devices", tok, nil)
	var ds []wire.Device
	decode(t, body, &ds)
	if len(ds) != 1 || !ds[0].Online || ds[0].Name != "pc-renamed" || ds[0].User != "alice" || len(ds[0].Monitors) != 1 ||
		ds[0].Monitors[0].Width != 1920 || ds[0].LastSeen == 0 {
		t.Fatalf("devices: %s", body)
	}
	if len(e.audit(EvAgentConnected)) != 1 {
		t.Fatal("connection not audited")
	}

	// Invalid inventory is refused with an error, and the connection stays.
	a.send(&wire.Signal{Type: wire.SigInventory, Inventory: &wire.Inventory{Hostname: string(make([]byte, 300))}})
	a.expect(wire.SigError, api.CodeBadRequest)
	a.sync()

	a.conn.Close(websocket.StatusNormalClosure, "")
	waitFor(t, func() bool { return !e.srv.hub.online(d.id) })
	_, body = e.do("GET", "/api/v1/devices", tok, nil)
	decode(t, body, &ds)
	if ds[0].Online {
		t.Fatal("device still online after its agent left")
	}
}

func TestAgentAuthRefused(t *testing.T) {
	e := newEnv(t)
	_, key := e.pkg(PackageSpec{Name: "P"})
	d := e.enroll(key, "pc-1")

	// Signed with another key.
	a, first := e.agentWith(d.id, newKey(t))
	if first.Type != wire.SigError || first.Code != api.CodeUnauthorized {
		t.Fatalf("wrong key: %s{%s}", first.Type, first.Code)
	}
	if st := a.expectClosed(); st != websocket.StatusPolicyViolation {
		t.Fatalf("close status %v", st)
	}
	// Unknown device (removed, or never enrolled): a code of its own, so a
	// Host that kept its package key may enroll again.
	_, first = e.agentWith("01234567-0000-7000-8000-000000000000", d.key)
	if first.Code != api.CodeUnknownDevice {
		t.Fatalf("unknown device: %s{%s}", first.Type, first.Code)
	}
	// A signature over another relay's key (replay elsewhere) is refused.
	w, _, err := e.dial("/api/v1/agent/connect", "")
	if err != nil {
		t.Fatal(err)
	}
	w.send(&wire.Signal{Type: wire.SigHello, Role: "agent", Version: wire.Version})
	ch := w.expect(wire.SigChallenge)
	nonce, _ := base64.StdEncoding.DecodeString(ch.Nonce)
	other := newKey(t).Public().(ed25519.PublicKey)
	sig := ed25519.Sign(d.key, wire.AuthMessage(nonce, d.id, other))
	w.send(&wire.Signal{Type: wire.SigAuth, DeviceID: d.id, Signature: base64.StdEncoding.EncodeToString(sig)})
	w.expect(wire.SigError, api.CodeUnauthorized)

	// Audited once per window, per reason, with the count.
	e.clock.Advance(agentFailWindow)
	e.srv.flushAgentFailures(false)
	evs := e.audit(EvAgentAuthFailed)
	if len(evs) != 2 {
		t.Fatalf("%d auth failure events, want 2 (bad signature, unknown device)", len(evs))
	}
	for _, ev := range evs {
		var det struct {
			Reason  string   `json:"reason"`
			Count   int      `json:"count"`
			Devices []string `json:"devices"`
		}
		json.Unmarshal(ev.Detail, &det)
		switch det.Reason {
		case "bad signature":
			if det.Count != 2 || ev.AccountID == "" || len(det.Devices) != 1 || det.Devices[0] != d.id {
				t.Fatalf("bad signatures: %+v %s", ev, ev.Detail)
			}
		case "unknown device":
			if det.Count != 1 || ev.AccountID != "" {
				t.Fatalf("unknown device: %+v %s", ev, ev.Detail)
			}
		default:
			t.Fatalf("unexpected %s", ev.Detail)
		}
	}
	if e.srv.hub.online(d.id) {
		t.Fatal("refused agent is online")
	}

	// Revoked.
	if _, _, err := e.admin.RevokeDevice(context.Background(), d.id); err != nil {
		t.Fatal(err)
	}
	_, first = e.agent(d)
	if first.Code != api.CodeRevoked {
		t.Fatalf("revoked device: %s{%s}", first.Type, first.Code)
	}
	e.clock.Advance(agentFailWindow)
	e.srv.flushAgentFailures(false)
	evs = e.audit(EvAgentAuthFailed)
	if len(evs) != 3 || !slices.ContainsFunc(evs, func(ev store.AuditEvent) bool {
		return strings.Contains(string(ev.Detail), `"reason":"revoked"`) && strings.Contains(string(ev.Detail), `"count":1`)
	}) {
		t.Fatalf("revoked device's attempt not audited: %+v", evs)
	}

	// Not an agent hello.
	w, _, err = e.dial("/api/v1/agent/connect", "")
	if err != nil {
		t.Fatal(err)
	}
	w.send(&wire.Signal{Type: wire.SigHello, Role: "guest", Version: wire.Version})
	w.expect(wire.SigError, api.CodeBadRequest)
	w.expectClosed()
}

func TestAgentReplaced(t *testing.T) {
	e := newEnv(t)
	_, key := e.pkg(PackageSpec{Name: "P"})
	d := e.enroll(key, "pc-1")
	old := e.online(d)
	cur := e.online(d)
	old.expect(wire.SigError, "replaced")
	if st := old.expectClosed(); st != closeReplaced {
		t.Fatalf("old connection closed with %v, want %v", st, closeReplaced)
	}
	if !e.srv.hub.online(d.id) {
		t.Fatal("device offline after its old connection closed")
	}
	// Grants go to the new connection.
	tok := e.login(ownerEmail, ownerPass)
	status, body := e.do("POST", "/api/v1/sessions", tok, wire.SessionRequest{Device: d.id})
	if status != 201 {
		t.Fatalf("session: %d %s", status, body)
	}
	cur.expect(wire.SigGrant)
}

// Storage-specific (another handle's write reaches the relay): runs on each
// store engine.
func TestAgentKickedWhenRevoked(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) { testAgentKickedWhenRevoked(t, be) })
}

func testAgentKickedWhenRevoked(t *testing.T, be storetest.Backend) {
	e := newEnv(t, withDB(be.Fresh(t)))
	_, key := e.pkg(PackageSpec{Name: "P"})
	d1 := e.enroll(key, "pc-1")
	d2 := e.enroll(key, "pc-2")
	a1, a2 := e.online(d1), e.online(d2)

	// Through the server's admin: at once.
	if _, _, err := e.admin.RevokeDevice(context.Background(), d1.id); err != nil {
		t.Fatal(err)
	}
	a1.expect(wire.SigRevoked)
	if st := a1.expectClosed(); st != closeRevoked {
		t.Fatalf("close status %v", st)
	}

	// By another process (the admin command): at the next sweep.
	other, err := OpenAdminDB(context.Background(), e.dir, e.db)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, _, err := other.RevokeDevice(context.Background(), d2.id); err != nil {
		t.Fatal(err)
	}
	e.srv.sweep()
	a2.expect(wire.SigRevoked)
	a2.expectClosed()
	st, _ := e.srv.Store().Device(context.Background(), d2.id)
	if st.State != store.Revoked {
		t.Fatalf("state %s", st.State)
	}
}

func TestAgentKeepAlive(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.PingInterval = 20 * time.Millisecond; c.PingTimeout = 200 * time.Millisecond })
	_, key := e.pkg(PackageSpec{Name: "P"})
	d := e.enroll(key, "pc-1")
	pings := make(chan struct{}, 100)
	var mute atomic.Bool
	w, _, err := e.dialWith("/api/v1/agent/connect", "", &websocket.DialOptions{
		OnPingReceived: func(context.Context, []byte) bool {
			pings <- struct{}{}
			return !mute.Load()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, first := e.handshake(w, d.id, d.key); first.Type != wire.SigReady {
		t.Fatalf("got %s", first.Type)
	}
	closed := make(chan error, 1)
	go func() {
		for {
			if _, _, err := w.conn.Read(context.Background()); err != nil {
				closed <- err
				return
			}
		}
	}()
	// Answered pings keep it online.
	for range 5 {
		select {
		case <-pings:
		case <-time.After(waitLimit):
			t.Fatal("no ping from the relay")
		}
	}
	if !e.srv.hub.online(d.id) {
		t.Fatal("offline although it answers pings")
	}
	// Unanswered, it is dropped.
	mute.Store(true)
	select {
	case <-closed:
	case <-time.After(waitLimit):
		t.Fatal("a silent agent was not dropped")
	}
	waitFor(t, func() bool { return !e.srv.hub.online(d.id) })
}

// An idle connected Host costs the relay two goroutines (its reader and its
// writer, which also pings), not three: at 50,000 Hosts each goroutine's
// stack is hundreds of MiB.
func TestAgentIdleGoroutines(t *testing.T) {
	// No ping during the count: its goroutine is short-lived by design.
	e := newEnv(t, func(c *Config) { c.PingInterval = time.Hour })
	_, key := e.pkg(PackageSpec{Name: "P"})
	const n = 16
	devs := make([]device, n)
	for i := range devs {
		devs[i] = e.enroll(key, fmt.Sprintf("pc-%d", i))
	}
	// A first agent warms up the client's and server's shared goroutines.
	warm, _ := e.agent(devs[0])
	go func() {
		for {
			if _, _, err := warm.conn.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	base := runtime.NumGoroutine()
	for _, d := range devs[1:] {
		w, first := e.agent(d)
		if first.Type != wire.SigReady {
			t.Fatalf("got %s", first.Type)
		}
		// The test's reader, as a Host has: one client goroutine each.
		go func() {
			for {
				if _, _, err := w.conn.Read(context.Background()); err != nil {
					return
				}
			}
		}()
	}
	// Per agent: the test's reader, the relay's reader and writer.
	want := base + 3*(n-1)
	deadline := time.Now().Add(waitLimit)
	for {
		got := runtime.NumGoroutine()
		if got <= want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines for %d idle agents beyond the first, want at most %d (%.2f per agent)",
				got-base, n-1, want-base, float64(got-base)/(n-1))
		}
		time.Sleep(10 * time.Millisecond) // polling a count, bounded by the deadline
	}
}
