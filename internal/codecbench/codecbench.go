// Package codecbench measures capture/codec on recorded workloads: the
// directories of f_%03d.png frames written by the shared bench scripts
// (workloads.sh), reporting the same columns as peers.sh so the two tables
// line up for identical frames.
package codecbench

import (
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/capture/codec"
)

// Options configures Run.
type Options struct {
	Runs      int    // timed runs per workload; the median is reported (default 3)
	MaxFrames int    // 0: all frames in the directory
	Name      string // encoder column; default from the codec options
	Codec     codec.EncoderOptions
	// RefineBudget: lossy tiles refined per frame while a motion goes on
	// (Encoder.SetRefineBudget).
	RefineBudget int
}

// Result is one table row.
type Result struct {
	Workload, Encoder string
	Frames            int
	MsPerFrame        float64   // median over runs of the per-run mean encode time
	RunsMs            []float64 // each run's mean
	FirstBytes        int
	MeanBytes         float64 // frames 2..N (idle frames count as 0)
	P95Bytes          int
	PSNRY             float64 // +Inf when every frame decodes bit-exact
	// Time to lossless: after the last frame, the screen holds still (the
	// last frame repeated) until the decoder is pixel-exact: how many
	// still frames that takes and the bytes they carry. -1 frames: not
	// exact after maxTail still frames.
	TTLFrames, TTLBytes int
}

// maxTail is how many still frames Measure waits for the decoder to become
// pixel-exact.
const maxTail = 30

// linkBps and frameMs turn time to lossless into milliseconds: the still
// frames at 30 fps, or the bytes on a 20 Mb/s link if that is longer.
const (
	linkBps = 20e6
	frameMs = 1000.0 / 30
)

// TTLms is the time from the last change to a pixel-exact screen on a
// 20 Mb/s link at 30 fps.
func (r Result) TTLms() float64 {
	if r.TTLFrames <= 0 {
		return float64(r.TTLFrames)
	}
	return max(float64(r.TTLFrames-1)*frameMs, float64(r.TTLBytes)*8/linkBps*1000)
}

// Header is the column header, the same as peers.sh's.
const format = "%-8s %-26s %6s %8s %7s %8s %8s %8s %7s %7s %7s %8s %6s %8s %9s\n"

// WriteHeader prints the table header.
func WriteHeader(w io.Writer) {
	fmt.Fprintf(w, format, "workload", "encoder", "frames", "ms/frame", "cpu_ms", "first_B", "mean_B", "p95_B", "Mb/s@30", "PSNR-Y", "SSIM-Y", "SSIM-All", "ttl_fr", "ttl_B", "ttl_ms@20M")
}

// WriteRow prints r in peers.sh's layout (cpu_ms, SSIM columns are "-").
func WriteRow(w io.Writer, r Result) {
	psnr := "inf"
	if !math.IsInf(r.PSNRY, 1) {
		psnr = fmt.Sprintf("%.2f", r.PSNRY)
	}
	fmt.Fprintf(w, format, r.Workload, r.Encoder, fmt.Sprint(r.Frames), fmt.Sprintf("%.2f", r.MsPerFrame), "-",
		fmt.Sprint(r.FirstBytes), fmt.Sprintf("%.0f", r.MeanBytes), fmt.Sprint(r.P95Bytes),
		fmt.Sprintf("%.3f", r.MeanBytes*8*30/1e6), psnr, "-", "-",
		fmt.Sprint(r.TTLFrames), fmt.Sprint(r.TTLBytes), fmt.Sprintf("%.0f", r.TTLms()))
}

// LoadFrames reads dir/f_000.png, f_001.png, ... as BGRX frames.
func LoadFrames(dir string, max int) ([]*capture.Frame, error) {
	var frames []*capture.Frame
	for i := 0; max <= 0 || i < max; i++ {
		fh, err := os.Open(filepath.Join(dir, fmt.Sprintf("f_%03d.png", i)))
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, err
		}
		img, err := png.Decode(fh)
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: frame %d: %w", dir, i, err)
		}
		frames = append(frames, ToFrame(img))
	}
	if len(frames) == 0 {
		return nil, fmt.Errorf("%s: no f_000.png", dir)
	}
	return frames, nil
}

// ToFrame converts an image to a BGRX frame.
func ToFrame(img image.Image) *capture.Frame {
	b := img.Bounds()
	rgba, ok := img.(*image.RGBA)
	if !ok {
		rgba = image.NewRGBA(b)
		draw.Draw(rgba, b, img, b.Min, draw.Src)
	}
	f := &capture.Frame{Width: b.Dx(), Height: b.Dy(), Stride: b.Dx() * 4, Pix: make([]byte, b.Dx()*b.Dy()*4)}
	for y := range f.Height {
		src := rgba.Pix[rgba.PixOffset(b.Min.X, b.Min.Y+y):]
		dst := f.Pix[y*f.Stride:]
		for x := range f.Width {
			dst[x*4], dst[x*4+1], dst[x*4+2], dst[x*4+3] = src[x*4+2], src[x*4+1], src[x*4], 0
		}
	}
	return f
}

// Measure encodes frames opts.Runs times (timing only Encode) and decodes
// the last run's payloads to compute PSNR-Y against the source.
func Measure(workload string, frames []*capture.Frame, opts Options) (Result, error) {
	runs := max(opts.Runs, 1)
	name := opts.Name
	if name == "" {
		switch {
		case opts.Codec.Version == codec.Version:
			name = "tandem_tiles_v1"
		case opts.Codec.JPEGQuality > 0 && opts.Codec.Motion:
			name = fmt.Sprintf("tandem_v2_motion_q%d", opts.Codec.JPEGQuality)
		case opts.Codec.JPEGQuality > 0:
			name = fmt.Sprintf("tandem_v2_jpeg%d", opts.Codec.JPEGQuality)
		default:
			name = "tandem_v2_lossless"
		}
		if opts.Codec.Predict {
			name += "_pred"
		}
	}
	res := Result{Workload: workload, Encoder: name, Frames: len(frames)}
	var payloads, tail [][]byte
	for run := range runs {
		enc := codec.NewEncoder(opts.Codec)
		enc.SetRefineBudget(opts.RefineBudget)
		payloads = payloads[:0]
		var total time.Duration
		for i, f := range frames {
			t0 := time.Now()
			p, err := enc.Encode(f)
			total += time.Since(t0)
			if err != nil {
				enc.Close()
				return res, fmt.Errorf("%s: frame %d: %w", workload, i, err)
			}
			payloads = append(payloads, p)
		}
		if run == runs-1 { // untimed: the screen holds still until lossless
			tail = tail[:0]
			for !enc.Lossless() && len(tail) < maxTail {
				p, err := enc.Encode(frames[len(frames)-1])
				if err != nil {
					enc.Close()
					return res, fmt.Errorf("%s: still frame %d: %w", workload, len(tail), err)
				}
				tail = append(tail, p)
			}
			res.TTLFrames = len(tail)
			if !enc.Lossless() {
				res.TTLFrames = -1
			}
			for _, p := range tail {
				res.TTLBytes += len(p)
			}
		}
		enc.Close()
		res.RunsMs = append(res.RunsMs, float64(total.Microseconds())/1000/float64(len(frames)))
	}
	res.MsPerFrame = median(res.RunsMs)
	res.FirstBytes = len(payloads[0])
	var sizes []int
	sum := 0
	for _, p := range payloads[1:] {
		sizes = append(sizes, len(p))
		sum += len(p)
	}
	if len(sizes) > 0 {
		res.MeanBytes = float64(sum) / float64(len(sizes))
		slices.Sort(sizes)
		i := int(math.Ceil(0.95*float64(len(sizes)))) - 1
		res.P95Bytes = sizes[max(i, 0)]
	}
	psnr, err := psnrY(frames, payloads, tail)
	if err != nil {
		return res, fmt.Errorf("%s: %w", workload, err)
	}
	res.PSNRY = psnr
	return res, nil
}

// psnrY decodes payloads and returns the PSNR of the luma (BT.601 limited
// range, as ffmpeg's yuv444p conversion) from the mean MSE over all frames,
// as ffmpeg's psnr filter reports it; +Inf when lossless.
// The tail payloads (still frames after the last) are then decoded too, and
// the screen must then equal the last frame exactly when the encoder said
// it was lossless.
func psnrY(frames []*capture.Frame, payloads, tail [][]byte) (float64, error) {
	dec := codec.NewDecoder(codec.Limits{})
	defer dec.Close()
	var mse float64
	for i, f := range frames {
		if payloads[i] != nil {
			if _, err := dec.Decode(payloads[i]); err != nil {
				return 0, fmt.Errorf("decode frame %d: %w", i, err)
			}
		}
		img := dec.Image()
		var se float64
		for y := range f.Height {
			src := f.Pix[y*f.Stride:]
			dst := img.Pix[img.PixOffset(0, y):]
			for x := range f.Width {
				s := src[x*4 : x*4+3]
				d := dst[x*4 : x*4+3]
				if s[0] == d[2] && s[1] == d[1] && s[2] == d[0] {
					continue
				}
				dy := luma(int(s[2]), int(s[1]), int(s[0])) - luma(int(d[0]), int(d[1]), int(d[2]))
				se += dy * dy
			}
		}
		mse += se / float64(f.Width*f.Height)
	}
	mse /= float64(len(frames))
	for i, p := range tail {
		if p == nil {
			continue
		}
		if _, err := dec.Decode(p); err != nil {
			return 0, fmt.Errorf("decode still frame %d: %w", i, err)
		}
	}
	if len(tail) > 0 && !Exact(dec.Image(), frames[len(frames)-1]) {
		return 0, errors.New("the encoder reported lossless but the decoded screen differs")
	}
	if mse == 0 {
		return math.Inf(1), nil
	}
	return 10 * math.Log10(255*255/mse), nil
}

// Exact reports whether img (RGBA) holds f's pixels.
func Exact(img *image.RGBA, f *capture.Frame) bool {
	for y := range f.Height {
		src := f.Pix[y*f.Stride:]
		dst := img.Pix[img.PixOffset(0, y):]
		for x := range f.Width {
			if src[x*4] != dst[x*4+2] || src[x*4+1] != dst[x*4+1] || src[x*4+2] != dst[x*4] {
				return false
			}
		}
	}
	return true
}

func luma(r, g, b int) float64 {
	return math.Round(16 + (65.481*float64(r)+128.553*float64(g)+24.966*float64(b))/255)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Run measures every directory and prints the table to w.
func Run(w io.Writer, dirs []string, opts Options) error {
	WriteHeader(w)
	for _, dir := range dirs {
		frames, err := LoadFrames(dir, opts.MaxFrames)
		if err != nil {
			return err
		}
		r, err := Measure(filepath.Base(filepath.Clean(dir)), frames, opts)
		if err != nil {
			return err
		}
		WriteRow(w, r)
	}
	return nil
}
