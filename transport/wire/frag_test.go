package wire

import (
	"bytes"
	"errors"
	"testing"
)

func fragments(t *testing.T, msg []byte, max int) [][]byte {
	t.Helper()
	var out [][]byte
	if err := Fragment(msg, max, func(b []byte) error { out = append(out, b); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFragmentVectors(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		max  int
		want []string // hex of each data-channel message
	}{
		{"empty", "", 4, []string{"00"}},
		{"fits", "ab", 4, []string{"00 6162"}},
		{"exactly one", "abc", 4, []string{"00 616263"}},
		{"one over", "abcd", 4, []string{"01 616263", "00 64"}},
		{"exact multiple", "abcdef", 4, []string{"01 616263", "00 646566"}},
		{"three", "abcdefg", 4, []string{"01 616263", "01 646566", "00 67"}},
		{"max 2", "xyz", 2, []string{"01 78", "01 79", "00 7a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := fragments(t, []byte(tc.msg), tc.max)
			if len(got) != len(tc.want) {
				t.Fatalf("%d fragments %x, want %d", len(got), got, len(tc.want))
			}
			for i := range got {
				if w := unhex(t, tc.want[i]); !bytes.Equal(got[i], w) {
					t.Errorf("fragment %d = %x, want %x", i, got[i], w)
				}
				if len(got[i]) > tc.max {
					t.Errorf("fragment %d has %d bytes > max %d", i, len(got[i]), tc.max)
				}
			}
		})
	}
}

func TestFragmentMaxFragment(t *testing.T) {
	msg := bytes.Repeat([]byte{7}, 2*MaxFragment)
	got := fragments(t, msg, MaxFragment)
	// 2*MaxFragment bytes at MaxFragment-1 per fragment: 2 full + 2 bytes.
	if len(got) != 3 || len(got[0]) != MaxFragment || len(got[1]) != MaxFragment || len(got[2]) != 1+2 {
		t.Fatalf("fragment sizes %d %d %d", len(got[0]), len(got[1]), len(got[2]))
	}
	if got[0][0] != FragMore || got[1][0] != FragMore || got[2][0] != FragFinal {
		t.Fatal("wrong flags")
	}
}

func TestFragmentErrors(t *testing.T) {
	for _, max := range []int{-1, 0, 1} {
		if err := Fragment([]byte("a"), max, func([]byte) error { return nil }); err == nil {
			t.Errorf("max %d accepted", max)
		}
	}
	boom := errors.New("boom")
	calls := 0
	err := Fragment([]byte("abcdefgh"), 3, func([]byte) error { calls++; return boom })
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("send error: %v after %d calls", err, calls)
	}
}

// Fragment must not alias the message: the sender may reuse its buffer.
func TestFragmentCopies(t *testing.T) {
	msg := []byte("abcdef")
	got := fragments(t, msg, 4)
	copy(msg, "zzzzzz")
	if string(got[0][1:]) != "abc" || string(got[1][1:]) != "def" {
		t.Fatalf("fragments alias the message: %q", got)
	}
}

func TestReassemblerRoundTrip(t *testing.T) {
	var r Reassembler
	for _, size := range []int{0, 1, 2, 63, 64, 65, 1000} {
		msg := make([]byte, size)
		for i := range msg {
			msg[i] = byte(i * 7)
		}
		var got []byte
		n := 0
		for _, f := range fragments(t, msg, 64) {
			out, err := r.Push(f)
			if err != nil {
				t.Fatal(err)
			}
			if out != nil {
				got = out
				n++
			}
		}
		if n != 1 || !bytes.Equal(got, msg) {
			t.Fatalf("size %d: %d messages, got %d bytes", size, n, len(got))
		}
	}
}

func TestReassemblerVectors(t *testing.T) {
	type step struct {
		in   string // hex
		out  string // hex of the completed message, "-" for none
		want error
	}
	tests := []struct {
		name  string
		max   int
		steps []step
	}{
		{"single", 0, []step{{"00 6162", "6162", nil}}},
		{"empty message", 0, []step{{"00", "", nil}}},
		{"three", 0, []step{{"01 61", "-", nil}, {"01 62", "-", nil}, {"00 63", "616263", nil}}},
		{"empty fragment", 0, []step{{"", "-", ErrMalformed}, {"00 61", "61", nil}}},
		{"bad flag resets", 0, []step{
			{"01 6162", "-", nil},
			{"02 63", "-", ErrMalformed},
			{"00 64", "64", nil}, // the partial "ab" was dropped with the bad fragment
		}},
		{"at max", 4, []step{{"01 6162", "-", nil}, {"00 6364", "61626364", nil}}},
		{"single over max", 4, []step{{"00 6162636465", "-", ErrTooLarge}, {"00 61", "61", nil}}},
		{"over max midway", 4, []step{
			{"01 616263", "-", nil},
			{"01 6465", "-", ErrTooLarge}, // reported once
			{"01 66", "-", nil},           // rest of the message skipped
			{"00 67", "-", nil},
			{"00 68", "68", nil}, // the next message is fine
		}},
		{"over max on final", 4, []step{{"01 616263", "-", nil}, {"00 6465", "-", ErrTooLarge}, {"00 69", "69", nil}}},
		{"bad flag while skipping", 2, []step{
			{"01 616263", "-", ErrTooLarge},
			{"ff", "-", ErrMalformed},
			{"00 6a", "6a", nil},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Reassembler{Max: tc.max}
			for i, s := range tc.steps {
				out, err := r.Push(unhex(t, s.in))
				if !errors.Is(err, s.want) || (s.want == nil && err != nil) {
					t.Fatalf("step %d: err %v, want %v", i, err, s.want)
				}
				if s.out == "-" {
					if out != nil {
						t.Fatalf("step %d: got message %x, want none", i, out)
					}
				} else if out == nil || !bytes.Equal(out, unhex(t, s.out)) {
					t.Fatalf("step %d: got %x (nil=%v), want %s", i, out, out == nil, s.out)
				}
			}
		})
	}
}

// A reassembled message must not be overwritten by later fragments.
func TestReassemblerOwnsMessages(t *testing.T) {
	var r Reassembler
	r.Push([]byte{FragMore, 'a'})
	m1, _ := r.Push([]byte{FragFinal, 'b'})
	r.Push([]byte{FragMore, 'c'})
	m2, _ := r.Push([]byte{FragFinal, 'd'})
	if string(m1) != "ab" || string(m2) != "cd" {
		t.Fatalf("messages %q %q", m1, m2)
	}
}
