// Package e2e runs Tandem end to end on real parts: the relay in-process on
// 127.0.0.1 with its embedded TURN server, a Host capturing a private Xvfb
// and injecting input with robotgo, and a guest over real pion WebRTC.
package e2e

import (
	"context"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/internal/xvfb"
	"github.com/tandem-rc/tandem/transport/wire"
)

func TestRemoteControlSession(t *testing.T) { runSession(t, false) }

// The same session with ICE forced to relay candidates only: every byte
// goes through the embedded TURN server.
func TestRemoteControlSessionTURNOnly(t *testing.T) { runSession(t, true) }

func runSession(t *testing.T, relayOnly bool) {
	x := captest.StartX(t, 1024, 768)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	out := filepath.Join(t.TempDir(), "typed.txt")
	if _, err := x.Run(ctx, "xterm", "-geometry", "80x20+40+40", "-title", "tandem-e2e",
		"-e", "sh", "-c", `printf 'TANDEM E2E READY\n'; IFS= read -r line; printf '%s' "$line" > `+out+`; sleep 600`); err != nil {
		t.Fatal(err)
	}
	if _, err := x.WaitWindow(ctx, "tandem-e2e"); err != nil {
		t.Fatal(err)
	}

	env := newEnv(t)
	h := env.startHost(t, x.Display, relayOnly)
	s := env.connect(t, ctx, h.hostname, relayOnly)

	if relayOnly {
		local, remote, err := s.SelectedPair()
		if err != nil || local != "relay" {
			t.Fatalf("relay-only session uses a %q↔%q pair (%v), want relay", local, remote, err)
		}
	}

	// 1. The guest's screen equals the X framebuffer pixel for pixel.
	matchScreen(t, ctx, s, x)

	// 2. A mouse move lands where asked (seen by xdotool).
	movePointer(t, ctx, s, x, image.Point{100, 120}, image.Point{1023, 767}, image.Point{0, 0}, image.Point{512, 300})

	// 3. Typed text reaches the program in the xterm: the pointer over the
	// xterm gives it focus (no window manager), click, type, Enter.
	for _, m := range []wire.Message{&wire.MouseMove{X: 200, Y: 150}, &wire.MouseButton{Button: 1, Down: true},
		&wire.MouseButton{Button: 1, Down: false}, &wire.Text{Text: "Hello, Tandem 42"}, &wire.KeyTap{Code: "Enter"}} {
		if err := s.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	var typed string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		b, err := os.ReadFile(out)
		if err == nil && len(b) > 0 {
			typed = string(b)
			break
		}
	}
	if typed != "Hello, Tandem 42" {
		t.Fatalf("the xterm's program read %q", typed)
	}

	// 4. Ending the session from the guest ends it on the host.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.waitNoSessions(ctx); err != nil {
		t.Fatal(err)
	}
}

// matchScreen waits until the guest's snapshot of s equals x's framebuffer
// pixel for pixel (a program may still be drawing), at most 30 s.
func matchScreen(t *testing.T, ctx context.Context, s *guest.Session, x *xvfb.Server) {
	t.Helper()
	waitSnapshot(t, ctx, s, "the X framebuffer", func(img *image.RGBA, origin image.Point) error {
		ref, err := captest.GrabXWD(ctx, x)
		if err != nil {
			t.Fatal(err)
		}
		if origin != (image.Point{}) || img.Bounds().Dx() != x.Width || img.Bounds().Dy() != x.Height {
			t.Fatalf("snapshot %v at %v, want %dx%d at 0,0", img.Bounds(), origin, x.Width, x.Height)
		}
		return compareRGBA(img, ref)
	})
}

// waitSnapshot takes the guest's snapshots until check accepts one (a
// program may still be drawing), at most 30 s; ref names what check
// compares with.
func waitSnapshot(t *testing.T, ctx context.Context, s *guest.Session, ref string, check func(img *image.RGBA, origin image.Point) error) {
	t.Helper()
	var lastDiff error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		img, origin, err := s.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if lastDiff = check(img, origin); lastDiff == nil {
			return
		}
		n := s.Frames()
		wctx, wcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_ = s.WaitFrames(wctx, n)
		wcancel()
	}
	t.Fatalf("guest snapshot differs from %s: %v", ref, lastDiff)
}

// movePointer moves the pointer through s to each point and checks that
// x's pointer lands there.
func movePointer(t *testing.T, ctx context.Context, s *guest.Session, x *xvfb.Server, pts ...image.Point) {
	t.Helper()
	for _, p := range pts {
		if err := s.Send(&wire.MouseMove{X: int32(p.X), Y: int32(p.Y)}); err != nil {
			t.Fatal(err)
		}
		if err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if got := captest.Pointer(t, x); got != p {
			t.Fatalf("pointer at %v after moving to %v", got, p)
		}
	}
}

func compareRGBA(img *image.RGBA, ref *captest.XWD) error {
	if img.Bounds().Dx() != ref.Width || img.Bounds().Dy() != ref.Height {
		return fmt.Errorf("size %v vs %dx%d", img.Bounds().Size(), ref.Width, ref.Height)
	}
	diff, first := 0, image.Point{-1, -1}
	for y := 0; y < ref.Height; y++ {
		row := img.Pix[y*img.Stride:]
		for x := 0; x < ref.Width; x++ {
			r, g, b := ref.At(x, y)
			if row[4*x] != r || row[4*x+1] != g || row[4*x+2] != b {
				if diff == 0 {
					first = image.Pt(x, y)
				}
				diff++
			}
		}
	}
	if diff > 0 {
		return fmt.Errorf("%d pixels differ, first at %v", diff, first)
	}
	return nil
}

var _ = guest.ErrEnded
