package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/internal/captest"
)

// TestHotkeyX11: xdotool's Ctrl+Shift+X fires the hotkey, with CapsLock
// or NumLock on too; other keys never reach it; Close releases the grab.
func TestHotkeyX11(t *testing.T) {
	needTool(t, "xdotool")
	x := captest.StartX(t, 320, 240)
	hk, err := OpenHotkey(x.Display)
	if err != nil {
		t.Fatal(err)
	}
	defer hk.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	key := func(keys ...string) {
		t.Helper()
		if out, err := x.Command(ctx, "xdotool", append([]string{"key"}, keys...)...).CombinedOutput(); err != nil {
			t.Fatalf("xdotool key %v: %v %s", keys, err, out)
		}
	}
	fired := func(what string) {
		t.Helper()
		select {
		case <-hk.C():
		case <-ctx.Done():
			t.Fatalf("%s: the hotkey did not fire", what)
		}
	}
	xh := hk.(*x11Hotkey)

	// Other keys first, then the hotkey: events arrive in order, so by the
	// time it fires every earlier press would have been counted.
	key("ctrl+shift+y", "x", "ctrl+x", "shift+x", "ctrl+alt+x")
	key("ctrl+shift+x")
	fired("ctrl+shift+x")
	if n := xh.presses.Load(); n != 1 {
		t.Fatalf("%d key presses reached the hotkey, want only the hotkey's", n)
	}
	for _, lock := range []string{"Caps_Lock", "Num_Lock"} {
		key(lock)
		key("ctrl+shift+x")
		fired("ctrl+shift+x with " + lock)
		key(lock)
	}

	// While grabbed nobody else gets it; after Close it is free again.
	if _, err := OpenHotkey(x.Display); err == nil || !strings.Contains(err.Error(), "already taken") {
		t.Fatalf("second grab: %v", err)
	}
	if err := hk.Close(); err != nil {
		t.Fatal(err)
	}
	hk2, err := OpenHotkey(x.Display)
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	hk2.Close()
}

func TestHotkeyNoDisplay(t *testing.T) {
	if _, err := OpenHotkey(":4999"); err == nil || !strings.Contains(err.Error(), ":4999") {
		t.Fatalf("err %v", err)
	}
}
