package agent

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/installer"
	"github.com/tandem-rc/tandem/internal/apiclient"
	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestRealRelayProvesAndReEnrolls: against the real relay (in-process on
// loopback) a Host connects (the relay proves its key), and a device an
// administrator removed — while online, and while offline (the relay then
// refuses the identity in the handshake) — enrolls again with the package
// key it kept: a new device id, the same device key, the same pinned relay
// key.
func TestRealRelayProvesAndReEnrolls(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r := relaytest.Start(t, log)
	inv := func() *wire.Inventory { return &wire.Inventory{Hostname: "trusty", OS: "linux"} }
	dir := t.TempDir()
	first, err := installer.Enroll(ctx, nil, r.URL, r.Key, dir, inv())
	if err != nil {
		t.Fatal(err)
	}
	if pub, _ := first.RelayKey(); !pub.Equal(r.Srv.PublicKey()) {
		t.Fatal("enrollment pinned another key than the relay's")
	}
	gc, err := guest.NewClient(r.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	login, err := gc.Login(ctx, relaytest.OwnerEmail, relaytest.OwnerPassword)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := r.Srv.Store().AccountByName(ctx, relaytest.Account)
	if err != nil {
		t.Fatal(err)
	}
	remove := func(id string) {
		t.Helper()
		if err := apiclient.Call(ctx, nil, http.MethodDelete, r.URL, "/api/v1/accounts/"+acct.ID+"/devices/"+id, login.Token, nil, nil); err != nil {
			t.Fatalf("remove %s: %v", id, err)
		}
	}
	// run starts a Host from the identity files, as tandem-host run does.
	run := func() (stop func()) {
		c, err := installer.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		pinned, _ := c.RelayKey()
		h, err := New(Options{RelayURL: c.RelayURL, DeviceID: c.DeviceID, Key: c.Key, RelayKey: pinned, Logger: log,
			Inventory: inv, ReEnroll: installer.ReEnroller(dir, nil, inv),
			Capture: func() (capture.Capturer, error) { return newFakeCapturer(), nil },
			Input:   func() (input.Injector, error) { return &recordingInjector{}, nil }})
		if err != nil {
			t.Fatal(err)
		}
		hctx, hcancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- h.Run(hctx) }()
		return func() {
			hcancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	// reEnrolled waits until the files name a device other than old that
	// the relay lists online, and checks what was kept.
	reEnrolled := func(old string) string {
		t.Helper()
		for {
			c, err := installer.Load(dir)
			if err == nil && c.DeviceID != old {
				relaytest.WaitOnline(t, ctx, gc, c.DeviceID)
				if c.RelayPublicKey != first.RelayPublicKey || !c.Key.Equal(first.Key) || c.EnrollmentKey != r.Key {
					t.Fatalf("re-enrollment changed what it must keep: %+v", c)
				}
				return c.DeviceID
			}
			select {
			case <-ctx.Done():
				t.Fatalf("the removed device %s did not enroll again", old)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}

	stop := run()
	relaytest.WaitOnline(t, ctx, gc, first.DeviceID)
	remove(first.DeviceID) // online: the relay tells the connected agent
	second := reEnrolled(first.DeviceID)
	stop()

	remove(second) // offline: the next handshake says unknown_device
	stop = run()
	reEnrolled(second)
	stop()
}
