package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// In CI these run as plain tests over the seeds; locally:
//
//	go test ./transport/wire -run '^$' -fuzz FuzzUnmarshal -fuzztime 15s

func FuzzUnmarshal(f *testing.F) {
	for _, v := range sessionVectors {
		f.Add(unhex(f, v.hex))
	}
	f.Add([]byte{})
	f.Add([]byte{0xff})
	f.Add(unhex(f, "06 00 0000 21"))
	f.Add(unhex(f, "25 ffffffff"))
	f.Add(unhex(f, "23 01 02 4120"))
	f.Add(unhex(f, "50 00000001 0000000000000000 0004 41e280ae"))
	f.Add(unhex(f, "51 00000001 00000000 0000 ffff"))
	f.Add(unhex(f, "53 00000001 03 41"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Unmarshal(b)
		if err != nil {
			if m != nil {
				t.Fatalf("message and error: %#v, %v", m, err)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownType) {
				t.Fatalf("error is neither ErrMalformed nor ErrUnknownType: %v", err)
			}
			return
		}
		if m.Type() != MsgType(b[0]) {
			t.Fatalf("decoded type %#x from code %#x", m.Type(), b[0])
		}
		enc := Marshal(m)
		// The encoding is canonical: re-encoding gives back exactly the bytes
		// that were decoded (trailing bytes are ignored).
		if !bytes.HasPrefix(b, enc) {
			t.Fatalf("re-encoding %x is not a prefix of the input %x", enc, b)
		}
		m2, err := Unmarshal(enc)
		if err != nil {
			t.Fatalf("re-decode of %x (from %x): %v", enc, b, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed the message:\n%#v\n%#v", m, m2)
		}
		if enc2 := Marshal(m2); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable: %x vs %x", enc, enc2)
		}
	})
}

// FuzzFileMessages builds file transfer messages from arbitrary fields:
// whatever Marshal writes, Unmarshal reads back unchanged (or, for an
// out-of-range direction, flags or offset, refuses as malformed).
func FuzzFileMessages(f *testing.F) {
	f.Add(uint32(1), uint8(FilePut), uint8(FileResume), "../../etc/passwd", uint64(10), uint64(0), []byte("data"))
	f.Add(uint32(0), uint8(FileGet), uint8(0), "C:\\Windows\x00", uint64(0), uint64(1<<40), []byte{})
	f.Add(uint32(7), uint8(9), uint8(0xff), "", uint64(1), uint64(2), []byte{0})
	f.Fuzz(func(t *testing.T, id uint32, dir, flags uint8, path string, size, off uint64, data []byte) {
		digest := sha256.Sum256(data)
		mode := binary.BigEndian.Uint32(digest[:4])
		msgs := []Message{
			&FileList{ID: id, Path: path},
			&FileListing{ID: id, Entries: []FileEntry{{Name: path, Size: size, Mode: mode, ModTime: int64(off)}}},
			&FileOpen{ID: id, Dir: dir, Flags: flags, Path: path, Size: size, SHA256: digest, Offset: off},
			&FileReady{ID: id, Offset: off, Size: size},
			&FileChunk{ID: id, Offset: off, Data: data},
			&FileDone{ID: id, Size: size, SHA256: digest},
			&FileAck{ID: id, Size: size, SHA256: digest},
			&FileCancel{ID: id, Reason: path},
		}
		for _, m := range msgs {
			enc := Marshal(m)
			got, err := Unmarshal(enc)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("%T: %v", m, err)
				}
				valid := true
				switch m := m.(type) {
				case *FileOpen:
					valid = (m.Dir == FilePut || m.Dir == FileGet) && m.Flags&^(FileResume|FileOverwrite) == 0
				case *FileReady:
					valid = m.Offset <= m.Size
				}
				if valid {
					t.Fatalf("%T %+v: valid message refused: %v", m, m, err)
				}
				continue
			}
			if !bytes.Equal(Marshal(got), enc) {
				t.Fatalf("%T: re-encoding differs", m)
			}
			if len(path) <= MaxString && len(data) <= MaxFileChunk && !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip changed the message:\n%#v\n%#v", m, got)
			}
		}
	})
}

// FuzzFeatureMessages builds chat, exec and power messages from arbitrary
// fields: whatever Marshal writes, Unmarshal reads back unchanged, or refuses
// as malformed exactly when a field is out of range (chat text ValidChatText
// refuses, an unknown stream, exit status or power action).
func FuzzFeatureMessages(f *testing.F) {
	f.Add(uint32(1), int64(1700000000000), "hello\nthere", "/tmp", "sh\x00-c\x00exit 3", uint8(1), uint8(0), []byte("out"))
	f.Add(uint32(0), int64(-1), "\u202eevil", "", "", uint8(3), uint8(9), []byte{})
	f.Add(uint32(7), int64(0), "\xff", "C:\\x", "a\x00\x00b", uint8(0), uint8(5), []byte{0})
	f.Fuzz(func(t *testing.T, id uint32, when int64, text, dir, args string, stream, code uint8, data []byte) {
		argv := strings.Split(args, "\x00")
		msgs := []Message{
			&Chat{Seq: id, Time: when, Text: text},
			&ExecStart{ID: id, TimeoutMs: uint32(when), Dir: dir, Argv: argv},
			&ExecStarted{ID: id, PID: uint32(when)},
			&ExecOutput{ID: id, Stream: stream, Data: data},
			&ExecExit{ID: id, Status: code, Code: int32(when), Message: text},
			&ExecCancel{ID: id},
			&PowerAction{ID: id, Action: code},
			&PowerDone{ID: id, Action: code},
		}
		for _, m := range msgs {
			enc := Marshal(m)
			got, err := Unmarshal(enc)
			valid := true
			switch m := m.(type) {
			case *Chat:
				valid = ValidChatText(m.Text[:min(len(m.Text), MaxChat)]) == nil
			case *ExecOutput:
				valid = m.Stream == StreamStdout || m.Stream == StreamStderr
			case *ExecExit:
				valid = m.Status <= ExecFailed
			case *PowerAction:
				valid = PowerActionName(m.Action) != ""
			case *PowerDone:
				valid = PowerActionName(m.Action) != ""
			}
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("%T: %v", m, err)
				}
				if valid {
					t.Fatalf("%T %+v: valid message refused: %v", m, m, err)
				}
				continue
			}
			if !valid {
				t.Fatalf("%T %+v: invalid message accepted", m, m)
			}
			if !bytes.Equal(Marshal(got), enc) {
				t.Fatalf("%T: re-encoding differs", m)
			}
			short := len(text) <= MaxChat && len(dir) <= MaxString && len(data) <= MaxExecChunk && len(argv) <= MaxExecArgs
			for _, a := range argv {
				short = short && len(a) <= MaxString
			}
			if short && !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip changed the message:\n%#v\n%#v", m, got)
			}
		}
	})
}

func FuzzDecodeSignal(f *testing.F) {
	for _, v := range signalVectors {
		f.Add([]byte(v.json))
	}
	f.Add([]byte(`{"type":"candidate","candidate":{ "a" : [1, 2] }}`))
	f.Add([]byte(`{"type":"hello","caps":[],"inventory":{"monitors":[]}}`))
	f.Add([]byte(`{"type":"x","candidate":null}`))
	f.Add([]byte(`{"TYPE":"bye","message":"\ud800"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSignal(b)
		if err != nil {
			if s != nil || !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeSignal = %v, %v", s, err)
			}
			return
		}
		if s.Type == "" {
			t.Fatal("decoded a signal without a type")
		}
		enc, err := EncodeSignal(s)
		if err != nil {
			// Escaping (<, >, &, U+2028, invalid UTF-8 → U+FFFD) can grow a
			// signal near the limit past it; nothing else may fail.
			if errors.Is(err, ErrMalformed) && strings.Contains(err.Error(), "exceeds") {
				return
			}
			t.Fatalf("re-encode: %v", err)
		}
		s2, err := DecodeSignal(enc)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", enc, err)
		}
		if !reflect.DeepEqual(normSignal(t, s), normSignal(t, s2)) {
			t.Fatalf("round trip changed the signal:\n%#v\n%#v", s, s2)
		}
		if enc2, err := EncodeSignal(s2); err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable: %s vs %s (%v)", enc, enc2, err)
		}
	})
}

// normSignal removes differences JSON does not carry: empty vs nil lists
// (omitempty drops both) and the formatting of the opaque candidate.
func normSignal(t *testing.T, s *Signal) Signal {
	c := *s
	if len(c.Caps) == 0 {
		c.Caps = nil
	}
	if c.Inventory != nil {
		inv := *c.Inventory
		if len(inv.Monitors) == 0 {
			inv.Monitors = nil
		}
		c.Inventory = &inv
	}
	if c.Candidate != nil {
		var v any
		if err := json.Unmarshal(c.Candidate, &v); err != nil {
			t.Fatalf("decoded candidate is not JSON: %v", err)
		}
		norm, _ := json.Marshal(v)
		c.Candidate = norm
	}
	return c
}

// FuzzReassembler feeds arbitrary fragment sequences to a Reassembler with a
// small Max and checks it against a straightforward model, and that its
// memory stays bounded by Max.
func FuzzReassembler(f *testing.F) {
	f.Add([]byte{2, 0, 'a', 3, 1, 'b', 'c', 2, 0, 'd'}, uint8(8))
	f.Add([]byte{5, 1, 1, 2, 3, 4, 5, 1, 1, 2, 3, 4, 1, 0}, uint8(4))
	f.Add([]byte{0, 1, 7, 2, 9}, uint8(1))
	f.Add([]byte{3, 1, 'x', 'y', 2, 0, 'z'}, uint8(0))
	f.Fuzz(func(t *testing.T, in []byte, max uint8) {
		const limit = 16
		m := int(max % limit) // 0 means MaxMessage: still bounded by the input here
		r := Reassembler{Max: m}
		model := fragModel{max: m}
		if m == 0 {
			model.max = MaxMessage
		}
		// The input is a sequence of (length byte, fragment) records.
		for len(in) > 0 {
			n := min(int(in[0]), len(in)-1)
			frag := append([]byte(nil), in[1:1+n]...)
			in = in[1+n:]

			got, err := r.Push(frag)
			want, wantErr := model.push(frag)
			if (err == nil) != (wantErr == nil) || (wantErr != nil && !errors.Is(err, wantErr)) {
				t.Fatalf("Push(%x): err %v, model %v", frag, err, wantErr)
			}
			if (got == nil) != (want == nil) || !bytes.Equal(got, want) {
				t.Fatalf("Push(%x) = %x, model %x", frag, got, want)
			}
			if len(got) > model.max || len(r.buf) > model.max {
				t.Fatalf("memory over Max %d: message %d, buffer %d", model.max, len(got), len(r.buf))
			}
		}
	})
}

// fragModel is the Reassembler's contract written plainly.
type fragModel struct {
	max      int
	partial  []byte
	skipping bool
}

func (m *fragModel) push(frag []byte) ([]byte, error) {
	if len(frag) == 0 {
		return nil, ErrMalformed
	}
	flag, data := frag[0], frag[1:]
	if flag > FragMore {
		m.partial, m.skipping = nil, false
		return nil, ErrMalformed
	}
	final := flag == FragFinal
	if m.skipping {
		m.skipping = !final
		return nil, nil
	}
	if len(m.partial)+len(data) > m.max {
		m.partial, m.skipping = nil, !final
		return nil, ErrTooLarge
	}
	m.partial = append(m.partial, data...)
	if !final {
		return nil, nil
	}
	msg := m.partial
	if msg == nil {
		msg = []byte{}
	}
	m.partial = nil
	return msg, nil
}

// FuzzFragmentRoundTrip: any message fragmented at any size reassembles to itself.
func FuzzFragmentRoundTrip(f *testing.F) {
	f.Add([]byte("hello, world"), uint8(4))
	f.Add([]byte{}, uint8(2))
	f.Fuzz(func(t *testing.T, msg []byte, max uint8) {
		size := int(max%64) + 2
		var r Reassembler
		var got []byte
		n := 0
		err := Fragment(msg, size, func(b []byte) error {
			if len(b) > size {
				t.Fatalf("fragment of %d > %d", len(b), size)
			}
			out, err := r.Push(b)
			if out != nil {
				got = out
				n++
			}
			return err
		})
		if err != nil || n != 1 || !bytes.Equal(got, msg) {
			t.Fatalf("round trip: %v, %d messages, %x != %x", err, n, got, msg)
		}
	})
}

// FuzzLocalMessages builds local-desktop messages from arbitrary fields:
// whatever Marshal writes, Unmarshal reads back unchanged, except clipboard
// text that is not UTF-8 and unknown state bits, which are refused as malformed.
func FuzzLocalMessages(f *testing.F) {
	f.Add("héllo", true, uint8(LocalInputLocked))
	f.Add("\xc3(", false, uint8(0xff))
	f.Add("", false, uint8(0))
	f.Fuzz(func(t *testing.T, text string, on bool, flags uint8) {
		msgs := []Message{&ClipboardText{Text: text}, &ClipboardGet{}, &InputLock{Lock: on}, &ScreenBlank{Blank: on}, &LocalState{Flags: flags}}
		for _, m := range msgs {
			enc := Marshal(m)
			got, err := Unmarshal(enc)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("%T: %v", m, err)
				}
				valid := true
				switch m := m.(type) {
				case *ClipboardText:
					valid = utf8.ValidString(m.Text) && len(m.Text) <= MaxClipboard
				case *LocalState:
					valid = m.Flags&^(LocalInputLocked|LocalScreenBlanked) == 0
				}
				if valid {
					t.Fatalf("%T %+v: valid message refused: %v", m, m, err)
				}
				continue
			}
			if !bytes.Equal(Marshal(got), enc) {
				t.Fatalf("%T: re-encoding differs", m)
			}
			if len(text) <= MaxClipboard && !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip changed the message:\n%#v\n%#v", m, got)
			}
		}
	})
}

// FuzzCursorMessages builds cursor messages from arbitrary fields: whatever
// Marshal writes, Unmarshal reads back unchanged when the shape is
// consistent, and refuses as malformed otherwise; a decoded shape never holds
// more than MaxCursorSide² pixels, whatever the message claims.
func FuzzCursorMessages(f *testing.F) {
	f.Add(uint32(1), uint16(0), uint16(0), uint16(1), uint16(1), []byte{1, 2, 3, 4}, int32(5), int32(-6))
	f.Add(uint32(2), uint16(3), uint16(1), uint16(2), uint16(2), make([]byte, 16), int32(0), int32(0))
	f.Add(uint32(3), uint16(0), uint16(0), uint16(0xffff), uint16(0xffff), []byte{}, int32(-1), int32(1))
	f.Fuzz(func(t *testing.T, id uint32, hx, hy, w, h uint16, pix []byte, x, y int32) {
		shape := &CursorShape{ID: id, HotX: hx, HotY: hy, Width: w, Height: h, Pix: pix}
		enc := Marshal(shape)
		got, err := Unmarshal(enc)
		// Bytes after the pixels are trailing bytes, ignored like any
		// newer field: the shape read is the valid prefix.
		if need := int(w) * int(h) * 4; len(pix) > need {
			shape.Pix = pix[:need]
		}
		if verr := shape.Validate(); verr != nil {
			if err == nil {
				t.Fatalf("inconsistent shape %+v accepted (%v)", shape, verr)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error is not ErrMalformed: %v", err)
			}
		} else {
			if err != nil {
				t.Fatalf("valid shape refused: %v", err)
			}
			gs := got.(*CursorShape)
			if len(gs.Pix) > MaxCursorSide*MaxCursorSide*4 || !reflect.DeepEqual(gs, shape) {
				t.Fatalf("round trip changed the shape: %+v", gs)
			}
		}
		pos := &CursorPos{X: x, Y: y, ID: id}
		if got, err := Unmarshal(Marshal(pos)); err != nil || !reflect.DeepEqual(got, pos) {
			t.Fatalf("cursor pos round trip: %+v, %v", got, err)
		}
	})
}
