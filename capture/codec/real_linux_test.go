package codec_test

import (
	"context"
	"image"
	"image/png"
	"os"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/capture/codec"
	"github.com/tandem-rc/tandem/internal/captest"
)

// TestRoundTripRealCapture encodes and decodes frames captured from a real X
// server while a shell in an xterm is typed into and scrolls, and finally
// checks the decoded screen against an independent xwd dump.
func TestRoundTripRealCapture(t *testing.T) {
	s := captest.StartX(t, 800, 600)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := s.Run(context.Background(), "xterm", "-geometry", "80x30+20+20", "-T", "codec-test", "-e", "sh"); err != nil {
		t.Fatal(err)
	}
	win, err := s.WaitWindow(ctx, "codec-test")
	if err != nil {
		t.Fatal(err)
	}
	// Bare Xvfb has no window manager: give the xterm the keyboard focus
	// so XTEST key events reach it.
	if out, err := s.Command(ctx, "xdotool", "windowfocus", "--sync", win).CombinedOutput(); err != nil {
		t.Fatalf("xdotool windowfocus: %v: %s", err, out)
	}
	c, err := capture.Open(capture.Options{Display: s.Display})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	enc := codec.NewEncoder(codec.EncoderOptions{})
	defer enc.Close()
	dec := codec.NewDecoder(codec.Limits{})
	defer dec.Close()

	var f *capture.Frame
	deltas, bytes := 0, 0
	step := func(what string) {
		t.Helper()
		if f, err = c.Grab(c.Bounds(), f); err != nil {
			t.Fatal(err)
		}
		p, err := enc.Encode(f)
		if err != nil {
			t.Fatal(err)
		}
		if p == nil {
			return
		}
		if _, err := dec.Decode(p); err != nil {
			t.Fatalf("%s: Decode: %v", what, err)
		}
		if err := sameImage(dec.Image(), f); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !codec.IsKeyframe(p) {
			deltas++
			bytes += len(p)
		}
	}
	step("first frame")
	for _, k := range []string{"e", "c", "h", "o", "space", "t", "a", "n", "d", "e", "m", "Return"} {
		if out, err := s.Command(ctx, "xdotool", "key", k).CombinedOutput(); err != nil {
			t.Fatalf("xdotool key %s: %v: %s", k, err, out)
		}
		step("typing " + k)
	}
	if out, err := s.Command(ctx, "xdotool", "type", "--delay", "1", "seq 1 400\n").CombinedOutput(); err != nil {
		t.Fatalf("xdotool type: %v: %s", err, out)
	}
	for range 20 {
		step("scrolling")
	}
	t.Logf("%d deltas, %d bytes on average", deltas, bytes/max(deltas, 1))

	// Wait until the xterm (white, black text) shows seq's output...
	textArea := image.Rect(30, 30, 300, 380)
	for {
		inner, err := c.Grab(textArea, nil)
		if err != nil {
			t.Fatal(err)
		}
		n := captest.DarkPixels(inner)
		if n > 600 { // 3 lines of typing give ~200; 27 lines of numbers ~900
			t.Logf("%d text pixels in the xterm", n)
			break
		}
		select {
		case <-ctx.Done():
			if out := os.Getenv("CODEC_TEST_PNG"); out != "" {
				w, _ := os.Create(out)
				_ = png.Encode(w, inner.RGBA())
				w.Close()
			}
			t.Fatalf("the typed command's output never appeared (%d text pixels)", n)
		case <-time.After(20 * time.Millisecond):
		}
	}
	// ...then check that the decoded screen equals what xwd sees.
	f, ref, err := captest.StableGrab(ctx, s, c)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := enc.Encode(f); err != nil {
		t.Fatal(err)
	} else if p != nil {
		if _, err := dec.Decode(p); err != nil {
			t.Fatal(err)
		}
	}
	got := capture.FrameFromImage(dec.Image())
	if err := captest.CompareBGRX(got.Pix, got.Width, got.Height, got.Stride, ref, 0, 0); err != nil {
		t.Fatalf("decoded screen vs xwd: %v", err)
	}
}
