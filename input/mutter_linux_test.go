//go:build linux

package input_test

import (
	"context"
	"image"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/internal/muttertest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	muttertest.CloseShared()
	os.Exit(code)
}

// gnomeMonitors: two virtual monitors side by side, so motion must pick
// the right monitor's stream.
var gnomeMonitors = []string{"1024x600", "800x600"}

func openGNOME(t *testing.T) (*muttertest.Mutter, input.Injector) {
	t.Helper()
	m := muttertest.Shared(t, gnomeMonitors...)
	in, err := input.Open(input.Options{SessionBus: m.Bus})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { in.Close() })
	return m, in
}

// TestGNOMETyping: text and keys sent through Mutter's RemoteDesktop API
// arrive in a terminal (foot) on headless GNOME.
func TestGNOMETyping(t *testing.T) {
	m, in := openGNOME(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The shell waits for a "go" line (keys typed before the terminal has
	// the keyboard focus are lost), then keeps the first other line.
	script := `stty -echo; while read l; do [ "$l" = go ] && break; done; touch "$HOME/armed"; ` +
		`while IFS= read -r l; do [ "$l" = go ] || break; done; ` +
		`printf '%s\n' "$l" > "$HOME/typed.tmp" && mv "$HOME/typed.tmp" "$HOME/typed"; exec cat`
	foot := m.Command(ctx, "foot", "sh", "-c", script)
	if err := foot.Start(); err != nil {
		t.Fatal(err)
	}
	step := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	armed := filepath.Join(m.Dir, "armed")
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(armed); err == nil {
			break
		}
		step(in.Type("go\n"))
		select {
		case <-ctx.Done():
			t.Fatalf("the terminal never took keys; mutter log: %s", m.Log("mutter"))
		case <-tick.C:
		}
	}
	// ASCII only: Mutter 43 types a keysym only when the session's keymap
	// has it (no keymap upload before Mutter 48's SetKeymap).
	step(in.Type("tandem "))
	step(in.Tap("KeyX", input.ModShift))
	step(in.Key("ShiftLeft", true))
	step(in.Tap("Digit2", 0))
	step(in.Key("ShiftLeft", false))
	step(in.Tap("Digit1", 0))
	step(in.Type("Ok {|}:\"~<>?!_+ `\\\n"))
	want := "tandem X@1Ok {|}:\"~<>?!_+ `\\\n"
	file := filepath.Join(m.Dir, "typed")
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
			t.Fatalf("nothing arrived in the terminal; mutter log: %s", m.Log("mutter"))
		case <-tick.C:
		}
	}
}

// TestGNOMEPointer: absolute motion on the second monitor, a click and
// the wheel land in a full-screen window there at the right place.
func TestGNOMEPointer(t *testing.T) {
	m, in := openGNOME(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w, err := m.ShowWindow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// Mutter puts a new full-screen window on the primary (first) monitor.
	if w.Width != 1024 || w.Height != 600 {
		t.Fatalf("window %dx%d, want the first monitor's 1024x600", w.Width, w.Height)
	}
	if err := w.Draw(ctx, blank(w.Width, w.Height)); err != nil {
		t.Fatal(err)
	}
	// Off the window (onto the second monitor), then onto it: the window
	// sees the pointer enter at the spot. The seat gains its pointer with
	// the first motion, and the window binds it only then: repeat until
	// the window hears it (bounded).
	for {
		if err := in.MoveMouse(1500, 300); err != nil {
			t.Fatal(err)
		}
		if err := in.MoveMouse(321, 123); err != nil {
			t.Fatal(err)
		}
		try, cancel := context.WithTimeout(ctx, time.Second)
		_, err := w.WaitPointer(try, func(p muttertest.Pointer) bool { return p.In && p.X == 321 && p.Y == 123 })
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal(err)
		}
	}
	if err := in.MouseButton(input.ButtonRight, true); err != nil {
		t.Fatal(err)
	}
	if err := in.MouseButton(input.ButtonRight, false); err != nil {
		t.Fatal(err)
	}
	if err := in.Wheel(0, 2); err != nil {
		t.Fatal(err)
	}
	const btnRight = 0x111
	if _, err := w.WaitPointer(ctx, func(p muttertest.Pointer) bool {
		return slices.Contains(p.Pressed, btnRight) && slices.Contains(p.Released, btnRight) && p.Wheel > 0
	}); err != nil {
		t.Fatal(err)
	}
}

func blank(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 0x80
	}
	return img
}
