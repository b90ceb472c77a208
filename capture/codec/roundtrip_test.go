package codec_test

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"math/rand/v2"
	"testing"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/capture/codec"
)

// screen is a test frame with helpers to edit it.
type screen struct {
	*capture.Frame
}

func newScreen(w, h, pad int) screen {
	return screen{&capture.Frame{Width: w, Height: h, Stride: w*4 + pad, Pix: make([]byte, (w*4+pad)*h)}}
}

func (s screen) clone() screen {
	c := *s.Frame
	c.Pix = bytes.Clone(s.Pix)
	return screen{&c}
}

// fill paints r (clipped) with random pixels (noise) or one random colour.
func (s screen) fill(rnd *rand.Rand, r image.Rectangle, noise bool) {
	r = r.Intersect(image.Rect(0, 0, s.Width, s.Height))
	c := rnd.Uint32()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if noise {
				c = rnd.Uint32()
			}
			p := s.Pix[y*s.Stride+x*4:]
			p[0], p[1], p[2], p[3] = byte(c), byte(c>>8), byte(c>>16), byte(c>>24)
		}
	}
}

func randRect(rnd *rand.Rand, w, h, maxSide int) image.Rectangle {
	x, y := rnd.IntN(w), rnd.IntN(h)
	return image.Rect(x, y, x+1+rnd.IntN(maxSide), y+1+rnd.IntN(maxSide))
}

// sameImage compares the decoder's image with the frame, ignoring X.
func sameImage(img *image.RGBA, f *capture.Frame) error {
	if img == nil {
		return errors.New("no image")
	}
	if img.Rect != image.Rect(0, 0, f.Width, f.Height) {
		return fmt.Errorf("image %v, frame %dx%d", img.Rect, f.Width, f.Height)
	}
	for y := range f.Height {
		for x := range f.Width {
			p := f.Pix[y*f.Stride+x*4:]
			q := img.Pix[y*img.Stride+x*4:]
			if q[0] != p[2] || q[1] != p[1] || q[2] != p[0] || q[3] != 0xff {
				return fmt.Errorf("pixel (%d,%d): decoded %v, frame bgrx %v", x, y, q[:4], p[:4])
			}
		}
	}
	return nil
}

// changedTiles computes, pixel by pixel, which tiles differ between a and b
// (ignoring the X byte).
func changedTiles(a, b *capture.Frame, ts int) map[image.Point]bool {
	m := map[image.Point]bool{}
	for y := range a.Height {
		for x := range a.Width {
			p, q := a.Pix[y*a.Stride+x*4:], b.Pix[y*b.Stride+x*4:]
			if p[0] != q[0] || p[1] != q[1] || p[2] != q[2] || p[3] != q[3] {
				m[image.Pt(x/ts, y/ts)] = true
			}
		}
	}
	return m
}

// checkRects verifies that rects are disjoint, tile-aligned, inside the
// screen and cover exactly the changed tiles.
func checkRects(rects []image.Rectangle, want map[image.Point]bool, w, h, ts int) error {
	got := map[image.Point]bool{}
	for _, r := range rects {
		if !r.In(image.Rect(0, 0, w, h)) || r.Empty() {
			return fmt.Errorf("rect %v outside %dx%d", r, w, h)
		}
		if r.Min.X%ts != 0 || r.Min.Y%ts != 0 || (r.Max.X%ts != 0 && r.Max.X != w) || (r.Max.Y%ts != 0 && r.Max.Y != h) {
			return fmt.Errorf("rect %v not tile-aligned", r)
		}
		for ty := r.Min.Y / ts; ty*ts < r.Max.Y; ty++ {
			for tx := r.Min.X / ts; tx*ts < r.Max.X; tx++ {
				p := image.Pt(tx, ty)
				if got[p] {
					return fmt.Errorf("tile %v in two rects", p)
				}
				got[p] = true
			}
		}
	}
	for p := range want {
		if !got[p] {
			return fmt.Errorf("changed tile %v not in rects %v", p, rects)
		}
	}
	for p := range got {
		if !want[p] {
			return fmt.Errorf("unchanged tile %v in rects %v", p, rects)
		}
	}
	return nil
}

func TestRoundTripRandomSequences(t *testing.T) {
	for seed := range uint64(12) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(seed, 99))
			ts := []int{16, 32, 64, 100}[seed%4]
			enc := codec.NewEncoder(codec.EncoderOptions{TileSize: ts})
			defer enc.Close()
			dec := codec.NewDecoder(codec.Limits{})
			defer dec.Close()
			w, h := 1+rnd.IntN(300), 1+rnd.IntN(200)
			cur := newScreen(w, h, 4*rnd.IntN(3))
			cur.fill(rnd, image.Rect(0, 0, w, h), seed%2 == 0)
			var prev screen
			for step := range 60 {
				wantKey := step == 0
				switch op := rnd.IntN(20); {
				case op == 0: // size change
					w, h = 1+rnd.IntN(300), 1+rnd.IntN(200)
					cur = newScreen(w, h, 4*rnd.IntN(3))
					cur.fill(rnd, image.Rect(0, 0, w, h), rnd.IntN(2) == 0)
					wantKey = true
				case op == 1: // full change
					cur.fill(rnd, image.Rect(0, 0, w, h), rnd.IntN(2) == 0)
				case op == 2:
					enc.ForceKeyframe()
					wantKey = true
				case op == 3: // no change
				case op == 4: // one pixel, in the X byte only: still a change
					x, y := rnd.IntN(w), rnd.IntN(h)
					cur.Pix[y*cur.Stride+x*4+3]++
				default:
					for range 1 + rnd.IntN(4) {
						cur.fill(rnd, randRect(rnd, w, h, 70), rnd.IntN(3) == 0)
					}
				}
				p, err := enc.Encode(cur.Frame)
				if err != nil {
					t.Fatalf("step %d: Encode: %v", step, err)
				}
				var want map[image.Point]bool
				if !wantKey {
					want = changedTiles(prev.Frame, cur.Frame, ts)
				}
				if !wantKey && len(want) == 0 {
					if p != nil {
						t.Fatalf("step %d: unchanged frame gave a %d-byte payload", step, len(p))
					}
					continue
				}
				if p == nil {
					t.Fatalf("step %d: changed frame gave no payload", step)
				}
				if codec.IsKeyframe(p) != wantKey {
					t.Fatalf("step %d: IsKeyframe = %v, want %v", step, !wantKey, wantKey)
				}
				u, err := dec.Decode(p)
				if err != nil {
					t.Fatalf("step %d: Decode: %v", step, err)
				}
				if u.Keyframe != wantKey {
					t.Fatalf("step %d: Update.Keyframe = %v", step, u.Keyframe)
				}
				if err := sameImage(dec.Image(), cur.Frame); err != nil {
					t.Fatalf("step %d (key %v): %v", step, wantKey, err)
				}
				if wantKey {
					if len(u.Rects) != 1 || u.Rects[0] != image.Rect(0, 0, w, h) {
						t.Fatalf("step %d: keyframe rects %v", step, u.Rects)
					}
				} else if err := checkRects(u.Rects, want, w, h, ts); err != nil {
					t.Fatalf("step %d: %v", step, err)
				}
				prev = cur.clone()
			}
		})
	}
}
