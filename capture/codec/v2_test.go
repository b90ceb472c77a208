package codec_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/capture/codec"
)

// v2Payload builds a version-2 payload by hand.
func v2Payload(flags byte, w, h, ts int, nops int, ops []byte, raw uint32, z []byte) []byte {
	p := []byte{codec.Magic, codec.Version2, flags}
	p = binary.BigEndian.AppendUint16(p, uint16(w))
	p = binary.BigEndian.AppendUint16(p, uint16(h))
	p = binary.BigEndian.AppendUint16(p, uint16(ts))
	p = binary.AppendUvarint(p, uint64(nops))
	p = append(p, ops...)
	p = binary.BigEndian.AppendUint32(p, raw)
	return append(p, z...)
}

func rgbaAt(img *image.RGBA, x, y int) [4]byte {
	p := img.Pix[img.PixOffset(x, y):]
	return [4]byte{p[0], p[1], p[2], p[3]}
}

// TestV2SpecPayloads decodes payloads written from the documentation alone
// and pins the encoder's bytes for a solid screen.
func TestV2SpecPayloads(t *testing.T) {
	// 40x20 in 16-px tiles: 3x2 tiles; tile 5 is 8x4 pixels at (32,16).
	zw, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte{1, 2, 3, 200, 201, 202} // palette: 2 colours
	for i := range 32 {
		raw = append(raw, byte(i%2))
	}
	z := zw.EncodeAll(raw, nil)
	key := v2Payload(codec.FlagKey, 40, 20, 16, 2,
		[]byte{codec.OpFill, 0, 4, 10, 20, 30, codec.OpPalette, 0, 1}, uint32(len(raw)), z)
	d := codec.NewDecoder(codec.Limits{})
	defer d.Close()
	u, err := d.Decode(key)
	if err != nil {
		t.Fatal(err)
	}
	img := d.Image()
	if !u.Keyframe || rgbaAt(img, 0, 0) != [4]byte{10, 20, 30, 255} || rgbaAt(img, 31, 19) != [4]byte{10, 20, 30, 255} ||
		rgbaAt(img, 32, 16) != [4]byte{1, 2, 3, 255} || rgbaAt(img, 33, 16) != [4]byte{200, 201, 202, 255} {
		t.Fatalf("keyframe decoded wrong: %v", img.Pix[:8])
	}
	// A delta: copy the 8x4 palette tile to (0,0) (source offset +32,+16),
	// then fill tile 2 (skip 2) with one colour. No raw data.
	delta := v2Payload(0, 40, 20, 16, 2, []byte{codec.OpCopy, 0, 0, 8, 4, 64, 32, codec.OpFill, 2, 0, 7, 8, 9}, 0, nil)
	u, err = d.Decode(delta)
	if err != nil {
		t.Fatal(err)
	}
	if rgbaAt(img, 0, 0) != [4]byte{1, 2, 3, 255} || rgbaAt(img, 1, 3) != [4]byte{200, 201, 202, 255} ||
		rgbaAt(img, 8, 0) != [4]byte{10, 20, 30, 255} || rgbaAt(img, 39, 15) != [4]byte{7, 8, 9, 255} {
		t.Fatal("delta decoded wrong")
	}
	if want := []image.Rectangle{image.Rect(0, 0, 16, 16), image.Rect(32, 0, 40, 16)}; fmt.Sprint(u.Rects) != fmt.Sprint(want) {
		t.Fatalf("rects %v, want %v", u.Rects, want)
	}

	// The encoder on a solid screen: one FILL op, no raw data.
	s := newScreen(40, 20, 0)
	for i := 0; i < len(s.Pix); i += 4 {
		s.Pix[i], s.Pix[i+1], s.Pix[i+2] = 30, 20, 10 // B G R
	}
	enc := codec.NewEncoder(codec.EncoderOptions{TileSize: 16})
	defer enc.Close()
	p, err := enc.Encode(s.Frame)
	if err != nil {
		t.Fatal(err)
	}
	if want := v2Payload(codec.FlagKey, 40, 20, 16, 1, []byte{codec.OpFill, 0, 5, 10, 20, 30}, 0, nil); !bytes.Equal(p, want) {
		t.Fatalf("solid keyframe\n got %x\nwant %x", p, want)
	}
}

// textScreen paints a terminal-like screen: a background and rows of
// few-colour "glyphs" from rnd, so rows are distinct.
func textScreen(rnd *rand.Rand, s screen, r image.Rectangle) {
	bg := [3]byte{30, 30, 30}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		paintTextRow(rnd, s, r.Min.X, r.Max.X, y, bg)
	}
}

func paintTextRow(rnd *rand.Rand, s screen, x0, x1, y int, bg [3]byte) {
	for x := x0; x < x1; x++ {
		c := bg
		if rnd.IntN(4) == 0 {
			v := byte(100 + rnd.IntN(4)*40)
			c = [3]byte{v, v, v}
		}
		p := s.Pix[y*s.Stride+x*4:]
		p[0], p[1], p[2] = c[0], c[1], c[2]
	}
}

// scrollRegion moves region r's content up by dy rows and paints new rows
// at the bottom.
func scrollRegion(rnd *rand.Rand, s screen, r image.Rectangle, dy int) {
	for y := r.Min.Y; y < r.Max.Y-dy; y++ {
		copy(s.Pix[y*s.Stride+r.Min.X*4:y*s.Stride+r.Max.X*4], s.Pix[(y+dy)*s.Stride+r.Min.X*4:])
	}
	for y := max(r.Max.Y-dy, r.Min.Y); y < r.Max.Y; y++ {
		paintTextRow(rnd, s, r.Min.X, r.Max.X, y, [3]byte{30, 30, 30})
	}
}

// checkSequence encodes frames with v2 and decodes them, bit-exact, and
// returns the total payload bytes after the first.
func checkSequence(t *testing.T, enc *codec.Encoder, dec *codec.Decoder, step int, f *capture.Frame) int {
	t.Helper()
	p, err := enc.Encode(f)
	if err != nil {
		t.Fatalf("step %d: Encode: %v", step, err)
	}
	if p == nil {
		return 0
	}
	if _, err := dec.Decode(p); err != nil {
		t.Fatalf("step %d: Decode: %v", step, err)
	}
	if err := sameImage(dec.Image(), f); err != nil {
		t.Fatalf("step %d: %v", step, err)
	}
	return len(p)
}

// TestRoundTripScrollAndDrag: synthetic scrolls (whole screen and inside a
// region, both directions) and window drags (random offsets over a noise
// wallpaper) decode bit-exact, and the copy ops make them far smaller than
// version 1 tiles.
func TestRoundTripScrollAndDrag(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(seed, 4))
			w, h := 320+rnd.IntN(200), 240+rnd.IntN(100)
			ts := []int{16, 32, 64}[seed%3]
			s := newScreen(w, h, 4*int(seed%2))
			enc := codec.NewEncoder(codec.EncoderOptions{TileSize: ts})
			defer enc.Close()
			v1 := codec.NewEncoder(codec.EncoderOptions{TileSize: ts, Version: codec.Version})
			defer v1.Close()
			dec := codec.NewDecoder(codec.Limits{})
			defer dec.Close()
			var bytesV2, bytesV1 int
			encode := func(step int) {
				n := checkSequence(t, enc, dec, step, s.Frame)
				p, err := v1.Encode(s.Frame)
				if err != nil {
					t.Fatal(err)
				}
				if step > 0 {
					bytesV2 += n
					bytesV1 += len(p)
				}
			}
			if seed < 4 { // scrolling
				textScreen(rnd, s, image.Rect(0, 0, w, h))
				region := image.Rect(0, 0, w, h)
				if seed%2 == 1 {
					region = image.Rect(rnd.IntN(40), 10+rnd.IntN(40), w-rnd.IntN(40), h-rnd.IntN(40))
				}
				encode(0)
				for step := 1; step < 20; step++ {
					dy := 1 + rnd.IntN(40)
					if rnd.IntN(4) == 0 { // scroll back down: content moves down
						for y := region.Max.Y - 1; y >= region.Min.Y+dy; y-- {
							copy(s.Pix[y*s.Stride+region.Min.X*4:y*s.Stride+region.Max.X*4], s.Pix[(y-dy)*s.Stride+region.Min.X*4:])
						}
						for y := region.Min.Y; y < region.Min.Y+dy; y++ {
							paintTextRow(rnd, s, region.Min.X, region.Max.X, y, [3]byte{30, 30, 30})
						}
					} else {
						scrollRegion(rnd, s, region, dy)
					}
					encode(step)
				}
			} else { // dragging a window over noise
				s.fill(rnd, image.Rect(0, 0, w, h), true)
				wall := s.clone()
				win := screen{&capture.Frame{Width: 120, Height: 90, Stride: 480, Pix: make([]byte, 480*90)}}
				textScreen(rnd, win, image.Rect(0, 0, 120, 90))
				pos := image.Pt(rnd.IntN(w-120), rnd.IntN(h-90))
				draw := func() {
					copy(s.Pix, wall.Pix)
					for y := range 90 {
						copy(s.Pix[(pos.Y+y)*s.Stride+pos.X*4:], win.Pix[y*480:(y+1)*480])
					}
				}
				draw()
				encode(0)
				for step := 1; step < 20; step++ {
					pos.X = min(max(pos.X+rnd.IntN(61)-30, 0), w-120)
					pos.Y = min(max(pos.Y+rnd.IntN(41)-20, 0), h-90)
					draw()
					encode(step)
				}
			}
			t.Logf("bytes after the keyframe: v2 %d, v1 %d", bytesV2, bytesV1)
			if seed < 4 && bytesV2*2 > bytesV1 {
				t.Errorf("scroll: v2 %d bytes is not under half of v1's %d", bytesV2, bytesV1)
			}
		})
	}
}

// TestRoundTripRandomV1V2 runs random edits through both versions.
func TestRoundTripRandomV1V2(t *testing.T) {
	for seed := range uint64(6) {
		rnd := rand.New(rand.NewPCG(seed, 5))
		w, h := 1+rnd.IntN(200), 1+rnd.IntN(150)
		for _, o := range []codec.EncoderOptions{{TileSize: 16, Version: codec.Version}, {TileSize: 16},
			{TileSize: 16, Predict: true}} {
			rnd := rand.New(rand.NewPCG(seed, 6))
			enc := codec.NewEncoder(o)
			dec := codec.NewDecoder(codec.Limits{})
			s := newScreen(w, h, 0)
			s.fill(rnd, image.Rect(0, 0, w, h), false)
			for step := range 30 {
				switch rnd.IntN(3) {
				case 0:
					s.fill(rnd, randRect(rnd, w, h, 60), rnd.IntN(2) == 0)
				case 1: // shift a band sideways or vertically
					r := randRect(rnd, w, h, 120).Intersect(image.Rect(0, 0, w, h))
					dx, dy := rnd.IntN(9)-4, rnd.IntN(9)-4
					tmp := s.clone()
					for y := r.Min.Y; y < r.Max.Y; y++ {
						for x := r.Min.X; x < r.Max.X; x++ {
							sx, sy := x+dx, y+dy
							if sx >= 0 && sy >= 0 && sx < w && sy < h {
								copy(s.Pix[y*s.Stride+x*4:y*s.Stride+x*4+4], tmp.Pix[sy*s.Stride+sx*4:])
							}
						}
					}
				}
				checkSequence(t, enc, dec, step, s.Frame)
			}
			enc.Close()
			dec.Close()
		}
	}
}

// hostileV2 are version-2 payloads built to hurt a careless decoder.
func hostileV2() [][]byte {
	key := v2Payload(codec.FlagKey, 64, 64, 16, 1, []byte{codec.OpFill, 0, 15, 1, 2, 3}, 0, nil)
	copyOp := func(x, y, w, h uint64, sx, sy int64) []byte {
		b := []byte{codec.OpCopy}
		for _, v := range []uint64{x, y, w, h} {
			b = binary.AppendUvarint(b, v)
		}
		b = binary.AppendVarint(b, sx)
		return binary.AppendVarint(b, sy)
	}
	out := [][]byte{key}
	for _, c := range [][]byte{
		copyOp(0, 0, 64, 64, 1, 0),                                        // source past the right edge
		copyOp(0, 0, 64, 64, -1, 0),                                       // source past the left edge
		copyOp(63, 63, 2, 1, 0, 0),                                        // destination past the edge
		copyOp(1<<63, 0, 1, 1, 0, 0),                                      // huge x
		copyOp(0, 0, 1<<63, 1<<63, 0, 0),                                  // huge size (overflow)
		copyOp(0, 0, 1, 1, -1<<63, 1<<62),                                 // extreme offsets
		copyOp(0, 0, 0, 5, 0, 0),                                          // empty
		copyOp(10, 10, 20, 20, -10, -10),                                  // valid
		append(copyOp(0, 0, 64, 64, 0, 0), copyOp(0, 0, 64, 64, 0, 0)...), // valid-looking, 2 ops
	} {
		out = append(out, v2Payload(0, 64, 64, 16, 1, c, 0, nil))
		out = append(out, v2Payload(0, 64, 64, 16, 2, c, 0, nil))
	}
	// Work bomb: many full-screen copies.
	var many []byte
	for range 10 {
		many = append(many, copyOp(0, 0, 64, 64, 0, 0)...)
	}
	out = append(out, v2Payload(0, 64, 64, 16, 10, many, 0, nil))
	out = append(out,
		v2Payload(codec.FlagKey, 64, 64, 16, 1, []byte{codec.OpFill, 0, 200, 1, 2, 3}, 0, nil),           // run past the end
		v2Payload(codec.FlagKey, 64, 64, 16, 1, []byte{codec.OpFill, 0, 14, 1, 2, 3}, 0, nil),            // one tile missing
		v2Payload(codec.FlagKey, 64, 64, 16, 1, []byte{codec.OpRaw, 0, 15}, 64*64*3, []byte{0x28, 0xb5}), // truncated zstd
		v2Payload(codec.FlagKey, 64, 64, 16, 1, []byte{codec.OpRaw, 0, 15}, 12, nil),                     // wrong raw length
		v2Payload(codec.FlagKey, 64, 64, 16, 1, []byte{codec.OpPalette, 0, 255}, 0, nil),                 // palette, no data
		v2Payload(codec.FlagKey, 64, 64, 16, 1, []byte{0x7f}, 0, nil),                                    // unknown op
		v2Payload(codec.FlagKey, 64, 64, 16, 1<<40, nil, 0, nil),                                         // op count bomb
		v2Payload(codec.FlagKey|0x80, 64, 64, 16, 1, []byte{codec.OpFill, 0, 15, 1, 2, 3}, 0, nil),       // unknown flag
		v2Payload(codec.FlagKey, 60000, 60000, 16, 1, []byte{codec.OpFill, 0, 15, 1, 2, 3}, 0, nil),      // oversized
	)
	return out
}

// seedStreamV2 is a valid version-2 stream with scrolls, fills and palettes.
func seedStreamV2() [][]byte { return seedStreamOpts(false) }

// seedStreamOpts is seedStreamV2, with predict the FlagPredict variant.
func seedStreamOpts(predict bool) [][]byte {
	rnd := rand.New(rand.NewPCG(13, 14))
	s := newScreen(96, 80, 0)
	textScreen(rnd, s, image.Rect(0, 0, 96, 80))
	s.fill(rnd, image.Rect(0, 0, 32, 16), false)
	enc := codec.NewEncoder(codec.EncoderOptions{TileSize: 16, Predict: predict})
	defer enc.Close()
	var out [][]byte
	for i := range 4 {
		if i > 0 {
			scrollRegion(rnd, s, image.Rect(0, 16, 96, 80), 5)
		}
		p, err := enc.Encode(s.Frame)
		if err != nil || p == nil {
			panic("seed encode failed")
		}
		out = append(out, p)
	}
	return out
}

func FuzzDecodeV2(f *testing.F) {
	stream := seedStreamV2()
	seeds := append(append(append(stream, hostileV2()...), hostileJPEG()...), seedStreamOpts(true)...)
	for _, p := range append(append(seeds, hostileAtlas()...), seedStreamMotion()...) {
		f.Add(p)
		f.Add(p[:len(p)/2])
		f.Add(p[:len(p)-1])
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzPayload(t, stream, data) })
}

// TestHostileV2 runs the hostile payloads (and every truncation of them)
// after a valid keyframe.
func TestHostileV2(t *testing.T) {
	for i, p := range hostileV2() {
		for n := len(p); n >= 0; n-- {
			d := codec.NewDecoder(fuzzLimits)
			if !checkDecode(t, d, hostileV2()[0]) {
				t.Fatal("keyframe failed")
			}
			checkDecode(t, d, p[:n])
			d.Close()
		}
		_ = i
	}
}

// photoFill paints r with a smooth but many-coloured pattern that moves
// with phase, like video.
func photoFill(s screen, r image.Rectangle, phase int) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			p := s.Pix[y*s.Stride+x*4:]
			p[0] = byte(x + phase*3)
			p[1] = byte(y + phase*2)
			p[2] = byte((x+y)/2 + phase)
		}
	}
}

func psnr(img *image.RGBA, f *capture.Frame, r image.Rectangle) float64 {
	var se float64
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			s := f.Pix[y*f.Stride+x*4:]
			d := img.Pix[img.PixOffset(x, y):]
			for c := range 3 {
				v := float64(s[2-c]) - float64(d[c])
				se += v * v
			}
		}
	}
	if se == 0 {
		return 99
	}
	mse := se / float64(r.Dx()*r.Dy()*3)
	return 10 * math.Log10(255*255/mse)
}

// TestLossyRegion: a changing photographic region goes JPEG (smaller than
// lossless, with a sane PSNR), text elsewhere stays exact, and once the
// region stops changing the next payload restores it bit-exact.
func TestLossyRegion(t *testing.T) {
	rnd := rand.New(rand.NewPCG(21, 22))
	w, h := 320, 256
	s := newScreen(w, h, 0)
	textScreen(rnd, s, image.Rect(0, 0, w, h))
	video := image.Rect(70, 40, 250, 200)
	enc := codec.NewEncoder(codec.EncoderOptions{TileSize: 32, JPEGQuality: 60})
	defer enc.Close()
	ll := codec.NewEncoder(codec.EncoderOptions{TileSize: 32})
	defer ll.Close()
	dec := codec.NewDecoder(codec.Limits{})
	defer dec.Close()
	var lossyBytes, losslessBytes int
	// Tiles not touching the video must always be exact.
	outside := []image.Rectangle{image.Rect(0, 0, w, 32), image.Rect(0, 224, w, h), image.Rect(0, 0, 64, h), image.Rect(256, 0, w, h)}
	for step := range 11 {
		if step < 10 {
			photoFill(s, video, step)
		}
		p, err := enc.Encode(s.Frame)
		if err != nil {
			t.Fatal(err)
		}
		q, err := ll.Encode(s.Frame)
		if err != nil {
			t.Fatal(err)
		}
		if step > 0 && step < 10 {
			lossyBytes += len(p)
			losslessBytes += len(q)
		}
		if p == nil {
			t.Fatalf("step %d: no payload", step)
		}
		if _, err := dec.Decode(p); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		img := dec.Image()
		for _, r := range outside {
			if v := psnr(img, s.Frame, r); v != 99 {
				t.Fatalf("step %d: text at %v not exact (PSNR %.1f)", step, r, v)
			}
		}
		if v := psnr(img, s.Frame, video); v < 28 {
			t.Fatalf("step %d: video PSNR %.1f dB", step, v)
		}
		if step == 10 { // stopped: the refresh makes it exact
			if err := sameImage(img, s.Frame); err != nil {
				t.Fatalf("after the lossless refresh: %v", err)
			}
		}
	}
	if p, _ := enc.Encode(s.Frame); p != nil {
		t.Fatalf("static screen after refresh: %d-byte payload", len(p))
	}
	// Lossy turned off while a region is lossy: it still gets its refresh,
	// and no JPEG follows.
	photoFill(s, video, 20)
	if _, err := dec.Decode(mustEncode(t, enc, s.Frame)); err != nil {
		t.Fatal(err)
	}
	photoFill(s, video, 21)
	if _, err := dec.Decode(mustEncode(t, enc, s.Frame)); err != nil {
		t.Fatal(err)
	}
	enc.SetJPEGQuality(0)
	photoFill(s, video, 22)
	if _, err := dec.Decode(mustEncode(t, enc, s.Frame)); err != nil {
		t.Fatal(err)
	}
	if err := sameImage(dec.Image(), s.Frame); err != nil {
		t.Fatalf("lossy off: %v", err)
	}
	t.Logf("video frames: lossy %d bytes, lossless %d", lossyBytes, losslessBytes)
	if lossyBytes*2 > losslessBytes {
		t.Errorf("lossy %d bytes not under half of lossless %d", lossyBytes, losslessBytes)
	}
}

func jpegBytes(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// hostileJPEG are JPEG ops that must fail cleanly after hostileV2's key.
func hostileJPEG() [][]byte {
	op := func(x, y, w, h uint64, data []byte, l uint64) []byte {
		b := []byte{codec.OpJPEG}
		for _, v := range []uint64{x, y, w, h, l} {
			b = binary.AppendUvarint(b, v)
		}
		return append(b, data...)
	}
	j := jpegBytes(16, 16)
	var out [][]byte
	for _, c := range [][]byte{
		op(0, 0, 16, 16, j, uint64(len(j))),                                 // valid
		op(0, 0, 32, 16, j, uint64(len(j))),                                 // size mismatch
		op(60, 0, 16, 16, j, uint64(len(j))),                                // outside
		op(0, 0, 16, 16, j[:40], 40),                                        // truncated JPEG
		op(0, 0, 16, 16, j, uint64(len(j))+100),                             // length past the end
		op(0, 0, 16, 16, []byte("not a jpeg"), 10),                          // garbage
		op(0, 0, 64, 64, jpegBytes(64, 64), uint64(len(jpegBytes(64, 64)))), // whole screen
	} {
		out = append(out, v2Payload(0, 64, 64, 16, 1, c, 0, nil))
	}
	out = append(out, v2Payload(codec.FlagKey, 64, 64, 16, 1, op(0, 0, 16, 16, j, uint64(len(j))), 0, nil)) // in a keyframe
	return out
}

func TestHostileJPEG(t *testing.T) {
	key := hostileV2()[0]
	for i, p := range hostileJPEG() {
		d := codec.NewDecoder(fuzzLimits)
		if !checkDecode(t, d, key) {
			t.Fatal("keyframe failed")
		}
		ok := checkDecode(t, d, p)
		if ok != (i == 0 || i == 6) {
			t.Errorf("payload %d: decoded %v", i, ok)
		}
		for n := range len(p) {
			checkDecode(t, d, p[:n])
		}
		d.Close()
	}
}

func mustEncode(t *testing.T, enc *codec.Encoder, f *capture.Frame) []byte {
	t.Helper()
	p, err := enc.Encode(f)
	if err != nil || p == nil {
		t.Fatalf("Encode: %d bytes, %v", len(p), err)
	}
	return p
}
