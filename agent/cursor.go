package agent

import (
	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/transport/wire"
)

// wireCursor makes the wire's CursorShape of a pointer image the capturer
// reported, so that the guest takes every real cursor: an image larger than
// wire.MaxCursorSide is cut to the MaxCursorSide square around its hot spot,
// and the hot spot is clamped into 0..Width, 0..Height (X reports no other,
// but the guest would drop the shape as malformed). ok is false only for an
// image without pixels.
func wireCursor(ci *capture.CursorImage) (sh *wire.CursorShape, ok bool) {
	if ci.Width <= 0 || ci.Height <= 0 || len(ci.Pix) < ci.Width*ci.Height*4 {
		return nil, false
	}
	hx, hy := clamp(ci.HotX, 0, ci.Width), clamp(ci.HotY, 0, ci.Height)
	// The window kept: MaxCursorSide wide (or the whole image), centred on
	// the hot spot as far as the image allows.
	x0, w := cursorSpan(hx, ci.Width)
	y0, h := cursorSpan(hy, ci.Height)
	pix := ci.Pix[:ci.Width*ci.Height*4]
	if w != ci.Width || h != ci.Height {
		pix = make([]byte, 0, w*h*4)
		for y := y0; y < y0+h; y++ {
			row := (y*ci.Width + x0) * 4
			pix = append(pix, ci.Pix[row:row+w*4]...)
		}
	}
	return &wire.CursorShape{ID: ci.Serial, HotX: uint16(hx - x0), HotY: uint16(hy - y0),
		Width: uint16(w), Height: uint16(h), Pix: pix}, true
}

// cursorSpan returns the start and length of the at most wire.MaxCursorSide
// long span of 0..size that is centred on hot as far as it can be.
func cursorSpan(hot, size int) (start, n int) {
	if size <= wire.MaxCursorSide {
		return 0, size
	}
	return clamp(hot-wire.MaxCursorSide/2, 0, size-wire.MaxCursorSide), wire.MaxCursorSide
}

func clamp(v, lo, hi int) int { return max(lo, min(v, hi)) }
