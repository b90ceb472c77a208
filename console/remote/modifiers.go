package remote

import "github.com/tandem-rc/tandem/transport/wire"

// Mod is one of the toolbar's virtual modifier keys (spec 3.2.3: Win/Cmd,
// Ctrl, Alt, Shift), for key combinations the technician's own keyboard
// cannot send (Win+L, Cmd+Tab, keys the local desktop intercepts).
type Mod int

const (
	ModMeta Mod = iota // Win on Windows hosts, Cmd on macOS hosts
	ModCtrl
	ModAlt
	ModShift
	numMods
)

var modCodes = [numMods]string{"MetaLeft", "ControlLeft", "AltLeft", "ShiftLeft"}

var modLabels = [numMods]string{"Win/Cmd", "Ctrl", "Alt", "Shift"}

// ModState is a toolbar modifier's state.
type ModState int

const (
	Off    ModState = iota
	Once            // held on the host until the next non-modifier key is released
	Always          // held until clicked again
)

func (s ModState) String() string {
	return [...]string{"off", "on", "always on"}[s]
}

// modifiers is the toolbar's state machine. A modifier that is on is held
// down on the host at once, so it also applies to clicks (Ctrl+click); the
// methods return the key messages that make the host match the new state.
type modifiers struct {
	st [numMods]ModState
}

func (m *modifiers) State(k Mod) ModState { return m.st[k] }

// Click: off → on for the next key; on or always on → off.
func (m *modifiers) Click(k Mod) []wire.Message {
	if m.st[k] == Off {
		m.st[k] = Once
		return []wire.Message{&wire.Key{Code: modCodes[k], Down: true}}
	}
	m.st[k] = Off
	return []wire.Message{&wire.Key{Code: modCodes[k], Down: false}}
}

// DoubleClick: always on (pressed if it was off).
func (m *modifiers) DoubleClick(k Mod) []wire.Message {
	was := m.st[k]
	m.st[k] = Always
	if was == Off {
		return []wire.Message{&wire.Key{Code: modCodes[k], Down: true}}
	}
	return nil
}

// AfterKey releases the modifiers that were on for one key; the caller
// calls it once a non-modifier key has gone down and up.
func (m *modifiers) AfterKey() []wire.Message {
	var out []wire.Message
	for k := range m.st {
		if m.st[k] == Once {
			m.st[k] = Off
			out = append(out, &wire.Key{Code: modCodes[k], Down: false})
		}
	}
	return out
}

// ReleaseAll turns every modifier off (the session or the window ends).
func (m *modifiers) ReleaseAll() []wire.Message {
	var out []wire.Message
	for k := range m.st {
		if m.st[k] != Off {
			m.st[k] = Off
			out = append(out, &wire.Key{Code: modCodes[k], Down: false})
		}
	}
	return out
}

// Held reports whether the toolbar holds code down on the host.
func (m *modifiers) Held(code string) bool {
	for k, c := range modCodes {
		if c == code && m.st[k] != Off {
			return true
		}
	}
	return false
}
