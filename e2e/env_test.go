package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/agent"
	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/installer"
	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/relay"
	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

const (
	ownerEmail    = relaytest.OwnerEmail
	ownerPassword = relaytest.OwnerPassword
)

// env is a relay serving HTTP and TURN on 127.0.0.1, with an owner account
// and a deployment package.
type env struct {
	srv *relay.Server
	url string
	key string // enrollment key
	log *slog.Logger
}

func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("TANDEM_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	return newEnvWith(tb, func(*relay.Config) {})
}

// newEnvWith is newEnv with mod applied to the relay's configuration.
func newEnvWith(tb testing.TB, mod func(*relay.Config)) *env {
	tb.Helper()
	log := testLogger()
	r := relaytest.Start(tb, log, mod)
	return &env{srv: r.Srv, url: r.URL, key: r.Key, log: log}
}

type hostHandle struct {
	h        *agent.Host
	hostname string
	deviceID string
	done     chan struct{} // closed when Run returned, with runErr set
	runErr   error
	// stopsRevoked: the test expects Run to end with agent.ErrRevoked.
	stopsRevoked bool
}

// startHost enrolls a Host through the relay's HTTP API (as tandem-host
// enroll does) and runs it on display with real capture and input; opts
// adjust its options (file transfer root, ...).
func (e *env) startHost(tb testing.TB, display string, relayOnly bool, opts ...func(*agent.Options)) *hostHandle {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	suffix := make([]byte, 4)
	rand.Read(suffix)
	hostname := "e2e-" + hex.EncodeToString(suffix)
	inv := func() *wire.Inventory {
		return &wire.Inventory{Hostname: hostname, OS: "linux", Version: "e2e", User: "tester",
			Monitors: []wire.MonitorInfo{{Name: "screen", Width: 1, Height: 1, Primary: true}}}
	}
	dir := tb.TempDir()
	cfg, err := installer.Enroll(ctx, nil, e.url, e.key, dir, inv())
	if err != nil {
		tb.Fatal(err)
	}
	relayKey, err := cfg.RelayKey()
	if err != nil {
		tb.Fatal(err)
	}
	o := agent.Options{
		RelayURL: cfg.RelayURL, DeviceID: cfg.DeviceID, Key: cfg.Key, RelayKey: relayKey, Version: "e2e",
		Logger:    e.log,
		Transport: transport.Config{Loopback: true, RelayOnly: relayOnly},
		Capture: func() (capture.Capturer, error) {
			return capture.Open(capture.Options{Display: display, Logger: e.log})
		},
		Input:     func() (input.Injector, error) { return input.Open(input.Options{Display: display, Logger: e.log}) },
		Inventory: inv,
		// Never the developer's home: tests that transfer files set their own.
		Files: agent.FilesOptions{Root: tb.TempDir()},
		// As tandem-host does: a removed device enrolls again with the
		// package key its configuration kept.
		ReEnroll: installer.ReEnroller(dir, nil, inv),
	}
	for _, opt := range opts {
		opt(&o)
	}
	h, err := agent.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	hh := &hostHandle{h: h, hostname: hostname, deviceID: cfg.DeviceID, done: make(chan struct{})}
	go func() { hh.runErr = h.Run(rctx); close(hh.done) }()
	tb.Cleanup(func() {
		rcancel()
		_ = h.Close()
		select {
		case <-hh.done:
			if hh.runErr != nil && !(hh.stopsRevoked && errors.Is(hh.runErr, agent.ErrRevoked)) {
				tb.Errorf("host Run: %v", hh.runErr)
			}
		case <-time.After(15 * time.Second):
			tb.Error("host did not stop")
		}
	})
	// Wait until the relay lists it online.
	relaytest.WaitOnline(tb, ctx, e.login(tb), cfg.DeviceID)
	return hh
}

func (h *hostHandle) waitNoSessions(ctx context.Context) error {
	for len(h.h.Sessions()) > 0 {
		select {
		case <-ctx.Done():
			return errors.New("the host still runs the session")
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func (e *env) login(tb testing.TB) *guest.Client {
	tb.Helper()
	c, err := guest.NewClient(e.url, "")
	if err != nil {
		tb.Fatal(err)
	}
	c.Logger = e.log
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Login(ctx, ownerEmail, ownerPassword); err != nil {
		tb.Fatal(err)
	}
	return c
}

func (e *env) connect(tb testing.TB, ctx context.Context, device string, relayOnly bool) *guest.Session {
	return e.connectWith(tb, ctx, device, relayOnly, nil)
}

func (e *env) connectWith(tb testing.TB, ctx context.Context, device string, relayOnly bool, onFrame func(guest.FrameEvent)) *guest.Session {
	tb.Helper()
	return e.connectOver(tb, ctx, device, transport.Config{Loopback: true, RelayOnly: relayOnly, Logger: e.log}, onFrame)
}

// connectOver is connectWith on the guest's transport tc (e.g. a network
// without UDP).
func (e *env) connectOver(tb testing.TB, ctx context.Context, device string, tc transport.Config, onFrame func(guest.FrameEvent)) *guest.Session {
	tb.Helper()
	c := e.login(tb)
	cctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	s, err := c.Connect(cctx, device, guest.ConnectOptions{Transport: tc, OnFrame: onFrame})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}
