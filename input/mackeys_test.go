package input

import (
	"testing"
	"time"
)

func TestMacKeyCodes(t *testing.T) {
	// Every table code is either mapped or a known gap (keyAvailable
	// refuses those with ErrUnknownKey on the Mac).
	gaps := map[string]bool{"F21": true, "F22": true, "F23": true, "F24": true,
		"PrintScreen": true, "ScrollLock": true, "Pause": true,
		"MediaPlayPause": true, "MediaStop": true, "MediaTrackNext": true, "MediaTrackPrevious": true}
	for code := range keyTable {
		if _, ok := macKeyCodes[code]; ok == gaps[code] {
			t.Errorf("%s: mapped %v, listed as a gap %v", code, ok, gaps[code])
		}
	}
	// Nothing outside the table, and no two codes on one key but the
	// keypad's Clear, which Apple keyboards have where PCs have NumLock.
	seen := map[uint16]string{}
	for code, vk := range macKeyCodes {
		if _, ok := keyTable[code]; !ok {
			t.Errorf("%s is not a table code", code)
		}
		if vk > 0x7f {
			t.Errorf("%s: %#x is not a Mac key code", code, vk)
		}
		if other, dup := seen[vk]; dup && !(vk == 0x47 && (code == "NumLock" || other == "NumLock")) {
			t.Errorf("%s and %s share key code %#x", code, other, vk)
		}
		seen[vk] = code
	}
	// Spot checks against HIToolbox Events.h (kVK_*), where a slip would
	// press a neighbour.
	for code, want := range map[string]uint16{
		"KeyA": 0x00, "KeyZ": 0x06, "KeyQ": 0x0C, "KeyM": 0x2E, "Digit1": 0x12, "Digit0": 0x1D,
		"Digit5": 0x17, "Digit6": 0x16, "Enter": 0x24, "Escape": 0x35, "Backspace": 0x33,
		"Delete": 0x75, "Space": 0x31, "Tab": 0x30, "ShiftLeft": 0x38, "MetaLeft": 0x37,
		"AltLeft": 0x3A, "ControlLeft": 0x3B, "ArrowUp": 0x7E, "ArrowLeft": 0x7B,
		"F1": 0x7A, "F5": 0x60, "F12": 0x6F, "NumpadEnter": 0x4C, "Numpad7": 0x59, "Numpad8": 0x5B,
		"Backquote": 0x32, "IntlBackslash": 0x0A,
	} {
		if got := macKeyCodes[code]; got != want {
			t.Errorf("%s = %#x, want %#x", code, got, want)
		}
	}
}

func TestMacFlags(t *testing.T) {
	if f := macFlags(map[string]bool{}); f != 0 {
		t.Errorf("no modifiers: %#x", f)
	}
	got := macFlags(map[string]bool{"ShiftRight": true, "MetaLeft": true, "ControlLeft": true})
	if want := uint64(1<<17 | 1<<18 | 1<<20); got != want {
		t.Errorf("shift+ctrl+cmd = %#x, want %#x", got, want)
	}
	for code := range macFlag {
		if !isModifierCode(code) {
			t.Errorf("%s has a flag but is not a modifier", code)
		}
	}
}

func TestClickCounter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var c clickCounter
	steps := []struct {
		b     Button
		x, y  int
		after time.Duration
		want  int
	}{
		{ButtonLeft, 10, 10, 0, 1},
		{ButtonLeft, 11, 12, 200 * time.Millisecond, 2},  // double click
		{ButtonLeft, 11, 12, 300 * time.Millisecond, 3},  // triple
		{ButtonLeft, 11, 12, 600 * time.Millisecond, 1},  // too slow
		{ButtonRight, 11, 12, 100 * time.Millisecond, 1}, // another button
		{ButtonRight, 30, 12, 100 * time.Millisecond, 1}, // moved away
		{ButtonRight, 30, 12, -time.Second, 1},           // clock went back
	}
	now := t0
	for i, s := range steps {
		now = now.Add(s.after)
		if got := c.down(s.b, s.x, s.y, now); got != s.want {
			t.Fatalf("press %d: click %d, want %d", i, got, s.want)
		}
		if c.count() != s.want {
			t.Fatalf("press %d: release would carry %d", i, c.count())
		}
	}
}
