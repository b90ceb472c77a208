package input

// macKeyCodes maps KeyboardEvent.code to macOS virtual key codes (kVK_*
// in HIToolbox's Events.h), the hardware positions CGEventCreateKeyboardEvent
// posts, so a key lands at its US position whatever the Mac's layout (as
// on X11). The ISO and JIS extras follow Chromium's DOM code table for
// the Mac: IntlBackslash is kVK_ISO_Section, Backquote kVK_ANSI_Grave.
// Used by the macOS back end; pure data, tested everywhere.
//
// Codes of the key table the Mac has no key code for (they return
// ErrUnknownKey there): F21–F24, PrintScreen, ScrollLock, Pause (PC keys
// without an Apple equivalent) and the media keys (the Mac sends those as
// NX system-defined events, not key codes). Insert is the Help key's
// position (kVK_Help), NumLock the keypad's Clear key, as Apple keyboards
// label them.
var macKeyCodes = map[string]uint16{
	"KeyA": 0x00, "KeyS": 0x01, "KeyD": 0x02, "KeyF": 0x03, "KeyH": 0x04,
	"KeyG": 0x05, "KeyZ": 0x06, "KeyX": 0x07, "KeyC": 0x08, "KeyV": 0x09,
	"KeyB": 0x0B, "KeyQ": 0x0C, "KeyW": 0x0D, "KeyE": 0x0E, "KeyR": 0x0F,
	"KeyY": 0x10, "KeyT": 0x11, "KeyO": 0x1F, "KeyU": 0x20, "KeyI": 0x22,
	"KeyP": 0x23, "KeyL": 0x25, "KeyJ": 0x26, "KeyK": 0x28, "KeyN": 0x2D,
	"KeyM": 0x2E,

	"Digit1": 0x12, "Digit2": 0x13, "Digit3": 0x14, "Digit4": 0x15,
	"Digit6": 0x16, "Digit5": 0x17, "Digit9": 0x19, "Digit7": 0x1A,
	"Digit8": 0x1C, "Digit0": 0x1D,

	"Equal": 0x18, "Minus": 0x1B, "BracketRight": 0x1E, "BracketLeft": 0x21,
	"Quote": 0x27, "Semicolon": 0x29, "Backslash": 0x2A, "Comma": 0x2B,
	"Slash": 0x2C, "Period": 0x2F, "Backquote": 0x32,
	"IntlBackslash": 0x0A, "IntlYen": 0x5D, "IntlRo": 0x5E,

	"Enter": 0x24, "Tab": 0x30, "Space": 0x31, "Backspace": 0x33,
	"Escape": 0x35, "CapsLock": 0x39, "Delete": 0x75, "Insert": 0x72,
	"Home": 0x73, "PageUp": 0x74, "End": 0x77, "PageDown": 0x79,
	"ArrowLeft": 0x7B, "ArrowRight": 0x7C, "ArrowDown": 0x7D, "ArrowUp": 0x7E,
	"ContextMenu": 0x6E,

	"MetaRight": 0x36, "MetaLeft": 0x37, "ShiftLeft": 0x38, "AltLeft": 0x3A,
	"ControlLeft": 0x3B, "ShiftRight": 0x3C, "AltRight": 0x3D, "ControlRight": 0x3E,

	"F1": 0x7A, "F2": 0x78, "F3": 0x63, "F4": 0x76, "F5": 0x60, "F6": 0x61,
	"F7": 0x62, "F8": 0x64, "F9": 0x65, "F10": 0x6D, "F11": 0x67, "F12": 0x6F,
	"F13": 0x69, "F14": 0x6B, "F15": 0x71, "F16": 0x6A, "F17": 0x40, "F18": 0x4F,
	"F19": 0x50, "F20": 0x5A,

	"NumpadDecimal": 0x41, "NumpadMultiply": 0x43, "NumpadAdd": 0x45,
	"NumpadClear": 0x47, "NumLock": 0x47, "NumpadDivide": 0x4B, "NumpadEnter": 0x4C,
	"NumpadSubtract": 0x4E, "NumpadEqual": 0x51,
	"Numpad0": 0x52, "Numpad1": 0x53, "Numpad2": 0x54, "Numpad3": 0x55,
	"Numpad4": 0x56, "Numpad5": 0x57, "Numpad6": 0x58, "Numpad7": 0x59,
	"Numpad8": 0x5B, "Numpad9": 0x5C,

	"AudioVolumeUp": 0x48, "AudioVolumeDown": 0x49, "AudioVolumeMute": 0x4A,
}

// macFlag is the CGEventFlags bit (CGEventTypes.h) each modifier code sets:
// Quartz does not derive the flags from posted modifier key events, so
// every event carries the flags of the modifiers held.
var macFlag = map[string]uint64{
	"ShiftLeft": 1 << 17, "ShiftRight": 1 << 17,
	"ControlLeft": 1 << 18, "ControlRight": 1 << 18,
	"AltLeft": 1 << 19, "AltRight": 1 << 19,
	"MetaLeft": 1 << 20, "MetaRight": 1 << 20,
}

// macFlags is the CGEventFlags word for the held modifier codes.
func macFlags(held map[string]bool) uint64 {
	var f uint64
	for code := range held {
		f |= macFlag[code]
	}
	return f
}
