//go:build linux

package input_test

import (
	"context"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/internal/swaytest"
)

// TestWlrootsTyping: keys and text typed through the virtual keyboard
// arrive in a terminal on a headless sway, including characters no US key
// carries and a modifier held across keys.
func TestWlrootsTyping(t *testing.T) {
	s := swaytest.StartT(t, swaytest.Output{Width: 1024, Height: 600})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Terminal(ctx, `stty -echo; head -n1 > "$HOME/typed.tmp" && mv "$HOME/typed.tmp" "$HOME/typed"; exec cat`); err != nil {
		t.Fatal(err)
	}
	in, err := input.Open(input.Options{Wayland: s.Socket, RuntimeDir: s.RuntimeDir})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	step := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	step(in.Type("tandem é☺ "))
	step(in.Tap("KeyX", input.ModShift))
	step(in.Key("ShiftLeft", true))
	step(in.Tap("Digit2", 0))
	step(in.Key("ShiftLeft", false))
	step(in.Tap("Digit1", 0))
	step(in.Type("Ok {|}:\"~<>?!_+ `\\\n")) // US keys only: no keymap change
	want := "tandem é☺ X@1Ok {|}:\"~<>?!_+ `\\\n"
	file := filepath.Join(s.Dir, "typed")
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		b, err := os.ReadFile(file)
		if err == nil {
			if string(b) != want {
				t.Fatalf("typed %q, want %q", b, want)
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("nothing arrived in the terminal; sway log: %s", s.Log())
		case <-tick.C:
		}
	}
}

// drawnAt is the box of pixels within 48 pixels of p that differ from a
// screenshot taken before the pointer appeared: where the compositor draws
// the pointer near p. (A headless wlroots output draws the pointer in
// software, into every screenshot.)
func drawnAt(t *testing.T, ctx context.Context, s *swaytest.Sway, bare *image.RGBA, p image.Point) image.Rectangle {
	t.Helper()
	with, err := s.Grim(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	var box image.Rectangle
	near := image.Rect(p.X-48, p.Y-48, p.X+48, p.Y+48).Intersect(with.Rect)
	for y := near.Min.Y; y < near.Max.Y; y++ {
		for x := near.Min.X; x < near.Max.X; x++ {
			i := with.PixOffset(x, y)
			if with.Pix[i] != bare.Pix[i] || with.Pix[i+1] != bare.Pix[i+1] || with.Pix[i+2] != bare.Pix[i+2] {
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return box
}

// TestWlrootsPointer: a move lands where asked, on either output, and
// buttons and the wheel are accepted.
func TestWlrootsPointer(t *testing.T) {
	s := swaytest.StartT(t, swaytest.Output{Width: 800, Height: 600}, swaytest.Output{Width: 640, Height: 480, X: 800})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	in, err := input.Open(input.Options{Wayland: s.SocketPath()})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	bare, err := s.Grim(ctx, false) // no pointer before the first motion
	if err != nil {
		t.Fatal(err)
	}
	var prev image.Point
	for i, p := range []image.Point{{300, 200}, {1000, 100}, {20, 500}} {
		if err := in.MoveMouse(p.X, p.Y); err != nil {
			t.Fatal(err)
		}
		// The move is in once the compositor drew it; poll, bounded.
		deadline := time.Now().Add(10 * time.Second)
		for {
			// The hot spot of the default arrow is its top-left corner;
			// where it was before, nothing is drawn any more.
			box := drawnAt(t, ctx, s, bare, p)
			left := i == 0 || drawnAt(t, ctx, s, bare, prev).Empty()
			if !box.Empty() && box.Min.In(image.Rect(p.X-4, p.Y-4, p.X+5, p.Y+5)) && left {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("moved to %v, pointer drawn at %v", p, box)
			}
		}
		prev = p
	}
	if err := in.MouseButton(input.ButtonLeft, true); err != nil {
		t.Fatal(err)
	}
	if err := in.MouseButton(input.ButtonLeft, false); err != nil {
		t.Fatal(err)
	}
	if err := in.Wheel(0, 3); err != nil {
		t.Fatal(err)
	}
	if err := in.Key("NoSuchKey", true); err == nil || !strings.Contains(err.Error(), "unknown key") {
		t.Fatalf("unknown key: %v", err)
	}
}
