package capture

import (
	"bytes"
	"errors"
	"testing"
)

// cgEncode lays out want (tight BGRX, w×h) as a CoreGraphics bitmap of
// scale× the size with stride padding, in the byte order info names.
func cgEncode(t *testing.T, want *Frame, scale, pad int, order [4]int) ([]byte, int) {
	t.Helper()
	sw := want.Width * scale
	stride := sw*4 + pad
	src := bytes.Repeat([]byte{0xee}, stride*want.Height*scale) // padding is junk
	for y := range want.Height * scale {
		for x := range sw {
			p := want.Pix[(y/scale)*want.Stride+(x/scale)*4:]
			d := src[y*stride+x*4:]
			d[order[0]], d[order[1]], d[order[2]], d[order[3]] = p[0], p[1], p[2], 0x77
		}
	}
	return src, stride
}

func TestCGToBGRX(t *testing.T) {
	const w, h = 5, 3
	want := prepare(nil, w, h)
	for i := range want.Pix {
		want.Pix[i] = byte(i*7 + 1)
	}
	for i := 3; i < len(want.Pix); i += 4 {
		want.Pix[i] = 0xff
	}
	// order: where B, G, R, A land in memory.
	for _, tc := range []struct {
		name  string
		info  uint32
		order [4]int
	}{
		{"32Little+SkipFirst (the screen's usual BGRX)", cgByteOrder32Little | cgAlphaNoneSkipFst, [4]int{0, 1, 2, 3}},
		{"32Little+PremultipliedFirst", cgByteOrder32Little | cgAlphaPremulFirst, [4]int{0, 1, 2, 3}},
		{"32Little+Last", cgByteOrder32Little | cgAlphaLast, [4]int{1, 2, 3, 0}},
		{"32Big+First", cgByteOrder32Big | cgAlphaFirst, [4]int{3, 2, 1, 0}},
		{"Default+SkipLast (RGBX)", cgByteOrderDefault | cgAlphaNoneSkipLast, [4]int{2, 1, 0, 3}},
		{"32Big+PremultipliedLast", cgByteOrder32Big | cgAlphaPremulLast, [4]int{2, 1, 0, 3}},
	} {
		for _, scale := range []int{1, 2} {
			src, stride := cgEncode(t, want, scale, 12, tc.order)
			got, err := cgToBGRX(&Frame{Pix: make([]byte, 4)}, w, h, src, w*scale, h*scale, stride, 32, tc.info)
			if err != nil {
				t.Fatalf("%s ×%d: %v", tc.name, scale, err)
			}
			if got.Width != w || got.Height != h || got.Stride != w*4 {
				t.Fatalf("%s ×%d: frame %dx%d stride %d", tc.name, scale, got.Width, got.Height, got.Stride)
			}
			for i := 0; i < len(want.Pix); i += 4 {
				if !bytes.Equal(got.Pix[i:i+3], want.Pix[i:i+3]) {
					t.Fatalf("%s ×%d: pixel %d = %v, want %v", tc.name, scale, i/4, got.Pix[i:i+3], want.Pix[i:i+3])
				}
			}
		}
	}
}

func TestCGToBGRXRefuses(t *testing.T) {
	src := make([]byte, 64*4)
	ok := uint32(cgByteOrder32Little | cgAlphaNoneSkipFst)
	for _, tc := range []struct {
		name                 string
		sw, sh, stride, bpp  int
		info                 uint32
		unsupported, anyFail bool
	}{
		{"64-bit (HDR) pixels", 8, 8, 32, 64, ok, true, true},
		{"no alpha channel (24-bit)", 8, 8, 32, 32, cgByteOrder32Little, true, true},
		{"16-bit byte order", 8, 8, 32, 32, 1<<12 | cgAlphaNoneSkipFst, true, true},
		{"source smaller than the rectangle", 4, 4, 16, 32, ok, false, true},
		{"stride shorter than a row", 8, 8, 16, 32, ok, false, true},
		{"buffer shorter than the image", 8, 9, 32, 32, ok, false, true},
	} {
		_, err := cgToBGRX(nil, 8, 8, src, tc.sw, tc.sh, tc.stride, tc.bpp, tc.info)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if tc.unsupported != errors.Is(err, ErrUnsupportedFormat) {
			t.Errorf("%s: %v (ErrUnsupportedFormat expected: %v)", tc.name, err, tc.unsupported)
		}
	}
}
