package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/internal/xvfb"
	"github.com/tandem-rc/tandem/transport"
)

// TestWindowsClipboardUnderWine: the Windows Host's clipboard (user32's,
// which Wine shares with the X CLIPBOARD selection) both ways through a
// real relay: the technician's text is what an X program pastes and what
// the session reads back; when the session ends its text leaves the
// clipboard and the next session never sees it; what a local program
// copies reaches the next technician, pushed and on request.
func TestWindowsClipboardUnderWine(t *testing.T) {
	needXclip(t)
	p := winePrefix(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := newEnv(t)
	h := e.startWineHost(t, ctx, p)
	s := e.connect(t, ctx, h.deviceID, false)

	const offered = "technician's text: hunter2 ✓"
	if err := s.SetClipboard(ctx, offered); err != nil {
		t.Fatal(err)
	}
	waitPaste(t, ctx, p.X, func(got string, ok bool) bool { return ok && got == offered }, "the technician's text")
	if got, err := s.Clipboard(ctx); err != nil || got != offered {
		t.Fatalf("Clipboard = %q, %v", got, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The next session: the ended session's text has left the clipboard
	// (the host withdraws it once it has seen the end; its Get reads the
	// Windows clipboard itself).
	pushed := make(chan string, 256) // answers to Clipboard come here too
	s2, err := e.login(t).Connect(ctx, h.deviceID, guest.ConnectOptions{Transport: transport.Config{Loopback: true, Logger: e.log},
		OnClipboard: func(text string) {
			select {
			case pushed <- text:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for deadline := time.Now().Add(20 * time.Second); ; {
		got, err := s2.Clipboard(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got != offered {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the ended session's text stayed on the host's clipboard")
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	const copied = "copied on the Windows host"
	captest.Copy(t, p.X, copied)
	for {
		select {
		case got := <-pushed:
			if got == offered {
				t.Fatalf("the host pushed the ended session's text")
			}
			if got != copied {
				continue // the answer to Clipboard above
			}
		case <-ctx.Done():
			t.Fatal("the host's copy never reached the technician")
		}
		break
	}
	if got, err := s2.Clipboard(ctx); err != nil || got != copied {
		t.Fatalf("Clipboard = %q, %v", got, err)
	}
}

// waitPaste polls what an X program pastes until accept takes it (at most
// 20 s); what names the state waited for.
func waitPaste(t *testing.T, ctx context.Context, x *xvfb.Server, accept func(string, bool) bool, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		got, ok := captest.Paste(t, x)
		if accept(got, ok) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: X pastes %q (%v)", what, got, ok)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
