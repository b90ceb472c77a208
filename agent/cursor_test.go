package agent

import (
	"testing"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/transport/wire"
)

// Every pointer image the capturer reports reaches the guest as a shape the
// wire accepts: the hot spot on the edge kept as X reports it, a hot spot
// out of range clamped, an image larger than MaxCursorSide cut around its
// hot spot with the pixels under the hot spot kept.
func TestWireCursor(t *testing.T) {
	const big = wire.MaxCursorSide + 44
	img := func(w, h, hx, hy int) *capture.CursorImage {
		pix := make([]byte, w*h*4)
		for y := range h {
			for x := range w {
				i := (y*w + x) * 4
				pix[i], pix[i+1], pix[i+2], pix[i+3] = byte(x), byte(y), byte(x>>8|y>>8<<4), 0xff
			}
		}
		return &capture.CursorImage{Serial: 7, HotX: hx, HotY: hy, Width: w, Height: h, Pix: pix}
	}
	tests := []struct {
		name           string
		in             *capture.CursorImage
		x0, y0         int // where the shape starts in the image
		w, h, hotX, hy int
	}{
		{"inside", img(16, 16, 3, 4), 0, 0, 16, 16, 3, 4},
		{"hot spot on the bottom edge (the demo's 1x2 glyph cursor)", img(1, 2, 0, 2), 0, 0, 1, 2, 0, 2},
		{"hot spot on the far corner", img(8, 8, 8, 8), 0, 0, 8, 8, 8, 8},
		{"hot spot past the edges", img(4, 4, 9, 1000), 0, 0, 4, 4, 4, 4},
		{"negative hot spot", img(4, 4, -1, -5), 0, 0, 4, 4, 0, 0},
		{"wider than MaxCursorSide, hot spot right", img(big, 20, big-10, 5), big - wire.MaxCursorSide, 0, wire.MaxCursorSide, 20, wire.MaxCursorSide - 10, 5},
		{"taller than MaxCursorSide, hot spot in the middle", img(10, big, 2, big/2), 0, big/2 - wire.MaxCursorSide/2, 10, wire.MaxCursorSide, 2, wire.MaxCursorSide / 2},
		{"both, hot spot at the origin", img(big, big, 0, 0), 0, 0, wire.MaxCursorSide, wire.MaxCursorSide, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sh, ok := wireCursor(tc.in)
			if !ok {
				t.Fatal("dropped")
			}
			if sh.ID != 7 || int(sh.Width) != tc.w || int(sh.Height) != tc.h || int(sh.HotX) != tc.hotX || int(sh.HotY) != tc.hy {
				t.Fatalf("shape %dx%d hot (%d,%d), want %dx%d hot (%d,%d)", sh.Width, sh.Height, sh.HotX, sh.HotY, tc.w, tc.h, tc.hotX, tc.hy)
			}
			// The guest takes it, as sent.
			m, err := wire.Unmarshal(wire.Marshal(sh))
			if err != nil {
				t.Fatalf("the guest refuses it: %v", err)
			}
			if got := m.(*wire.CursorShape); len(got.Pix) != len(sh.Pix) {
				t.Fatalf("decoded %d pixel bytes, sent %d", len(got.Pix), len(sh.Pix))
			}
			for _, p := range [][2]int{{0, 0}, {tc.w - 1, tc.h - 1}, {min(tc.hotX, tc.w-1), min(tc.hy, tc.h-1)}} {
				x, y := p[0]+tc.x0, p[1]+tc.y0
				i, j := (p[1]*tc.w+p[0])*4, (y*tc.in.Width+x)*4
				if string(sh.Pix[i:i+4]) != string(tc.in.Pix[j:j+4]) {
					t.Fatalf("pixel (%d,%d) of the shape is not the image's (%d,%d)", p[0], p[1], x, y)
				}
			}
		})
	}
	for _, bad := range []*capture.CursorImage{
		{Width: 0, Height: 1},
		{Width: 2, Height: 2, Pix: make([]byte, 15)},
	} {
		if _, ok := wireCursor(bad); ok {
			t.Errorf("wireCursor(%dx%d, %d bytes) sent an image without its pixels", bad.Width, bad.Height, len(bad.Pix))
		}
	}
}
