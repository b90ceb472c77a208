package remote

import (
	"testing"

	"fyne.io/fyne/v2"

	"github.com/tandem-rc/tandem/input"
)

func TestX11ScancodesAreValidAndDistinct(t *testing.T) {
	seen := map[string]int{}
	for sc, code := range x11Codes {
		if !input.ValidCode(code) {
			t.Errorf("keycode %d maps to %q, which the host's key table does not know", sc, code)
		}
		if other, dup := seen[code]; dup {
			t.Errorf("keycodes %d and %d both map to %q", other, sc, code)
		}
		seen[code] = sc
	}
	// Every name-mapped code is reachable by its scancode too, so a real
	// keyboard never depends on the layout-dependent name.
	for name, code := range nameCodes {
		if _, ok := seen[code]; !ok {
			t.Errorf("%q (fyne %q) has no X keycode", code, name)
		}
	}
}

// The scancode wins over the name: the keypad's "1" is Numpad1, and on an
// AZERTY layout the key named "A" sits where US has Q.
func TestScancodeBeatsName(t *testing.T) {
	for _, c := range []struct {
		ev   fyne.KeyEvent
		want string
	}{
		{fyne.KeyEvent{Name: fyne.Key1, Physical: fyne.HardwareKey{ScanCode: 87}}, "Numpad1"},
		{fyne.KeyEvent{Name: fyne.Key1, Physical: fyne.HardwareKey{ScanCode: 10}}, "Digit1"},
		{fyne.KeyEvent{Name: fyne.KeyA, Physical: fyne.HardwareKey{ScanCode: 24}}, "KeyQ"},
		{fyne.KeyEvent{Name: fyne.KeyMinus, Physical: fyne.HardwareKey{ScanCode: 82}}, "NumpadSubtract"},
		{fyne.KeyEvent{Name: fyne.KeyUnknown, Physical: fyne.HardwareKey{ScanCode: 94}}, "IntlBackslash"},
		{fyne.KeyEvent{Name: fyne.KeyUnknown, Physical: fyne.HardwareKey{ScanCode: 191}}, "F13"},
		{fyne.KeyEvent{Name: fyne.KeyReturn, Physical: fyne.HardwareKey{ScanCode: 0}}, "Enter"},
		{fyne.KeyEvent{Name: fyne.KeyUnknown, Physical: fyne.HardwareKey{ScanCode: 255}}, ""},
	} {
		if got := keyCode(&c.ev); got != c.want {
			t.Errorf("keyCode(%q, scancode %d) = %q, want %q", c.ev.Name, c.ev.Physical.ScanCode, got, c.want)
		}
	}
}
