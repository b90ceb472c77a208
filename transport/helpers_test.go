package transport

import (
	"context"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pion/turn/v4"

	"github.com/tandem-rc/tandem/transport/wire"
)

// testLogger discards unless TANDEM_TEST_DEBUG is set (pion logs at debug).
// It writes to stderr, not t.Log: pion may still log after a test returns.
func testLogger() *slog.Logger {
	if os.Getenv("TANDEM_TEST_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testCtx bounds a whole test: a hang fails instead of stalling the suite.
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// link is one direction of an in-memory signaling path. Signals go through
// the wire JSON encoding, like through the relay, and are delivered in order
// on their own goroutine. With holdSDP > 0 an offer or answer is held back
// until that many candidates were delivered first, so the receiver sees
// candidates before its remote description (pion refuses those; Peer must
// buffer them).
type link struct {
	t       testing.TB
	q       chan []byte
	to      func() *Peer
	holdSDP int

	mu     sync.Mutex
	closed bool
	early  int // candidates delivered before the SDP
	errs   []error
}

func newLink(t testing.TB, holdSDP int, to func() *Peer) *link {
	l := &link{t: t, q: make(chan []byte, 1024), to: to, holdSDP: holdSDP}
	go l.run()
	return l
}

func (l *link) send(s *wire.Signal) error {
	b, err := wire.EncodeSignal(s)
	if err != nil {
		l.t.Errorf("EncodeSignal(%s): %v", s.Type, err)
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	select {
	case l.q <- b:
		return nil
	default:
		l.t.Error("signaling queue full")
		return context.DeadlineExceeded
	}
}

func (l *link) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		close(l.q)
	}
}

func (l *link) run() {
	var held []*wire.Signal
	sdpDone := false
	candidates := 0
	for b := range l.q {
		s, err := wire.DecodeSignal(b)
		if err != nil {
			l.t.Errorf("DecodeSignal: %v", err)
			continue
		}
		switch {
		case (s.Type == wire.SigOffer || s.Type == wire.SigAnswer) && candidates < l.holdSDP:
			held = append(held, s)
			continue
		case s.Type == wire.SigCandidate && !sdpDone:
			candidates++
			l.mu.Lock()
			l.early++
			l.mu.Unlock()
		}
		l.deliver(s)
		if s.Type == wire.SigOffer || s.Type == wire.SigAnswer {
			sdpDone = true
		}
		if len(held) > 0 && candidates >= l.holdSDP {
			for _, h := range held {
				l.deliver(h)
			}
			held, sdpDone = nil, true
		}
	}
}

func (l *link) deliver(s *wire.Signal) {
	if err := l.to().HandleSignal(s); err != nil {
		l.mu.Lock()
		l.errs = append(l.errs, err)
		l.mu.Unlock()
	}
}

func (l *link) stats() (early int, errs []error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.early, append([]error(nil), l.errs...)
}

type pair struct {
	guest, host *Peer
	g2h, h2g    *link
}

// newPair creates a guest and a host wired through links and starts the
// guest. Both are closed at the end of the test.
func newPair(t testing.TB, ctx context.Context, gcfg, hcfg Config, holdSDP int) *pair {
	t.Helper()
	p := &pair{}
	p.g2h = newLink(t, holdSDP, func() *Peer { return p.host })
	p.h2g = newLink(t, holdSDP, func() *Peer { return p.guest })
	var err error
	if p.host, err = NewPeer(hcfg, wire.RoleHost, p.h2g.send); err != nil {
		t.Fatal(err)
	}
	if p.guest, err = NewPeer(gcfg, wire.RoleGuest, p.g2h.send); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.guest.Close()
		p.host.Close()
		p.g2h.close()
		p.h2g.close()
	})
	if err := p.guest.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return p
}

func loopbackConfig() Config { return Config{Loopback: true, Logger: testLogger()} }

// waitConnected waits for both peers or fails the test with why.
func (p *pair) waitConnected(t testing.TB, ctx context.Context) {
	t.Helper()
	for _, peer := range []*Peer{p.guest, p.host} {
		select {
		case <-peer.Connected():
		case <-peer.Done():
			t.Fatalf("peer ended before connecting: %v", peer.Err())
		case <-ctx.Done():
			t.Fatalf("not connected: %v", ctx.Err())
		}
	}
}

// channels returns the open channels of one label on both sides.
func (p *pair) channels(t testing.TB, ctx context.Context, label string) (g, h *Channel) {
	t.Helper()
	g, err := p.guest.Channel(ctx, label)
	if err != nil {
		t.Fatalf("guest channel %q: %v", label, err)
	}
	h, err = p.host.Channel(ctx, label)
	if err != nil {
		t.Fatalf("host channel %q: %v", label, err)
	}
	return g, h
}

// turnServer runs pion/turn on 127.0.0.1 with TURN REST (shared secret)
// credentials. proto is "udp" or "tcp"; it returns the ICE server URL.
func turnServer(t testing.TB, proto, secret string) string {
	t.Helper()
	gen := &turn.RelayAddressGeneratorStatic{RelayAddress: net.ParseIP("127.0.0.1"), Address: "127.0.0.1"}
	cfg := turn.ServerConfig{
		Realm:       "tandem.test",
		AuthHandler: turn.LongTermTURNRESTAuthHandler(secret, nil),
	}
	if lf := testLogger(); lf != nil {
		cfg.LoggerFactory = pionLoggers{lf}
	} else {
		cfg.LoggerFactory = pionLoggers{slog.New(slog.DiscardHandler)}
	}
	var addr net.Addr
	switch proto {
	case "udp":
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = pc.LocalAddr()
		cfg.PacketConnConfigs = []turn.PacketConnConfig{{PacketConn: pc, RelayAddressGenerator: gen}}
	case "tcp":
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr()
		cfg.ListenerConfigs = []turn.ListenerConfig{{Listener: ln, RelayAddressGenerator: gen}}
	default:
		t.Fatalf("proto %q", proto)
	}
	s, err := turn.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return "turn:" + addr.String() + "?transport=" + proto
}

func turnCredentials(t testing.TB, secret, user string) (username, password string) {
	t.Helper()
	u, p, err := turn.GenerateLongTermTURNRESTCredentials(secret, user, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return u, p
}
