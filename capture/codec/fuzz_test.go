package codec_test

import (
	"encoding/binary"
	"errors"
	"image"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/capture/codec"
)

// fuzzLimits keep every fuzz input under a few MiB of decoder memory.
var fuzzLimits = codec.Limits{MaxWidth: 256, MaxHeight: 256, MaxPayload: 1 << 20}

// seedStream returns a valid keyframe followed by deltas of a 150x90 screen
// in 32-px tiles: list and bitmap tile sets, and a repeat of earlier content.
func seedStream() [][]byte {
	rnd := rand.New(rand.NewPCG(11, 12))
	s := newScreen(150, 90, 0)
	s.fill(rnd, image.Rect(0, 0, 150, 90), false)
	s.fill(rnd, image.Rect(10, 10, 60, 40), true)
	enc := codec.NewEncoder(codec.EncoderOptions{TileSize: 32})
	defer enc.Close()
	var out [][]byte
	add := func() {
		p, err := enc.Encode(s.Frame)
		if err != nil || p == nil {
			panic("seed encode failed")
		}
		out = append(out, p)
	}
	add()
	s.fill(rnd, image.Rect(100, 60, 105, 65), true) // one tile: a list
	add()
	for y := 0; y < 90; y += 32 { // a column of tiles
		s.fill(rnd, image.Rect(0, y, 3, y+3), false)
	}
	s.fill(rnd, image.Rect(40, 0, 150, 20), true)
	add()
	s.fill(rnd, image.Rect(0, 0, 150, 90), false)
	add()
	return out
}

func payload(flags byte, w, h, ts int, tileSet []byte, raw uint32, z []byte) []byte {
	p := []byte{codec.Magic, codec.Version, flags}
	p = binary.BigEndian.AppendUint16(p, uint16(w))
	p = binary.BigEndian.AppendUint16(p, uint16(h))
	p = binary.BigEndian.AppendUint16(p, uint16(ts))
	p = append(p, tileSet...)
	p = binary.BigEndian.AppendUint32(p, raw)
	return append(p, z...)
}

// hostileSeeds are payloads built to hurt a careless decoder.
func hostileSeeds() [][]byte {
	zw, _ := zstd.NewWriter(nil)
	zeros := func(n int) []byte { return zw.EncodeAll(make([]byte, n), nil) }
	return [][]byte{
		// Oversized dimensions.
		payload(codec.FlagKey, 0xffff, 0xffff, 16, nil, 0xffffffff, []byte{0x28, 0xb5, 0x2f, 0xfd}),
		payload(codec.FlagKey, 257, 1, 16, nil, 257*3, zeros(257*3)),
		// A zip bomb: 16 MiB of zeros in a few hundred bytes where 30 KiB
		// are expected.
		payload(codec.FlagKey, 100, 100, 16, nil, 100*100*3, zeros(16<<20)),
		// A raw length far beyond the tiles.
		payload(codec.FlagKey, 100, 100, 16, nil, 0xfffffff0, zeros(1000)),
		// A valid maximal keyframe (all zeros compress to almost nothing).
		payload(codec.FlagKey, 256, 256, 16, nil, 256*256*3, zeros(256*256*3)),
		// Garbage zstd.
		payload(codec.FlagKey, 20, 20, 16, nil, 20*20*3, []byte("\x28\xb5\x2f\xfdgarbage-garbage-garbage")),
		// A huge tile count and indexes past the end.
		payload(0, 100, 100, 16, binary.AppendUvarint(nil, 1<<62), 48, zeros(48)),
		payload(0, 100, 100, 16, []byte{2, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, 2*768, zeros(1536)),
		payload(codec.FlagBitmap, 100, 100, 16, []byte{0, 0, 0, 0, 0, 0x80}, 16*16*3, zeros(768)),
		// Truncated stream: a valid header, half the zstd data.
		payload(codec.FlagKey, 64, 64, 64, nil, 64*64*3, zeros(64 * 64 * 3)[:5]),
	}
}

// checkDecode decodes p and checks the invariants that must hold for any
// input: no panic (implicit), errors are classified, successful updates are
// consistent with the image and within the limits.
func checkDecode(t *testing.T, d *codec.Decoder, p []byte) bool {
	u, err := d.Decode(p)
	if err != nil {
		if !errors.Is(err, codec.ErrCorrupt) && !errors.Is(err, codec.ErrTooLarge) && !errors.Is(err, codec.ErrNeedKeyframe) {
			t.Fatalf("unclassified error: %v", err)
		}
		return false
	}
	img := d.Image()
	if img == nil {
		t.Fatal("decoded without an image")
	}
	if img.Rect.Dx() > fuzzLimits.MaxWidth || img.Rect.Dy() > fuzzLimits.MaxHeight {
		t.Fatalf("image %v beyond the limits", img.Rect)
	}
	if len(u.Rects) == 0 {
		t.Fatal("successful update changed nothing")
	}
	for _, r := range u.Rects {
		if r.Empty() || !r.In(img.Rect) {
			t.Fatalf("update rect %v outside %v", r, img.Rect)
		}
	}
	for i := 3; i < len(img.Pix); i += 4 {
		if img.Pix[i] != 0xff {
			t.Fatalf("alpha %d at byte %d", img.Pix[i], i)
		}
	}
	return true
}

func FuzzDecode(f *testing.F) {
	stream := seedStream()
	for _, p := range stream {
		f.Add(p)
		f.Add(p[:len(p)/2])
		f.Add(p[:len(p)-1])
	}
	for _, p := range hostileSeeds() {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzPayload(t, stream, data) })
}

// fuzzPayload decodes data as the first payload of a fresh decoder, then
// after a valid keyframe followed by a valid delta (stream[0], stream[1]).
func fuzzPayload(t *testing.T, stream [][]byte, data []byte) {
	d := codec.NewDecoder(fuzzLimits)
	defer d.Close()
	checkDecode(t, d, data)
	d2 := codec.NewDecoder(fuzzLimits)
	defer d2.Close()
	if !checkDecode(t, d2, stream[0]) {
		t.Fatal("seed keyframe failed")
	}
	checkDecode(t, d2, data)
	checkDecode(t, d2, stream[1])
}

// FuzzDecodeSequence splits the input into payloads (2-byte big-endian
// length prefixes) and decodes them in order on one decoder.
func FuzzDecodeSequence(f *testing.F) {
	join := func(ps ...[]byte) []byte {
		var out []byte
		for _, p := range ps {
			out = binary.BigEndian.AppendUint16(out, uint16(len(p)))
			out = append(out, p...)
		}
		return out
	}
	s := seedStream()
	f.Add(join(s...))
	f.Add(join(s[0], s[2], s[1], s[3]))
	f.Add(join(s[1], s[0], s[1]))
	f.Add(join(s[0], s[1][:len(s[1])-3], s[2], s[0], s[3]))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := codec.NewDecoder(fuzzLimits)
		defer d.Close()
		for len(data) >= 2 {
			n := int(binary.BigEndian.Uint16(data))
			data = data[2:]
			n = min(n, len(data))
			checkDecode(t, d, data[:n])
			data = data[n:]
		}
	})
}

// FuzzRoundTrip derives a frame sequence from the input and checks that
// encode→decode is bit-exact.
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint16(33), uint16(17), uint8(16), []byte("hello world, tandem"))
	f.Add(uint16(200), uint16(100), uint8(64), []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 255, 254, 0, 0, 0, 0})
	f.Add(uint16(1), uint16(1), uint8(0), []byte{})
	f.Fuzz(func(t *testing.T, w, h uint16, ts uint8, edits []byte) {
		W, H := 1+int(w)%400, 1+int(h)%300
		enc := codec.NewEncoder(codec.EncoderOptions{TileSize: int(ts), Predict: ts&1 == 1})
		defer enc.Close()
		dec := codec.NewDecoder(codec.Limits{})
		defer dec.Close()
		s := newScreen(W, H, 0)
		frames := []*capture.Frame{}
		// Each 6-byte edit: x, y, w, h (bytes scaled), colour seed, flags.
		for len(edits) >= 6 {
			e := edits[:6]
			edits = edits[6:]
			r := image.Rect(int(e[0])*W/256, int(e[1])*H/256, 0, 0)
			r.Max = r.Min.Add(image.Pt(1+int(e[2])*W/256, 1+int(e[3])*H/256))
			s.fill(rand.New(rand.NewPCG(uint64(e[4]), 0)), r, e[5]&1 != 0)
			if e[5]&2 != 0 {
				enc.ForceKeyframe()
			}
			frames = append(frames, s.clone().Frame)
		}
		frames = append(frames, s.Frame)
		for i, fr := range frames {
			p, err := enc.Encode(fr)
			if err != nil {
				t.Fatal(err)
			}
			if p == nil {
				continue
			}
			if _, err := dec.Decode(p); err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
			if err := sameImage(dec.Image(), fr); err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
		}
	})
}

// TestDecodeMutations runs FuzzDecode's checks over deterministic random
// mutations of the seeds (bit flips, byte changes, truncations), so CI
// covers more than the seed corpus without fuzzing.
func TestDecodeMutations(t *testing.T) {
	t.Run("v1", func(t *testing.T) { testDecodeMutations(t, 1000, seedStream(), hostileSeeds()) })
	t.Run("v2", func(t *testing.T) {
		testDecodeMutations(t, 5000, seedStreamV2(), append(hostileV2(), hostileJPEG()...))
	})
}

// testDecodeMutations decodes random mutations (bit flips, truncations,
// random bytes) of a valid stream and hostile payloads.
func testDecodeMutations(t *testing.T, n int, stream, hostile [][]byte) {
	seeds := append(append([][]byte{}, stream...), hostile...)
	rnd := rand.New(rand.NewPCG(1, 2))
	if testing.Short() {
		n /= 5
	}
	for range n {
		p := append([]byte(nil), seeds[rnd.IntN(len(seeds))]...)
		for range 1 + rnd.IntN(4) {
			if len(p) == 0 {
				break
			}
			switch i := rnd.IntN(len(p)); rnd.IntN(3) {
			case 0:
				p[i] ^= 1 << rnd.IntN(8)
			case 1:
				p = p[:i]
			default:
				p[i] = byte(rnd.Uint32())
			}
		}
		d := codec.NewDecoder(fuzzLimits)
		checkDecode(t, d, p)
		d.Close()
		d2 := codec.NewDecoder(fuzzLimits)
		checkDecode(t, d2, stream[0])
		checkDecode(t, d2, p)
		checkDecode(t, d2, stream[1])
		d2.Close()
	}
}
