package remote

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"

	"github.com/tandem-rc/tandem/input"
)

// fyneKeyNames is every key name fyne (v2.8.1 key.go) and its desktop
// driver (driver/desktop/key.go) define, KeyUnknown/KeyNone aside.
var fyneKeyNames = []fyne.KeyName{
	fyne.KeyEscape, fyne.KeyReturn, fyne.KeyTab, fyne.KeyBackspace, fyne.KeyInsert, fyne.KeyDelete,
	fyne.KeyRight, fyne.KeyLeft, fyne.KeyDown, fyne.KeyUp, fyne.KeyPageUp, fyne.KeyPageDown, fyne.KeyHome, fyne.KeyEnd,
	fyne.KeyF1, fyne.KeyF2, fyne.KeyF3, fyne.KeyF4, fyne.KeyF5, fyne.KeyF6, fyne.KeyF7, fyne.KeyF8, fyne.KeyF9,
	fyne.KeyF10, fyne.KeyF11, fyne.KeyF12, fyne.KeyEnter,
	fyne.Key0, fyne.Key1, fyne.Key2, fyne.Key3, fyne.Key4, fyne.Key5, fyne.Key6, fyne.Key7, fyne.Key8, fyne.Key9,
	fyne.KeyA, fyne.KeyB, fyne.KeyC, fyne.KeyD, fyne.KeyE, fyne.KeyF, fyne.KeyG, fyne.KeyH, fyne.KeyI, fyne.KeyJ,
	fyne.KeyK, fyne.KeyL, fyne.KeyM, fyne.KeyN, fyne.KeyO, fyne.KeyP, fyne.KeyQ, fyne.KeyR, fyne.KeyS, fyne.KeyT,
	fyne.KeyU, fyne.KeyV, fyne.KeyW, fyne.KeyX, fyne.KeyY, fyne.KeyZ,
	fyne.KeySpace, fyne.KeyApostrophe, fyne.KeyComma, fyne.KeyMinus, fyne.KeyPeriod, fyne.KeySlash,
	fyne.KeyBackslash, fyne.KeyLeftBracket, fyne.KeyRightBracket, fyne.KeySemicolon, fyne.KeyEqual,
	fyne.KeyAsterisk, fyne.KeyPlus, fyne.KeyBackTick,
	desktop.KeyShiftLeft, desktop.KeyShiftRight, desktop.KeyControlLeft, desktop.KeyControlRight,
	desktop.KeyAltLeft, desktop.KeyAltRight, desktop.KeySuperLeft, desktop.KeySuperRight,
	desktop.KeyMenu, desktop.KeyPrintScreen, desktop.KeyCapsLock,
}

func TestEveryFyneKeyHasAValidCode(t *testing.T) {
	seen := map[fyne.KeyName]bool{}
	codes := map[string]fyne.KeyName{}
	for _, n := range fyneKeyNames {
		if seen[n] {
			t.Fatalf("key name %q listed twice", n)
		}
		seen[n] = true
		code := keyCode(&fyne.KeyEvent{Name: n})
		if code == "" {
			t.Errorf("fyne key %q has no code", n)
			continue
		}
		if !input.ValidCode(code) {
			t.Errorf("fyne key %q maps to %q, which the host's key table does not know", n, code)
		}
		if other, dup := codes[code]; dup {
			t.Errorf("fyne keys %q and %q both map to %q", other, n, code)
		}
		codes[code] = n
	}
	if len(nameCodes) != len(fyneKeyNames) {
		t.Errorf("the table has %d names, fyne defines %d", len(nameCodes), len(fyneKeyNames))
	}
}

func TestKeyCodeSpotChecks(t *testing.T) {
	for _, c := range []struct {
		name fyne.KeyName
		want string
	}{
		{fyne.KeyReturn, "Enter"}, {fyne.KeyEnter, "NumpadEnter"}, {fyne.KeyPageUp, "PageUp"}, {fyne.KeyPageDown, "PageDown"},
		{fyne.Key1, "Digit1"}, {fyne.KeyQ, "KeyQ"}, {fyne.KeyBackTick, "Backquote"}, {fyne.KeyApostrophe, "Quote"},
		{desktop.KeySuperLeft, "MetaLeft"}, {desktop.KeyMenu, "ContextMenu"}, {fyne.KeyUnknown, ""}, {"é", ""},
	} {
		if got := keyCode(&fyne.KeyEvent{Name: c.name}); got != c.want {
			t.Errorf("keyCode(%q) = %q, want %q", c.name, got, c.want)
		}
	}
}
