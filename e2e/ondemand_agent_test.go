package e2e

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/agent"
	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/internal/xvfb"
	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

// allowUI is the end user answering the consent prompt (the window's
// Controller in tandem-ondemand; its widgets are tested in console/ondemand).
type allowUI struct {
	mu    sync.Mutex
	asked []agent.ConfirmRequest
	allow bool
}

func (u *allowUI) Ask(ctx context.Context, r agent.ConfirmRequest) (bool, error) {
	u.mu.Lock()
	u.asked = append(u.asked, r)
	u.mu.Unlock()
	return u.allow, nil
}

// onDemandAgent joins with key as tandem-ondemand does and runs the Host's
// engine with OnDemand set on display; Run's result arrives on the channel.
func (e *env) onDemandAgent(t *testing.T, ctx context.Context, display, key string, ui agent.ConfirmUI) (*agent.Host, *agent.OnDemandIdentity, chan error) {
	t.Helper()
	connected := make(chan struct{}, 1)
	onEvent := func(ev agent.Event) {
		if ev.Kind == "connected" {
			select {
			case connected <- struct{}{}:
			default:
			}
		}
	}
	t.Helper()
	inv := &wire.Inventory{Hostname: "od-pc", OS: "linux", User: "ann"}
	id, err := agent.JoinOnDemand(ctx, nil, e.url, key, inv)
	if err != nil {
		t.Fatal(err)
	}
	h, err := agent.New(agent.Options{RelayURL: id.RelayURL, DeviceID: id.DeviceID, Key: id.PrivateKey, RelayKey: id.RelayKey,
		OnDemand: true, Confirm: ui, OnEvent: onEvent, Logger: e.log, Transport: transport.Config{Loopback: true},
		Capture: func() (capture.Capturer, error) {
			return capture.Open(capture.Options{Display: display, Logger: e.log})
		},
		Input: func() (input.Injector, error) { return input.Open(input.Options{Display: display, Logger: e.log}) },
		Clipboard: func() (agent.Clipboard, error) {
			return agent.OpenClipboard(agent.LocalOptions{Display: display, Logger: e.log})
		},
		Inventory: func() *wire.Inventory { return inv }})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() { h.Close() })
	select {
	case <-connected:
	case <-ctx.Done():
		t.Fatal("the OnDemand agent never connected")
	}
	return h, id, done
}

// onDemandKey is an end user's screen (an xterm on a private Xvfb), a relay
// that allows OnDemand, its owner logged in and a fresh session key.
func onDemandKey(t *testing.T, ctx context.Context) (*xvfb.Server, *env, *guest.Client, *wire.OnDemandSession) {
	t.Helper()
	x := captest.StartX(t, 320, 240)
	if _, err := x.Run(ctx, "xterm", "-geometry", "30x8+10+10", "-title", "od-e2e", "-e", "sh", "-c", "echo END USER SCREEN; exec sleep 600"); err != nil {
		t.Fatal(err)
	}
	if _, err := x.WaitWindow(ctx, "od-e2e"); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	relaytest.AllowOnDemand(t, e.srv)
	c := e.login(t)
	od, err := c.CreateOnDemand(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	return x, e, c, od
}

func odState(t *testing.T, ctx context.Context, c *guest.Client, key, want string) {
	t.Helper()
	for {
		l, err := c.OnDemandSessions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := "gone"
		for _, o := range l {
			if o.Key == key {
				got = o.State
			}
		}
		if got == want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("key %s: state %s, want %s", key, got, want)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func runEnds(t *testing.T, ctx context.Context, done chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		t.Fatal("the OnDemand agent did not exit")
		return nil
	}
}

// TestOnDemandAgentSession: the real relay, agent and guest: a key typed
// with spaces joins the queue, the technician starts it, the end user is
// asked (view screen, keyboard & mouse, clipboard) and allows, the screen
// streams; Disconnect (the button, Ctrl+Shift+X) ends the session, the
// guest is told, the agent exits and the key is dead.
func TestOnDemandAgentSession(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	x, e, c, od := onDemandKey(t, ctx)
	typed := od.Key[:3] + " " + od.Key[3:6] + "-" + od.Key[6:]
	ui := &allowUI{allow: true}
	h, id, done := e.onDemandAgent(t, ctx, x.Display, typed, ui)
	if id.Technician == "" {
		t.Fatal("the join does not name the technician")
	}
	odState(t, ctx, c, od.Key, wire.OnDemandWaiting)
	// The queue names the waiting machine and what the technician will get.
	q, err := c.OnDemandSessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 || q[0].Hostname != "od-pc" || q[0].User != "ann" || q[0].JoinedAt == 0 ||
		!slices.Contains(q[0].Permissions, "view_screen") || !slices.Contains(q[0].Permissions, "keyboard_mouse") {
		t.Fatalf("queue %+v", q)
	}

	s, err := c.Connect(ctx, "", guest.ConnectOptions{OnDemand: od.Key, Transport: transport.Config{Loopback: true, Logger: e.log}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.WaitFrames(ctx, 0); err != nil {
		t.Fatal(err)
	}
	// The technician sees the end user's screen, pixel for pixel.
	var diff error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		ref, err := captest.GrabXWD(ctx, x)
		if err != nil {
			t.Fatal(err)
		}
		img, _, err := s.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff = compareRGBA(img, ref); diff == nil {
			break
		}
		wctx, wcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_ = s.WaitFrames(wctx, s.Frames())
		wcancel()
	}
	if diff != nil {
		t.Fatalf("the technician's snapshot differs from the end user's screen: %v", diff)
	}
	ui.mu.Lock()
	asked := ui.asked
	ui.mu.Unlock()
	if len(asked) != 1 || !strings.Contains(strings.Join(asked[0].Permissions, " "), "keyboard_mouse") {
		t.Fatalf("consent asked %+v", asked)
	}

	h.Disconnect()
	select {
	case <-s.Done():
	case <-ctx.Done():
		t.Fatal("the guest's session did not end")
	}
	if err := runEnds(t, ctx, done); err != nil {
		t.Fatalf("agent Run = %v, want nil after its session", err)
	}
	odState(t, ctx, c, od.Key, "gone")
	if _, err := agent.JoinOnDemand(ctx, nil, e.url, od.Key, nil); !errors.Is(err, agent.ErrOnDemandOver) {
		t.Fatalf("joining with a used key: %v", err)
	}
	if _, err := agent.JoinOnDemand(ctx, nil, e.url, "000000001", nil); !errors.Is(err, agent.ErrOnDemandKey) {
		t.Fatalf("joining with an unknown key: %v", err)
	}
}

// TestOnDemandAgentRejected: the technician rejects the waiting agent: it
// exits with ErrOnDemandOver.
func TestOnDemandAgentRejected(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := newEnv(t)
	relaytest.AllowOnDemand(t, e.srv)
	c := e.login(t)
	od, err := c.CreateOnDemand(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	_, _, done := e.onDemandAgent(t, ctx, "", od.Key, &allowUI{})
	odState(t, ctx, c, od.Key, wire.OnDemandWaiting)
	if err := c.RejectOnDemand(ctx, od.Key); err != nil {
		t.Fatal(err)
	}
	if err := runEnds(t, ctx, done); !errors.Is(err, agent.ErrOnDemandOver) || !strings.Contains(err.Error(), "rejected") {
		t.Fatalf("agent Run = %v, want ErrOnDemandOver (rejected)", err)
	}
}
