package input

// The key table: browser KeyboardEvent.code values (W3C UI Events
// KeyboardEvent code Values) to the names the platform back ends use.
//
// A code names a *physical position* on a US-layout keyboard: "KeyA" is the
// key labelled A on a US keyboard, whatever the controlled machine's layout
// prints on it. Modifiers are state, so Shift held + "KeyA" gives "A" and
// Shift held + "Digit1" gives "!" on a US layout.
//
// Two columns:
//
//   - robotgo: the robotgo v1.1.0 key name (key.go keyNames, or a single
//     character resolved by robotgo through the active layout). Used on
//     Windows and macOS. "" where robotgo has no name for the key; those
//     codes return ErrUnknownKey there rather than guessing a neighbour.
//   - xkb: the XKB key name of the physical key (the names of the evdev and
//     xfree86 keycode sets; "AC01" is the A position). Used on Linux/X11,
//     where the keycode is looked up from the server's own XKB key names, so
//     the key pressed is the physical one whatever the layout. "" where no
//     XKB key exists.
//
// Codes in the W3C vocabulary that robotgo has no key for and that are not
// in this table (they return ErrUnknownKey everywhere): Fn, FnLock,
// Browser{Back,Forward,Refresh,Stop,Search,Favorites,Home}, LaunchMail,
// LaunchApp1, LaunchApp2, MediaSelect, Eject, Power, Sleep, WakeUp, Help,
// Again, Props, Undo, Select, Copy, Open, Paste, Find, Cut, Convert,
// NonConvert, KanaMode, Lang1–Lang5, NumpadComma, NumpadParenLeft,
// NumpadParenRight, NumpadBackspace, NumpadHash, NumpadStar,
// NumpadClearEntry, NumpadMemory*. robotgo's audio_rewind/forward/repeat/
// random and lights_* exist only as X11 keysyms or Apple NX codes and have
// no KeyboardEvent.code, so they are not offered either.

type keyDef struct {
	robotgo string
	xkb     string
}

var keyTable = map[string]keyDef{
	// Letters, by US position.
	"KeyA": {"a", "AC01"}, "KeyB": {"b", "AB05"}, "KeyC": {"c", "AB03"},
	"KeyD": {"d", "AC03"}, "KeyE": {"e", "AD03"}, "KeyF": {"f", "AC04"},
	"KeyG": {"g", "AC05"}, "KeyH": {"h", "AC06"}, "KeyI": {"i", "AD08"},
	"KeyJ": {"j", "AC07"}, "KeyK": {"k", "AC08"}, "KeyL": {"l", "AC09"},
	"KeyM": {"m", "AB07"}, "KeyN": {"n", "AB06"}, "KeyO": {"o", "AD09"},
	"KeyP": {"p", "AD10"}, "KeyQ": {"q", "AD01"}, "KeyR": {"r", "AD04"},
	"KeyS": {"s", "AC02"}, "KeyT": {"t", "AD05"}, "KeyU": {"u", "AD07"},
	"KeyV": {"v", "AB04"}, "KeyW": {"w", "AD02"}, "KeyX": {"x", "AB02"},
	"KeyY": {"y", "AD06"}, "KeyZ": {"z", "AB01"},

	// Digit row.
	"Digit1": {"1", "AE01"}, "Digit2": {"2", "AE02"}, "Digit3": {"3", "AE03"},
	"Digit4": {"4", "AE04"}, "Digit5": {"5", "AE05"}, "Digit6": {"6", "AE06"},
	"Digit7": {"7", "AE07"}, "Digit8": {"8", "AE08"}, "Digit9": {"9", "AE09"},
	"Digit0": {"0", "AE10"},

	// Punctuation. robotgo resolves these single characters through the
	// active layout (VkKeyScan on Windows, the layout's key table on macOS).
	"Minus":        {"-", "AE11"},
	"Equal":        {"=", "AE12"},
	"BracketLeft":  {"[", "AD11"},
	"BracketRight": {"]", "AD12"},
	"Backslash":    {`\`, "BKSL"},
	"Semicolon":    {";", "AC10"},
	"Quote":        {"'", "AC11"},
	"Backquote":    {"`", "TLDE"},
	"Comma":        {",", "AB08"},
	"Period":       {".", "AB09"},
	"Slash":        {"/", "AB10"},
	// robotgo has no name for the ISO key left of Z (VK_OEM_102) nor for the
	// JIS keys: X11 only.
	"IntlBackslash": {"", "LSGT"},
	"IntlRo":        {"", "AB11"},
	"IntlYen":       {"", "AE13"},

	// Whitespace and editing.
	"Enter":     {"enter", "RTRN"},
	"Escape":    {"esc", "ESC"},
	"Backspace": {"backspace", "BKSP"},
	"Tab":       {"tab", "TAB"},
	"Space":     {"space", "SPCE"},
	"CapsLock":  {"capslock", "CAPS"},

	// Navigation.
	"ArrowUp":    {"up", "UP"},
	"ArrowDown":  {"down", "DOWN"},
	"ArrowLeft":  {"left", "LEFT"},
	"ArrowRight": {"right", "RGHT"},
	"Home":       {"home", "HOME"},
	"End":        {"end", "END"},
	"PageUp":     {"pageup", "PGUP"},
	"PageDown":   {"pagedown", "PGDN"},
	"Insert":     {"insert", "INS"},
	"Delete":     {"delete", "DELE"},

	// System keys. robotgo's "menu" is VK_APPS on Windows and not a key on
	// X11/macOS (X11 uses the XKB COMP key instead).
	"PrintScreen": {"printscreen", "PRSC"},
	"ScrollLock":  {"scroll_lock", "SCLK"},
	"Pause":       {"pause_break", "PAUS"},
	"NumLock":     {"num_lock", "NMLK"},
	"ContextMenu": {"menu", "COMP"},

	// Function keys.
	"F1": {"f1", "FK01"}, "F2": {"f2", "FK02"}, "F3": {"f3", "FK03"},
	"F4": {"f4", "FK04"}, "F5": {"f5", "FK05"}, "F6": {"f6", "FK06"},
	"F7": {"f7", "FK07"}, "F8": {"f8", "FK08"}, "F9": {"f9", "FK09"},
	"F10": {"f10", "FK10"}, "F11": {"f11", "FK11"}, "F12": {"f12", "FK12"},
	"F13": {"f13", "FK13"}, "F14": {"f14", "FK14"}, "F15": {"f15", "FK15"},
	"F16": {"f16", "FK16"}, "F17": {"f17", "FK17"}, "F18": {"f18", "FK18"},
	"F19": {"f19", "FK19"}, "F20": {"f20", "FK20"}, "F21": {"f21", "FK21"},
	"F22": {"f22", "FK22"}, "F23": {"f23", "FK23"}, "F24": {"f24", "FK24"},

	// Numeric keypad.
	"Numpad0": {"num0", "KP0"}, "Numpad1": {"num1", "KP1"},
	"Numpad2": {"num2", "KP2"}, "Numpad3": {"num3", "KP3"},
	"Numpad4": {"num4", "KP4"}, "Numpad5": {"num5", "KP5"},
	"Numpad6": {"num6", "KP6"}, "Numpad7": {"num7", "KP7"},
	"Numpad8": {"num8", "KP8"}, "Numpad9": {"num9", "KP9"},
	"NumpadAdd":      {"num+", "KPAD"},
	"NumpadSubtract": {"num-", "KPSU"},
	"NumpadMultiply": {"num*", "KPMU"},
	"NumpadDivide":   {"num/", "KPDV"},
	"NumpadDecimal":  {"num.", "KPDL"},
	"NumpadEnter":    {"num_enter", "KPEN"},
	"NumpadEqual":    {"num_equal", "KPEQ"},
	// Apple keypads' Clear key; PCs have none (X11: no XKB key).
	"NumpadClear": {"num_clear", ""},

	// Modifiers.
	"ShiftLeft":    {"shiftl", "LFSH"},
	"ShiftRight":   {"shiftr", "RTSH"},
	"ControlLeft":  {"ctrll", "LCTL"},
	"ControlRight": {"ctrlr", "RCTL"},
	"AltLeft":      {"altl", "LALT"},
	"AltRight":     {"altr", "RALT"},
	"MetaLeft":     {"cmdl", "LWIN"},
	"MetaRight":    {"cmdr", "RWIN"},

	// Media keys. XKB names are the evdev "I<keycode>" names.
	"AudioVolumeMute":    {"audio_mute", "MUTE"},
	"AudioVolumeDown":    {"audio_vol_down", "VOL-"},
	"AudioVolumeUp":      {"audio_vol_up", "VOL+"},
	"MediaPlayPause":     {"audio_play", "I172"},
	"MediaStop":          {"audio_stop", "I174"},
	"MediaTrackNext":     {"audio_next", "I171"},
	"MediaTrackPrevious": {"audio_prev", "I173"},
}

// codeAliases are older spellings browsers still send (Firefox < 118 sent
// OSLeft/OSRight; early Chromium sent Volume*). They are canonicalised on
// entry so a key pressed under one name is released under the other.
var codeAliases = map[string]string{
	"OSLeft":     "MetaLeft",
	"OSRight":    "MetaRight",
	"VolumeMute": "AudioVolumeMute",
	"VolumeDown": "AudioVolumeDown",
	"VolumeUp":   "AudioVolumeUp",
}

// canonical returns the table spelling of code and whether it is known.
func canonical(code string) (string, bool) {
	if c, ok := codeAliases[code]; ok {
		code = c
	}
	_, ok := keyTable[code]
	return code, ok
}

// ValidCode reports whether code is a KeyboardEvent.code this package knows.
// A valid code can still be missing on a given platform or keyboard (Key and
// Tap then return ErrUnknownKey), e.g. "IntlBackslash" outside X11.
func ValidCode(code string) bool {
	_, ok := canonical(code)
	return ok
}

// modifierCodes lists, per modifier bit, the code Tap presses and the codes
// that count as "already held".
var modifierCodes = [...]struct {
	mod         Modifiers
	press       string
	left, right string
}{
	{ModCtrl, "ControlLeft", "ControlLeft", "ControlRight"},
	{ModAlt, "AltLeft", "AltLeft", "AltRight"},
	{ModShift, "ShiftLeft", "ShiftLeft", "ShiftRight"},
	{ModMeta, "MetaLeft", "MetaLeft", "MetaRight"},
}

// isModifierCode reports whether code is one of the eight modifier keys.
func isModifierCode(code string) bool {
	for _, m := range modifierCodes {
		if code == m.left || code == m.right {
			return true
		}
	}
	return false
}

// runeKeysym is the X keysym that types r: Latin-1 keysyms equal their
// code points, everything else uses the Unicode keysym range (X11 and
// XKB keymaps alike).
func runeKeysym(r rune) uint32 {
	switch {
	case r == '\n':
		return 0xff0d // Return
	case r == '\t':
		return 0xff09 // Tab
	case r >= 0x20 && r <= 0x7e, r >= 0xa0 && r <= 0xff:
		return uint32(r)
	}
	return 0x01000000 | uint32(r)
}
