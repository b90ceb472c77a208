package capture_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/internal/xvfb"
)

func xdo(t *testing.T, s *xvfb.Server, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := s.Command(ctx, "xdotool", args...).CombinedOutput(); err != nil {
		t.Fatalf("xdotool %v: %v %s", args, err, out)
	}
}

// waitCursor polls Cursor until ok accepts the state (the X server applies
// xdotool's requests asynchronously to our connection).
func waitCursor(t *testing.T, cr capture.CursorReader, what string, ok func(capture.Cursor) bool) capture.Cursor {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		cur, err := cr.Cursor()
		if err != nil {
			t.Fatalf("Cursor: %v", err)
		}
		if ok(cur) {
			return cur
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: last cursor %+v", what, cur)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestCursorPositionAndShape(t *testing.T) {
	s := startXterm(t, 640, 480)
	c := open(t, s, false)
	cr, ok := c.(capture.CursorReader)
	if !ok {
		t.Fatal("the X11 capturer does not report the cursor")
	}
	xdo(t, s, "mousemove", "600", "450") // the root window, outside the xterm
	root := waitCursor(t, cr, "pointer at (600,450)", func(c capture.Cursor) bool { return c.X == 600 && c.Y == 450 })
	// The first call reports the shape even when nothing changed since.
	var rootShape *capture.CursorImage
	if root.Shape != nil {
		rootShape = root.Shape
	} else {
		t.Fatalf("first Cursor call carried no shape: %+v", root)
	}
	if err := validShape(rootShape); err != nil {
		t.Fatal(err)
	}
	again, err := cr.Cursor()
	if err != nil || again.Shape != nil || again.Serial != root.Serial {
		t.Fatalf("unchanged cursor: %+v, %v (want no shape, serial %d)", again, err, root.Serial)
	}

	// Over the xterm the pointer is xterm's I-beam: a new shape, sent once.
	xdo(t, s, "mousemove", "100", "100")
	beam := waitCursor(t, cr, "I-beam over the xterm", func(c capture.Cursor) bool { return c.Serial != root.Serial })
	if beam.X != 100 || beam.Y != 100 {
		t.Fatalf("pointer at (%d,%d), want (100,100)", beam.X, beam.Y)
	}
	if beam.Shape == nil {
		t.Fatalf("shape change without a shape: %+v", beam)
	}
	if err := validShape(beam.Shape); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(beam.Shape.Pix, rootShape.Pix) {
		t.Fatal("the I-beam has the root cursor's pixels")
	}
	xdo(t, s, "mousemove", "110", "120")
	moved := waitCursor(t, cr, "pointer at (110,120)", func(c capture.Cursor) bool { return c.X == 110 && c.Y == 120 })
	if moved.Shape != nil || moved.Serial != beam.Serial {
		t.Fatalf("a move within the xterm changed the shape: %+v", moved)
	}
}

func validShape(ci *capture.CursorImage) error {
	switch {
	case ci.Width <= 0 || ci.Height <= 0 || len(ci.Pix) != ci.Width*ci.Height*4:
		return errors.New("cursor image size and pixels disagree")
	case ci.HotX < 0 || ci.HotY < 0 || ci.HotX > ci.Width || ci.HotY > ci.Height: // X allows the edge (see wire.CursorShape.Validate)
		return errors.New("cursor hot spot outside the image")
	}
	opaque := 0
	for i := 3; i < len(ci.Pix); i += 4 {
		if ci.Pix[i] != 0 {
			opaque++
		}
	}
	if opaque == 0 {
		return errors.New("cursor image is fully transparent")
	}
	return nil
}

// X servers leave the pointer out of GetImage, so frames never carry it and
// the guest draws it from the cursor messages.
func TestGrabExcludesCursor(t *testing.T) {
	s := startXterm(t, 640, 480)
	c := open(t, s, false)
	area := image.Rect(560, 400, 620, 460)
	xdo(t, s, "mousemove", "10", "470")
	before, err := c.Grab(area, nil)
	if err != nil {
		t.Fatal(err)
	}
	xdo(t, s, "mousemove", "580", "420")
	cr := c.(capture.CursorReader)
	waitCursor(t, cr, "pointer at (580,420)", func(c capture.Cursor) bool { return c.X == 580 && c.Y == 420 })
	after, err := c.Grab(area, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before.Pix, after.Pix) {
		t.Fatal("the grab under the pointer changed: the cursor is baked into frames")
	}
}

// quiet takes damage until a wait of d passes without any (Damage then
// answers with the whole screen).
func quiet(t *testing.T, d capture.Damager, b image.Rectangle, wait time.Duration) {
	t.Helper()
	for i := 0; ; i++ {
		rs, err := d.Damage(context.Background(), wait)
		if err != nil {
			t.Fatalf("Damage: %v", err)
		}
		if len(rs) == 1 && rs[0] == b {
			return
		}
		if i > 200 {
			t.Fatalf("the screen never settled: %v", rs)
		}
	}
}

func TestDamageWakesOnTyping(t *testing.T) {
	s := startXterm(t, 640, 480)
	c := open(t, s, false)
	d, ok := c.(capture.Damager)
	if !ok {
		t.Fatal("the X11 capturer does not implement Damager")
	}
	b := c.Bounds()
	stableGrab(t, s, c)
	quiet(t, d, b, 300*time.Millisecond)
	frame, err := c.Grab(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Idle: nothing but the safety poll's whole screen, and the screen
	// is indeed unchanged.
	for range 3 {
		rs, err := d.Damage(context.Background(), 100*time.Millisecond)
		if err != nil || len(rs) != 1 || rs[0] != b {
			t.Fatalf("idle screen reported damage %v, %v", rs, err)
		}
	}

	win := waitXtermID(t, s)
	xdo(t, s, "windowfocus", "--sync", win)
	xdo(t, s, "type", "--delay", "0", "zzzz")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var damaged []image.Rectangle
	var full *capture.Frame
	// Typing wakes Damage long before its safety poll (an hour); the
	// partial grabs of the damage bring the old frame up to the screen.
	for len(damaged) == 0 || !bytes.Equal(frame.Pix, full.Pix) {
		rs, err := d.Damage(ctx, time.Hour)
		if err != nil {
			t.Fatalf("Damage after typing: %v", err)
		}
		for _, r := range rs {
			if !r.In(image.Rect(0, 0, 640, 480)) || r == b {
				t.Fatalf("damage %v is not a part of the screen", r)
			}
		}
		damaged = append(damaged, rs...)
		var whole bool
		if frame, whole, err = capture.GrabDamaged(c, b, rs, frame); err != nil {
			t.Fatal(err)
		}
		if whole {
			t.Fatalf("a few typed characters (%v) made a whole-screen grab", rs)
		}
		if full, err = c.Grab(b, nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(damaged) == 0 {
		t.Fatal("typing produced no damage")
	}
	// The xterm's text area is where the damage is: at the top left.
	for _, r := range damaged {
		if !r.Overlaps(image.Rect(0, 0, 500, 400)) {
			t.Fatalf("damage %v is outside the xterm", r)
		}
	}
}

func waitXtermID(t *testing.T, s *xvfb.Server) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id, err := s.WaitWindow(ctx, xtermTitle)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
