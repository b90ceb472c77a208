package codecbench

import (
	"math/rand/v2"
	"testing"

	"github.com/tandem-rc/tandem/capture"
)

func TestUncovered(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	w, h := 120, 80
	wall := &capture.Frame{Width: w, Height: h, Stride: w * 4, Pix: make([]byte, w*h*4)}
	for i := range wall.Pix {
		wall.Pix[i] = byte(rnd.IntN(256))
	}
	// A 30x20 grey window moved by (+5, +2) per frame over the noise.
	frame := func(x, y int) *capture.Frame {
		f := &capture.Frame{Width: w, Height: h, Stride: w * 4, Pix: append([]byte(nil), wall.Pix...)}
		for yy := y; yy < y+20; yy++ {
			for xx := x; xx < x+30; xx++ {
				copy(f.Pix[yy*f.Stride+xx*4:], []byte{0x80, 0x80, 0x80, 0})
			}
		}
		return f
	}
	frames := []*capture.Frame{frame(10, 10), frame(15, 12), frame(20, 14)}
	r, err := Uncovered(frames, wall)
	if err != nil {
		t.Fatal(err)
	}
	// Each move uncovers a 5x20 column and a 25x2 row: 150 pixels.
	if r.Frames != 3 || r.Pixels != 150 || r.Raw != 450 {
		t.Fatalf("%+v, want 150 pixels (450 bytes) a frame", r)
	}
	if r.Zstd19 <= 0 || r.MEDZstd19 <= 0 {
		t.Fatalf("no compressed sizes: %+v", r)
	}
	if _, err := Uncovered(frames[:1], wall); err == nil {
		t.Fatal("one frame measured")
	}
}
