package wire

import (
	"fmt"
	"unicode/utf8"
)

// Local-desktop messages travel on ChannelControl: the host's clipboard
// (text, both ways), locking the local keyboard and mouse, and blanking the
// local screen. Each needs its own permission (clipboard, lock_input,
// blank_screen); a host refuses them without it with ErrCodeDenied.
//
// Clipboard: a guest sends ClipboardText to offer text on the host's
// clipboard for the session's lifetime, and ClipboardGet to read it; the
// host answers ClipboardGet with ClipboardText and, to guests that announce
// CapClipboard, sends ClipboardText when a local application copies text.
// Lock and blank: the host applies InputLock / ScreenBlank and answers with
// LocalState (or an Error, e.g. ErrCodeUnsupported where the platform cannot).
const (
	TypeClipboardText MsgType = 0x60 // both ways: clipboard text (UTF-8)
	TypeClipboardGet  MsgType = 0x61 // guest → host: send me the host's clipboard
	TypeInputLock     MsgType = 0x62 // guest → host: block (or unblock) local keyboard and mouse
	TypeScreenBlank   MsgType = 0x63 // guest → host: blank (or restore) the local screen
	TypeLocalState    MsgType = 0x64 // host → guest: what is locked and blanked now
)

// Capabilities of the local-desktop messages (advertised in hellos).
const (
	CapClipboard   = "clipboard.v1"    // a guest that announces it is sent the host's clipboard changes
	CapInputLock   = "input.lock.v1"   // InputLock
	CapScreenBlank = "screen.blank.v1" // ScreenBlank (the host may still answer ErrCodeUnsupported)
)

// MaxClipboard bounds clipboard text, both ways.
const MaxClipboard = 1 << 20

// LocalState flags.
const (
	LocalInputLocked   uint8 = 1
	LocalScreenBlanked uint8 = 2
)

type (
	ClipboardText struct{ Text string }
	ClipboardGet  struct{}
	InputLock     struct{ Lock bool }
	ScreenBlank   struct{ Blank bool }
	LocalState    struct{ Flags uint8 }
)

func (*ClipboardText) Type() MsgType { return TypeClipboardText }
func (*ClipboardGet) Type() MsgType  { return TypeClipboardGet }
func (*InputLock) Type() MsgType     { return TypeInputLock }
func (*ScreenBlank) Type() MsgType   { return TypeScreenBlank }
func (*LocalState) Type() MsgType    { return TypeLocalState }

// IsLocalMessage reports whether t is a local-desktop message.
func IsLocalMessage(t MsgType) bool { return t >= TypeClipboardText && t <= TypeLocalState }

// appendBody writes a u32 length and the text; text over MaxClipboard is cut
// (callers check the limit and UTF-8 before sending).
func (m *ClipboardText) appendBody(b []byte) []byte {
	t := m.Text
	if len(t) > MaxClipboard {
		t = t[:MaxClipboard]
	}
	return append(u32(b, uint32(len(t))), t...)
}

func (m *ClipboardText) decodeBody(r *reader) error {
	n := r.u32()
	if r.err == nil && n > MaxClipboard {
		return fmt.Errorf("clipboard text of %d bytes exceeds %d", n, MaxClipboard)
	}
	t := r.take(int(n))
	if r.err == nil && !utf8.Valid(t) {
		return fmt.Errorf("clipboard text is not valid UTF-8")
	}
	m.Text = string(t)
	return r.err
}

func (m *ClipboardGet) appendBody(b []byte) []byte { return b }
func (m *ClipboardGet) decodeBody(r *reader) error { return r.err }
func (m *InputLock) appendBody(b []byte) []byte    { return appendBool(b, m.Lock) }
func (m *InputLock) decodeBody(r *reader) error    { m.Lock = r.bool(); return r.err }
func (m *ScreenBlank) appendBody(b []byte) []byte  { return appendBool(b, m.Blank) }
func (m *ScreenBlank) decodeBody(r *reader) error  { m.Blank = r.bool(); return r.err }
func (m *LocalState) appendBody(b []byte) []byte   { return append(b, m.Flags) }
func (m *LocalState) decodeBody(r *reader) error {
	m.Flags = r.u8()
	if r.err == nil && m.Flags&^(LocalInputLocked|LocalScreenBlanked) != 0 {
		return fmt.Errorf("unknown local state bits 0x%02x", m.Flags)
	}
	return r.err
}
