//go:build linux

package e2e

import (
	"context"
	"fmt"
	"image"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/agent"
	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/internal/swaytest"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestWaylandSession: a Host serving a headless sway (wlroots) through a
// real relay: both outputs are offered to the monitor picker; the guest's
// snapshot of each equals grim's screenshot pixel for pixel; a pointer
// move lands; text typed by the guest arrives in a terminal there.
func TestWaylandSession(t *testing.T) {
	sway := swaytest.StartT(t, swaytest.Output{Width: 800, Height: 600}, swaytest.Output{Width: 640, Height: 480, X: 800})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := sway.Terminal(ctx, `printf 'TANDEM WAYLAND READY\n'; stty -echo; IFS= read -r line; printf '%s' "$line" > "$HOME/typed"; exec cat`); err != nil {
		t.Fatal(err)
	}
	env := newEnv(t)
	h := waylandHost(t, env, sway)
	// The picker: the relay lists both outputs (the inventory the Host sent
	// on connecting).
	ms := deviceInfo(t, ctx, env, h.deviceID).Monitors
	if len(ms) != 2 || ms[1].Name != "HEADLESS-2" || ms[1].X != 800 || ms[1].Width != 640 || ms[1].Height != 480 || !ms[0].Primary {
		t.Fatalf("monitors offered: %+v", ms)
	}
	s := env.connect(t, ctx, h.hostname, false)

	matchGrim(t, ctx, s, sway, image.Rect(0, 0, 1440, 600))
	if err := s.Send(&wire.SelectMonitor{Index: 1}); err != nil {
		t.Fatal(err)
	}
	matchGrim(t, ctx, s, sway, image.Rect(800, 0, 1440, 480))
	if err := s.Send(&wire.SelectMonitor{Index: -1}); err != nil {
		t.Fatal(err)
	}

	// The terminal has the keyboard focus (the only window); the pointer
	// goes onto it first.
	for _, m := range []wire.Message{&wire.MouseMove{X: 200, Y: 150}, &wire.Text{Text: "Hello, Wayland ☺ 42"}, &wire.KeyTap{Code: "Enter"}} {
		if err := s.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := waitFileContent(ctx, filepath.Join(sway.Dir, "typed"), "Hello, Wayland ☺ 42"); got != "Hello, Wayland ☺ 42" {
		t.Fatalf("the terminal's program read %q", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.waitNoSessions(ctx); err != nil {
		t.Fatal(err)
	}
}

// waylandHost runs a Host on sway's compositor, its inventory listing
// sway's outputs.
func waylandHost(tb testing.TB, env *env, sway *swaytest.Sway) *hostHandle {
	d := &agent.Desktop{Wayland: sway.SocketPath(), RuntimeDir: sway.RuntimeDir}
	openCapture := func() (capture.Capturer, error) { return capture.Open(d.CaptureOptions(env.log)) }
	return env.startHost(tb, "", false, func(o *agent.Options) {
		o.Capture = openCapture
		o.Input = func() (input.Injector, error) { return input.Open(d.InputOptions(env.log)) }
		base, mons := o.Inventory, agent.DefaultInventory("e2e", openCapture)
		o.Inventory = func() *wire.Inventory {
			inv := base()
			inv.Monitors = mons().Monitors
			return inv
		}
	})
}

// BenchmarkInputToPixelsWayland is BenchmarkInputToPixels on a headless
// sway (1920×1080, software rendering) with foot echoing: wlroots capture
// and the virtual keyboard instead of X11.
func BenchmarkInputToPixelsWayland(b *testing.B) {
	sway := swaytest.StartT(b, swaytest.Output{Width: 1920, Height: 1080})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := sway.Terminal(ctx, "exec cat"); err != nil {
		b.Fatal(err)
	}
	env := newEnv(b)
	inputToPixels(b, ctx, env, waylandHost(b, env, sway), image.Pt(300, 200))
}

// matchGrim waits until the guest's snapshot equals region of grim's
// screenshot pixel for pixel, at most 30 s.
func matchGrim(t *testing.T, ctx context.Context, s *guest.Session, sway *swaytest.Sway, region image.Rectangle) {
	t.Helper()
	waitSnapshot(t, ctx, s, "grim's screenshot", func(img *image.RGBA, origin image.Point) error {
		ref, err := sway.Grim(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		return sameRegion(img, origin, ref, region)
	})
}

// sameRegion compares colours (grim leaves holes in the layout
// transparent; the stream shows them black).
func sameRegion(img *image.RGBA, origin image.Point, ref *image.RGBA, region image.Rectangle) error {
	if got := img.Bounds().Size(); origin != region.Min || got != region.Size() {
		return fmt.Errorf("snapshot %v at %v, want %v", got, origin, region)
	}
	for y := 0; y < region.Dy(); y++ {
		for x := 0; x < region.Dx(); x++ {
			i := img.PixOffset(img.Rect.Min.X+x, img.Rect.Min.Y+y)
			j := ref.PixOffset(region.Min.X+x, region.Min.Y+y)
			if img.Pix[i] != ref.Pix[j] || img.Pix[i+1] != ref.Pix[j+1] || img.Pix[i+2] != ref.Pix[j+2] {
				return fmt.Errorf("first difference at %v: %v vs %v", image.Pt(region.Min.X+x, region.Min.Y+y), img.Pix[i:i+3], ref.Pix[j:j+3])
			}
		}
	}
	return nil
}
