package remote

// physicalCode maps an X11 keycode (what GLFW reports as the scancode on
// Linux: the evdev code plus 8) to its KeyboardEvent.code, so the key
// sent is the physical one whatever the technician's layout, as the wire
// wants. 0 (synthetic events) and unknown keycodes give "".
func physicalCode(scancode int) string { return x11Codes[scancode] }

var x11Codes = map[int]string{
	9: "Escape", 10: "Digit1", 11: "Digit2", 12: "Digit3", 13: "Digit4", 14: "Digit5", 15: "Digit6",
	16: "Digit7", 17: "Digit8", 18: "Digit9", 19: "Digit0", 20: "Minus", 21: "Equal", 22: "Backspace",
	23: "Tab", 24: "KeyQ", 25: "KeyW", 26: "KeyE", 27: "KeyR", 28: "KeyT", 29: "KeyY", 30: "KeyU",
	31: "KeyI", 32: "KeyO", 33: "KeyP", 34: "BracketLeft", 35: "BracketRight", 36: "Enter",
	37: "ControlLeft", 38: "KeyA", 39: "KeyS", 40: "KeyD", 41: "KeyF", 42: "KeyG", 43: "KeyH",
	44: "KeyJ", 45: "KeyK", 46: "KeyL", 47: "Semicolon", 48: "Quote", 49: "Backquote", 50: "ShiftLeft",
	51: "Backslash", 52: "KeyZ", 53: "KeyX", 54: "KeyC", 55: "KeyV", 56: "KeyB", 57: "KeyN", 58: "KeyM",
	59: "Comma", 60: "Period", 61: "Slash", 62: "ShiftRight", 63: "NumpadMultiply", 64: "AltLeft",
	65: "Space", 66: "CapsLock", 67: "F1", 68: "F2", 69: "F3", 70: "F4", 71: "F5", 72: "F6", 73: "F7",
	74: "F8", 75: "F9", 76: "F10", 77: "NumLock", 78: "ScrollLock", 79: "Numpad7", 80: "Numpad8",
	81: "Numpad9", 82: "NumpadSubtract", 83: "Numpad4", 84: "Numpad5", 85: "Numpad6", 86: "NumpadAdd",
	87: "Numpad1", 88: "Numpad2", 89: "Numpad3", 90: "Numpad0", 91: "NumpadDecimal", 94: "IntlBackslash",
	95: "F11", 96: "F12", 97: "IntlRo", 104: "NumpadEnter", 105: "ControlRight", 106: "NumpadDivide",
	107: "PrintScreen", 108: "AltRight", 110: "Home", 111: "ArrowUp", 112: "PageUp", 113: "ArrowLeft",
	114: "ArrowRight", 115: "End", 116: "ArrowDown", 117: "PageDown", 118: "Insert", 119: "Delete",
	121: "AudioVolumeMute", 122: "AudioVolumeDown", 123: "AudioVolumeUp", 125: "NumpadEqual",
	127: "Pause", 132: "IntlYen", 133: "MetaLeft", 134: "MetaRight", 135: "ContextMenu",
	171: "MediaTrackNext", 172: "MediaPlayPause", 173: "MediaTrackPrevious", 174: "MediaStop",
	191: "F13", 192: "F14", 193: "F15", 194: "F16", 195: "F17", 196: "F18", 197: "F19", 198: "F20",
	199: "F21", 200: "F22", 201: "F23", 202: "F24",
}
