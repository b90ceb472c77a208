package codec_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"image"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/capture/codec"
)

// specRaw builds the raw bytes of tiles straight from the documented
// format: tiles in order, rows top to bottom, pixels left to right, R G B.
func specRaw(f *capture.Frame, ts int, tiles []int) []byte {
	tilesX := (f.Width + ts - 1) / ts
	var out []byte
	for _, t := range tiles {
		x0, y0 := t%tilesX*ts, t/tilesX*ts
		for y := y0; y < min(y0+ts, f.Height); y++ {
			for x := x0; x < min(x0+ts, f.Width); x++ {
				p := f.Pix[y*f.Stride+x*4:]
				out = append(out, p[2], p[1], p[0])
			}
		}
	}
	return out
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// TestPayloadBytes pins the wire format byte for byte, and decodes the zstd
// parts with an independent plain zstd stream reader.
func TestPayloadBytes(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 7))
	small := newScreen(40, 20, 8)
	small.fill(rnd, image.Rect(0, 0, 40, 20), true)
	big := newScreen(1000, 1000, 0)
	big.fill(rnd, image.Rect(0, 0, 1000, 1000), false)

	type step struct {
		f      func() *capture.Frame
		header string // hex, up to the zstd part
		tiles  []int  // nil: all
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"small", []step{
			// 40x20 in 16-px tiles: 3x2 tiles.
			{func() *capture.Frame { return small.Frame }, "5401" + "01" + "0028" + "0014" + "0010" + "00000960", nil},
			// Tile 4 (x 16..32, y 16..20: 16x4 px): a 1-byte bitmap beats the
			// 2-byte list.
			{func() *capture.Frame { small.Pix[17*small.Stride+20*4]++; return small.Frame },
				"5401" + "02" + "0028" + "0014" + "0010" + "10" + "000000c0", []int{4}},
			// Tiles 0, 2, 3, 5 (16x16, 8x16, 16x4, 8x4 px): bitmap 0b101101.
			{func() *capture.Frame {
				for _, p := range []image.Point{{0, 0}, {39, 0}, {0, 19}, {39, 19}} {
					small.Pix[p.Y*small.Stride+p.X*4]++
				}
				return small.Frame
			}, "5401" + "02" + "0028" + "0014" + "0010" + "2d" + "000005a0", []int{0, 2, 3, 5}},
		}},
		{"big", []step{
			{func() *capture.Frame { return big.Frame }, "5401" + "01" + "03e8" + "03e8" + "0010" + "002dc6c0", nil},
			// 63x63 tiles; tiles 0 and 200 (16x16 each): list 02 00 c7 01
			// (199 = 0xc7 0x01 as a uvarint) beats a 497-byte bitmap.
			{func() *capture.Frame {
				big.Pix[0]++
				big.Pix[50*big.Stride+180*4]++
				return big.Frame
			}, "5401" + "00" + "03e8" + "03e8" + "0010" + "0200c701" + "00000600", []int{0, 200}},
			// The last tile (3968) alone: 8x8 px (1000 = 62*16 + 8).
			{func() *capture.Frame { big.Pix[999*big.Stride+999*4]++; return big.Frame },
				"5401" + "00" + "03e8" + "03e8" + "0010" + "01801f" + "000000c0", []int{3968}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc := codec.NewEncoder(codec.EncoderOptions{TileSize: 16, Version: codec.Version})
			defer enc.Close()
			dec := codec.NewDecoder(codec.Limits{})
			pr, pw := io.Pipe()
			zr, err := zstd.NewReader(pr, zstd.WithDecoderConcurrency(1))
			if err != nil {
				t.Fatal(err)
			}
			defer zr.Close()
			defer pw.Close()
			for i, s := range tc.steps {
				f := s.f()
				p, err := enc.Encode(f)
				if err != nil {
					t.Fatal(err)
				}
				hdr := mustHex(s.header)
				if !bytes.HasPrefix(p, hdr) {
					n := min(len(p), len(hdr))
					t.Fatalf("step %d: header\n got %x\nwant %x", i, p[:n], hdr)
				}
				z := p[len(hdr):]
				if i == 0 && !bytes.HasPrefix(z, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
					t.Fatalf("keyframe zstd part starts %x, want a zstd frame header", z[:4])
				}
				tiles := s.tiles
				if tiles == nil {
					for k := range ((f.Width + 15) / 16) * ((f.Height + 15) / 16) {
						tiles = append(tiles, k)
					}
				}
				want := specRaw(f, 16, tiles)
				go func() { _, _ = pw.Write(z) }()
				got := make([]byte, len(want))
				if _, err := io.ReadFull(zr, got); err != nil {
					t.Fatalf("step %d: independent zstd read: %v", i, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("step %d: raw data does not follow the documented tile/pixel order", i)
				}
				if _, err := dec.Decode(p); err != nil {
					t.Fatalf("step %d: Decode: %v", i, err)
				}
				if err := sameImage(dec.Image(), f); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
			}
		})
	}
}

// TestDecodePlainZstdKeyframe checks that a keyframe whose zstd part is an
// ordinary complete zstd frame (as any zstd library makes) decodes: the
// format is plain zstd, not this package's encoder.
func TestDecodePlainZstdKeyframe(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 1))
	s := newScreen(70, 33, 0)
	s.fill(rnd, image.Rect(0, 0, 70, 33), true)
	var tiles []int
	for i := range 5 * 3 {
		tiles = append(tiles, i)
	}
	raw := specRaw(s.Frame, 16, tiles)
	zw, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	z := zw.EncodeAll(raw, nil)
	p := append(mustHex("5401"+"01"+"0046"+"0021"+"0010"), 0, 0, byte(len(raw)>>8), byte(len(raw)))
	p = append(p, z...)
	dec := codec.NewDecoder(codec.Limits{})
	u, err := dec.Decode(p)
	if err != nil {
		t.Fatal(err)
	}
	if !u.Keyframe || len(u.Rects) != 1 || u.Rects[0] != image.Rect(0, 0, 70, 33) {
		t.Fatalf("update %+v", u)
	}
	if err := sameImage(dec.Image(), s.Frame); err != nil {
		t.Fatal(err)
	}
}

func TestIsKeyframe(t *testing.T) {
	for _, tc := range []struct {
		p    string
		want bool
	}{
		{"540101", true},
		{"540103", true},
		{"540100", false},
		{"540102", false},
		{"540201", true},
		{"540200", false},
		{"540301", false},
		{"550101", false},
		{"5401", false},
		{"", false},
	} {
		if got := codec.IsKeyframe(mustHex(tc.p)); got != tc.want {
			t.Errorf("IsKeyframe(%s) = %v", tc.p, got)
		}
	}
}

// TestJoinAndRecover: a decoder that joins mid-stream needs a keyframe;
// damaged payloads fail cleanly and the next keyframe recovers.
func TestJoinAndRecover(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 3))
	s := newScreen(200, 150, 0)
	s.fill(rnd, image.Rect(0, 0, 200, 150), false)
	enc := codec.NewEncoder(codec.EncoderOptions{})
	defer enc.Close()
	encode := func() []byte {
		t.Helper()
		s.fill(rnd, randRect(rnd, 200, 150, 40), true)
		p, err := enc.Encode(s.Frame)
		if err != nil || p == nil {
			t.Fatalf("Encode: %v, %d bytes", err, len(p))
		}
		return p
	}
	encode()
	encode()

	late := codec.NewDecoder(codec.Limits{})
	if _, err := late.Decode(encode()); !errors.Is(err, codec.ErrNeedKeyframe) {
		t.Fatalf("delta before a keyframe: err = %v, want ErrNeedKeyframe", err)
	}
	if late.Image() != nil {
		t.Fatal("image before a keyframe")
	}
	enc.ForceKeyframe()
	key := encode()
	if !codec.IsKeyframe(key) {
		t.Fatal("ForceKeyframe did not give a keyframe")
	}
	if _, err := late.Decode(key); err != nil {
		t.Fatal(err)
	}
	if err := sameImage(late.Image(), s.Frame); err != nil {
		t.Fatal(err)
	}

	// Truncate deltas at many lengths: each fails, never hangs, and the
	// next delta then needs a keyframe.
	for n := 0; ; n++ {
		dd := codec.NewDecoder(codec.Limits{})
		enc.ForceKeyframe()
		if _, err := dd.Decode(encode()); err != nil {
			t.Fatal(err)
		}
		delta := encode()
		if n >= len(delta) {
			break
		}
		if _, err := dd.Decode(delta[:n]); err == nil {
			t.Fatalf("delta truncated to %d of %d bytes decoded", n, len(delta))
		}
		if _, err := dd.Decode(encode()); !errors.Is(err, codec.ErrNeedKeyframe) {
			t.Fatalf("delta after an error: err = %v, want ErrNeedKeyframe", err)
		}
		enc.ForceKeyframe()
		if _, err := dd.Decode(encode()); err != nil {
			t.Fatalf("keyframe after an error: %v", err)
		}
		if err := sameImage(dd.Image(), s.Frame); err != nil {
			t.Fatal(err)
		}
		if n > 40 {
			n += 7 // cover the header byte by byte, the zstd part sparsely
		}
	}
}

func TestLimits(t *testing.T) {
	hdr := func(flags byte, w, h, ts int) []byte {
		return []byte{0x54, 1, flags, byte(w >> 8), byte(w), byte(h >> 8), byte(h), byte(ts >> 8), byte(ts)}
	}
	withRaw := func(p []byte, raw uint32, z ...byte) []byte {
		p = append(p, byte(raw>>24), byte(raw>>16), byte(raw>>8), byte(raw))
		return append(p, z...)
	}
	dec := codec.NewDecoder(codec.Limits{MaxWidth: 1920, MaxHeight: 1080, MaxPayload: 1000})
	for _, tc := range []struct {
		name string
		p    []byte
		want error
	}{
		{"too wide", withRaw(hdr(1, 1921, 10, 64), 1921*10*3, 1), codec.ErrTooLarge},
		{"too tall", withRaw(hdr(1, 10, 1081, 64), 10*1081*3, 1), codec.ErrTooLarge},
		{"max dims", withRaw(hdr(1, 0xffff, 0xffff, 64), 0xffffffff, 1), codec.ErrTooLarge},
		{"payload", make([]byte, 1001), codec.ErrTooLarge},
		{"raw length bomb", withRaw(hdr(1, 100, 100, 64), 0xffffffff, 1), codec.ErrCorrupt},
		{"raw length short", withRaw(hdr(1, 100, 100, 64), 100*100*3-1, 1), codec.ErrCorrupt},
		{"tile size 8", withRaw(hdr(1, 100, 100, 8), 100*100*3, 1), codec.ErrCorrupt},
		{"tile size 257", withRaw(hdr(1, 100, 100, 257), 100*100*3, 1), codec.ErrCorrupt},
		{"zero width", withRaw(hdr(1, 0, 100, 64), 0, 1), codec.ErrCorrupt},
		{"unknown flag", withRaw(hdr(5, 100, 100, 64), 100*100*3, 1), codec.ErrCorrupt},
		{"key with bitmap", withRaw(hdr(3, 100, 100, 64), 100*100*3, 1), codec.ErrCorrupt},
		{"bad magic", withRaw([]byte{0x55, 1, 1, 0, 10, 0, 10, 0, 64}, 300, 1), codec.ErrCorrupt},
		{"bad version", withRaw([]byte{0x54, 2, 1, 0, 10, 0, 10, 0, 64}, 300, 1), codec.ErrCorrupt},
		{"no zstd", withRaw(hdr(1, 10, 10, 64), 300), codec.ErrCorrupt},
		{"garbage zstd", withRaw(hdr(1, 10, 10, 64), 300, 1, 2, 3, 4, 5, 6, 7, 8), codec.ErrCorrupt},
		{"empty", nil, codec.ErrCorrupt},
	} {
		if _, err := dec.Decode(tc.p); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	// A zstd stream declaring a window over 8 MiB is refused before its
	// history buffer is allocated.
	var buf bytes.Buffer
	sw, _ := zstd.NewWriter(&buf, zstd.WithWindowSize(64<<20), zstd.WithEncoderConcurrency(1))
	_, _ = sw.Write(make([]byte, 300))
	_ = sw.Flush()
	big := codec.NewDecoder(codec.Limits{})
	_, err := big.Decode(withRaw(hdr(1, 10, 10, 64), 300, buf.Bytes()...))
	if !errors.Is(err, codec.ErrCorrupt) || !errors.Is(err, zstd.ErrWindowSizeExceeded) {
		t.Fatalf("64 MiB window: err = %v, want ErrCorrupt and zstd.ErrWindowSizeExceeded", err)
	}
}

func TestEncoderErrors(t *testing.T) {
	enc := codec.NewEncoder(codec.EncoderOptions{TileSize: 3}) // clamped to 16
	if _, err := enc.Encode(&capture.Frame{Width: 10, Height: 10, Stride: 40, Pix: make([]byte, 399)}); err == nil {
		t.Fatal("short frame encoded")
	}
	if _, err := enc.Encode(&capture.Frame{Width: 0x10000, Height: 1, Stride: 0x40000, Pix: make([]byte, 0x40000)}); err == nil {
		t.Fatal("65536-wide frame encoded")
	}
	p, err := enc.Encode(&capture.Frame{Width: 20, Height: 20, Stride: 80, Pix: make([]byte, 1600)})
	if err != nil {
		t.Fatal(err)
	}
	if p[7] != 0 || p[8] != 16 {
		t.Fatalf("tile size %d, want 16", int(p[7])<<8|int(p[8]))
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Encode(&capture.Frame{Width: 20, Height: 20, Stride: 80, Pix: make([]byte, 1600)}); !errors.Is(err, codec.ErrClosed) {
		t.Fatalf("Encode after Close: %v", err)
	}
}

func TestDecoderClose(t *testing.T) {
	enc := codec.NewEncoder(codec.EncoderOptions{})
	defer enc.Close()
	p, err := enc.Encode(&capture.Frame{Width: 20, Height: 20, Stride: 80, Pix: make([]byte, 1600)})
	if err != nil {
		t.Fatal(err)
	}
	dec := codec.NewDecoder(codec.Limits{})
	if _, err := dec.Decode(p); err != nil {
		t.Fatal(err)
	}
	if err := dec.Close(); err != nil {
		t.Fatal(err)
	}
	if err := dec.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := dec.Decode(p); !errors.Is(err, codec.ErrClosed) {
		t.Fatalf("Decode after Close: %v", err)
	}
}
