package codec

// The prediction filter of FlagPredict (see the package documentation).
// Each channel of a pixel is predicted by MED (the median edge detector of
// LOCO-I / JPEG-LS) from its left (a), upper (b) and upper-left (c)
// neighbours inside the same rectangle; the first row uses a, the first
// column b, the first pixel 0. The residuals are coded green first, then
// red and blue minus green's residual (channels move together on photos):
//
//	dG = G - pG, dR = (R - pR) - dG, dB = (B - pB) - dG   (all mod 256)
//
// written as the bytes dR, dG, dB per pixel. The filter is local to the
// rectangle, so a browser decodes a rectangle without the screen around it.

// MED is the median edge detector predictor: from the left (a), upper (b)
// and upper-left (c) neighbours.
func MED(a, b, c int) int {
	hi, lo := a, b
	if lo > hi {
		hi, lo = lo, hi
	}
	switch {
	case c >= hi:
		return lo
	case c <= lo:
		return hi
	}
	return a + b - c
}

// pred predicts channel values at (x, y) from a row-major image whose
// pixel (x, y) starts at y*stride + x*4 + off[channel].
func predAt(pix []byte, stride, x, y, o int) int {
	switch {
	case x == 0 && y == 0:
		return 0
	case y == 0:
		return int(pix[o-4])
	case x == 0:
		return int(pix[o-stride])
	}
	return MED(int(pix[o-4]), int(pix[o-stride]), int(pix[o-stride-4]))
}

// predictBGRX writes the residuals of a w×h BGRX image (rows stride bytes
// apart) into dst (w*h*3 bytes). The first row and column take the edge
// predictors; the interior, the bulk of the work, runs without branches on
// position.
func predictBGRX(dst, src []byte, stride, w, h int) {
	j := 0
	put := func(o, pb, pg, pr int) {
		dg := int(src[o+1]) - pg
		dst[j], dst[j+1], dst[j+2] = byte(int(src[o+2])-pr-dg), byte(dg), byte(int(src[o])-pb-dg)
		j += 3
	}
	for y := 0; y < h; y++ {
		row := y * stride
		for x := 0; x < w && (y == 0 || x == 0); x++ {
			o := row + x*4
			put(o, predAt(src, stride, x, y, o), predAt(src, stride, x, y, o+1), predAt(src, stride, x, y, o+2))
		}
		if y == 0 {
			continue
		}
		for x := 1; x < w; x++ {
			o := row + x*4
			l, u, ul := src[o-4:o-1:o-1], src[o-stride:o-stride+3:o-stride+3], src[o-stride-4:o-stride-1:o-stride-1]
			put(o, MED(int(l[0]), int(u[0]), int(ul[0])), MED(int(l[1]), int(u[1]), int(ul[1])), MED(int(l[2]), int(u[2]), int(ul[2])))
		}
	}
}

// unpredictRGBA reverses predictBGRX into a w×h RGBA image (rows stride
// bytes apart), in place: predictions read pixels already rebuilt.
func unpredictRGBA(pix []byte, stride, w, h int, res []byte) {
	j := 0
	put := func(o, pr, pg, pb int) {
		dr, dg, db := int(res[j]), int(res[j+1]), int(res[j+2])
		j += 3
		pix[o], pix[o+1], pix[o+2], pix[o+3] = byte(pr+dr+dg), byte(pg+dg), byte(pb+db+dg), 0xff
	}
	for y := 0; y < h; y++ {
		row := y * stride
		for x := 0; x < w && (y == 0 || x == 0); x++ {
			o := row + x*4
			put(o, predAt(pix, stride, x, y, o), predAt(pix, stride, x, y, o+1), predAt(pix, stride, x, y, o+2))
		}
		if y == 0 {
			continue
		}
		for x := 1; x < w; x++ {
			o := row + x*4
			l, u, ul := pix[o-4:o-1:o-1], pix[o-stride:o-stride+3:o-stride+3], pix[o-stride-4:o-stride-1:o-stride-1]
			put(o, MED(int(l[0]), int(u[0]), int(ul[0])), MED(int(l[1]), int(u[1]), int(ul[1])), MED(int(l[2]), int(u[2]), int(ul[2])))
		}
	}
}
