package remote

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/agent"
	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/installer"
	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

// A real relay and a real Host on 127.0.0.1, as e2e/env_test.go builds
// them, cut down to what the window's test needs.

const (
	ownerEmail    = relaytest.OwnerEmail
	ownerPassword = relaytest.OwnerPassword
)

func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("TANDEM_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// startRelay serves a relay (HTTP and TURN) on 127.0.0.1 with an owner
// account and returns it, its URL and a deployment package's enrollment key.
func startRelay(tb testing.TB, log *slog.Logger) (srv *relay.Server, url, key string) {
	tb.Helper()
	r := relaytest.Start(tb, log)
	return r.Srv, r.URL, r.Key
}

// memberWith adds a member to the owner's account whose only role gives
// perms on every device, as an administrator would in the Portal, and
// returns a client logged in as them.
func memberWith(tb testing.TB, srv *relay.Server, log *slog.Logger, url, email string, perms ...policy.Permission) *guest.Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := srv.Store()
	acct, err := st.AccountByName(ctx, "Acme IT")
	if err != nil {
		tb.Fatal(err)
	}
	hash, _ := secret.HashPassword(ownerPassword)
	u, err := st.CreateUser(ctx, store.User{Email: email, PasswordHash: hash})
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.AddMembership(ctx, store.Membership{AccountID: acct.ID, UserID: u.ID, Type: store.Member}); err != nil {
		tb.Fatal(err)
	}
	g, err := st.CreateGroup(ctx, store.Group{AccountID: acct.ID, Name: "group of " + email, Kind: policy.GroupUser, Active: true})
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.AddGroupMember(ctx, g.ID, u.ID); err != nil {
		tb.Fatal(err)
	}
	set, err := policy.NewSet(perms...)
	if err != nil {
		tb.Fatal(err)
	}
	role, err := st.CreateRole(ctx, store.RoleRow{AccountID: acct.ID, Role: policy.Role{Name: "role of " + email, Type: policy.RoleDevice,
		Enabled: true, Permissions: set, ClientType: policy.ClientAny}})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := st.CreateAssignment(ctx, acct.ID, policy.Assignment{Name: "assignment of " + email, Active: true, RoleID: role.Role.ID,
		UserGroupIDs: []string{g.ID}, DeviceGroupIDs: []string{policy.GroupIDEverything}}); err != nil {
		tb.Fatal(err)
	}
	c, err := guest.NewClient(url, "")
	if err != nil {
		tb.Fatal(err)
	}
	c.Logger = log
	if _, err := c.Login(ctx, email, ownerPassword); err != nil {
		tb.Fatal(err)
	}
	return c
}

// chatScreen is the host's chat window: it keeps what the technician wrote.
type chatScreen struct {
	mu    sync.Mutex
	shown []string
}

func (c *chatScreen) Show(m agent.ChatMessage) {
	c.mu.Lock()
	c.shown = append(c.shown, m.Text)
	c.mu.Unlock()
}

func (c *chatScreen) texts() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.shown...)
}

// recordedPower records power actions instead of carrying them out: a
// real one would lock or reboot the machine running the tests (the host's
// commands are tested in agent/).
type recordedPower struct {
	mu      sync.Mutex
	actions []agent.PowerAction
}

func (p *recordedPower) Do(_ context.Context, a agent.PowerAction) error {
	p.mu.Lock()
	p.actions = append(p.actions, a)
	p.mu.Unlock()
	return nil
}

func (p *recordedPower) list() []agent.PowerAction {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]agent.PowerAction(nil), p.actions...)
}

type testHost struct {
	h        *agent.Host
	hostname string
	files    string // the host's transfer root
	chat     *chatScreen
	power    *recordedPower
	done     chan struct{}
}

// startHost enrolls and runs a Host on display with real capture, input
// and clipboard, and waits until the relay lists it online.
func startHost(tb testing.TB, log *slog.Logger, url, key, display string) *testHost {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hostname := "console-test"
	inv := func() *wire.Inventory {
		return &wire.Inventory{Hostname: hostname, OS: "linux", Version: "test", User: "tester",
			Monitors: []wire.MonitorInfo{{Name: "screen", Width: 1, Height: 1, Primary: true}}}
	}
	cfg, err := installer.Enroll(ctx, nil, url, key, tb.TempDir(), inv())
	if err != nil {
		tb.Fatal(err)
	}
	relayKey, err := cfg.RelayKey()
	if err != nil {
		tb.Fatal(err)
	}
	th := &testHost{hostname: hostname, files: tb.TempDir(), chat: &chatScreen{}, power: &recordedPower{}, done: make(chan struct{})}
	local := agent.LocalOptions{Display: display, Logger: log}
	h, err := agent.New(agent.Options{
		RelayURL: cfg.RelayURL, DeviceID: cfg.DeviceID, Key: cfg.Key, RelayKey: relayKey, Version: "test",
		Logger: log, Transport: transport.Config{Loopback: true},
		Capture: func() (capture.Capturer, error) {
			return capture.Open(capture.Options{Display: display, Logger: log})
		},
		Input:     func() (input.Injector, error) { return input.Open(input.Options{Display: display, Logger: log}) },
		Clipboard: func() (agent.Clipboard, error) { return agent.OpenClipboard(local) },
		InputLock: func() (agent.InputLocker, error) { return agent.OpenInputLocker(local) },
		Power:     th.power,
		Inventory: inv,
		Files:     agent.FilesOptions{Root: th.files},
		ChatUI:    th.chat,
	})
	if err != nil {
		tb.Fatal(err)
	}
	th.h = h
	rctx, rcancel := context.WithCancel(context.Background())
	go func() { _ = h.Run(rctx); close(th.done) }()
	tb.Cleanup(func() {
		rcancel()
		_ = h.Close()
		select {
		case <-th.done:
		case <-time.After(15 * time.Second):
			tb.Error("host did not stop")
		}
	})
	relaytest.WaitOnline(tb, ctx, login(tb, log, url), cfg.DeviceID)
	return th
}

func login(tb testing.TB, log *slog.Logger, url string) *guest.Client {
	tb.Helper()
	c, err := guest.NewClient(url, "")
	if err != nil {
		tb.Fatal(err)
	}
	c.Logger = log
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Login(ctx, ownerEmail, ownerPassword); err != nil {
		tb.Fatal(err)
	}
	return c
}
