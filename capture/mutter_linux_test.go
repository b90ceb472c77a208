//go:build linux && cgo

package capture_test

import (
	"bytes"
	"context"
	"image"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/internal/muttertest"
)

// gnomeMonitors: two virtual monitors, side by side.
var gnomeMonitors = []string{"1280x720", "640x480"}

// pattern is a picture no two pixels of which are alike along a row or a
// column, so an offset, a swapped channel or a stride error shows.
func pattern(w, h, seed int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := img.PixOffset(x, y)
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = byte(x+seed), byte(y), byte(x>>8|y>>8<<3|seed<<6), 0xff
		}
	}
	return img
}

func TestMain(m *testing.M) {
	code := m.Run()
	muttertest.CloseShared()
	os.Exit(code)
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// openGNOME opens a GNOME capturer on the shared Mutter.
func openGNOME(t *testing.T) (*muttertest.Mutter, capture.Capturer) {
	t.Helper()
	m := muttertest.Shared(t, gnomeMonitors...)
	c, err := capture.Open(capture.Options{SessionBus: m.Bus, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return m, c
}

// waitFor grabs r until it equals want (bounded).
func waitFor(t *testing.T, c capture.Capturer, r image.Rectangle, want *image.RGBA) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var got *image.RGBA
	for time.Now().Before(deadline) {
		f, err := c.Grab(r, nil)
		if err != nil {
			t.Fatalf("grab: %v\nwireplumber: %s\npipewire: %s", err, muttertest.Shared(t).Log("wireplumber"), muttertest.Shared(t).Log("pipewire"))
		}
		if got = f.RGBA(); bytes.Equal(got.Pix, want.Pix) {
			return
		}
		if d, ok := c.(capture.Damager); ok {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, _ = d.Damage(ctx, time.Second)
			cancel()
		}
	}
	for i := 0; i < len(got.Pix); i += 4 {
		if !bytes.Equal(got.Pix[i:i+4], want.Pix[i:i+4]) {
			p := i / 4
			t.Fatalf("the capture never equalled the window: first difference at (%d,%d): got %v want %v",
				p%r.Dx(), p/r.Dx(), got.Pix[i:i+4], want.Pix[i:i+4])
		}
	}
}

// TestGNOMESnapshotEqualsWindow: what a full-screen window on Mutter
// draws arrives through the ScreenCast API and PipeWire pixel for pixel,
// and both monitors are offered.
func TestGNOMESnapshotEqualsWindow(t *testing.T) {
	m, c := openGNOME(t)
	ms, err := c.Monitors()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 {
		t.Fatalf("monitors = %+v, want the two virtual monitors", ms)
	}
	t.Logf("monitors: %+v", ms)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := m.ShowWindow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	want := pattern(w.Width, w.Height, 0)
	if err := w.Draw(ctx, want); err != nil {
		t.Fatal(err)
	}
	var mon capture.Monitor
	for _, mm := range ms {
		if mm.Width == w.Width && mm.Height == w.Height {
			mon = mm
		}
	}
	if mon.Width == 0 {
		t.Fatalf("the window (%dx%d) fills no monitor of %+v", w.Width, w.Height, ms)
	}
	waitFor(t, c, mon.Rect(), want)
}
