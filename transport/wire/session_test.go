package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// unhex decodes a hand-written hex vector; spaces separate fields for the reader.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad test vector %q: %v", s, err)
	}
	return b
}

// sessionVectors are hand-written encodings of every session message type:
// type byte, then the body fields in order, big endian.
var sessionVectors = []struct {
	name string
	msg  Message
	hex  string
}{
	{"hello", &Hello{Version: 1, Role: RoleGuest, Caps: []string{"frag.v1", "input.v1"}},
		"01 0001 01 02 0007 667261672e7631 0008 696e7075742e7631"},
	{"hello/no caps", &Hello{Version: 0x0102, Role: RoleHost},
		"01 0102 02 00"},
	{"bye", &Bye{Reason: "done"},
		"02 0004 646f6e65"},
	{"bye/empty", &Bye{},
		"02 0000"},
	{"error", &Error{Code: ErrCodeDenied, Ref: TypeKey, Message: "denied"},
		"03 0002 23 0006 64656e696564"},
	{"ping", &Ping{ID: 0x01020304, Nano: -1},
		"04 01020304 ffffffffffffffff"},
	{"pong", &Pong{ID: 7, Nano: 0x0102030405060708},
		"05 00000007 0102030405060708"},
	{"session info", &SessionInfo{
		Permissions: []string{"view_screen"},
		Technician:  "Ann",
		Monitors:    []MonitorInfo{{Name: "DP-1", X: -1920, Y: 0, Width: 1920, Height: 1080, Primary: true}},
		Active:      -1,
	}, "06 01 000b 766965775f73637265656e 0003 416e6e 01 0004 44502d31 fffff880 00000000 00000780 00000438 01 ffff"},
	{"session info/two monitors", &SessionInfo{
		Permissions: []string{"chat", "power"},
		Monitors: []MonitorInfo{
			{Width: 800, Height: 600},
			{Name: "b", X: 800, Y: 10, Width: 1, Height: 2},
		},
		Active: 1,
	}, "06 02 0004 63686174 0005 706f776572 0000 02 0000 00000000 00000000 00000320 00000258 00 0001 62 00000320 0000000a 00000001 00000002 00 0001"},
	{"session info/empty", &SessionInfo{},
		"06 00 0000 00 0000"},
	{"select monitor", &SelectMonitor{Index: -1},
		"07 ffff"},
	{"select monitor/2", &SelectMonitor{Index: 2},
		"07 0002"},
	{"screen frame", &ScreenFrame{Seq: 1, CaptureNano: 2, X: 3, Y: -4, Codec: CodecTilesV1, Data: []byte{0xde, 0xad}},
		"10 00000001 0000000000000002 00000003 fffffffc 01 dead"},
	{"screen frame/no data", &ScreenFrame{Seq: 0xffffffff, Codec: 0, Data: []byte{}},
		"10 ffffffff 0000000000000000 00000000 00000000 00"},
	{"frame ack", &FrameAck{Seq: 9, CaptureNano: 0x7fffffffffffffff},
		"11 00000009 7fffffffffffffff"},
	{"keyframe request", &KeyframeRequest{},
		"12"},
	{"cursor shape", &CursorShape{ID: 0x0a0b0c0d, HotX: 1, HotY: 0, Width: 2, Height: 1, Pix: []byte{1, 2, 3, 4, 0xff, 0xfe, 0xfd, 0}},
		"13 0a0b0c0d 0001 0000 0002 0001 01020304 fffefd00"},
	{"cursor shape/1x1", &CursorShape{ID: 0, Width: 1, Height: 1, Pix: []byte{0, 0, 0, 0xff}},
		"13 00000000 0000 0000 0001 0001 000000ff"},
	{"cursor pos", &CursorPos{X: 100, Y: -2, ID: 7},
		"14 00000064 fffffffe 00000007"},
	{"mouse move", &MouseMove{X: 100, Y: -2},
		"20 00000064 fffffffe"},
	{"mouse button/right down", &MouseButton{Button: 3, Down: true},
		"21 03 01"},
	{"mouse button/left up", &MouseButton{Button: 1},
		"21 01 00"},
	{"mouse button/forward", &MouseButton{Button: 5, Down: true},
		"21 05 01"},
	{"mouse wheel", &MouseWheel{DX: -1, DY: 3},
		"22 ffff 0003"},
	{"key", &Key{Code: "KeyA", Down: true},
		"23 01 04 4b657941"},
	{"key/up", &Key{Code: "ShiftLeft"},
		"23 00 09 53686966744c656674"},
	{"key tap", &KeyTap{Code: "Delete", Mods: 0x06},
		"24 06 06 44656c657465"},
	{"key tap/all mods", &KeyTap{Code: "KeyZ", Mods: 0x0f},
		"24 0f 04 4b65795a"},
	{"text", &Text{Text: "héllo"},
		"25 00000006 68c3a96c6c6f"},
	{"text/empty", &Text{},
		"25 00000000"},
	{"file list", &FileList{ID: 1, Path: "docs/a"},
		"40 00000001 0006 646f63732f61"},
	{"file list/root", &FileList{ID: 0xffffffff},
		"40 ffffffff 0000"},
	{"file listing", &FileListing{ID: 2, Entries: []FileEntry{
		{Name: "a.txt", Size: 5, Mode: 0o644, ModTime: 1700000000},
		{Name: "d", Mode: FileModeDir | 0o755, ModTime: -1},
	}}, "41 00000002 00 00000002 0005 612e747874 0000000000000005 000001a4 000000006553f100 0001 64 0000000000000000 800001ed ffffffffffffffff"},
	{"file listing/empty truncated", &FileListing{ID: 3, Truncated: true},
		"41 00000003 01 00000000"},
	{"file open/put", &FileOpen{ID: 4, Dir: FilePut, Flags: FileResume | FileOverwrite, Path: "x", Size: 0x0102030405,
		SHA256: sha(0xab)}, "42 00000004 01 03 0001 78 0000000102030405 abababababababababababababababababababababababababababababababab 0000000000000000"},
	{"file open/get", &FileOpen{ID: 5, Dir: FileGet, Path: "y/z", Offset: 65536},
		"42 00000005 02 00 0003 792f7a 0000000000000000 0000000000000000000000000000000000000000000000000000000000000000 0000000000010000"},
	{"file ready", &FileReady{ID: 6, Offset: 10, Size: 20},
		"43 00000006 000000000000000a 0000000000000014"},
	{"file chunk", &FileChunk{ID: 7, Offset: 0x100000000, Data: []byte{1, 2, 3}},
		"44 00000007 0000000100000000 010203"},
	{"file chunk/empty", &FileChunk{ID: 7, Data: []byte{}},
		"44 00000007 0000000000000000"},
	{"file done", &FileDone{ID: 8, Size: 3, SHA256: sha(0xab)},
		"45 00000008 0000000000000003 abababababababababababababababababababababababababababababababab"},
	{"file ack", &FileAck{ID: 9, Size: 0, SHA256: sha(0xab)},
		"46 00000009 0000000000000000 abababababababababababababababababababababababababababababababab"},
	{"file cancel", &FileCancel{ID: 10, Reason: "stop"},
		"47 0000000a 0004 73746f70"},
	{"chat", &Chat{Seq: 1, Time: 1700000000000, Text: "héllo ✓"},
		"50 00000001 0000018bcfe56800 000a 68c3a96c6c6f20e29c93"},
	{"chat/newline, negative time", &Chat{Seq: 0xffffffff, Time: -1, Text: "a\nb"},
		"50 ffffffff ffffffffffffffff 0003 610a62"},
	{"exec start", &ExecStart{ID: 1, TimeoutMs: 60000, Dir: "/tmp", Argv: []string{"sh", "-c", "exit 3"}},
		"51 00000001 0000ea60 0004 2f746d70 0003 0002 7368 0002 2d63 0006 657869742033"},
	{"exec start/no dir, empty argv", &ExecStart{ID: 2},
		"51 00000002 00000000 0000 0000"},
	{"exec started", &ExecStarted{ID: 3, PID: 0x01020304},
		"52 00000003 01020304"},
	{"exec output/stdout", &ExecOutput{ID: 4, Stream: StreamStdout, Data: []byte("out\n")},
		"53 00000004 01 6f75740a"},
	{"exec output/stderr empty", &ExecOutput{ID: 4, Stream: StreamStderr, Data: []byte{}},
		"53 00000004 02"},
	{"exec exit", &ExecExit{ID: 5, Status: ExecExited, Code: 3},
		"54 00000005 00 00000003 0000"},
	{"exec exit/timed out", &ExecExit{ID: 6, Status: ExecTimedOut, Code: -1, Message: "timed out"},
		"54 00000006 02 ffffffff 0009 74696d6564206f7574"},
	{"exec exit/killed", &ExecExit{ID: 7, Status: ExecKilled, Code: 9, Message: "killed"},
		"54 00000007 01 00000009 0006 6b696c6c6564"},
	{"exec cancel", &ExecCancel{ID: 8},
		"55 00000008"},
	{"power action/lock", &PowerAction{ID: 9, Action: PowerLock},
		"56 00000009 02"},
	{"power action/ctrl alt del", &PowerAction{ID: 10, Action: PowerCtrlAltDel},
		"56 0000000a 05"},
	{"power done/shutdown", &PowerDone{ID: 11, Action: PowerShutdown},
		"57 0000000b 04"},
	{"clipboard text", &ClipboardText{Text: "héllo"},
		"60 00000006 68c3a96c6c6f"},
	{"clipboard text/empty", &ClipboardText{},
		"60 00000000"},
	{"clipboard get", &ClipboardGet{},
		"61"},
	{"input lock", &InputLock{Lock: true},
		"62 01"},
	{"input unlock", &InputLock{},
		"62 00"},
	{"screen blank", &ScreenBlank{Blank: true},
		"63 01"},
	{"screen restore", &ScreenBlank{},
		"63 00"},
	{"local state", &LocalState{Flags: LocalInputLocked | LocalScreenBlanked},
		"64 03"},
	{"local state/none", &LocalState{},
		"64 00"},
}

// sha is a digest of one repeated byte, for vectors.
func sha(b byte) (d [32]byte) {
	for i := range d {
		d[i] = b
	}
	return d
}

func TestMarshalVectors(t *testing.T) {
	for _, v := range sessionVectors {
		t.Run(v.name, func(t *testing.T) {
			want := unhex(t, v.hex)
			if got := Marshal(v.msg); !bytes.Equal(got, want) {
				t.Fatalf("Marshal(%#v)\n got %x\nwant %x", v.msg, got, want)
			}
			// AppendMessage appends after existing bytes.
			if got := AppendMessage([]byte{0xaa}, v.msg); !bytes.Equal(got, append([]byte{0xaa}, want...)) {
				t.Fatalf("AppendMessage = %x", got)
			}
		})
	}
}

func TestUnmarshalVectors(t *testing.T) {
	for _, v := range sessionVectors {
		t.Run(v.name, func(t *testing.T) {
			got, err := Unmarshal(unhex(t, v.hex))
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if got.Type() != v.msg.Type() {
				t.Fatalf("type %#x, want %#x", got.Type(), v.msg.Type())
			}
			if !reflect.DeepEqual(got, v.msg) {
				t.Fatalf("Unmarshal\n got %#v\nwant %#v", got, v.msg)
			}
		})
	}
}

func TestAllTypesCovered(t *testing.T) {
	seen := map[MsgType]bool{}
	for _, v := range sessionVectors {
		seen[v.msg.Type()] = true
	}
	for c := 0; c < 256; c++ {
		if m := newMessage(MsgType(c)); m != nil {
			if m.Type() != MsgType(c) {
				t.Errorf("newMessage(%#x).Type() = %#x", c, m.Type())
			}
			if !seen[MsgType(c)] {
				t.Errorf("message type %#x has no test vector", c)
			}
		}
	}
}

// Newer peers may append fields: trailing bytes after a known body are ignored.
func TestUnmarshalIgnoresTrailingBytes(t *testing.T) {
	got, err := Unmarshal(unhex(t, "02 0002 6869 ffff"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, &Bye{Reason: "hi"}) {
		t.Fatalf("got %#v", got)
	}
}

func TestUnmarshalTruncated(t *testing.T) {
	for _, v := range sessionVectors {
		full := unhex(t, v.hex)
		end := len(full)
		if sf, ok := v.msg.(*ScreenFrame); ok {
			end -= len(sf.Data) // the frame data is "the rest": any prefix of it is a valid frame
		}
		if fc, ok := v.msg.(*FileChunk); ok {
			end -= len(fc.Data) // likewise for chunk data
		}
		if eo, ok := v.msg.(*ExecOutput); ok {
			end -= len(eo.Data) // and for command output
		}
		for n := 0; n < end; n++ {
			if _, err := Unmarshal(full[:n]); !errors.Is(err, ErrMalformed) {
				t.Errorf("%s: Unmarshal(%x) = %v, want ErrMalformed", v.name, full[:n], err)
			}
		}
	}
}

func TestUnmarshalErrors(t *testing.T) {
	long := func(n int) string { return strings.Repeat("41", n) } // n bytes of 'A'
	tests := []struct {
		name string
		hex  string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"unknown type 0x00", "00", ErrUnknownType},
		{"unknown type 0x7f", "7f 0102", ErrUnknownType},
		{"unknown type 0xff", "ff", ErrUnknownType},
		{"retired gap 0x08", "08 0000", ErrUnknownType},

		{"bye/string over MaxString", "02 1001" + long(4097), ErrMalformed},
		{"bye/length beyond input", "02 0005 6869", ErrMalformed},
		{"error/message over MaxString", "03 0001 00 1001" + long(4097), ErrMalformed},
		{"hello/cap over MaxString", "01 0001 01 01 1001" + long(4097), ErrMalformed},
		{"hello/too many caps", "01 0001 01 41", ErrMalformed},
		{"session info/too many permissions", "06 41", ErrMalformed},
		{"session info/technician over MaxString", "06 00 1001" + long(4097), ErrMalformed},
		{"session info/too many monitors", "06 00 0000 21", ErrMalformed},
		{"session info/monitor name over MaxString", "06 00 0000 01 1001" + long(4097), ErrMalformed},
		{"session info/zero width monitor", "06 00 0000 01 0000 00000000 00000000 00000000 00000001 00 0000", ErrMalformed},
		{"session info/negative height monitor", "06 00 0000 01 0000 00000000 00000000 00000001 ffffffff 00 0000", ErrMalformed},
		{"session info/bad primary bool", "06 00 0000 01 0000 00000000 00000000 00000001 00000001 02 0000", ErrMalformed},

		{"mouse button/bad bool", "21 01 02", ErrMalformed},
		{"mouse button/bool 0xff", "21 01 ff", ErrMalformed},
		{"mouse button/0", "21 00 01", ErrMalformed},
		{"mouse button/6", "21 06 00", ErrMalformed},
		{"mouse button/255", "21 ff 00", ErrMalformed},

		{"key/bad bool", "23 02 04 4b657941", ErrMalformed},
		{"key/code over 64", "23 01 41" + long(65), ErrMalformed},
		{"key/code with space", "23 01 02 4120", ErrMalformed},
		{"key/code with DEL", "23 01 01 7f", ErrMalformed},
		{"key/code with UTF-8", "23 01 02 c3a9", ErrMalformed},

		{"key tap/modifier 0x10", "24 10 01 41", ErrMalformed},
		{"key tap/modifier 0x80", "24 81 01 41", ErrMalformed},
		{"key tap/code over 64", "24 00 ff" + long(255), ErrMalformed},

		{"text/over MaxText", "25 00010001" + long(MaxText+1), ErrMalformed},
		{"text/huge length, no data", "25 ffffffff", ErrMalformed},
		{"text/length beyond input", "25 00000004 4142", ErrMalformed},

		{"file list/path over MaxString", "40 00000001 1001" + long(4097), ErrMalformed},
		{"file listing/too many entries", "41 00000001 00 00010001", ErrMalformed},
		{"file listing/huge count, no data", "41 00000001 00 ffffffff", ErrMalformed},
		{"file listing/bad truncated bool", "41 00000001 02 00000000", ErrMalformed},
		{"file open/direction 0", "42 00000001 00 00 0000 0000000000000000 0000000000000000000000000000000000000000000000000000000000000000 0000000000000000", ErrMalformed},
		{"file open/direction 3", "42 00000001 03 00 0000 0000000000000000 0000000000000000000000000000000000000000000000000000000000000000 0000000000000000", ErrMalformed},
		{"file open/unknown flag", "42 00000001 01 04 0000 0000000000000000 0000000000000000000000000000000000000000000000000000000000000000 0000000000000000", ErrMalformed},
		{"file open/short digest", "42 00000001 01 00 0000 0000000000000000 abab", ErrMalformed},
		{"file ready/offset beyond size", "43 00000001 0000000000000002 0000000000000001", ErrMalformed},
		{"file chunk/over MaxFileChunk", "44 00000001 0000000000000000" + long(MaxFileChunk+1), ErrMalformed},
		{"file done/short digest", "45 00000001 0000000000000000 ab", ErrMalformed},
		{"file cancel/reason over MaxString", "47 00000001 1001" + long(4097), ErrMalformed},

		{"unknown type 0x58", "58 00000001", ErrUnknownType},
		{"unknown type 0x5f", "5f", ErrUnknownType},
		{"chat/empty", "50 00000001 0000000000000000 0000", ErrMalformed},
		{"chat/over MaxChat", "50 00000001 0000000000000000 1001" + long(MaxChat+1), ErrMalformed},
		{"chat/invalid UTF-8", "50 00000001 0000000000000000 0002 c328", ErrMalformed},
		{"chat/NUL", "50 00000001 0000000000000000 0003 410041", ErrMalformed},
		{"chat/carriage return", "50 00000001 0000000000000000 0002 410d", ErrMalformed},
		{"chat/escape", "50 00000001 0000000000000000 0004 1b5b324a", ErrMalformed},
		{"chat/tab", "50 00000001 0000000000000000 0002 4109", ErrMalformed},
		{"chat/DEL", "50 00000001 0000000000000000 0001 7f", ErrMalformed},
		{"chat/C1 control", "50 00000001 0000000000000000 0002 c29b", ErrMalformed},
		{"chat/right-to-left override", "50 00000001 0000000000000000 0004 41e280ae", ErrMalformed},
		{"chat/length beyond input", "50 00000001 0000000000000000 0005 4142", ErrMalformed},
		{"exec start/too many args", "51 00000001 00000000 0000 0401", ErrMalformed},
		{"exec start/huge arg count, no data", "51 00000001 00000000 0000 ffff", ErrMalformed},
		{"exec start/arg over MaxString", "51 00000001 00000000 0000 0001 1001" + long(4097), ErrMalformed},
		{"exec start/dir over MaxString", "51 00000001 00000000 1001" + long(4097), ErrMalformed},
		{"exec start/fewer args than counted", "51 00000001 00000000 0000 0002 0002 7368", ErrMalformed},
		{"exec output/stream 0", "53 00000001 00 41", ErrMalformed},
		{"exec output/stream 3", "53 00000001 03 41", ErrMalformed},
		{"exec output/over MaxExecChunk", "53 00000001 01" + long(MaxExecChunk+1), ErrMalformed},
		{"exec exit/unknown status", "54 00000001 05 00000000 0000", ErrMalformed},
		{"exec exit/message over MaxString", "54 00000001 00 00000000 1001" + long(4097), ErrMalformed},
		{"power action/0", "56 00000001 00", ErrMalformed},
		{"power action/6", "56 00000001 06", ErrMalformed},
		{"power done/ff", "57 00000001 ff", ErrMalformed},
		{"clipboard text/over MaxClipboard", "60 00100001" + long(MaxClipboard+1), ErrMalformed},
		{"clipboard text/huge length, no data", "60 ffffffff", ErrMalformed},
		{"clipboard text/length beyond input", "60 00000004 4142", ErrMalformed},
		{"clipboard text/invalid UTF-8", "60 00000002 c328", ErrMalformed},
		{"clipboard text/lone surrogate", "60 00000003 eda080", ErrMalformed},
		{"input lock/bad bool", "62 02", ErrMalformed},
		{"input lock/empty", "62", ErrMalformed},
		{"screen blank/bad bool", "63 ff", ErrMalformed},
		{"local state/unknown bit", "64 04", ErrMalformed},
		{"local state/empty", "64", ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Unmarshal(unhex(t, tc.hex))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Unmarshal = %#v, %v; want %v", m, err, tc.want)
			}
			if m != nil {
				t.Fatalf("got a message with an error: %#v", m)
			}
		})
	}
}

func TestUnmarshalLimits(t *testing.T) {
	// Exactly at the limits is fine.
	at := append(unhex(t, "02 1000"), bytes.Repeat([]byte{'A'}, MaxString)...)
	if _, err := Unmarshal(at); err != nil {
		t.Errorf("string of MaxString: %v", err)
	}
	at = append(unhex(t, "25 00010000"), bytes.Repeat([]byte{'A'}, MaxText)...)
	if _, err := Unmarshal(at); err != nil {
		t.Errorf("text of MaxText: %v", err)
	}
	at = append(unhex(t, "23 01 40"), bytes.Repeat([]byte{'A'}, 64)...)
	if _, err := Unmarshal(at); err != nil {
		t.Errorf("key code of 64: %v", err)
	}
	mons := unhex(t, "06 00 0000 20")
	for range 32 {
		mons = append(mons, unhex(t, "0000 00000000 00000000 00000001 00000001 00")...)
	}
	mons = append(mons, 0, 0)
	if m, err := Unmarshal(mons); err != nil || len(m.(*SessionInfo).Monitors) != 32 {
		t.Errorf("32 monitors: %v", err)
	}

	// A full file chunk decodes and fits one data-channel fragment with its flag byte.
	chunk := Marshal(&FileChunk{ID: 1, Offset: 2, Data: make([]byte, MaxFileChunk)})
	if len(chunk) != MaxFragment-1 {
		t.Errorf("full chunk is %d bytes, want %d", len(chunk), MaxFragment-1)
	}
	if m, err := Unmarshal(chunk); err != nil || len(m.(*FileChunk).Data) != MaxFileChunk {
		t.Errorf("chunk of MaxFileChunk: %v", err)
	}
	// Marshal clamps an oversized chunk rather than writing what Unmarshal refuses.
	if m, err := Unmarshal(Marshal(&FileChunk{Data: make([]byte, MaxFileChunk+5)})); err != nil || len(m.(*FileChunk).Data) != MaxFileChunk {
		t.Errorf("clamped chunk: %v", err)
	}

	// A full output chunk fits one fragment too, and a chat of MaxChat decodes.
	out := Marshal(&ExecOutput{ID: 1, Stream: StreamStderr, Data: make([]byte, MaxExecChunk)})
	if len(out) != MaxFragment-1 {
		t.Errorf("full output chunk is %d bytes, want %d", len(out), MaxFragment-1)
	}
	if m, err := Unmarshal(out); err != nil || len(m.(*ExecOutput).Data) != MaxExecChunk {
		t.Errorf("output of MaxExecChunk: %v", err)
	}
	if m, err := Unmarshal(Marshal(&ExecOutput{Stream: StreamStdout, Data: make([]byte, MaxExecChunk+9)})); err != nil || len(m.(*ExecOutput).Data) != MaxExecChunk {
		t.Errorf("clamped output: %v", err)
	}
	chat := strings.Repeat("é", MaxChat/2)
	if m, err := Unmarshal(Marshal(&Chat{Text: chat})); err != nil || m.(*Chat).Text != chat {
		t.Errorf("chat of MaxChat: %v", err)
	}
	args := make([]string, MaxExecArgs+5)
	for i := range args {
		args[i] = "a"
	}
	if m, err := Unmarshal(Marshal(&ExecStart{Argv: args})); err != nil || len(m.(*ExecStart).Argv) != MaxExecArgs {
		t.Errorf("clamped argv: %v", err)
	}

	// A whole message above MaxMessage is refused before decoding.
	big := make([]byte, MaxMessage+1)
	big[0] = byte(TypeScreenFrame)
	if _, err := Unmarshal(big); !errors.Is(err, ErrMalformed) {
		t.Errorf("message over MaxMessage: %v", err)
	}
}

// Marshal never writes what Unmarshal would refuse: over-long fields are cut.
func TestMarshalClampsLimits(t *testing.T) {
	long := strings.Repeat("x", MaxString+10)
	b := Marshal(&Bye{Reason: long})
	if len(b) != 1+2+MaxString {
		t.Fatalf("bye len %d", len(b))
	}
	m, err := Unmarshal(b)
	if err != nil || m.(*Bye).Reason != long[:MaxString] {
		t.Fatalf("clamped bye: %v", err)
	}

	b = Marshal(&Text{Text: strings.Repeat("y", MaxText+1)})
	if len(b) != 1+4+MaxText {
		t.Fatalf("text len %d", len(b))
	}
	if _, err := Unmarshal(b); err != nil {
		t.Fatal(err)
	}

	b = Marshal(&Key{Code: strings.Repeat("K", 100)})
	if m, err := Unmarshal(b); err != nil || len(m.(*Key).Code) != maxCode {
		t.Fatalf("clamped key: %v", err)
	}

	caps := make([]string, 100)
	for i := range caps {
		caps[i] = "c"
	}
	if m, err := Unmarshal(Marshal(&Hello{Caps: caps})); err != nil || len(m.(*Hello).Caps) != maxCaps {
		t.Fatalf("clamped caps: %v", err)
	}

	mons := make([]MonitorInfo, 40)
	for i := range mons {
		mons[i] = MonitorInfo{Width: 1, Height: 1}
	}
	m, err = Unmarshal(Marshal(&SessionInfo{Monitors: mons, Permissions: caps}))
	if err != nil {
		t.Fatal(err)
	}
	si := m.(*SessionInfo)
	if len(si.Monitors) != maxMonitors || len(si.Permissions) != maxPerms {
		t.Fatalf("clamped session info: %d monitors, %d perms", len(si.Monitors), len(si.Permissions))
	}
}

func TestErrorMessageIsError(t *testing.T) {
	var err error = &Error{Code: ErrCodeUnsupported, Ref: 0x7f, Message: "unknown"}
	if got, want := err.Error(), "remote error 1 on message 0x7f: unknown"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}
