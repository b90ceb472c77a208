package input

import (
	"fmt"
	"regexp"
	"testing"
)

// robotgoNames are the multi-character key names robotgo v1.1.0 accepts
// (key.go keyNames). robotgo silently maps any other name to key 0, so the
// table must use only these or single characters.
var robotgoNames = map[string]bool{}

func init() {
	for _, n := range []string{
		"backspace", "delete", "enter", "tab", "esc", "escape", "up", "down", "right", "left",
		"home", "end", "pageup", "pagedown",
		"cmd", "cmdl", "cmdr", "command", "alt", "altl", "altr", "ctrl", "ctrll", "ctrlr",
		"control", "shift", "shiftl", "shiftr", "right_shift", "capslock", "space", "print",
		"printscreen", "insert", "menu", "scroll_lock", "pause_break",
		"audio_mute", "audio_vol_down", "audio_vol_up", "audio_play", "audio_stop",
		"audio_pause", "audio_prev", "audio_next", "audio_rewind", "audio_forward",
		"audio_repeat", "audio_random",
		"num_lock", "num.", "num+", "num-", "num*", "num/", "num_clear", "num_enter", "num_equal",
	} {
		robotgoNames[n] = true
	}
	for i := 0; i <= 9; i++ {
		robotgoNames[fmt.Sprintf("num%d", i)] = true
	}
	for i := 1; i <= 24; i++ {
		robotgoNames[fmt.Sprintf("f%d", i)] = true
	}
}

// The vocabulary the brief and the W3C code values require.
func requiredCodes() []string {
	var c []string
	for r := 'A'; r <= 'Z'; r++ {
		c = append(c, "Key"+string(r))
	}
	for i := 0; i <= 9; i++ {
		c = append(c, fmt.Sprintf("Digit%d", i), fmt.Sprintf("Numpad%d", i))
	}
	for i := 1; i <= 24; i++ {
		c = append(c, fmt.Sprintf("F%d", i))
	}
	return append(c,
		"Minus", "Equal", "BracketLeft", "BracketRight", "Backslash", "Semicolon", "Quote",
		"Backquote", "Comma", "Period", "Slash", "IntlBackslash",
		"Enter", "Escape", "Backspace", "Tab", "Space", "CapsLock",
		"ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight",
		"Home", "End", "PageUp", "PageDown", "Insert", "Delete",
		"PrintScreen", "ScrollLock", "Pause", "NumLock", "ContextMenu",
		"NumpadAdd", "NumpadSubtract", "NumpadMultiply", "NumpadDivide", "NumpadDecimal", "NumpadEnter",
		"ShiftLeft", "ShiftRight", "ControlLeft", "ControlRight", "AltLeft", "AltRight",
		"MetaLeft", "MetaRight",
		"AudioVolumeMute", "AudioVolumeDown", "AudioVolumeUp",
		"MediaPlayPause", "MediaStop", "MediaTrackNext", "MediaTrackPrevious",
	)
}

func TestTableCoversVocabulary(t *testing.T) {
	for _, code := range requiredCodes() {
		if !ValidCode(code) {
			t.Errorf("ValidCode(%q) = false", code)
		}
	}
	for _, code := range []string{"", "keyA", "KeyAA", "a", "Shift", "Fn", "BrowserBack", "Lang1", "F25", "Numpad10"} {
		if ValidCode(code) {
			t.Errorf("ValidCode(%q) = true", code)
		}
	}
	for alias, code := range codeAliases {
		if !ValidCode(alias) {
			t.Errorf("alias %q not valid", alias)
		}
		if _, ok := keyTable[code]; !ok {
			t.Errorf("alias %q points to unknown %q", alias, code)
		}
		if _, ok := keyTable[alias]; ok {
			t.Errorf("alias %q is also a table code", alias)
		}
	}
}

var xkbName = regexp.MustCompile(`^[A-Z0-9+-]{2,4}$`)

func TestTableEntries(t *testing.T) {
	seenXKB := map[string]string{}
	seenRG := map[string]string{}
	for code, def := range keyTable {
		if def.robotgo == "" && def.xkb == "" {
			t.Errorf("%s maps to nothing", code)
		}
		if n := def.robotgo; n != "" && len([]rune(n)) != 1 && !robotgoNames[n] {
			t.Errorf("%s: %q is not a robotgo key name", code, n)
		}
		if n := def.robotgo; len([]rune(n)) == 1 && (n[0] >= 'A' && n[0] <= 'Z') {
			t.Errorf("%s: upper-case %q would make robotgo add Shift", code, n)
		}
		if n := def.xkb; n != "" && !xkbName.MatchString(n) {
			t.Errorf("%s: %q is not an XKB key name", code, n)
		}
		if n := def.xkb; n != "" {
			if other, dup := seenXKB[n]; dup {
				t.Errorf("%s and %s share XKB key %s", code, other, n)
			}
			seenXKB[n] = code
		}
		if n := def.robotgo; n != "" {
			if other, dup := seenRG[n]; dup {
				t.Errorf("%s and %s share robotgo key %s", code, other, n)
			}
			seenRG[n] = code
		}
	}
	// Physical positions: spot checks against the US layout.
	for code, want := range map[string]string{
		"KeyA": "AC01", "KeyQ": "AD01", "KeyZ": "AB01", "KeyM": "AB07", "Digit1": "AE01",
		"Digit0": "AE10", "Backquote": "TLDE", "Quote": "AC11", "Backslash": "BKSL",
	} {
		if got := keyTable[code].xkb; got != want {
			t.Errorf("%s: xkb %q, want %q", code, got, want)
		}
	}
}

func TestModifierCodes(t *testing.T) {
	for _, m := range modifierCodes {
		for _, c := range []string{m.press, m.left, m.right} {
			if !ValidCode(c) || !isModifierCode(c) {
				t.Errorf("modifier code %q", c)
			}
		}
	}
	if isModifierCode("KeyA") || isModifierCode("CapsLock") {
		t.Error("non-modifier reported as modifier")
	}
}
