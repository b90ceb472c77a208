// Package captest holds test helpers for capture and capture/codec: a private
// Xvfb per test (Linux), an independent XWD decoder (the oracle for grabs),
// and synthetic desktop-like frames for benchmarks.
package captest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tandem-rc/tandem/capture"
)

// XWD is a decoded xwd dump: the pixel at (x, y) has the 8-bit channels
// R(x,y), G(x,y), B(x,y).
type XWD struct {
	Width, Height int
	RGB           []byte // 3 bytes per pixel, row-major
}

// At returns the red, green and blue bytes at (x, y).
func (d *XWD) At(x, y int) (r, g, b byte) {
	i := (y*d.Width + x) * 3
	return d.RGB[i], d.RGB[i+1], d.RGB[i+2]
}

// ParseXWD decodes an XWD (X11 window dump, file version 7) of a TrueColor
// or DirectColor ZPixmap with 24 or 32 bits per pixel. The header is 25
// big-endian uint32s followed by the window name up to header_size; then
// ncolors 12-byte colormap entries; then the pixels, bytes_per_line per row,
// each pixel stored in byte_order.
func ParseXWD(b []byte) (*XWD, error) {
	if len(b) < 100 {
		return nil, errors.New("xwd: short header")
	}
	var h [25]uint32
	if err := binary.Read(bytes.NewReader(b[:100]), binary.BigEndian, &h); err != nil {
		return nil, err
	}
	const (
		headerSize = iota
		fileVersion
		pixmapFormat
		pixmapDepth
		pixmapWidth
		pixmapHeight
		xoffset
		byteOrder
		bitmapUnit
		bitmapBitOrder
		bitmapPad
		bitsPerPixel
		bytesPerLine
		visualClass
		redMask
		greenMask
		blueMask
		bitsPerRGB
		colormapEntries
		ncolors
	)
	if h[fileVersion] != 7 {
		return nil, fmt.Errorf("xwd: file version %d", h[fileVersion])
	}
	if h[pixmapFormat] != 2 {
		return nil, fmt.Errorf("xwd: pixmap format %d, want ZPixmap (2)", h[pixmapFormat])
	}
	if c := h[visualClass]; c != 4 && c != 5 {
		return nil, fmt.Errorf("xwd: visual class %d, want TrueColor or DirectColor", c)
	}
	bpp := int(h[bitsPerPixel])
	if bpp != 24 && bpp != 32 {
		return nil, fmt.Errorf("xwd: %d bits per pixel", bpp)
	}
	w, ht, bpl := int(h[pixmapWidth]), int(h[pixmapHeight]), int(h[bytesPerLine])
	off := int(h[headerSize]) + int(h[ncolors])*12
	if bpl < w*bpp/8 || off < 100 || len(b) < off+bpl*ht {
		return nil, fmt.Errorf("xwd: %d bytes too short for %dx%d, %d bytes per line after %d", len(b), w, ht, bpl, off)
	}
	masks := [3]uint32{h[redMask], h[greenMask], h[blueMask]}
	var shifts [3]uint
	for i, m := range masks {
		if m == 0 {
			return nil, errors.New("xwd: zero colour mask")
		}
		for m&1 == 0 {
			m >>= 1
			shifts[i]++
		}
		if m != 0xff {
			return nil, fmt.Errorf("xwd: colour mask %#x is not 8 bits wide", masks[i])
		}
	}
	d := &XWD{Width: w, Height: ht, RGB: make([]byte, w*ht*3)}
	bytesPP := bpp / 8
	for y := range ht {
		row := b[off+y*bpl:]
		for x := range w {
			p := row[x*bytesPP : (x+1)*bytesPP]
			var v uint32
			for i := range bytesPP {
				if h[byteOrder] == 0 { // LSBFirst
					v |= uint32(p[i]) << (8 * i)
				} else {
					v = v<<8 | uint32(p[i])
				}
			}
			o := (y*w + x) * 3
			for c := range 3 {
				d.RGB[o+c] = byte((v & masks[c]) >> shifts[c])
			}
		}
	}
	return d, nil
}

// CompareBGRX compares the BGRX pixels of a w×h image (stride bytes per row)
// with the region of ref whose top-left corner is at (ox, oy). It returns
// nil when they are identical, else an error describing the first mismatch
// and the number of differing pixels.
func CompareBGRX(pix []byte, w, h, stride int, ref *XWD, ox, oy int) error {
	if ox < 0 || oy < 0 || ox+w > ref.Width || oy+h > ref.Height {
		return fmt.Errorf("region %dx%d+%d+%d outside the %dx%d reference", w, h, ox, oy, ref.Width, ref.Height)
	}
	bad := 0
	var first string
	for y := range h {
		for x := range w {
			p := pix[y*stride+x*4:]
			r, g, b := ref.At(ox+x, oy+y)
			if p[2] != r || p[1] != g || p[0] != b {
				if bad == 0 {
					first = fmt.Sprintf("(%d,%d): got rgb(%d,%d,%d), xwd rgb(%d,%d,%d)", x, y, p[2], p[1], p[0], r, g, b)
				}
				bad++
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d pixels differ, first at %s", bad, w*h, first)
	}
	return nil
}

// DarkPixels counts near-black pixels (xterm's default foreground) in f.
func DarkPixels(f *capture.Frame) int {
	n := 0
	for y := range f.Height {
		for x := range f.Width {
			p := f.Pix[y*f.Stride+x*4:]
			if p[0] < 64 && p[1] < 64 && p[2] < 64 {
				n++
			}
		}
	}
	return n
}
