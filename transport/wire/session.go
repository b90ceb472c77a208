package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MsgType is the first byte of every session message.
type MsgType uint8

// Session message codes. Never reuse a code; retire it in doc.go instead.
const (
	TypeHello       MsgType = 0x01 // both ways
	TypeBye         MsgType = 0x02 // both ways
	TypeError       MsgType = 0x03 // both ways: refusal or failure, with the refused type
	TypePing        MsgType = 0x04
	TypePong        MsgType = 0x05
	TypeSessionInfo MsgType = 0x06 // host → guest: permissions, technician, monitors
	TypeSelectMon   MsgType = 0x07 // guest → host: monitor to stream (-1 = all)

	TypeScreenFrame MsgType = 0x10 // host → guest: one encoded frame
	TypeFrameAck    MsgType = 0x11 // guest → host: frame decoded (pacing, RTT)
	TypeKeyframeReq MsgType = 0x12 // guest → host: send a keyframe

	TypeMouseMove   MsgType = 0x20
	TypeMouseButton MsgType = 0x21
	TypeMouseWheel  MsgType = 0x22
	TypeKey         MsgType = 0x23 // key down/up by KeyboardEvent.code
	TypeKeyTap      MsgType = 0x24 // press+release with modifiers
	TypeText        MsgType = 0x25 // Unicode text
)

// Error codes carried by Error messages.
const (
	ErrCodeUnsupported = 1 // unknown message type or capability
	ErrCodeDenied      = 2 // the grant does not carry the needed permission
	ErrCodeBadRequest  = 3 // malformed or out-of-range values
	ErrCodeInternal    = 4 // the host failed to do it
	ErrCodeNotFound    = 5 // the named file or folder does not exist
	ErrCodeExists      = 6 // the target exists and overwriting was not asked for
	ErrCodeTooLarge    = 7 // over the host's size limit or its free disk space
	ErrCodeChecksum    = 8 // the received file's sha256 does not match
)

// Limits.
const (
	MaxString   = 4096     // any string field (codes, names, reasons)
	MaxText     = 64 << 10 // Text messages
	MaxMessage  = 64 << 20 // a reassembled message (a 4K lossless keyframe fits)
	MaxFragment = 64 << 10 // bytes per data-channel message; browsers cap at 256 KiB
	maxCaps     = 64
	maxMonitors = 32
	maxPerms    = 64
)

// ErrUnknownType is returned (wrapped) for a message code this build does not know.
var ErrUnknownType = errors.New("wire: unknown message type")

// Message is one session message.
type Message interface {
	Type() MsgType
	appendBody(b []byte) []byte
	decodeBody(r *reader) error
}

// Role of a peer in a session.
type Role uint8

const (
	RoleGuest Role = 1
	RoleHost  Role = 2
)

type (
	Hello struct {
		Version uint16
		Role    Role
		Caps    []string
	}
	Bye   struct{ Reason string }
	Error struct {
		Code    uint16
		Ref     MsgType // the message type this refers to (0: none)
		Message string
	}
	Ping struct {
		ID   uint32
		Nano int64 // sender's clock, echoed in Pong
	}
	Pong        Ping
	SessionInfo struct {
		Permissions []string // policy permission names granted to this session
		Technician  string   // who is connected, as shown to the local user
		Monitors    []MonitorInfo
		Active      int16 // streamed monitor index, -1 = all
	}
	SelectMonitor struct{ Index int16 }
	ScreenFrame   struct {
		Seq         uint32
		CaptureNano int64 // host wall clock at capture (latency measurement)
		X, Y        int32 // origin of the frame in root coordinates
		Codec       uint8 // 1 = capture/codec tiles v1
		Data        []byte
	}
	FrameAck struct {
		Seq         uint32
		CaptureNano int64 // echoed from the frame
	}
	KeyframeRequest struct{}
	MouseMove       struct{ X, Y int32 } // root coordinates
	MouseButton     struct {
		Button uint8 // 1 left, 2 middle, 3 right, 4 back, 5 forward
		Down   bool
	}
	MouseWheel struct{ DX, DY int16 } // notches; DY > 0 scrolls down
	Key        struct {
		Code string // KeyboardEvent.code, e.g. "KeyA", "ShiftLeft"
		Down bool
	}
	KeyTap struct {
		Code string
		Mods uint8 // 1 shift, 2 ctrl, 4 alt, 8 meta
	}
	Text struct{ Text string }
)

// Codec ids in ScreenFrame.Codec.
const (
	CodecTilesV1 = 1 // capture/codec payload version 1: lossless tiles
	CodecTilesV2 = 2 // capture/codec payload version 2: copy, fill, palette and raw tile ops
)

func (*Hello) Type() MsgType           { return TypeHello }
func (*Bye) Type() MsgType             { return TypeBye }
func (*Error) Type() MsgType           { return TypeError }
func (*Ping) Type() MsgType            { return TypePing }
func (*Pong) Type() MsgType            { return TypePong }
func (*SessionInfo) Type() MsgType     { return TypeSessionInfo }
func (*SelectMonitor) Type() MsgType   { return TypeSelectMon }
func (*ScreenFrame) Type() MsgType     { return TypeScreenFrame }
func (*FrameAck) Type() MsgType        { return TypeFrameAck }
func (*KeyframeRequest) Type() MsgType { return TypeKeyframeReq }
func (*MouseMove) Type() MsgType       { return TypeMouseMove }
func (*MouseButton) Type() MsgType     { return TypeMouseButton }
func (*MouseWheel) Type() MsgType      { return TypeMouseWheel }
func (*Key) Type() MsgType             { return TypeKey }
func (*KeyTap) Type() MsgType          { return TypeKeyTap }
func (*Text) Type() MsgType            { return TypeText }

func (e *Error) Error() string {
	return fmt.Sprintf("remote error %d on message 0x%02x: %s", e.Code, uint8(e.Ref), e.Message)
}

// Marshal encodes m: one type byte, then the body.
func Marshal(m Message) []byte { return AppendMessage(nil, m) }

// AppendMessage appends the encoding of m to b.
func AppendMessage(b []byte, m Message) []byte {
	b = append(b, byte(m.Type()))
	return m.appendBody(b)
}

// Unmarshal decodes one message. Trailing bytes after a known body are
// ignored (additive evolution: newer peers may append fields).
func Unmarshal(b []byte) (Message, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty message", ErrMalformed)
	}
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: message of %d bytes exceeds %d", ErrMalformed, len(b), MaxMessage)
	}
	m := newMessage(MsgType(b[0]))
	if m == nil {
		return nil, fmt.Errorf("%w 0x%02x", ErrUnknownType, b[0])
	}
	r := &reader{b: b[1:]}
	if err := m.decodeBody(r); err != nil {
		return nil, fmt.Errorf("%w: type 0x%02x: %v", ErrMalformed, b[0], err)
	}
	return m, nil
}

func newMessage(t MsgType) Message {
	switch t {
	case TypeHello:
		return &Hello{}
	case TypeBye:
		return &Bye{}
	case TypeError:
		return &Error{}
	case TypePing:
		return &Ping{}
	case TypePong:
		return &Pong{}
	case TypeSessionInfo:
		return &SessionInfo{}
	case TypeSelectMon:
		return &SelectMonitor{}
	case TypeScreenFrame:
		return &ScreenFrame{}
	case TypeFrameAck:
		return &FrameAck{}
	case TypeKeyframeReq:
		return &KeyframeRequest{}
	case TypeMouseMove:
		return &MouseMove{}
	case TypeMouseButton:
		return &MouseButton{}
	case TypeMouseWheel:
		return &MouseWheel{}
	case TypeKey:
		return &Key{}
	case TypeKeyTap:
		return &KeyTap{}
	case TypeText:
		return &Text{}
	case TypeFileList:
		return &FileList{}
	case TypeFileListing:
		return &FileListing{}
	case TypeFileOpen:
		return &FileOpen{}
	case TypeFileReady:
		return &FileReady{}
	case TypeFileChunk:
		return &FileChunk{}
	case TypeFileDone:
		return &FileDone{}
	case TypeFileAck:
		return &FileAck{}
	case TypeFileCancel:
		return &FileCancel{}
	case TypeChat:
		return &Chat{}
	case TypeExecStart:
		return &ExecStart{}
	case TypeExecStarted:
		return &ExecStarted{}
	case TypeExecOutput:
		return &ExecOutput{}
	case TypeExecExit:
		return &ExecExit{}
	case TypeExecCancel:
		return &ExecCancel{}
	case TypePowerAction:
		return &PowerAction{}
	case TypePowerDone:
		return &PowerDone{}
	case TypeClipboardText:
		return &ClipboardText{}
	case TypeClipboardGet:
		return &ClipboardGet{}
	case TypeInputLock:
		return &InputLock{}
	case TypeScreenBlank:
		return &ScreenBlank{}
	case TypeLocalState:
		return &LocalState{}
	case TypeCursorShape:
		return &CursorShape{}
	case TypeCursorPos:
		return &CursorPos{}
	}
	return nil
}

// --- bodies -----------------------------------------------------------------

func (m *Hello) appendBody(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, m.Version)
	b = append(b, byte(m.Role))
	return appendStrings(b, m.Caps, maxCaps)
}

func (m *Hello) decodeBody(r *reader) error {
	m.Version = r.u16()
	m.Role = Role(r.u8())
	m.Caps = r.strings(maxCaps)
	return r.err
}

func (m *Bye) appendBody(b []byte) []byte { return appendString(b, m.Reason) }
func (m *Bye) decodeBody(r *reader) error { m.Reason = r.str(MaxString); return r.err }
func (m *Error) appendBody(b []byte) []byte {
	return appendString(append(binary.BigEndian.AppendUint16(b, m.Code), byte(m.Ref)), m.Message)
}
func (m *Error) decodeBody(r *reader) error {
	m.Code, m.Ref, m.Message = r.u16(), MsgType(r.u8()), r.str(MaxString)
	return r.err
}
func (m *Ping) appendBody(b []byte) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(b, m.ID), uint64(m.Nano))
}
func (m *Ping) decodeBody(r *reader) error { m.ID, m.Nano = r.u32(), int64(r.u64()); return r.err }
func (m *Pong) appendBody(b []byte) []byte { return (*Ping)(m).appendBody(b) }
func (m *Pong) decodeBody(r *reader) error { return (*Ping)(m).decodeBody(r) }

func (m *SessionInfo) appendBody(b []byte) []byte {
	b = appendStrings(b, m.Permissions, maxPerms)
	b = appendString(b, m.Technician)
	b = append(b, byte(min(len(m.Monitors), maxMonitors)))
	for _, mon := range m.Monitors[:min(len(m.Monitors), maxMonitors)] {
		b = appendString(b, mon.Name)
		for _, v := range []int32{mon.X, mon.Y, mon.Width, mon.Height} {
			b = binary.BigEndian.AppendUint32(b, uint32(v))
		}
		b = appendBool(b, mon.Primary)
	}
	return binary.BigEndian.AppendUint16(b, uint16(m.Active))
}

func (m *SessionInfo) decodeBody(r *reader) error {
	m.Permissions = r.strings(maxPerms)
	m.Technician = r.str(MaxString)
	n := int(r.u8())
	if n > maxMonitors {
		return fmt.Errorf("%d monitors exceed %d", n, maxMonitors)
	}
	for i := 0; i < n && r.err == nil; i++ {
		var mon MonitorInfo
		mon.Name = r.str(MaxString)
		mon.X, mon.Y, mon.Width, mon.Height = int32(r.u32()), int32(r.u32()), int32(r.u32()), int32(r.u32())
		mon.Primary = r.bool()
		if r.err == nil && (mon.Width <= 0 || mon.Height <= 0) {
			return fmt.Errorf("monitor %d has size %dx%d", i, mon.Width, mon.Height)
		}
		m.Monitors = append(m.Monitors, mon)
	}
	m.Active = int16(r.u16())
	return r.err
}

func (m *SelectMonitor) appendBody(b []byte) []byte {
	return binary.BigEndian.AppendUint16(b, uint16(m.Index))
}
func (m *SelectMonitor) decodeBody(r *reader) error { m.Index = int16(r.u16()); return r.err }

func (m *ScreenFrame) appendBody(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, m.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(m.CaptureNano))
	b = binary.BigEndian.AppendUint32(b, uint32(m.X))
	b = binary.BigEndian.AppendUint32(b, uint32(m.Y))
	b = append(b, m.Codec)
	return append(b, m.Data...)
}

func (m *ScreenFrame) decodeBody(r *reader) error {
	m.Seq, m.CaptureNano = r.u32(), int64(r.u64())
	m.X, m.Y = int32(r.u32()), int32(r.u32())
	m.Codec = r.u8()
	m.Data = r.rest() // aliases the input: copy if kept beyond the buffer's life
	return r.err
}

func (m *FrameAck) appendBody(b []byte) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(b, m.Seq), uint64(m.CaptureNano))
}
func (m *FrameAck) decodeBody(r *reader) error {
	m.Seq, m.CaptureNano = r.u32(), int64(r.u64())
	return r.err
}

func (m *KeyframeRequest) appendBody(b []byte) []byte { return b }
func (m *KeyframeRequest) decodeBody(r *reader) error { return r.err }

func (m *MouseMove) appendBody(b []byte) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(b, uint32(m.X)), uint32(m.Y))
}
func (m *MouseMove) decodeBody(r *reader) error {
	m.X, m.Y = int32(r.u32()), int32(r.u32())
	return r.err
}

func (m *MouseButton) appendBody(b []byte) []byte { return appendBool(append(b, m.Button), m.Down) }
func (m *MouseButton) decodeBody(r *reader) error {
	m.Button, m.Down = r.u8(), r.bool()
	if r.err == nil && (m.Button < 1 || m.Button > 5) {
		return fmt.Errorf("mouse button %d out of range 1..5", m.Button)
	}
	return r.err
}

func (m *MouseWheel) appendBody(b []byte) []byte {
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(b, uint16(m.DX)), uint16(m.DY))
}
func (m *MouseWheel) decodeBody(r *reader) error {
	m.DX, m.DY = int16(r.u16()), int16(r.u16())
	return r.err
}

// Key codes are short ASCII names; one length byte suffices.
const maxCode = 64

func (m *Key) appendBody(b []byte) []byte { return appendCode(appendBool(b, m.Down), m.Code) }
func (m *Key) decodeBody(r *reader) error { m.Down, m.Code = r.bool(), r.code(); return r.err }
func (m *KeyTap) appendBody(b []byte) []byte {
	return appendCode(append(b, m.Mods), m.Code)
}
func (m *KeyTap) decodeBody(r *reader) error {
	m.Mods, m.Code = r.u8(), r.code()
	if r.err == nil && m.Mods&^0x0f != 0 {
		return fmt.Errorf("unknown modifier bits 0x%02x", m.Mods)
	}
	return r.err
}

func (m *Text) appendBody(b []byte) []byte {
	t := m.Text
	if len(t) > MaxText {
		t = t[:MaxText]
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(t)))
	return append(b, t...)
}
func (m *Text) decodeBody(r *reader) error {
	n := r.u32()
	if r.err == nil && n > MaxText {
		return fmt.Errorf("text of %d bytes exceeds %d", n, MaxText)
	}
	m.Text = string(r.take(int(n)))
	return r.err
}

// --- primitives ---------------------------------------------------------------

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendString writes a u16 length and the bytes; longer strings are cut to
// MaxString (callers validate user-facing strings before sending).
func appendString(b []byte, s string) []byte {
	if len(s) > MaxString {
		s = s[:MaxString]
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendCode(b []byte, s string) []byte {
	if len(s) > maxCode {
		s = s[:maxCode]
	}
	return append(append(b, byte(len(s))), s...)
}

func appendStrings(b []byte, ss []string, limit int) []byte {
	n := min(len(ss), limit)
	b = append(b, byte(n))
	for _, s := range ss[:n] {
		b = appendString(b, s)
	}
	return b
}

// reader decodes primitives and remembers the first error, so bodies read
// straight through and check once.
type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated")

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = errShort
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() uint8 {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}
func (r *reader) u16() uint16 {
	if v := r.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}
func (r *reader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}
func (r *reader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (r *reader) bool() bool {
	switch r.u8() {
	case 0:
		return false
	case 1:
		return true
	}
	if r.err == nil {
		r.err = errors.New("bool is neither 0 nor 1")
	}
	return false
}

func (r *reader) str(limit int) string {
	n := int(r.u16())
	if r.err == nil && n > limit {
		r.err = fmt.Errorf("string of %d bytes exceeds %d", n, limit)
	}
	return string(r.take(n))
}

func (r *reader) code() string {
	n := int(r.u8())
	if r.err == nil && n > maxCode {
		r.err = fmt.Errorf("key code of %d bytes exceeds %d", n, maxCode)
	}
	s := string(r.take(n))
	for i := 0; i < len(s) && r.err == nil; i++ {
		if c := s[i]; c < 0x21 || c > 0x7e {
			r.err = errors.New("key code is not printable ASCII")
		}
	}
	return s
}

func (r *reader) strings(limit int) []string {
	n := int(r.u8())
	if r.err == nil && n > limit {
		r.err = fmt.Errorf("%d strings exceed %d", n, limit)
		return nil
	}
	var ss []string
	for i := 0; i < n && r.err == nil; i++ {
		ss = append(ss, r.str(MaxString))
	}
	return ss
}

func (r *reader) rest() []byte {
	v := r.b
	r.b = nil
	return v
}
