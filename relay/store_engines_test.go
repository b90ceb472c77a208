package relay

import (
	"context"
	"net/http"
	"testing"

	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/relay/store/storetest"
	"github.com/tandem-rc/tandem/transport/wire"
)

// The relay's whole path through the store — init, package, enrollment,
// login, session start, restart — on each engine, and a restart against
// the same database keeps everything but the open sessions.
func TestRelayOnEachStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		e := newSessionEnv(t, withDB(be.Fresh(t)))
		if got := e.srv.Store().Engine(); got != be.Name {
			t.Fatalf("engine %q, want %q", got, be.Name)
		}
		sr, _ := e.open()
		g := e.guest(sr)
		defer g.conn.CloseNow()
		e.agent.send(&wire.Signal{Type: wire.SigAnswer, Session: sr.SessionID, SDP: "v=0 answer"})
		g.expect(wire.SigAnswer)
		if se := e.session(sr.SessionID); se.StartedAt.IsZero() || !se.EndedAt.IsZero() {
			t.Fatalf("after the answer: %+v", se)
		}

		// A second relay on the same database keeps everything. On SQLite
		// it is a restart: the open session ends. On PostgreSQL it is
		// another node: the first one's session goes on.
		s2, err := New(Config{DataDir: t.TempDir(), DB: e.db, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		se, err := s2.Store().Session(ctx, sr.SessionID)
		if be.Name == "postgres" {
			if err != nil || !se.EndedAt.IsZero() {
				t.Fatalf("session after a second node started: %+v %v", se, err)
			}
		} else if err != nil || se.EndedAt.IsZero() || se.EndReason != "relay_restart" {
			t.Fatalf("session after restart: %+v %v", se, err)
		}
		d, err := s2.Store().Device(ctx, e.dev.id)
		if err != nil || d.State != store.Enrolled || d.Hostname != "pc-1" {
			t.Fatalf("device after restart: %+v %v", d, err)
		}
		if status, body := e.do("GET", "/api/v1/devices", e.tok, nil); status != http.StatusOK {
			t.Fatalf("devices: %d %s", status, body)
		}
		if n := len(e.audit("session.started")); n != 1 {
			t.Fatalf("%d session.started audit events, want 1", n)
		}
	})
}
