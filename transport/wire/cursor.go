package wire

import "fmt"

// The pointer travels beside the screen, not inside it: the host sends its
// shape once per shape and its position as it moves, on ChannelControl (so
// neither waits behind a large frame on the screen channel), and only to
// guests that announce CapCursor. The guest draws it over the decoded
// screen. A CursorPos names the shape by ID; a CursorShape is sent before the
// first CursorPos that names a new ID, and shapes the guest already holds are
// not resent (a host may resend them; the guest keeps the newest).
const (
	TypeCursorShape MsgType = 0x13 // host → guest: a pointer image
	TypeCursorPos   MsgType = 0x14 // host → guest: pointer position and shape
)

// CapCursor: a guest that announces it is sent CursorShape and CursorPos.
const CapCursor = "cursor.v1"

// MaxCursorSide bounds a cursor image's width and height in pixels.
const MaxCursorSide = 256

type (
	// CursorShape is one pointer image.
	CursorShape struct {
		ID            uint32 // the host's name for the shape (X11: the XFixes cursor serial)
		HotX, HotY    uint16 // the hot spot: 0..Width, 0..Height (see Validate)
		Width, Height uint16 // 1..MaxCursorSide
		// Pix is Width*Height pixels, rows top to bottom, 4 bytes each:
		// red, green, blue, alpha, not premultiplied (a canvas ImageData or
		// an image.NRGBA as is).
		Pix []byte
	}
	// CursorPos is where the pointer's hot spot is, in root coordinates,
	// and which shape it shows.
	CursorPos struct {
		X, Y int32
		ID   uint32
	}
)

func (*CursorShape) Type() MsgType { return TypeCursorShape }
func (*CursorPos) Type() MsgType   { return TypeCursorPos }

// IsCursorMessage reports whether t is a cursor message.
func IsCursorMessage(t MsgType) bool { return t == TypeCursorShape || t == TypeCursorPos }

// Validate reports whether the shape's fields agree; Unmarshal refuses a
// shape that does not. The hot spot may lie on the image's right or bottom
// edge (HotX == Width, HotY == Height), as X allows: CreateCursor and
// RenderCreateCursor refuse only x > width or y > height, and a font glyph
// cursor's hot spot is its origin, one past the last row when the glyph has
// no descent (XFixes then reports e.g. hot spot (0,2) for a 1x2 image).
func (m *CursorShape) Validate() error {
	switch {
	case m.Width == 0 || m.Height == 0 || m.Width > MaxCursorSide || m.Height > MaxCursorSide:
		return fmt.Errorf("cursor size %dx%d outside 1..%d", m.Width, m.Height, MaxCursorSide)
	case m.HotX > m.Width || m.HotY > m.Height:
		return fmt.Errorf("cursor hot spot (%d,%d) outside %dx%d", m.HotX, m.HotY, m.Width, m.Height)
	case len(m.Pix) != int(m.Width)*int(m.Height)*4:
		return fmt.Errorf("cursor has %d pixel bytes, want %d", len(m.Pix), int(m.Width)*int(m.Height)*4)
	}
	return nil
}

// appendBody writes ID, hot spot, size, then the pixels; the length of Pix
// follows from the size, so it is not written (senders Validate first).
func (m *CursorShape) appendBody(b []byte) []byte {
	b = u32(b, m.ID)
	for _, v := range []uint16{m.HotX, m.HotY, m.Width, m.Height} {
		b = append(b, byte(v>>8), byte(v))
	}
	return append(b, m.Pix...)
}

func (m *CursorShape) decodeBody(r *reader) error {
	m.ID = r.u32()
	m.HotX, m.HotY, m.Width, m.Height = r.u16(), r.u16(), r.u16(), r.u16()
	if r.err != nil {
		return r.err
	}
	if m.Width == 0 || m.Height == 0 || m.Width > MaxCursorSide || m.Height > MaxCursorSide {
		return fmt.Errorf("cursor size %dx%d outside 1..%d", m.Width, m.Height, MaxCursorSide)
	}
	// Size checked before taking: the allocation is bounded by the message.
	m.Pix = append([]byte(nil), r.take(int(m.Width)*int(m.Height)*4)...)
	if r.err != nil {
		return r.err
	}
	return m.Validate()
}

func (m *CursorPos) appendBody(b []byte) []byte {
	return u32(u32(u32(b, uint32(m.X)), uint32(m.Y)), m.ID)
}

func (m *CursorPos) decodeBody(r *reader) error {
	m.X, m.Y, m.ID = int32(r.u32()), int32(r.u32()), r.u32()
	return r.err
}
