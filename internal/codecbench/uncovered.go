package codecbench

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/klauspost/compress/zstd"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/capture/codec"
)

// UncoveredResult is the lossless lower bound of a window drag: per frame,
// the wallpaper pixels the moving window uncovers (never seen by the viewer
// before, so no copy can supply them) and the bytes strong lossless coders
// need for them. Sizes are means over frames 2..N; -1 when the tool is
// missing.
type UncoveredResult struct {
	Frames, Pixels int
	Raw            int // 3 bytes a pixel
	Zstd19         int // zstd level 19 (klauspost SpeedBestCompression) on the RGB bytes
	MEDZstd19      int // MED residuals (as FlagPredict, with the neighbours outside the strip) + zstd 19
	XZ, MEDXZ      int // xz -9e on the RGB bytes and on the MED residuals
	WebP           int // WebP lossless (ffmpeg libwebp, -compression_level 6) of each strip as an image
}

// windowBox is the bounding box of the pixels of f that differ from wall.
func windowBox(f, wall *capture.Frame) image.Rectangle {
	var r image.Rectangle
	for y := 0; y < f.Height; y++ {
		a, b := f.Pix[y*f.Stride:][:f.Width*4], wall.Pix[y*wall.Stride:][:f.Width*4]
		if bytes.Equal(a, b) {
			continue
		}
		for x := 0; x < f.Width; x++ {
			if a[x*4] != b[x*4] || a[x*4+1] != b[x*4+1] || a[x*4+2] != b[x*4+2] {
				r = r.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return r
}

// minus returns a \ b as up to four rectangles.
func minus(a, b image.Rectangle) []image.Rectangle {
	i := a.Intersect(b)
	if i.Empty() {
		return []image.Rectangle{a}
	}
	var out []image.Rectangle
	for _, r := range []image.Rectangle{
		image.Rect(a.Min.X, a.Min.Y, a.Max.X, i.Min.Y), image.Rect(a.Min.X, i.Max.Y, a.Max.X, a.Max.Y),
		image.Rect(a.Min.X, i.Min.Y, i.Min.X, i.Max.Y), image.Rect(i.Max.X, i.Min.Y, a.Max.X, i.Max.Y),
	} {
		if !r.Empty() {
			out = append(out, r)
		}
	}
	return out
}

// Uncovered measures frames of a window dragged over wall (the bare
// wallpaper). The window is the bounding box of everything that differs
// from the wallpaper, so the strips it leaves are wallpaper by
// construction.
func Uncovered(frames []*capture.Frame, wall *capture.Frame) (UncoveredResult, error) {
	var res UncoveredResult
	if len(frames) < 2 {
		return res, fmt.Errorf("need at least 2 frames")
	}
	zw, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderCRC(false))
	if err != nil {
		return res, err
	}
	defer zw.Close()
	xz, _ := exec.LookPath("xz")
	ff, _ := exec.LookPath("ffmpeg")
	tmp, err := os.MkdirTemp("", "uncovered")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)
	prev := windowBox(frames[0], wall)
	for i := 1; i < len(frames); i++ {
		f := frames[i]
		box := windowBox(f, wall)
		for _, s := range minus(prev, box) {
			s = s.Intersect(image.Rect(0, 0, f.Width, f.Height))
			if s.Empty() {
				continue
			}
			raw := make([]byte, 0, s.Dx()*s.Dy()*3)
			for y := s.Min.Y; y < s.Max.Y; y++ {
				for x := s.Min.X; x < s.Max.X; x++ {
					o := y*f.Stride + x*4
					raw = append(raw, f.Pix[o+2], f.Pix[o+1], f.Pix[o])
				}
			}
			med := medResiduals(f, s)
			res.Pixels += s.Dx() * s.Dy()
			res.Raw += len(raw)
			res.Zstd19 += len(zw.EncodeAll(raw, nil))
			res.MEDZstd19 += len(zw.EncodeAll(med, nil))
			res.XZ = addTool(res.XZ, xz != "", func() (int, error) { return pipeSize(raw, xz, "-9e", "--format=raw", "-c") })
			res.MEDXZ = addTool(res.MEDXZ, xz != "", func() (int, error) { return pipeSize(med, xz, "-9e", "--format=raw", "-c") })
			res.WebP = addTool(res.WebP, ff != "", func() (int, error) { return webpSize(ff, tmp, f, s) })
		}
		prev = box
	}
	n := len(frames) - 1
	res.Frames = len(frames)
	for _, v := range []*int{&res.Pixels, &res.Raw, &res.Zstd19, &res.MEDZstd19, &res.XZ, &res.MEDXZ, &res.WebP} {
		if *v >= 0 {
			*v /= n
		}
	}
	return res, nil
}

// addTool adds a tool's size to acc, or leaves -1 once the tool is missing
// or failed.
func addTool(acc int, ok bool, size func() (int, error)) int {
	if acc < 0 || !ok {
		return -1
	}
	n, err := size()
	if err != nil {
		return -1
	}
	return acc + n
}

// medResiduals is the FlagPredict filter over strip s of f, except that
// the neighbours outside s come from f (a decoder holds them: wallpaper it
// saw and the window it copied), so this bound is a little tighter than the
// codec's rectangle-local filter.
func medResiduals(f *capture.Frame, s image.Rectangle) []byte {
	at := func(x, y, c int) int {
		if x < 0 || y < 0 || x >= f.Width || y >= f.Height {
			return 0
		}
		return int(f.Pix[y*f.Stride+x*4+c])
	}
	out := make([]byte, 0, s.Dx()*s.Dy()*3)
	for y := s.Min.Y; y < s.Max.Y; y++ {
		for x := s.Min.X; x < s.Max.X; x++ {
			var d [3]int // BGRX channel order
			for c := range 3 {
				d[c] = at(x, y, c) - codec.MED(at(x-1, y, c), at(x, y-1, c), at(x-1, y-1, c))
			}
			out = append(out, byte(d[2]-d[1]), byte(d[1]), byte(d[0]-d[1]))
		}
	}
	return out
}

func pipeSize(in []byte, name string, args ...string) (int, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	return len(out), err
}

func webpSize(ffmpeg, dir string, f *capture.Frame, s image.Rectangle) (int, error) {
	img := image.NewNRGBA(image.Rect(0, 0, s.Dx(), s.Dy()))
	for y := 0; y < s.Dy(); y++ {
		for x := 0; x < s.Dx(); x++ {
			o, q := (s.Min.Y+y)*f.Stride+(s.Min.X+x)*4, img.PixOffset(x, y)
			img.Pix[q], img.Pix[q+1], img.Pix[q+2], img.Pix[q+3] = f.Pix[o+2], f.Pix[o+1], f.Pix[o], 0xff
		}
	}
	in, out := filepath.Join(dir, "s.png"), filepath.Join(dir, "s.webp")
	fh, err := os.Create(in)
	if err != nil {
		return 0, err
	}
	if err := png.Encode(fh, img); err != nil {
		fh.Close()
		return 0, err
	}
	fh.Close()
	if err := exec.Command(ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", in,
		"-c:v", "libwebp", "-lossless", "1", "-compression_level", "6", "-f", "webp", "-y", out).Run(); err != nil {
		return 0, err
	}
	st, err := os.Stat(out)
	if err != nil {
		return 0, err
	}
	return int(st.Size()), nil
}

// RunUncovered prints the drag bound of one workload directory against the
// wallpaper image wallPNG.
func RunUncovered(w io.Writer, dir, wallPNG string, maxFrames int) error {
	frames, err := LoadFrames(dir, maxFrames)
	if err != nil {
		return err
	}
	fh, err := os.Open(wallPNG)
	if err != nil {
		return err
	}
	img, err := png.Decode(fh)
	fh.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", wallPNG, err)
	}
	wall := ToFrame(img)
	if wall.Width != frames[0].Width || wall.Height != frames[0].Height {
		return fmt.Errorf("wallpaper %dx%d, frames %dx%d", wall.Width, wall.Height, frames[0].Width, frames[0].Height)
	}
	r, err := Uncovered(frames, wall)
	if err != nil {
		return err
	}
	dash := func(v int) string {
		if v < 0 {
			return "-"
		}
		return fmt.Sprint(v)
	}
	fmt.Fprintf(w, "%-8s %6s %8s %8s %8s %10s %8s %8s %8s\n", "workload", "frames", "px", "raw_B", "zstd19_B", "med+zstd_B", "xz_B", "med+xz_B", "webp_B")
	fmt.Fprintf(w, "%-8s %6d %8d %8d %8d %10d %8s %8s %8s\n", filepath.Base(dir), r.Frames, r.Pixels, r.Raw, r.Zstd19, r.MEDZstd19,
		dash(r.XZ), dash(r.MEDXZ), dash(r.WebP))
	return nil
}
