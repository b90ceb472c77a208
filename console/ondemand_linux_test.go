package console

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/tandem-rc/tandem/agent"
	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

// consent answers the OnDemand agent's prompt as the end user would,
// remembering what it was asked.
type consent struct {
	mu    sync.Mutex
	asked []agent.ConfirmRequest
}

func (c *consent) Ask(_ context.Context, r agent.ConfirmRequest) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked = append(c.asked, r)
	return true, nil
}

// TestStartOnDemandFromTheConsole: the whole OnDemand path from the
// technician's console against the real relay and the real OnDemand
// engine on Xvfb: Create session in the UI, the agent joins with the key,
// the queue shows it waiting, Start connects (the end user allows) and
// opens the session window on a live session; when it ends, the agent
// exits and the queue is empty.
func TestStartOnDemandFromTheConsole(t *testing.T) {
	log := testLogger()
	x := captest.StartX(t, 320, 240)
	url, _ := startRelay(t, log)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := newHarnessAPI(t, nil, newClientAPI)
	h.m.now = time.Now
	var opened []*guest.Session
	h.u.open = func(_ fyne.App, s *guest.Session, o remoteOptions) fyne.Window {
		opened = append(opened, s)
		h.opened = append(h.opened, o)
		return nil
	}
	h.u.relayEntry.SetText(url)
	h.u.userEntry.SetText(ownerEmail)
	h.u.passEntry.SetText(ownerPassword)
	test.Tap(h.u.loginBtn)
	if h.m.Phase() != PhaseMain {
		t.Fatalf("login: %q", h.u.loginErr.Text)
	}
	account := h.m.Account()
	h.rawCall(ctx, url)(http.MethodPost, "/api/v1/accounts/"+account+"/assignments", wire.Assignment{Name: "OnDemand admins",
		Active: true, RoleID: policy.RoleIDFullAccessOnDemand, UserGroups: []string{store.AdministratorsGroupID(account)}}, nil)

	test.Tap(h.u.sess.create)
	if h.u.sess.keyDialog == nil {
		t.Fatalf("no key dialog; shown: %q", h.overlayTexts())
	}
	key := strings.ReplaceAll(h.u.sess.keyDialog.key.Text, " ", "")
	h.closeDialogs()

	// The end user's side: the Host's engine with an identity for this run.
	id, err := agent.JoinOnDemand(ctx, nil, url, key, &wire.Inventory{Hostname: "jane-pc", OS: "linux", User: "jane"})
	if err != nil {
		t.Fatal(err)
	}
	user := &consent{}
	connected := make(chan struct{}, 1)
	ag, err := agent.New(agent.Options{RelayURL: url, DeviceID: id.DeviceID, Key: id.PrivateKey, RelayKey: id.RelayKey,
		OnDemand: true, Version: "test", Logger: log, Transport: transport.Config{Loopback: true}, Confirm: user,
		Inventory: func() *wire.Inventory { return &wire.Inventory{Hostname: "jane-pc", OS: "linux", User: "jane"} },
		Capture: func() (capture.Capturer, error) {
			return capture.Open(capture.Options{Display: x.Display, Logger: log})
		},
		Input: func() (input.Injector, error) { return input.Open(input.Options{Display: x.Display, Logger: log}) },
		OnEvent: func(ev agent.Event) {
			if ev.Kind == "connected" {
				select {
				case connected <- struct{}{}:
				default:
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ag.Run(ctx) }()
	t.Cleanup(func() { ag.Close() })
	select {
	case <-connected:
	case <-ctx.Done():
		t.Fatal("the OnDemand agent never connected")
	}

	h.u.refresh()
	if len(h.u.sess.rows) != 1 || h.u.sess.rows[0].State != wire.OnDemandWaiting {
		t.Fatalf("queue: %+v", h.u.sess.rows)
	}
	o := h.u.sess.newRow()
	h.u.sess.updateRow(0, o)
	test.Tap(h.u.sess.widgets[o].start)
	if len(opened) != 1 || opened[0] == nil {
		t.Fatalf("Start opened %d windows; shown: %q", len(opened), h.overlayTexts())
	}
	s := opened[0]
	defer s.Close()
	if err := s.WaitFrames(ctx, 0); err != nil {
		t.Fatal(err)
	}
	user.mu.Lock()
	asked := slices.Clone(user.asked)
	user.mu.Unlock()
	if len(asked) != 1 || !strings.Contains(asked[0].Technician, ownerEmail) ||
		!slices.Contains(asked[0].Permissions, "view_screen") || !slices.Contains(asked[0].Permissions, "keyboard_mouse") {
		t.Fatalf("the end user was asked %+v", asked)
	}
	if img, _, err := s.Snapshot(ctx); err != nil || img.Bounds().Dx() != 320 {
		t.Fatalf("snapshot %v, %v", img.Bounds(), err)
	}

	// The technician ends it: the agent's run is over, the key gone.
	s.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the agent's Run after its session: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the OnDemand agent did not exit after its session")
	}
	h.u.refresh()
	if len(h.u.sess.rows) != 0 {
		t.Fatalf("the queue after the session: %+v", h.u.sess.rows)
	}
}
