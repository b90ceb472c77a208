package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Session features, codes 0x50–0x5f: chat, command execution and power
// actions. A host refuses each of them with ErrCodeDenied unless the grant
// carries its permission (chat, execute_command, power).
//
// Chat: either side sends Chat on ChannelControl; each side numbers its own
// messages (Seq) and stamps them with its clock. Nothing answers a Chat; a
// refusal is an Error whose Ref is TypeChat.
//
// Execute command, on ChannelExec: guest ExecStart → host ExecStarted (or an
// Error whose Ref is TypeExecStart: starts are answered in order) → host
// ExecOutput… (stdout and stderr chunks, each stream in order) → host
// ExecExit, always last. The guest may send ExecCancel at any time; the
// command's process group is then killed and ExecExit says ExecCancelled.
//
// Power: guest PowerAction on ChannelControl → host PowerDone, or an Error
// whose Ref is TypePowerAction. One action at a time.
const (
	TypeChat        MsgType = 0x50 // both ways: a chat line
	TypeExecStart   MsgType = 0x51 // guest → host: run a command
	TypeExecStarted MsgType = 0x52 // host → guest: the command runs
	TypeExecOutput  MsgType = 0x53 // host → guest: a chunk of stdout or stderr
	TypeExecExit    MsgType = 0x54 // host → guest: the command ended (always its last message)
	TypeExecCancel  MsgType = 0x55 // guest → host: kill the command
	TypePowerAction MsgType = 0x56 // guest → host: log out, lock, restart, shut down, Ctrl+Alt+Del
	TypePowerDone   MsgType = 0x57 // host → guest: the action was carried out
)

// Limits of the session features.
const (
	// MaxChat bounds a chat message's text, in bytes of UTF-8.
	MaxChat = 4096
	// MaxExecArgs bounds a command line's arguments (argv[0] included).
	MaxExecArgs = 1024
	// MaxExecChunk is the most output one ExecOutput carries: with its
	// header it fits one data-channel fragment.
	MaxExecChunk = MaxFragment - 1 - 1 - 4 - 1 // flag, type, id, stream
)

// ExecOutput streams.
const (
	StreamStdout uint8 = 1
	StreamStderr uint8 = 2
)

// ExecExit statuses: how the command ended.
const (
	ExecExited    uint8 = 0 // it exited by itself; Code is its exit code
	ExecKilled    uint8 = 1 // a signal ended it (not the host); Code is the signal number
	ExecTimedOut  uint8 = 2 // the timeout passed; the host killed its process group
	ExecCancelled uint8 = 3 // the guest cancelled it; the host killed its process group
	ExecFailed    uint8 = 4 // the host lost it (waiting failed); Message says why
)

// Power actions.
const (
	PowerLogout     uint8 = 1 // end the local user's session
	PowerLock       uint8 = 2 // lock the local user's session
	PowerRestart    uint8 = 3 // reboot the machine
	PowerShutdown   uint8 = 4 // power the machine off
	PowerCtrlAltDel uint8 = 5 // the secure attention sequence (Windows only)
)

type (
	Chat struct {
		Seq  uint32 // the sender's own counter
		Time int64  // sender's clock, Unix milliseconds
		Text string // ValidChatText: UTF-8, no control characters but '\n'
	}
	ExecStart struct {
		ID        uint32
		TimeoutMs uint32   // 0: no limit of the guest's (the host may still have one)
		Dir       string   // absolute working directory on the host; "" is the host's default
		Argv      []string // program and arguments, never a shell string
	}
	ExecStarted struct {
		ID  uint32
		PID uint32
	}
	ExecOutput struct {
		ID     uint32
		Stream uint8  // StreamStdout or StreamStderr
		Data   []byte // at most MaxExecChunk
	}
	ExecExit struct {
		ID      uint32
		Status  uint8 // ExecExited, ExecKilled, ...
		Code    int32 // exit code, or the signal number when killed
		Message string
	}
	ExecCancel  struct{ ID uint32 }
	PowerAction struct {
		ID     uint32
		Action uint8 // PowerLogout ... PowerCtrlAltDel
	}
	PowerDone PowerAction
)

func (*Chat) Type() MsgType        { return TypeChat }
func (*ExecStart) Type() MsgType   { return TypeExecStart }
func (*ExecStarted) Type() MsgType { return TypeExecStarted }
func (*ExecOutput) Type() MsgType  { return TypeExecOutput }
func (*ExecExit) Type() MsgType    { return TypeExecExit }
func (*ExecCancel) Type() MsgType  { return TypeExecCancel }
func (*PowerAction) Type() MsgType { return TypePowerAction }
func (*PowerDone) Type() MsgType   { return TypePowerDone }

// IsExecMessage reports whether t is a command execution message.
func IsExecMessage(t MsgType) bool { return t >= TypeExecStart && t <= TypeExecCancel }

// PowerActionName names a power action for logs and messages ("" if unknown).
func PowerActionName(a uint8) string {
	switch a {
	case PowerLogout:
		return "log out"
	case PowerLock:
		return "lock"
	case PowerRestart:
		return "restart"
	case PowerShutdown:
		return "shut down"
	case PowerCtrlAltDel:
		return "Ctrl+Alt+Del"
	}
	return ""
}

// ErrChatText is returned (wrapped) for chat text ValidChatText refuses.
var ErrChatText = errors.New("wire: chat text refused")

// ValidChatText checks chat text: 1 to MaxChat bytes of valid UTF-8 with no
// control characters except '\n', and none of the bidirectional overrides
// and isolates that could make the text shown to the local user read
// differently from what was sent.
func ValidChatText(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty", ErrChatText)
	case len(s) > MaxChat:
		return fmt.Errorf("%w: %d bytes exceed %d", ErrChatText, len(s), MaxChat)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: not valid UTF-8", ErrChatText)
	}
	for i, r := range s {
		if r == '\n' {
			continue
		}
		if unicode.IsControl(r) || isBidiControl(r) {
			return fmt.Errorf("%w: control character %U at byte %d", ErrChatText, r, i)
		}
	}
	return nil
}

func isBidiControl(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f || r == 0x061c
}

func (m *Chat) appendBody(b []byte) []byte {
	t := m.Text
	if len(t) > MaxChat {
		t = t[:MaxChat]
	}
	b = u64(u32(b, m.Seq), uint64(m.Time))
	return appendString(b, t)
}

func (m *Chat) decodeBody(r *reader) error {
	m.Seq, m.Time, m.Text = r.u32(), int64(r.u64()), r.str(MaxChat)
	if r.err == nil {
		if err := ValidChatText(m.Text); err != nil {
			return err
		}
	}
	return r.err
}

func (m *ExecStart) appendBody(b []byte) []byte {
	b = u32(u32(b, m.ID), m.TimeoutMs)
	b = appendString(b, m.Dir)
	n := min(len(m.Argv), MaxExecArgs)
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	for _, a := range m.Argv[:n] {
		b = appendString(b, a)
	}
	return b
}

func (m *ExecStart) decodeBody(r *reader) error {
	m.ID, m.TimeoutMs, m.Dir = r.u32(), r.u32(), r.str(MaxString)
	n := int(r.u16())
	if r.err == nil && n > MaxExecArgs {
		return fmt.Errorf("%d arguments exceed %d", n, MaxExecArgs)
	}
	for i := 0; i < n && r.err == nil; i++ {
		m.Argv = append(m.Argv, r.str(MaxString))
	}
	return r.err
}

func (m *ExecStarted) appendBody(b []byte) []byte { return u32(u32(b, m.ID), m.PID) }
func (m *ExecStarted) decodeBody(r *reader) error {
	m.ID, m.PID = r.u32(), r.u32()
	return r.err
}

func (m *ExecOutput) appendBody(b []byte) []byte {
	d := m.Data
	if len(d) > MaxExecChunk {
		d = d[:MaxExecChunk]
	}
	return append(append(u32(b, m.ID), m.Stream), d...)
}

func (m *ExecOutput) decodeBody(r *reader) error {
	m.ID, m.Stream = r.u32(), r.u8()
	m.Data = r.rest() // aliases the input
	switch {
	case r.err != nil:
	case m.Stream != StreamStdout && m.Stream != StreamStderr:
		return fmt.Errorf("output stream %d is neither stdout nor stderr", m.Stream)
	case len(m.Data) > MaxExecChunk:
		return fmt.Errorf("output chunk of %d bytes exceeds %d", len(m.Data), MaxExecChunk)
	}
	return r.err
}

func (m *ExecExit) appendBody(b []byte) []byte {
	b = append(u32(b, m.ID), m.Status)
	return appendString(u32(b, uint32(m.Code)), m.Message)
}

func (m *ExecExit) decodeBody(r *reader) error {
	m.ID, m.Status, m.Code, m.Message = r.u32(), r.u8(), int32(r.u32()), r.str(MaxString)
	if r.err == nil && m.Status > ExecFailed {
		return fmt.Errorf("unknown exit status %d", m.Status)
	}
	return r.err
}

func (m *ExecCancel) appendBody(b []byte) []byte { return u32(b, m.ID) }
func (m *ExecCancel) decodeBody(r *reader) error { m.ID = r.u32(); return r.err }

func (m *PowerAction) appendBody(b []byte) []byte { return append(u32(b, m.ID), m.Action) }
func (m *PowerAction) decodeBody(r *reader) error {
	m.ID, m.Action = r.u32(), r.u8()
	if r.err == nil && PowerActionName(m.Action) == "" {
		return fmt.Errorf("unknown power action %d", m.Action)
	}
	return r.err
}

func (m *PowerDone) appendBody(b []byte) []byte { return (*PowerAction)(m).appendBody(b) }
func (m *PowerDone) decodeBody(r *reader) error { return (*PowerAction)(m).decodeBody(r) }
