package e2e

import (
	"context"
	"errors"
	"image"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/internal/nginxtest"
	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/relay"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/relay/store/storetest"
)

// balancer is a TCP load balancer without sticky sessions: each new
// connection goes to the first backend that accepts it.
type balancer struct {
	ln       net.Listener
	mu       sync.Mutex
	backends []string // host:port
}

func newBalancer(t *testing.T, backends ...string) *balancer {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{ln: ln, backends: backends}
	t.Cleanup(func() { ln.Close() })
	go b.serve()
	return b
}

func (b *balancer) url() string { return "http://" + b.ln.Addr().String() }

func (b *balancer) set(backends ...string) {
	b.mu.Lock()
	b.backends = backends
	b.mu.Unlock()
}

func (b *balancer) serve() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			b.mu.Lock()
			backends := b.backends
			b.mu.Unlock()
			for _, be := range backends {
				up, err := net.DialTimeout("tcp4", be, 2*time.Second)
				if err != nil {
					continue
				}
				defer up.Close()
				go func() { io.Copy(up, c); up.Close() }()
				io.Copy(c, up)
				return
			}
		}()
	}
}

func hostPort(url string) string { return url[len("http://"):] }

// Two relay nodes on one PostgreSQL database behind a balancer: a Host on
// node A serves a technician on node B and the other way round, pixel for
// pixel; stopping B ends only B's session (A's lives on, its peers still
// talk); when A stops too, the Host comes back through the balancer to a
// third node, which accepts it (one identity).
func TestTwoRelayNodes(t *testing.T) {
	x := captest.StartX(t, 1024, 768)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	log := testLogger()
	a, b, onPG := twoNodes(t, log)
	if !a.Srv.PublicKey().Equal(b.Srv.PublicKey()) {
		t.Fatal("the nodes sign with different keys")
	}
	envA := &env{srv: a.Srv, url: a.URL, key: a.Key, log: log}
	envB := &env{srv: b.Srv, url: b.URL, key: b.Key, log: log}

	// Host 1 reaches the relay through the balancer (A first); host 2
	// goes to B directly.
	lb := newBalancer(t, hostPort(a.URL), hostPort(b.URL))
	envLB := &env{srv: a.Srv, url: lb.url(), key: a.Key, log: log}
	h1 := envLB.startHost(t, x.Display, false)
	h2 := envB.startHost(t, x.Display, false)

	// The technician on B reaches host 1 on A; the one on A host 2 on B.
	s1 := envB.connect(t, ctx, h1.hostname, false)
	matchScreen(t, ctx, s1, x)
	s2 := envA.connect(t, ctx, h2.hostname, false)
	matchScreen(t, ctx, s2, x)

	// Stop B: its own session (host 2's) ends in the database; host 1's,
	// whose guest signaled through B, lives on.
	b.Stop()
	st := a.Srv.Store()
	waitSession(t, ctx, st, s2.ID, true)
	if se, err := st.Session(ctx, s1.ID); err != nil || !se.EndedAt.IsZero() {
		t.Fatalf("A's session after B stopped: ended %v (%s), err %v", se.EndedAt, se.EndReason, err)
	}
	movePointer(t, ctx, s1, x, image.Point{300, 200}, image.Point{10, 700})
	matchScreen(t, ctx, s1, x)

	// A third node joins; A stops. Host 1 comes back through the
	// balancer to C, which accepts it: one identity.
	c := relaytest.Join(t, log, a, onPG)
	envC := &env{srv: c.Srv, url: c.URL, key: c.Key, log: log}
	lb.set(hostPort(a.URL), hostPort(c.URL))
	a.Stop()
	relaytest.WaitOnline(t, ctx, envC.login(t), h1.deviceID)
	s3 := envC.connect(t, ctx, h1.hostname, false)
	matchScreen(t, ctx, s3, x)
}

// twoNodes starts two relay nodes on a fresh PostgreSQL database; onPG
// configures more nodes for it.
func twoNodes(t *testing.T, log *slog.Logger) (a, b *relaytest.Relay, onPG func(*relay.Config)) {
	db := storetest.Postgres(t)
	onPG = func(c *relay.Config) { c.DB = db; c.NodeHeartbeat = 500 * time.Millisecond }
	a = relaytest.Start(t, log, onPG)
	return a, relaytest.Join(t, log, a, onPG), onPG
}

// waitSession waits until session id's row is ended (or open).
func waitSession(t *testing.T, ctx context.Context, st *store.Store, id string, ended bool) {
	t.Helper()
	for {
		se, err := st.Session(ctx, id)
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		if err == nil && se.EndedAt.IsZero() != ended {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("session %s: ended=%v never came", id, ended)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Two relay nodes behind nginx, round-robin with no sticky sessions (the
// README's setup): the Host and the technician reach the relay through
// nginx only, each request landing on either node, and every session is
// pixel-exact.
func TestRelayNodesBehindNginx(t *testing.T) {
	x := captest.StartX(t, 800, 600)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	log := testLogger()
	a, b, _ := twoNodes(t, log)
	px := nginxtest.StartNodes(t, []string{hostPort(a.URL), hostPort(b.URL)}, "127.0.0.1")
	e := &env{srv: a.Srv, url: px.URL, key: a.Key, log: log}
	h := e.startHost(t, x.Display, false)
	// Each session's request and signaling socket go through nginx to
	// whichever node comes next.
	for i := 0; i < 3; i++ {
		s := e.connect(t, ctx, h.hostname, false)
		matchScreen(t, ctx, s, x)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := h.waitNoSessions(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
