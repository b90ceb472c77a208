package remote

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
)

// The wire names keys by KeyboardEvent.code: the physical position on a US
// keyboard (see input/keys.go). Fyne names keys by what the local layout
// prints on them, and gives the platform's scancode beside it, so a key is
// mapped from its scancode where this platform's table knows it
// (physicalCode, per OS) and from its Fyne name otherwise.

// nameCodes maps every key name Fyne defines to its code. Fyne's names for
// the keypad's digits and operators are those of the main keys ("1", "-"),
// so without a scancode those go to the main keys, except "*" and "+"
// which exist only on the keypad of a US keyboard.
var nameCodes = map[fyne.KeyName]string{
	fyne.KeyEscape: "Escape", fyne.KeyReturn: "Enter", fyne.KeyTab: "Tab",
	fyne.KeyBackspace: "Backspace", fyne.KeyInsert: "Insert", fyne.KeyDelete: "Delete",
	fyne.KeyRight: "ArrowRight", fyne.KeyLeft: "ArrowLeft", fyne.KeyDown: "ArrowDown", fyne.KeyUp: "ArrowUp",
	fyne.KeyPageUp: "PageUp", fyne.KeyPageDown: "PageDown", fyne.KeyHome: "Home", fyne.KeyEnd: "End",

	fyne.KeyF1: "F1", fyne.KeyF2: "F2", fyne.KeyF3: "F3", fyne.KeyF4: "F4", fyne.KeyF5: "F5", fyne.KeyF6: "F6",
	fyne.KeyF7: "F7", fyne.KeyF8: "F8", fyne.KeyF9: "F9", fyne.KeyF10: "F10", fyne.KeyF11: "F11", fyne.KeyF12: "F12",

	fyne.KeyEnter: "NumpadEnter",

	fyne.Key0: "Digit0", fyne.Key1: "Digit1", fyne.Key2: "Digit2", fyne.Key3: "Digit3", fyne.Key4: "Digit4",
	fyne.Key5: "Digit5", fyne.Key6: "Digit6", fyne.Key7: "Digit7", fyne.Key8: "Digit8", fyne.Key9: "Digit9",

	fyne.KeyA: "KeyA", fyne.KeyB: "KeyB", fyne.KeyC: "KeyC", fyne.KeyD: "KeyD", fyne.KeyE: "KeyE",
	fyne.KeyF: "KeyF", fyne.KeyG: "KeyG", fyne.KeyH: "KeyH", fyne.KeyI: "KeyI", fyne.KeyJ: "KeyJ",
	fyne.KeyK: "KeyK", fyne.KeyL: "KeyL", fyne.KeyM: "KeyM", fyne.KeyN: "KeyN", fyne.KeyO: "KeyO",
	fyne.KeyP: "KeyP", fyne.KeyQ: "KeyQ", fyne.KeyR: "KeyR", fyne.KeyS: "KeyS", fyne.KeyT: "KeyT",
	fyne.KeyU: "KeyU", fyne.KeyV: "KeyV", fyne.KeyW: "KeyW", fyne.KeyX: "KeyX", fyne.KeyY: "KeyY",
	fyne.KeyZ: "KeyZ",

	fyne.KeySpace: "Space", fyne.KeyApostrophe: "Quote", fyne.KeyComma: "Comma", fyne.KeyMinus: "Minus",
	fyne.KeyPeriod: "Period", fyne.KeySlash: "Slash", fyne.KeyBackslash: "Backslash",
	fyne.KeyLeftBracket: "BracketLeft", fyne.KeyRightBracket: "BracketRight", fyne.KeySemicolon: "Semicolon",
	fyne.KeyEqual: "Equal", fyne.KeyAsterisk: "NumpadMultiply", fyne.KeyPlus: "NumpadAdd", fyne.KeyBackTick: "Backquote",

	desktop.KeyShiftLeft: "ShiftLeft", desktop.KeyShiftRight: "ShiftRight",
	desktop.KeyControlLeft: "ControlLeft", desktop.KeyControlRight: "ControlRight",
	desktop.KeyAltLeft: "AltLeft", desktop.KeyAltRight: "AltRight",
	desktop.KeySuperLeft: "MetaLeft", desktop.KeySuperRight: "MetaRight",
	desktop.KeyMenu: "ContextMenu", desktop.KeyPrintScreen: "PrintScreen", desktop.KeyCapsLock: "CapsLock",
}

// keyCode returns the wire code of a Fyne key event, or "" when the key
// has neither a known scancode nor a known name (a layout's extra
// letters): its character then arrives as a typed rune.
func keyCode(ev *fyne.KeyEvent) string {
	if c := physicalCode(ev.Physical.ScanCode); c != "" {
		return c
	}
	return nameCodes[ev.Name]
}

// isModifierCode reports whether code is one of the eight modifier keys,
// which do not end a toolbar modifier's "on for the next key".
func isModifierCode(code string) bool {
	switch code {
	case "ShiftLeft", "ShiftRight", "ControlLeft", "ControlRight", "AltLeft", "AltRight", "MetaLeft", "MetaRight":
		return true
	}
	return false
}
