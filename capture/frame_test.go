package capture_test

import (
	"image"
	"image/color"
	"math/rand/v2"
	"testing"

	"github.com/tandem-rc/tandem/capture"
)

func randomFrame(r *rand.Rand, w, h, pad int) *capture.Frame {
	f := &capture.Frame{Width: w, Height: h, Stride: w*4 + pad, Pix: make([]byte, (w*4+pad)*h)}
	for i := range f.Pix {
		f.Pix[i] = byte(r.Uint32())
	}
	return f
}

func TestFrameRGBA(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, pad := range []int{0, 4, 12} {
		f := randomFrame(r, 37, 23, pad)
		img := f.RGBA()
		if img.Rect != image.Rect(0, 0, 37, 23) {
			t.Fatalf("bounds %v", img.Rect)
		}
		for y := range f.Height {
			for x := range f.Width {
				p := f.Pix[y*f.Stride+x*4:]
				want := color.RGBA{p[2], p[1], p[0], 0xff}
				if got := img.RGBAAt(x, y); got != want {
					t.Fatalf("pad %d (%d,%d) = %v, want %v", pad, x, y, got, want)
				}
			}
		}
	}
	if img := (&capture.Frame{Width: 10, Height: 10, Stride: 40, Pix: make([]byte, 10)}).RGBA(); !img.Rect.Empty() {
		t.Fatal("inconsistent frame converted to a non-empty image")
	}
}

func TestFrameFromImage(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	rect := image.Rect(5, 7, 5+41, 7+19)
	nrgba := image.NewNRGBA(rect)
	for i := range nrgba.Pix {
		nrgba.Pix[i] = byte(r.Uint32())
	}
	for i := 3; i < len(nrgba.Pix); i += 16 {
		nrgba.Pix[i] = 0xff // some opaque pixels too
	}
	rgba := image.NewRGBA(rect)
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		for x := rect.Min.X; x < rect.Max.X; x++ {
			rgba.Set(x, y, nrgba.At(x, y)) // valid premultiplied colours
		}
	}
	gray := image.NewGray(rect)
	for i := range gray.Pix {
		gray.Pix[i] = byte(r.Uint32())
	}
	// A sub-image exercises non-zero offsets into a larger Pix.
	sub := rgba.SubImage(image.Rect(9, 9, 30, 20)).(*image.RGBA)
	for _, img := range []image.Image{nrgba, rgba, gray, sub} {
		f := capture.FrameFromImage(img)
		b := img.Bounds()
		if f.Width != b.Dx() || f.Height != b.Dy() || f.Stride != f.Width*4 || f.Validate() != nil {
			t.Fatalf("%T: frame %dx%d stride %d", img, f.Width, f.Height, f.Stride)
		}
		for y := range f.Height {
			for x := range f.Width {
				cr, cg, cb, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
				p := f.Pix[y*f.Stride+x*4:]
				if p[0] != byte(cb>>8) || p[1] != byte(cg>>8) || p[2] != byte(cr>>8) {
					t.Fatalf("%T (%d,%d): got bgr %v, want %d %d %d", img, x, y, p[:3], cb>>8, cg>>8, cr>>8)
				}
			}
		}
		// And back.
		back := f.RGBA()
		for y := range f.Height {
			for x := range f.Width {
				p := f.Pix[y*f.Stride+x*4:]
				if c := back.RGBAAt(x, y); c != (color.RGBA{p[2], p[1], p[0], 0xff}) {
					t.Fatalf("%T round trip (%d,%d) = %v", img, x, y, c)
				}
			}
		}
	}
}

func TestFrameValidate(t *testing.T) {
	for _, f := range []*capture.Frame{
		nil,
		{Width: 0, Height: 1, Stride: 4, Pix: make([]byte, 4)},
		{Width: 2, Height: 1, Stride: 4, Pix: make([]byte, 8)},
		{Width: 2, Height: 2, Stride: 12, Pix: make([]byte, 12+7)},
	} {
		if f.Validate() == nil {
			t.Errorf("Validate(%+v) = nil", f)
		}
	}
	if err := (&capture.Frame{Width: 2, Height: 2, Stride: 12, Pix: make([]byte, 12+8)}).Validate(); err != nil {
		t.Errorf("Validate of a tight last row: %v", err)
	}
}

func BenchmarkFrameRGBA1080p(b *testing.B) {
	f := randomFrame(rand.New(rand.NewPCG(5, 6)), 1920, 1080, 0)
	b.SetBytes(int64(len(f.Pix)))
	for b.Loop() {
		f.RGBA()
	}
}
