package relay

import (
	"context"
	"database/sql"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tandem-rc/tandem/relay/api"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"

	"github.com/tandem-rc/tandem/relay/store/storetest"
	"github.com/tandem-rc/tandem/transport/wire"
)

// joinEnv runs another relay node on e's PostgreSQL database, sharing its
// clock and accounts.
func joinEnv(t *testing.T, e *env, mod ...func(*Config)) *env {
	t.Helper()
	return serveEnv(t, Config{DataDir: t.TempDir(), DB: e.db, Logger: testLogger(t), Clock: e.clock.Now, Version: "test", ModelTTL: -1,
		TURN: TURNConfig{Host: "127.0.0.1", Port: 3478}}, e.clock, mod...)
}

// A session asked through node B for a Host on node A: the grant reaches
// the Host on A, the guest's signals on B reach it and come back, and the
// guest's bye ends the session; a second guest is refused on either node.
func TestSessionAcrossNodes(t *testing.T) {
	e := newSessionEnv(t, withDB(storetest.Postgres(t)))
	b := joinEnv(t, e.env)
	if !b.srv.PublicKey().Equal(e.srv.PublicKey()) || b.srv.turnSecret != e.srv.turnSecret {
		t.Fatal("node B has another identity")
	}
	// B lists the device online (it is on A).
	var ds []wire.Device
	status, body := b.do("GET", "/api/v1/devices", e.tok, nil)
	decode(t, body, &ds)
	if status != http.StatusOK || len(ds) != 1 || !ds[0].Online {
		t.Fatalf("devices through B: %d %s", status, body)
	}

	status, body = b.do("POST", "/api/v1/sessions", e.tok, wire.SessionRequest{Device: e.dev.id})
	if status != http.StatusCreated {
		t.Fatalf("session through B: %d %s", status, body)
	}
	var sr wire.SessionResponse
	decode(t, body, &sr)
	if g := e.agent.expect(wire.SigGrant); g.Session != sr.SessionID {
		t.Fatalf("grant for %q", g.Session)
	}
	// The Host answers before the guest is there: kept for it.
	e.agent.send(&wire.Signal{Type: wire.SigCandidate, Session: sr.SessionID, Candidate: []byte(`{"candidate":"early"}`)})
	e.agent.sync()

	g, resp, err := b.dial(sr.SignalURL, e.tok)
	if err != nil {
		t.Fatalf("signal socket on B: %v (%v)", err, resp)
	}
	defer g.conn.CloseNow()
	g.expect(wire.SigReady)
	if c := g.expect(wire.SigCandidate); string(c.Candidate) != `{"candidate":"early"}` {
		t.Fatalf("early candidate %s", c.Candidate)
	}
	// The same session's socket on A or B again: busy.
	for _, n := range []*env{e.env, b} {
		if _, resp, err := n.dial(sr.SignalURL, e.tok); err == nil || resp == nil || resp.StatusCode != http.StatusConflict {
			t.Fatalf("second guest socket: %v %v", err, resp)
		}
	}

	g.send(&wire.Signal{Type: wire.SigOffer, SDP: "v=0 offer"})
	if o := e.agent.expect(wire.SigOffer); o.SDP != "v=0 offer" || o.Session != sr.SessionID {
		t.Fatalf("offer %+v", o)
	}
	// A large answer goes through a table row, not a notification.
	big := "v=0\r\n" + strings.Repeat("a=candidate-line-padding\r\n", 800)
	e.agent.send(&wire.Signal{Type: wire.SigAnswer, Session: sr.SessionID, SDP: big})
	if a := g.expect(wire.SigAnswer); a.SDP != big {
		t.Fatalf("answer of %d bytes, want %d", len(a.SDP), len(big))
	}
	// A guest may not send an answer, on B as on A.
	g.send(&wire.Signal{Type: wire.SigAnswer, SDP: "v=0 forged"})
	g.expect(wire.SigError, api.CodeForbidden)

	g.send(&wire.Signal{Type: wire.SigBye})
	e.agent.expect(wire.SigBye)
	if st := g.expectClosed(); st != websocket.StatusNormalClosure {
		t.Fatalf("guest socket closed with %v", st)
	}
	if se := e.session(sr.SessionID); se.EndedAt.IsZero() || se.EndReason != "guest_bye" {
		t.Fatalf("session after the guest's bye: %+v", se)
	}
}

// A node whose heartbeat stops is dead: another node ends the sessions of
// the Hosts it held (audited) and lists them offline.
func TestDeadNodeSessionsEnded(t *testing.T) {
	db := storetest.Postgres(t)
	// Node A never beats again after it started (an hour-long heartbeat).
	e := newSessionEnv(t, withDB(db), func(c *Config) { c.NodeHeartbeat = time.Hour })
	sr, _ := e.open()
	b := joinEnv(t, e.env, func(c *Config) { c.NodeHeartbeat = 50 * time.Millisecond })
	if !b.srv.online(context.Background(), e.dev.id) {
		t.Fatal("B does not see the device online")
	}

	pg, err := sql.Open("pgx", db)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	// A goes silent past its expiry.
	if _, err := pg.Exec(`UPDATE cluster_nodes SET expires = now() - interval '1 second' WHERE id = $1`, e.srv.cl.ID()); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		se := e.session(sr.SessionID)
		if !se.EndedAt.IsZero() {
			if se.EndReason != "relay_node_lost" {
				t.Fatalf("ended with %q", se.EndReason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the dead node's session was never ended")
		}
	}
	if b.srv.online(context.Background(), e.dev.id) {
		t.Fatal("B still sees the dead node's device online")
	}
	var ended int
	for _, ev := range e.audit(EvSessionEnded) {
		if ev.ActorDeviceID == e.dev.id && strings.Contains(string(ev.Detail), sr.SessionID) {
			ended++
		}
	}
	if ended != 1 {
		t.Fatalf("%d session.ended events, want 1", ended)
	}
}

// TURN credentials node B handed out for a session node A holds stay good
// past the grant's expiry while the session is open, and die with it.
func TestTURNCredentialsAcrossNodes(t *testing.T) {
	e := newSessionEnv(t, withDB(storetest.Postgres(t)))
	b := joinEnv(t, e.env, func(c *Config) {
		c.TURN.RelayIP = net.IPv4(127, 0, 0, 1)
		c.TURN.AllowPeers = loopbackPeers
	})
	te := serveTURN(b)
	status, body := b.do("POST", "/api/v1/sessions", e.tok, wire.SessionRequest{Device: e.dev.id})
	if status != http.StatusCreated {
		t.Fatalf("session through B: %d %s", status, body)
	}
	var sr wire.SessionResponse
	decode(t, body, &sr)
	e.agent.expect(wire.SigGrant)
	g, _, err := b.dial(sr.SignalURL, e.tok)
	if err != nil {
		t.Fatal(err)
	}
	defer g.conn.CloseNow()
	g.expect(wire.SigReady)
	cred := sr.ICEServers[1]
	allocates := func() bool {
		_, _, err := te.allocate(udpConn(t), te.udpAddr, cred.Username, cred.Credential)
		return err == nil
	}
	e.clock.Advance(time.Hour)
	if !allocates() {
		t.Fatal("B refused the credentials of an open session A holds")
	}
	g.send(&wire.Signal{Type: wire.SigBye})
	e.agent.expect(wire.SigBye)
	g.expectClosed()
	if allocates() {
		t.Fatal("an ended session's credentials still allocate on B")
	}
}

// A change of access rules on one node drops the other nodes' cached
// access models at once (a notification), not after their TTL.
func TestModelsDroppedAcrossNodes(t *testing.T) {
	e := newEnv(t, withDB(storetest.Postgres(t)), func(c *Config) { c.ModelTTL = time.Hour })
	b := joinEnv(t, e, func(c *Config) { c.ModelTTL = time.Hour })
	ctx := context.Background()
	acct, err := e.srv.Store().AccountByName(ctx, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	cached := func() bool {
		c := b.srv.models
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.entries[acct.ID]
		return ok
	}
	if _, err := b.srv.models.model(ctx, acct.ID); err != nil || !cached() {
		t.Fatalf("B did not cache the model: %v", err)
	}
	if _, _, err := e.admin.CreatePackage(ctx, PackageSpec{Name: "Q"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !cached() })
}
