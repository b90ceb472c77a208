package codec_test

import (
	"image"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/capture/codec"
	"github.com/tandem-rc/tandem/internal/captest"
)

// Workloads at 1920x1080, built from captest.Desktop (a terminal full of
// text in the 7x13 X11 font): each returns a frame source whose next()
// yields the next screen.
type workload struct {
	name string
	make func() func() *capture.Frame
}

var workloads = []workload{
	// One glyph typed per frame: one tile changes.
	{"typing", func() func() *capture.Frame {
		ty := captest.NewTypist(1920, 1080)
		return func() *capture.Frame { ty.Next(); return ty.Frame }
	}},
	// The text scrolls by one line per frame: every text tile changes.
	{"scroll", func() func() *capture.Frame {
		frames := make([]*capture.Frame, 8)
		for i := range frames {
			frames[i] = captest.Desktop(1920, 1080, i, 0)
		}
		i := 0
		return func() *capture.Frame { i++; return frames[i%len(frames)] }
	}},
	// Every pixel random, every frame: the worst case (video-like content
	// belongs to the future lossy path).
	{"noise", func() func() *capture.Frame {
		rnd := rand.New(rand.NewPCG(1, 1))
		frames := []screen{newScreen(1920, 1080, 0), newScreen(1920, 1080, 0)}
		for _, f := range frames {
			f.fill(rnd, image.Rect(0, 0, 1920, 1080), true)
		}
		i := 0
		return func() *capture.Frame { i++; return frames[i%2].Frame }
	}},
}

func reportFrame(b *testing.B, bytes int) {
	b.ReportMetric(float64(bytes)/float64(b.N), "bytes/frame")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/frame")
}

// BenchmarkEncode measures deltas (damage detection + zstd) per workload,
// and a keyframe of the text desktop.
func BenchmarkEncode(b *testing.B) {
	for _, wl := range workloads {
		b.Run(wl.name, func(b *testing.B) {
			next := wl.make()
			enc := codec.NewEncoder(codec.EncoderOptions{Level: benchLevel})
			defer enc.Close()
			if _, err := enc.Encode(next()); err != nil {
				b.Fatal(err)
			}
			total := 0
			for b.Loop() {
				p, err := enc.Encode(next())
				if err != nil || p == nil {
					b.Fatalf("Encode: %v, %d bytes", err, len(p))
				}
				total += len(p)
			}
			reportFrame(b, total)
		})
	}
	b.Run("keyframe", func(b *testing.B) {
		f := captest.Desktop(1920, 1080, 0, 0)
		enc := codec.NewEncoder(codec.EncoderOptions{Level: benchLevel})
		defer enc.Close()
		total := 0
		for b.Loop() {
			enc.ForceKeyframe()
			p, err := enc.Encode(f)
			if err != nil {
				b.Fatal(err)
			}
			total += len(p)
		}
		reportFrame(b, total)
	})
	b.Run("unchanged", func(b *testing.B) {
		f := captest.Desktop(1920, 1080, 0, 0)
		enc := codec.NewEncoder(codec.EncoderOptions{Level: benchLevel})
		defer enc.Close()
		if _, err := enc.Encode(f); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if p, err := enc.Encode(f); err != nil || p != nil {
				b.Fatalf("unchanged frame: %v, %d bytes", err, len(p))
			}
		}
		reportFrame(b, 0)
	})
}

// BenchmarkDecode decodes recorded delta sequences of each workload; the
// keyframe that starts each pass is decoded outside the timer.
func BenchmarkDecode(b *testing.B) {
	const deltas = 32
	for _, wl := range workloads {
		b.Run(wl.name, func(b *testing.B) {
			next := wl.make()
			enc := codec.NewEncoder(codec.EncoderOptions{Level: benchLevel})
			defer enc.Close()
			var ps [][]byte
			for range deltas + 1 {
				p, err := enc.Encode(next())
				if err != nil || p == nil {
					b.Fatalf("Encode: %v", err)
				}
				ps = append(ps, p)
			}
			dec := codec.NewDecoder(codec.Limits{})
			total := 0
			b.ResetTimer()
			for i := range b.N {
				k := 1 + i%deltas
				if k == 1 {
					b.StopTimer()
					if _, err := dec.Decode(ps[0]); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				if _, err := dec.Decode(ps[k]); err != nil {
					b.Fatal(err)
				}
				total += len(ps[k])
			}
			reportFrame(b, total)
		})
	}
	b.Run("keyframe", func(b *testing.B) {
		enc := codec.NewEncoder(codec.EncoderOptions{Level: benchLevel})
		defer enc.Close()
		p, err := enc.Encode(captest.Desktop(1920, 1080, 0, 0))
		if err != nil {
			b.Fatal(err)
		}
		dec := codec.NewDecoder(codec.Limits{})
		for b.Loop() {
			if _, err := dec.Decode(p); err != nil {
				b.Fatal(err)
			}
		}
		reportFrame(b, len(p)*b.N)
	})
}

var benchLevel = zstd.SpeedFastest
