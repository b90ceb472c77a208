//go:build linux

package capture_test

import (
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/internal/swaytest"
)

// twoOutputs is a layout with a hole (below the second, smaller output).
var twoOutputs = []swaytest.Output{{Width: 1280, Height: 720}, {Width: 640, Height: 480, X: 1280}}

// colours: a terminal showing coloured text.
const colours = `printf '\033[41m red \033[42m green \033[44m blue \033[0m tandem\n'; exec cat`

// sameRGB compares colours only: grim leaves holes in the layout
// transparent, capture makes them opaque black.
func sameRGB(a, b *image.RGBA) (bool, image.Point) {
	if a.Rect.Size() != b.Rect.Size() {
		return false, image.Pt(-1, -1)
	}
	for y := 0; y < a.Rect.Dy(); y++ {
		for x := 0; x < a.Rect.Dx(); x++ {
			i, j := a.PixOffset(a.Rect.Min.X+x, a.Rect.Min.Y+y), b.PixOffset(b.Rect.Min.X+x, b.Rect.Min.Y+y)
			if a.Pix[i] != b.Pix[j] || a.Pix[i+1] != b.Pix[j+1] || a.Pix[i+2] != b.Pix[j+2] {
				return false, image.Pt(x, y)
			}
		}
	}
	return true, image.Point{}
}

// stillGrab grabs the whole screen between two identical grim screenshots
// (the screen may change between the two tools' grabs: a terminal redraw)
// and returns the grab and the screenshot.
func stillGrab(t *testing.T, ctx context.Context, s *swaytest.Sway, c capture.Capturer) (*capture.Frame, *image.RGBA) {
	t.Helper()
	for try := 0; try <= 10; try++ {
		before, err := s.Grim(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		f, err := c.Grab(c.Bounds(), nil)
		if err != nil {
			t.Fatal(err)
		}
		after, err := s.Grim(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := sameRGB(before, after); ok {
			return f, before
		}
	}
	t.Fatal("the screen never held still")
	return nil, nil
}

func TestWlrootsSnapshotEqualsGrim(t *testing.T) {
	s := swaytest.StartT(t, twoOutputs...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Terminal(ctx, colours); err != nil {
		t.Fatal(err)
	}

	c, err := capture.Open(capture.Options{Wayland: s.Socket, RuntimeDir: s.RuntimeDir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, want := c.Bounds(), image.Rect(0, 0, 1920, 720); got != want {
		t.Fatalf("bounds %v, want %v", got, want)
	}
	ms, err := c.Monitors()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Rect() != image.Rect(0, 0, 1280, 720) || ms[1].Rect() != image.Rect(1280, 0, 1920, 480) ||
		!ms[0].Primary || ms[1].Primary || ms[0].Name != "HEADLESS-1" || ms[1].Name != "HEADLESS-2" {
		t.Fatalf("monitors %+v", ms)
	}
	f, ref := stillGrab(t, ctx, s, c)
	if ok, at := sameRGB(f.RGBA(), ref); !ok {
		t.Fatalf("capture differs from grim at %v (of %v)", at, ref.Rect)
	}
	// A part spanning both outputs and the hole.
	part := image.Rect(1200, 400, 1400, 600)
	pf, err := c.Grab(part, nil)
	if err != nil {
		t.Fatal(err)
	}
	full := f.RGBA()
	if ok, at := sameRGB(pf.RGBA(), full.SubImage(part).(*image.RGBA)); !ok {
		t.Fatalf("partial grab differs at %v", at)
	}
	if _, err := c.Grab(image.Rect(5000, 5000, 5010, 5010), nil); !errors.Is(err, capture.ErrEmptyRect) {
		t.Fatalf("grab outside: %v", err)
	}
}

// TestWlrootsDamage: an idle screen reports nothing until the timeout; a
// change reports a rectangle covering it, and the grab that follows shows
// the change.
func TestWlrootsDamage(t *testing.T) {
	s := swaytest.StartT(t, swaytest.Output{Width: 1280, Height: 720})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := capture.Open(capture.Options{Wayland: s.SocketPath()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d, ok := c.(capture.Damager)
	if !ok {
		t.Fatal("wlroots capturer is no Damager")
	}
	// The first call reports the screen as it is (nothing was copied yet).
	if _, err := d.Damage(ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	first, err := c.Grab(c.Bounds(), nil)
	if err != nil {
		t.Fatal(err)
	}
	before := first.RGBA()
	if err := s.Terminal(ctx, colours); err != nil {
		t.Fatal(err)
	}
	var all image.Rectangle
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		rs, err := d.Damage(ctx, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			all = all.Union(r)
		}
		after, err := c.Grab(c.Bounds(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if ok, at := sameRGB(before, after.RGBA()); !ok {
			if !at.In(all) {
				t.Fatalf("pixel %v changed outside the damage %v", at, all)
			}
			return
		}
	}
	t.Fatal("no change seen after the terminal drew")
}

// cpuMillis is the CPU time (user+system) pid has used, from
// /proc/pid/stat (clock ticks of 10 ms on Linux).
func cpuMillis(b *testing.B, pid int) float64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) * 10
}

// BenchmarkGrab1080pWlroots grabs a whole 1920x1080 output of a headless
// sway (software rendering) showing a terminal, each grab a fresh
// screencopy: ms/frame is the wall time (a copy completes at the output's
// next frame), cpu-ms/frame this process's CPU, sway-cpu-ms/frame the
// compositor's.
func BenchmarkGrab1080pWlroots(b *testing.B) {
	s := swaytest.StartT(b, swaytest.Output{Width: 1920, Height: 1080})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Terminal(ctx, "ls -la /usr/bin | head -60; exec cat"); err != nil {
		b.Fatal(err)
	}
	c, err := capture.Open(capture.Options{Wayland: s.SocketPath()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r := image.Rect(0, 0, 1920, 1080)
	var f *capture.Frame
	var ru0, ru1 unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru0)
	sway0 := cpuMillis(b, s.Pid())
	b.SetBytes(1920 * 1080 * 4)
	for b.Loop() {
		if f, err = c.Grab(r, f); err != nil {
			b.Fatal(err)
		}
	}
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru1)
	n := float64(b.N)
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/n, "ms/frame")
	cpu := float64(ru1.Utime.Nano()-ru0.Utime.Nano()+ru1.Stime.Nano()-ru0.Stime.Nano()) / 1e6
	b.ReportMetric(cpu/n, "cpu-ms/frame")
	b.ReportMetric((cpuMillis(b, s.Pid())-sway0)/n, "sway-cpu-ms/frame")
}

// TestWlrootsScaledOutput: a HiDPI output (scale 2) is captured at its
// logical size, the layout input uses, each pixel the buffer's pixel at
// twice the coordinates (grim shows the buffer at full resolution).
func TestWlrootsScaledOutput(t *testing.T) {
	s := swaytest.StartT(t, swaytest.Output{Width: 1280, Height: 720, Scale: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Terminal(ctx, colours); err != nil {
		t.Fatal(err)
	}
	c, err := capture.Open(capture.Options{Wayland: s.SocketPath()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if b := c.Bounds(); b != image.Rect(0, 0, 640, 360) {
		t.Fatalf("bounds %v, want the logical 640x360", b)
	}
	f, before := stillGrab(t, ctx, s, c)
	if before.Rect.Dx() != 1280 {
		t.Fatalf("grim's image is %v", before.Rect)
	}
	img := f.RGBA()
	for y := 0; y < 360; y++ {
		for x := 0; x < 640; x++ {
			i, j := img.PixOffset(x, y), before.PixOffset(2*x, 2*y)
			if [3]uint8(img.Pix[i:i+3]) != [3]uint8(before.Pix[j:j+3]) {
				t.Fatalf("pixel %d,%d: %v, buffer pixel %d,%d: %v", x, y, img.Pix[i:i+3], 2*x, 2*y, before.Pix[j:j+3])
			}
		}
	}
}

// TestWlrootsRotatedOutput: an output turned 90 degrees (swaymsg output
// transform 90) and one flipped upside down are captured upright, as
// grim shows them, pixel for pixel.
func TestWlrootsRotatedOutput(t *testing.T) {
	s := swaytest.StartT(t, swaytest.Output{Width: 640, Height: 480, Transform: "90"},
		swaytest.Output{Width: 320, Height: 240, X: 480, Transform: "flipped-180"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Terminal(ctx, colours); err != nil {
		t.Fatal(err)
	}
	c, err := capture.Open(capture.Options{Wayland: s.SocketPath()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if b := c.Bounds(); b != image.Rect(0, 0, 800, 640) {
		t.Fatalf("bounds %v, want 480x640 upright beside 320x240", b)
	}
	f, shot := stillGrab(t, ctx, s, c)
	if ok, p := sameRGB(f.RGBA(), shot); !ok {
		t.Fatalf("the capture differs from grim at %v", p)
	}
}
