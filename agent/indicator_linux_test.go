package agent

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestIndicatorDisconnect: a live session shows the real zenity window on
// the X display; the local user's Disconnect (xdotool) ends the session at
// once, and the guest is told why. A session that ends otherwise takes its
// window away.
func TestIndicatorDisconnect(t *testing.T) {
	needTool(t, "zenity")
	x := captest.StartX(t, 800, 600)
	fh := startFeatureHost(t, func(o *Options) {
		o.Indicator = DesktopIndicator(slog.New(slog.DiscardHandler), staticDesktop(x.Display))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	fh.f.push(&wire.Signal{Type: wire.SigGrant, Session: "ind", Grant: fh.f.grant(t, "ind", fh.dev,
		[]string{"view_screen", "chat"}, time.Now().Add(time.Minute), fh.f.key)})
	peer, _ := guestPeer(t, fh.f, "ind")
	win, err := x.WaitWindow(ctx, "Tandem: Tess Tech <tech@example.com> is connected")
	if err != nil {
		t.Fatal(err)
	}
	if len(fh.h.Sessions()) != 1 {
		t.Fatal("no live session while the indicator shows")
	}
	if out, err := x.Command(ctx, "xdotool", "windowfocus", "--sync", win).CombinedOutput(); err != nil {
		t.Fatalf("focus: %v %s", err, out)
	}
	if out, err := x.Command(ctx, "xdotool", "key", "Return").CombinedOutput(); err != nil { // the Disconnect button
		t.Fatalf("xdotool: %v %s", err, out)
	}
	select {
	case <-peer.Done():
	case <-ctx.Done():
		t.Fatal("the session did not end on Disconnect")
	}
	for len(fh.h.Sessions()) != 0 || fh.events.count("session_ended") != 1 {
		select {
		case <-ctx.Done():
			t.Fatalf("sessions %v, %d ended events", fh.h.Sessions(), fh.events.count("session_ended"))
		case <-time.After(20 * time.Millisecond):
		}
	}
	if fh.events.count("local_disconnect") != 1 {
		t.Fatal("local disconnect not reported")
	}

	// Ended by the technician: the window goes away by itself.
	fh.f.push(&wire.Signal{Type: wire.SigGrant, Session: "ind2", Grant: fh.f.grant(t, "ind2", fh.dev,
		[]string{string(policy.ViewScreen)}, time.Now().Add(time.Minute), fh.f.key)})
	peer2, _ := guestPeer(t, fh.f, "ind2")
	if _, err := x.WaitWindow(ctx, "is connected"); err != nil {
		t.Fatal(err)
	}
	peer2.Close()
	for {
		out, _ := x.Command(ctx, "xdotool", "search", "--onlyvisible", "--name", "is connected").Output()
		if len(out) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the indicator stayed after the session ended")
		case <-time.After(50 * time.Millisecond):
		}
	}
	if fh.events.count("local_disconnect") != 1 {
		t.Fatal("a technician's disconnect was reported as the local user's")
	}
}
