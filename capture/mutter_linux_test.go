//go:build linux && cgo

package capture_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"log/slog"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/internal/mutter"
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

// waitFor grabs r until it equals want (bounded); poke, when set, runs
// after each miss (pointer motion that makes Mutter repaint).
func waitFor(t *testing.T, c capture.Capturer, r image.Rectangle, want *image.RGBA, poke ...func()) {
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
		for _, p := range poke {
			p()
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

// TestGNOMEDamageAndCursor: a change of a small part of the screen is
// reported as that part (Mutter's damage metadata), and the pointer
// travels apart from the frames (cursor metadata): moved by the remote
// desktop API, it is reported where it went, with its shape, and no frame
// shows it.
func TestGNOMEDamageAndCursor(t *testing.T) {
	m := muttertest.Shared(t, gnomeMonitors...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w, err := m.ShowWindow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	first := pattern(w.Width, w.Height, 1)
	if err := w.Draw(ctx, first); err != nil {
		t.Fatal(err)
	}
	// The pointer on the window's monitor: headless Mutter 43 sent only
	// empty buffers for a monitor while the pointer was on another one.
	sess, err := mutter.Acquire(ctx, m.Bus, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Release()
	st0, _ := sess.StreamAt(10, 10)
	if err := sess.Call("NotifyPointerMotionAbsolute", string(st0.Path), 10.0, 10.0); err != nil {
		t.Fatal(err)
	}
	// Opened on a still screen: the first frame must come all the same.
	_, c := openGNOME(t)
	screen := image.Rect(0, 0, w.Width, w.Height)
	// Headless Mutter 43 sometimes records no frame of a window shown
	// just before the stream began until something repaints: the pointer
	// moving on that monitor does.
	x := 10.0
	poke := func() {
		x = 30 - x
		_ = sess.Call("NotifyPointerMotionAbsolute", string(st0.Path), x, 10.0)
	}
	waitFor(t, c, screen, first, poke)

	// The pointer, moved onto the second monitor (the desktop's own
	// arrow: a Wayland window that sets no cursor hides it), is reported
	// there with its shape, and the frames of that monitor do not show it.
	second := image.Rect(1280, 0, 1280+640, 480)
	before, err := c.Grab(second, nil)
	if err != nil {
		t.Fatal(err)
	}
	cr := c.(capture.CursorReader)
	var cur capture.Cursor
	var shape *capture.CursorImage
	// Mutter sends the shape when the sprite changes: each round crosses
	// from the window (no sprite) to the desktop (the arrow).
	for i := 0; ; i++ {
		if i > 0 {
			st0, _ := sess.StreamAt(10, 10)
			if err := sess.Call("NotifyPointerMotionAbsolute", string(st0.Path), 10.0, 10.0); err != nil {
				t.Fatal(err)
			}
		}
		st, _ := sess.StreamAt(1400, 100)
		if err := sess.Call("NotifyPointerMotionAbsolute", string(st.Path), 120.0, 100.0); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			wait, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			_, _ = c.(capture.Damager).Damage(wait, 100*time.Millisecond)
			cancel()
			if cur, err = cr.Cursor(); err != nil {
				t.Fatal(err)
			}
			if cur.Shape != nil {
				shape = cur.Shape
			}
			if cur.X == 1400 && cur.Y == 100 && shape != nil {
				break
			}
		}
		if cur.X == 1400 && cur.Y == 100 && shape != nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the pointer is reported at %+v (shape %v), want (1400,100) with a shape", cur, shape != nil)
		}
	}
	if shape.Width <= 0 || shape.Height <= 0 || len(shape.Pix) != shape.Width*shape.Height*4 || shape.HotX < 0 || shape.HotX >= shape.Width {
		t.Fatalf("cursor shape %dx%d hot (%d,%d), %d bytes", shape.Width, shape.Height, shape.HotX, shape.HotY, len(shape.Pix))
	}
	opaque := 0
	for i := 3; i < len(shape.Pix); i += 4 {
		if shape.Pix[i] != 0 {
			opaque++
		}
	}
	if opaque == 0 {
		t.Fatal("the cursor shape is fully transparent")
	}
	after, err := c.Grab(second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after.Pix, before.Pix) {
		t.Fatal("the frame under the pointer changed: the pointer is drawn into frames")
	}

	// Back onto the first monitor (see above).
	if err := sess.Call("NotifyPointerMotionAbsolute", string(st0.Path), 10.0, 10.0); err != nil {
		t.Fatal(err)
	}

	// Damage: drain, change a 40×30 block, and the report covers it
	// (headless Mutter 43 reports the whole monitor) and the new pixels
	// arrive.
	d := c.(capture.Damager)
	for {
		wait, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		_, err := d.Damage(wait, time.Minute)
		cancel()
		if err != nil {
			break // quiet
		}
	}
	block := image.Rect(600, 400, 640, 430)
	changed := pattern(w.Width, w.Height, 1)
	for y := block.Min.Y; y < block.Max.Y; y++ {
		for x := block.Min.X; x < block.Max.X; x++ {
			i := changed.PixOffset(x, y)
			changed.Pix[i], changed.Pix[i+1], changed.Pix[i+2] = 255-changed.Pix[i], 255-changed.Pix[i+1], 255-changed.Pix[i+2]
		}
	}
	if err := w.Draw(ctx, changed, block); err != nil {
		t.Fatal(err)
	}
	var union image.Rectangle
	for !block.In(union) {
		wait, cancel := context.WithTimeout(ctx, time.Second)
		rects, err := d.Damage(wait, time.Minute)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			poke()
			continue
		}
		if err != nil {
			t.Fatalf("damage: %v (so far %v)", err, union)
		}
		for _, r := range rects {
			union = union.Union(r.Intersect(screen))
		}
	}
	t.Logf("damage %v for a change of %v", union, block)
	waitFor(t, c, screen, changed, poke)
}

// BenchmarkGNOMEFrame1080p: a window on a 1920x1080 headless Mutter
// changes a 64x64 block per frame; each op waits for the damage report and
// grabs the whole screen. ms/frame is the wall time from the client's
// commit to the grabbed frame (Mutter's software repaint, its copy into
// PipeWire's memfd, ours out of it); cpu-ms/frame this process's CPU,
// mutter-cpu-ms/frame the compositor's. grab-ms is Grab alone.
func BenchmarkGNOMEFrame1080p(b *testing.B) {
	m, err := muttertest.Start(context.Background(), "1920x1080")
	if errors.Is(err, muttertest.ErrUnavailable) {
		b.Skip(err)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w, err := m.ShowWindow(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	img := pattern(w.Width, w.Height, 0)
	if err := w.Draw(ctx, img); err != nil {
		b.Fatal(err)
	}
	c, err := capture.Open(capture.Options{SessionBus: m.Bus})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	d := c.(capture.Damager)
	r := image.Rect(0, 0, 1920, 1080)
	f, err := c.Grab(r, nil)
	if err != nil {
		b.Fatal(err)
	}
	var grab time.Duration
	var ru0, ru1 unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru0)
	mut0 := cpuMillis(b, m.Pid("mutter"))
	i := 0
	for b.Loop() {
		i++
		block := image.Rect(64*(i%30), 64*(i/30%16), 64*(i%30)+64, 64*(i/30%16)+64)
		for y := block.Min.Y; y < block.Max.Y; y++ {
			for x := block.Min.X; x < block.Max.X; x++ {
				img.Pix[img.PixOffset(x, y)] ^= 0xff
			}
		}
		if err := w.Draw(ctx, img, block); err != nil {
			b.Fatal(err)
		}
		if _, err := d.Damage(ctx, time.Minute); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if f, err = c.Grab(r, f); err != nil {
			b.Fatal(err)
		}
		grab += time.Since(t0)
	}
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru1)
	n := float64(b.N)
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/n, "ms/frame")
	b.ReportMetric(float64(grab.Microseconds())/1000/n, "grab-ms")
	cpu := float64(ru1.Utime.Nano()-ru0.Utime.Nano()+ru1.Stime.Nano()-ru0.Stime.Nano()) / 1e6
	b.ReportMetric(cpu/n, "cpu-ms/frame")
	b.ReportMetric((cpuMillis(b, m.Pid("mutter"))-mut0)/n, "mutter-cpu-ms/frame")
}
