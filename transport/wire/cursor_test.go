package wire

import (
	"bytes"
	"errors"
	"testing"
)

// The decoder takes every cursor an X server can report, the hot spot on
// the image's edge included, and refuses what no server reports.
func TestCursorShapeDecode(t *testing.T) {
	shape := func(hx, hy, w, h uint16, pix int) []byte {
		b := []byte{byte(TypeCursorShape), 0, 0, 0, 9}
		for _, v := range []uint16{hx, hy, w, h} {
			b = append(b, byte(v>>8), byte(v))
		}
		return append(b, make([]byte, pix)...)
	}
	tests := []struct {
		name   string
		msg    []byte
		wantOK bool
	}{
		{"hot spot inside", shape(1, 1, 3, 3, 36), true},
		{"hot spot at the origin", shape(0, 0, 1, 1, 4), true},
		// What Xvfb's XFixes reported in the demo (a glyph cursor).
		{"hot spot on the bottom edge (0,2) of 1x2", shape(0, 2, 1, 2, 8), true},
		{"hot spot on the right edge", shape(4, 0, 4, 4, 64), true},
		{"hot spot on the far corner", shape(16, 16, 16, 16, 16*16*4), true},
		{"largest image", shape(MaxCursorSide, MaxCursorSide, MaxCursorSide, MaxCursorSide, MaxCursorSide*MaxCursorSide*4), true},
		{"hot spot past the right edge", shape(5, 0, 4, 4, 64), false},
		{"hot spot past the bottom edge", shape(0, 3, 1, 2, 8), false},
		{"hot spot far outside", shape(0xffff, 0xffff, 2, 2, 16), false},
		{"zero width", shape(0, 0, 0, 2, 0), false},
		{"zero height", shape(0, 0, 2, 0, 0), false},
		{"wider than MaxCursorSide", shape(0, 0, MaxCursorSide+1, 1, (MaxCursorSide+1)*4), false},
		{"taller than MaxCursorSide", shape(0, 0, 1, MaxCursorSide+1, (MaxCursorSide+1)*4), false},
		{"pixels missing", shape(0, 0, 2, 2, 15), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Unmarshal(tc.msg)
			if !tc.wantOK {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("Unmarshal = %v, %v; want ErrMalformed", m, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			s, ok := m.(*CursorShape)
			if !ok || s.ID != 9 || len(s.Pix) != int(s.Width)*int(s.Height)*4 {
				t.Fatalf("Unmarshal = %#v", m)
			}
			// What decodes, a host can send: it validates and encodes back the same.
			if err := s.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got := Marshal(s); !bytes.Equal(got, tc.msg) {
				t.Fatalf("Marshal = %x, want %x", got, tc.msg)
			}
		})
	}
}
