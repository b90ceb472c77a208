package codec_test

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/tandem-rc/tandem/capture/codec"
)

// dragScene is a photographic wallpaper (many colours, none dominant) with
// a text window (few colours, its background dominant) at win.
func dragScene(s screen, rnd *rand.Rand, win image.Rectangle) {
	photoFill(s, image.Rect(0, 0, s.Width, s.Height), 0)
	textRnd := rand.New(rand.NewPCG(5, 6)) // the window's text is the same wherever it is
	for y := win.Min.Y; y < win.Max.Y; y++ {
		for x := win.Min.X; x < win.Max.X; x++ {
			c := byte(30)
			if textRnd.IntN(4) == 0 {
				c = byte(100 + textRnd.IntN(4)*40)
			}
			p := s.Pix[y*s.Stride+x*4:]
			p[0], p[1], p[2] = c, c, c
		}
	}
	_ = rnd
}

// TestMotionBuildToLossless: a text window dragged over a photographic
// wallpaper. While it moves, the wallpaper it uncovers goes lossy in ATLAS
// ops (far fewer bytes than lossless) and the window's text stays exact;
// once it stops, the refinement makes the decoder's screen pixel-exact
// within two still frames, after which nothing more is sent.
func TestMotionBuildToLossless(t *testing.T) {
	const w, h, steps = 256, 192, 6
	rnd := rand.New(rand.NewPCG(41, 42))
	s := newScreen(w, h, 0)
	win := image.Rect(40, 30, 136, 94)
	dragScene(s, rnd, win)
	enc := codec.NewEncoder(codec.EncoderOptions{TileSize: 32, JPEGQuality: 40, Motion: true})
	defer enc.Close()
	ref := codec.NewEncoder(codec.EncoderOptions{TileSize: 32, JPEGQuality: 40}) // no Motion: lossless drags
	defer ref.Close()
	dec := codec.NewDecoder(codec.Limits{})
	defer dec.Close()
	var motionB, losslessB, atlases int
	encode := func(step int) []byte {
		t.Helper()
		p, err := enc.Encode(s.Frame)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if p != nil {
			if _, err := dec.Decode(p); err != nil {
				t.Fatalf("step %d: decode: %v", step, err)
			}
		}
		return p
	}
	for step := range steps + 1 {
		if step > 0 {
			win = win.Add(image.Pt(8, 2))
			dragScene(s, rnd, win)
		}
		p := encode(step)
		q, err := ref.Encode(s.Frame)
		if err != nil {
			t.Fatal(err)
		}
		if step == 0 {
			continue
		}
		motionB += len(p)
		losslessB += len(q)
		kinds, pieces, err := codec.PayloadOps(p)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(kinds, codec.OpAtlas) {
			atlases++
		}
		for _, r := range pieces {
			if r.Overlaps(win) {
				t.Fatalf("step %d: lossy piece %v over the text window %v", step, r, win)
			}
		}
		if v := psnr(dec.Image(), s.Frame, win); v != 99 {
			t.Fatalf("step %d: the window's text is not exact (PSNR %.1f dB)", step, v)
		}
		if v := psnr(dec.Image(), s.Frame, image.Rect(0, 0, w, h)); v < 30 {
			t.Fatalf("step %d: screen at %.1f dB while moving", step, v)
		}
		if qk, _, _ := codec.PayloadOps(q); slices.Contains(qk, codec.OpAtlas) {
			t.Fatal("an encoder without Motion sent an ATLAS op (older decoders reject it)")
		}
	}
	if atlases < steps-1 {
		t.Fatalf("%d of %d moving frames carried an ATLAS op", atlases, steps)
	}
	if enc.Lossless() || sameImage(dec.Image(), s.Frame) == nil {
		t.Fatal("the moving frames were not lossy: nothing to refine")
	}
	t.Logf("moving frames: %d bytes with Motion, %d lossless", motionB, losslessB)
	if motionB*2 > losslessB {
		t.Errorf("Motion sent %d bytes while moving, not under half of lossless %d", motionB, losslessB)
	}
	// The drag stops: the refinement arrives within two still frames.
	still := 0
	for ; !enc.Lossless() && still < 2; still++ {
		encode(steps + 1 + still)
	}
	if !enc.Lossless() {
		t.Fatal("still lossy two frames after the drag stopped")
	}
	if err := sameImage(dec.Image(), s.Frame); err != nil {
		t.Fatalf("after %d still frames the encoder reports lossless but: %v", still, err)
	}
	if p := encode(99); p != nil {
		t.Fatalf("a still, exact screen sent %d bytes", len(p))
	}
}

// TestMotionRefineBudget: with a refine budget the sender refines lossy
// tiles while the drag goes on, and the decoded screen stays what the
// encoder believes (exact wherever it is not marked lossy: checked by the
// final exactness).
func TestMotionRefineBudget(t *testing.T) {
	lossyAtStop := map[int]bool{}
	for _, budget := range []int{0, 64} {
		rnd := rand.New(rand.NewPCG(43, 44))
		s := newScreen(256, 192, 0)
		win := image.Rect(20, 20, 116, 84)
		dragScene(s, rnd, win)
		enc := codec.NewEncoder(codec.EncoderOptions{TileSize: 32, JPEGQuality: 40, Motion: true, RefineAfter: 1})
		enc.SetRefineBudget(budget)
		dec := codec.NewDecoder(codec.Limits{})
		refined := 0
		for step := range 12 {
			if step > 0 {
				win = win.Add(image.Pt(8, 4))
				dragScene(s, rnd, win)
			}
			p := mustEncode(t, enc, s.Frame)
			if _, err := dec.Decode(p); err != nil {
				t.Fatal(err)
			}
			if kinds, _, _ := codec.PayloadOps(p); step > 1 && (slices.Contains(kinds, codec.OpRaw) || slices.Contains(kinds, codec.OpFill)) {
				refined++
			}
		}
		lossyAtStop[budget] = !enc.Lossless()
		for i := 0; i < 3 && !enc.Lossless(); i++ {
			if p, err := enc.Encode(s.Frame); err != nil {
				t.Fatal(err)
			} else if p != nil {
				if _, err := dec.Decode(p); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := sameImage(dec.Image(), s.Frame); err != nil || !enc.Lossless() {
			t.Fatalf("budget %d: not exact after the stop: %v", budget, err)
		}
		if budget == 0 && refined > 0 {
			t.Errorf("budget 0: %d moving frames carried tile refinements", refined)
		}
		if budget > 0 && refined == 0 {
			t.Errorf("budget %d: no refinement while moving", budget)
		}
		enc.Close()
		dec.Close()
	}
	if !lossyAtStop[0] {
		t.Error("budget 0: nothing left to refine when the drag stopped")
	}
}

// seedStreamMotion is a valid stream with ATLAS ops (a drag over a
// photographic wallpaper) and its refinement.
func seedStreamMotion() [][]byte {
	rnd := rand.New(rand.NewPCG(45, 46))
	s := newScreen(128, 96, 0)
	win := image.Rect(10, 10, 58, 42)
	dragScene(s, rnd, win)
	enc := codec.NewEncoder(codec.EncoderOptions{TileSize: 16, JPEGQuality: 30, Motion: true})
	defer enc.Close()
	var out [][]byte
	for i := range 5 {
		if i > 0 && i < 4 {
			win = win.Add(image.Pt(6, 3))
			dragScene(s, rnd, win)
		}
		p, err := enc.Encode(s.Frame)
		if err != nil || p == nil {
			panic("seed encode failed")
		}
		out = append(out, p)
	}
	return out
}

// zstdOf is b as one whole zstd frame.
func zstdOf(b []byte) []byte {
	zw, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		panic(err)
	}
	defer zw.Close()
	return zw.EncodeAll(b, nil)
}

// atlasOp builds an ATLAS op by hand: atlas width, pieces (x, y, w, h as
// absolute values, sent as deltas) and the JPEG length.
func atlasOp(aw int, pieces []image.Rectangle, l int) []byte {
	b := binary.AppendUvarint([]byte{codec.OpAtlas}, uint64(aw))
	b = binary.AppendUvarint(b, uint64(len(pieces)))
	var last image.Point
	for _, r := range pieces {
		b = binary.AppendVarint(b, int64(r.Min.X-last.X))
		b = binary.AppendVarint(b, int64(r.Min.Y-last.Y))
		b = binary.AppendUvarint(b, uint64(r.Dx()-1))
		b = binary.AppendUvarint(b, uint64(r.Dy()-1))
		last = r.Min
	}
	return binary.AppendUvarint(b, uint64(l))
}

// hostileAtlas are ATLAS payloads (after hostileV2's 64x64 keyframe) that
// must fail cleanly, but the first, which is valid.
func hostileAtlas() [][]byte {
	j := jpegBytes(32, 16)
	big := jpegBytes(64, 64)
	two := []image.Rectangle{image.Rect(0, 0, 16, 16), image.Rect(40, 40, 56, 56)}
	type c struct {
		ops []byte
		raw []byte
	}
	var out [][]byte
	for _, k := range []c{
		{atlasOp(32, two, len(j)), j},                                          // valid: two 16x16 pieces side by side
		{atlasOp(16, two, len(j)), j},                                          // packs 16 wide into 16x32: the JPEG is 32x16
		{atlasOp(32, two[:1], len(j)), j},                                      // packs 16 wide, says 32
		{atlasOp(32, []image.Rectangle{image.Rect(60, 0, 76, 16)}, len(j)), j}, // off the screen
		{atlasOp(32, []image.Rectangle{image.Rect(0, 0, 48, 16)}, len(j)), j},  // wider than the atlas
		{atlasOp(1<<20, two, len(j)), j},                                       // atlas wider than the screen
		{atlasOp(32, two, 1<<30), j},                                           // JPEG length bomb
		{atlasOp(32, two, len(j)), []byte("not a jpeg, not a jpeg, not a jpeg")},
		{atlasOp(32, two, len(j)-10), j[:len(j)-10]},                              // truncated JPEG
		{atlasOp(64, []image.Rectangle{image.Rect(0, 0, 64, 64)}, len(big)), big}, // valid: the whole screen
	} {
		out = append(out, v2Payload(0, 64, 64, 16, 1, k.ops, uint32(len(k.raw)), zstdOf(k.raw)))
	}
	// Too many pieces for the op list, and one in a keyframe.
	many := binary.AppendUvarint(binary.AppendUvarint([]byte{codec.OpAtlas}, 32), 1<<40)
	out = append(out, v2Payload(0, 64, 64, 16, 1, many, 0, nil),
		v2Payload(codec.FlagKey, 64, 64, 16, 1, atlasOp(32, two, len(j)), uint32(len(j)), zstdOf(j)))
	return out
}

func TestHostileAtlas(t *testing.T) {
	key := hostileV2()[0]
	for i, p := range hostileAtlas() {
		d := codec.NewDecoder(fuzzLimits)
		if !checkDecode(t, d, key) {
			t.Fatal("keyframe failed")
		}
		if ok := checkDecode(t, d, p); ok != (i == 0 || i == 9) {
			t.Errorf("payload %d: decoded %v", i, ok)
		}
		for n := 0; n < len(p); n += max(1, len(p)/48) { // every cut is FuzzDecodeV2's job
			d := codec.NewDecoder(fuzzLimits)
			checkDecode(t, d, key)
			checkDecode(t, d, p[:n])
			d.Close()
		}
		d.Close()
	}
	// A valid atlas paints its pieces from their places in the JPEG: a
	// 32x16 JPEG, left half black, right half white.
	img := image.NewRGBA(image.Rect(0, 0, 32, 16))
	for y := range 16 {
		for x := 16; x < 32; x++ {
			img.Pix[img.PixOffset(x, y)+0], img.Pix[img.PixOffset(x, y)+1], img.Pix[img.PixOffset(x, y)+2] = 255, 255, 255
		}
		for x := range 32 {
			img.Pix[img.PixOffset(x, y)+3] = 255
		}
	}
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	j := jb.Bytes()
	p := v2Payload(0, 64, 64, 16, 1, atlasOp(32, []image.Rectangle{image.Rect(0, 0, 16, 16), image.Rect(40, 40, 56, 56)}, len(j)), uint32(len(j)), zstdOf(j))
	d := codec.NewDecoder(fuzzLimits)
	defer d.Close()
	checkDecode(t, d, key)
	if !checkDecode(t, d, p) {
		t.Fatal("valid atlas refused")
	}
	if a, b := rgbaAt(d.Image(), 8, 8), rgbaAt(d.Image(), 48, 48); a[0] > 16 || b[0] < 240 {
		t.Fatalf("pieces painted %v and %v, want black then white", a, b)
	}
}

// TestMotionScrollExact: a page with pictures is panned (dragged
// diagonally, as a map or a document in a viewer); the pixels it brings in
// go lossy and are moved again as copies. A lossy source must
// never be copied as if exact (the destinations become exact only after
// every source was checked), so once the scroll stops the refinement
// leaves the screen pixel-exact.
func TestMotionPanExact(t *testing.T) {
	const w, h, dx, dy = 192, 160, 4, 6
	rnd := rand.New(rand.NewPCG(47, 48))
	page := newScreen(w+12*dx, h+12*dy, 0) // the whole page; the screen shows a window of it
	textScreen(rnd, page, image.Rect(0, 0, page.Width, page.Height))
	for y := 20; y+24 < page.Height; y += 40 {
		photoFill(page, image.Rect(20, y, page.Width-20, y+24), y)
	}
	s := newScreen(w, h, 0)
	show := func(left, top int) {
		for y := range h {
			copy(s.Pix[y*s.Stride:y*s.Stride+w*4], page.Pix[(y+top)*page.Stride+left*4:])
		}
	}
	enc := codec.NewEncoder(codec.EncoderOptions{TileSize: 32, JPEGQuality: 30, Motion: true})
	defer enc.Close()
	dec := codec.NewDecoder(codec.Limits{})
	defer dec.Close()
	atlases := 0
	for step := range 12 {
		show(step*dx, step*dy)
		p := mustEncode(t, enc, s.Frame)
		if _, err := dec.Decode(p); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if kinds, _, _ := codec.PayloadOps(p); slices.Contains(kinds, codec.OpAtlas) {
			atlases++
		}
	}
	if atlases == 0 {
		t.Fatal("the pan sent nothing lossy")
	}
	for i := 0; i < 2 && !enc.Lossless(); i++ {
		if _, err := dec.Decode(mustEncode(t, enc, s.Frame)); err != nil {
			t.Fatal(err)
		}
	}
	if !enc.Lossless() {
		t.Fatal("still lossy two frames after the scroll stopped")
	}
	if err := sameImage(dec.Image(), s.Frame); err != nil {
		t.Fatalf("the encoder reports lossless but: %v", err)
	}
}
