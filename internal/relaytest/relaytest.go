// Package relaytest serves a real relay — HTTP API, signaling and the
// embedded TURN server — on 127.0.0.1 for other packages' tests, with an
// owner account and a deployment package, so the e2e, console and OnDemand
// tests start it one way.
package relaytest

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay"
	"github.com/tandem-rc/tandem/relay/mail"
	"github.com/tandem-rc/tandem/relay/store"
)

// The owner account every Start creates.
const (
	OwnerEmail    = "owner@example.com"
	OwnerPassword = "Correct-Horse-9"
	Account       = "Acme IT"
)

// Relay is a running relay.
type Relay struct {
	Srv *relay.Server
	URL string // http://127.0.0.1:PORT, also its public URL
	Key string // a deployment package's enrollment key
	DB  string // its --db value ("" the default SQLite file)

	stop func()
}

// Stop stops the relay (its HTTP server, TURN server and Server) before
// the test ends; the test's cleanup does it otherwise.
func (r *Relay) Stop() { r.stop() }

// Start serves a relay until the test ends; mods adjust its configuration
// (mail, clock, ...). Tests write to its store directly, so the access
// model is never cached (ModelTTL -1).
func Start(tb testing.TB, log *slog.Logger, mods ...func(*relay.Config)) *Relay {
	tb.Helper()
	return StartServed(tb, log, Serving{}, mods...)
}

// Serving is how StartServed serves the relay's HTTP side, as tandem-relay
// serve does with relay/frontdoor: nil fields take a plain http.Server on
// the bare listener.
type Serving struct {
	Listener func(net.Listener) net.Listener
	Server   func(http.Handler) *http.Server
	// NoTURN runs no embedded TURN server (serve --turn-listen off); the
	// configuration then names external ones, or none.
	NoTURN bool
}

// StartServed is Start with the HTTP side served as sv says.
func StartServed(tb testing.TB, log *slog.Logger, sv Serving, mods ...func(*relay.Config)) *Relay {
	tb.Helper()
	r := serve(tb, log, sv, mods...)
	ctx := context.Background()
	adm := r.Srv.Admin()
	if _, err := adm.Init(ctx, OwnerEmail, OwnerPassword, Account); err != nil {
		tb.Fatal(err)
	}
	_, key, err := adm.CreatePackage(ctx, relay.PackageSpec{Name: "test machines"})
	if err != nil {
		tb.Fatal(err)
	}
	r.Key = key
	return r
}

// Join starts another relay node on first's PostgreSQL database: same
// accounts, package and identity, its own data directory and ports.
func Join(tb testing.TB, log *slog.Logger, first *Relay, mods ...func(*relay.Config)) *Relay {
	tb.Helper()
	r := serve(tb, log, Serving{}, append(mods, func(c *relay.Config) { c.DB = first.DB })...)
	r.Key = first.Key
	return r
}

func serve(tb testing.TB, log *slog.Logger, sv Serving, mods ...func(*relay.Config)) *Relay {
	tb.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	var udp net.PacketConn
	var tcp net.Listener
	var port int
	if !sv.NoTURN {
		udp, tcp, port = ListenTURN(tb)
	}
	cfg := relay.Config{DataDir: tb.TempDir(), Logger: log, PublicURL: url, ModelTTL: -1,
		// Every peer of these tests is on 127.0.0.1, which the relay's TURN
		// refuses by default: allow it explicitly.
		TURN: relay.TURNConfig{Host: "127.0.0.1", Port: port, RelayIP: net.IPv4(127, 0, 0, 1),
			AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}
	if sv.NoTURN {
		cfg.TURN = relay.TURNConfig{}
	}
	for _, mod := range mods {
		mod(&cfg)
	}
	srv, err := relay.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	if sv.Server != nil {
		hs = sv.Server(srv.Handler())
	}
	served := ln
	if sv.Listener != nil {
		served = sv.Listener(ln)
	}
	go func() { _ = hs.Serve(served) }()
	ctx, cancel := context.WithCancel(context.Background())
	turnDone := make(chan struct{})
	if sv.NoTURN {
		close(turnDone)
	} else {
		go func() { _ = srv.ServeTURN(ctx, udp, tcp); close(turnDone) }()
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer scancel()
			_ = hs.Shutdown(sctx)
			_ = srv.Close()
			<-turnDone
		})
	}
	tb.Cleanup(stop)
	return &Relay{Srv: srv, URL: url, DB: cfg.DB, stop: stop}
}

// ListenTURN listens on a port free for both UDP and TCP on 127.0.0.1.
func ListenTURN(tb testing.TB) (net.PacketConn, net.Listener, int) {
	for i := 0; i < 50; i++ {
		udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		port := udp.LocalAddr().(*net.UDPAddr).Port
		tcp, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			return udp, tcp, port
		}
		udp.Close()
	}
	tb.Fatal("no port free for both UDP and TCP")
	return nil, nil, 0
}

// AllowOnDemand gives the owner account's administrators (the owner among
// them) an OnDemand role assignment, so the owner may create and start
// OnDemand sessions.
func AllowOnDemand(tb testing.TB, srv *relay.Server) {
	tb.Helper()
	ctx := context.Background()
	acct, err := srv.Store().AccountByName(ctx, Account)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := srv.Store().CreateAssignment(ctx, acct.ID, policy.Assignment{Name: "OnDemand admins", Active: true,
		RoleID: policy.RoleIDFullAccessOnDemand, UserGroupIDs: []string{store.AdministratorsGroupID(acct.ID)}}); err != nil {
		tb.Fatal(err)
	}
}

// WaitOnline waits until c's relay lists deviceID online.
func WaitOnline(tb testing.TB, ctx context.Context, c *guest.Client, deviceID string) {
	tb.Helper()
	for {
		ds, err := c.Devices(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		for _, d := range ds {
			if d.ID == deviceID && d.Online {
				return
			}
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("device %s never came online", deviceID)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Outbox is a Start option: the relay's mail goes to files in dir (the
// relay's outbox), where tests read the codes and links it sent.
func Outbox(tb testing.TB, dir string) func(*relay.Config) {
	return func(c *relay.Config) {
		ob, err := mail.NewOutbox(mail.OutboxConfig{Dir: dir}, c.Logger)
		if err != nil {
			tb.Fatal(err)
		}
		c.Mail = ob
	}
}
