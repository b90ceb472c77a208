package capture

import "fmt"

// CoreGraphics bitmap info (CGImage.h): the alpha position in the low
// five bits, the byte order in bits 12-14.
const (
	cgAlphaInfoMask     = 0x1f
	cgAlphaPremulLast   = 1
	cgAlphaPremulFirst  = 2
	cgAlphaLast         = 3
	cgAlphaFirst        = 4
	cgAlphaNoneSkipLast = 5
	cgAlphaNoneSkipFst  = 6
	cgByteOrderMask     = 0x7000
	cgByteOrder32Little = 2 << 12
	cgByteOrder32Big    = 4 << 12
	cgByteOrderDefault  = 0
)

// cgChannelOffsets returns where blue, green and red sit in a 32-bit
// CoreGraphics pixel with this bitmap info. The usual screen image is
// 32-bit little-endian with the (skipped) alpha first, i.e. BGRX in memory,
// which copies straight through.
func cgChannelOffsets(info uint32) (b, g, r int, err error) {
	alpha := info & cgAlphaInfoMask
	var first bool
	switch alpha {
	case cgAlphaPremulFirst, cgAlphaFirst, cgAlphaNoneSkipFst:
		first = true
	case cgAlphaPremulLast, cgAlphaLast, cgAlphaNoneSkipLast:
	default:
		return 0, 0, 0, fmt.Errorf("%w: CoreGraphics alpha info %d", ErrUnsupportedFormat, alpha)
	}
	switch order := info & cgByteOrderMask; {
	case order == cgByteOrder32Little && first: // word ARGB: B G R A
		return 0, 1, 2, nil
	case order == cgByteOrder32Little: // word RGBA: A B G R
		return 1, 2, 3, nil
	case (order == cgByteOrder32Big || order == cgByteOrderDefault) && first: // A R G B
		return 3, 2, 1, nil
	case order == cgByteOrder32Big || order == cgByteOrderDefault: // R G B A
		return 2, 1, 0, nil
	default:
		return 0, 0, 0, fmt.Errorf("%w: CoreGraphics byte order %#x", ErrUnsupportedFormat, order)
	}
}

// cgToBGRX converts a CoreGraphics bitmap (sw×sh pixels, stride bytes a
// row, bpp bits a pixel) into a tight w×h BGRX frame, reusing dst. A
// source larger than w×h (a Retina screen's pixels for a rectangle in
// points) is sampled at the nearest pixel, so the frame stays in the
// points the input side uses.
func cgToBGRX(dst *Frame, w, h int, src []byte, sw, sh, stride, bpp int, info uint32) (*Frame, error) {
	if bpp != 32 {
		return nil, fmt.Errorf("%w: CoreGraphics image of %d bits a pixel", ErrUnsupportedFormat, bpp)
	}
	if w <= 0 || h <= 0 || sw < w || sh < h || stride < sw*4 || len(src) < (sh-1)*stride+sw*4 {
		return nil, fmt.Errorf("capture: CoreGraphics image %dx%d (stride %d, %d bytes) does not cover %dx%d",
			sw, sh, stride, len(src), w, h)
	}
	bo, gO, ro, err := cgChannelOffsets(info)
	if err != nil {
		return nil, err
	}
	dst = prepare(dst, w, h)
	if sw == w && sh == h && bo == 0 && gO == 1 && ro == 2 {
		for y := range h {
			copy(dst.Pix[y*dst.Stride:(y+1)*dst.Stride], src[y*stride:y*stride+w*4])
		}
		return dst, nil
	}
	xs := make([]int, w) // source byte offset of each column
	for x := range xs {
		xs[x] = (x * sw / w) * 4
	}
	for y := range h {
		row := src[(y*sh/h)*stride:]
		out := dst.Pix[y*dst.Stride : (y+1)*dst.Stride]
		for x, o := range xs {
			p := row[o : o+4]
			d := out[x*4 : x*4+4]
			d[0], d[1], d[2], d[3] = p[bo], p[gO], p[ro], 0xff
		}
	}
	return dst, nil
}
