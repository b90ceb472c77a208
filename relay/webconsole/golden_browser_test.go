package webconsole_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/capture/codec"
	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/relay/webconsole"
)

// The browser tests drive Debian's chromium (scripts/deps.sh TEST).
// Without it they skip, except under CI=true where they fail.
func chromiumPath(tb testing.TB) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal("chromium is not installed (scripts/deps.sh TEST)")
	}
	tb.Skip("chromium is not installed")
	return ""
}

// newChromium starts a headless Chromium with a fresh profile; the context
// ends with the test.
func newChromium(tb testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	exe := chromiumPath(tb)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.UserDataDir(tb.TempDir()), chromedp.WindowSize(1280, 800))
	opts = append(opts, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	tb.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	tb.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	tb.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		tb.Fatalf("starting chromium: %v", err)
	}
	return bctx
}

// golden is one stream of payloads from the Go encoder with what the Go
// decoder made of each: the RGBA screen's SHA-256 and whether it equals
// the captured frame (lossless) or holds JPEG pixels.
type golden struct {
	payloads [][]byte
	sums     []string
	images   []*image.RGBA
	lossless []bool
	jpegs    int // JPEG ops, as the browser counted them
}

func encodeGolden(tb testing.TB, opts codec.EncoderOptions, frames []*capture.Frame) *golden {
	tb.Helper()
	enc := codec.NewEncoder(opts)
	defer enc.Close()
	dec := codec.NewDecoder(codec.Limits{})
	defer dec.Close()
	g := &golden{}
	for i, f := range frames {
		p, err := enc.Encode(f)
		if err != nil {
			tb.Fatal(err)
		}
		if p == nil {
			continue // no change
		}
		if _, err := dec.Decode(p); err != nil {
			tb.Fatalf("frame %d: Go decoder: %v", i, err)
		}
		img := dec.Image()
		cp := image.NewRGBA(img.Rect)
		copy(cp.Pix, img.Pix)
		sum := sha256.Sum256(cp.Pix)
		g.payloads = append(g.payloads, p)
		g.sums = append(g.sums, hex.EncodeToString(sum[:]))
		g.images = append(g.images, cp)
		g.lossless = append(g.lossless, equalFrame(cp, f))
	}
	return g
}

func equalFrame(img *image.RGBA, f *capture.Frame) bool {
	for y := range f.Height {
		for x := range f.Width {
			o, p := y*f.Stride+x*4, img.PixOffset(x, y)
			if f.Pix[o+2] != img.Pix[p] || f.Pix[o+1] != img.Pix[p+1] || f.Pix[o] != img.Pix[p+2] {
				return false
			}
		}
	}
	return true
}

// scenes builds w×h frames that exercise every op: a keyframe of text
// (FILL, PALETTE), scrolling (COPY and RECT for the uncovered strips),
// typing, a window of noise (RAW), a moving window (COPY) and a changing
// photographic region (JPEG when enabled), which then stops changing (its
// lossless resend).
func scenes(w, h int) []*capture.Frame {
	rnd := rand.New(rand.NewPCG(7, 8))
	var frames []*capture.Frame
	for s := range 4 {
		frames = append(frames, captest.Desktop(w, h, s*3, s*5))
	}
	base := captest.Desktop(w, h, 9, 20)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	toImage(base, img)
	noise := image.Rect(w/8, h/6, w/8+90, h/6+70)
	for y := noise.Min.Y; y < noise.Max.Y; y++ {
		for x := noise.Min.X; x < noise.Max.X; x++ {
			img.Set(x, y, color.RGBA{uint8(rnd.IntN(256)), uint8(rnd.IntN(256)), uint8(rnd.IntN(256)), 255})
		}
	}
	frames = append(frames, capture.FrameFromImage(img))
	// The noisy window moves by (13, 7) twice.
	for k := 1; k <= 2; k++ {
		next := image.NewRGBA(img.Rect)
		toImage(base, next)
		draw.Draw(next, noise.Add(image.Pt(13*k, 7*k)), img, noise.Min, draw.Src)
		frames = append(frames, capture.FrameFromImage(next))
	}
	// And sideways by (9, 0): copies with no vertical move.
	side := image.NewRGBA(img.Rect)
	toImage(base, side)
	draw.Draw(side, noise.Add(image.Pt(13*2+9, 7*2)), img, noise.Min, draw.Src)
	frames = append(frames, capture.FrameFromImage(side))
	// A video: a photographic region that changes for 6 frames, then stays.
	video := image.Rect(w/2, h/2, w/2+160, h/2+96)
	last := frames[len(frames)-1]
	for step := range 6 {
		v := image.NewRGBA(img.Rect)
		toImage(last, v)
		for y := video.Min.Y; y < video.Max.Y; y++ {
			for x := video.Min.X; x < video.Max.X; x++ {
				r := uint8((x*3 + step*11 + y) & 255)
				g := uint8((y*5 - step*7 + x/2) & 255)
				b := uint8((x*y/64 + step*29 + rnd.IntN(24)) & 255)
				v.Set(x, y, color.RGBA{r, g, b, 255})
			}
		}
		frames = append(frames, capture.FrameFromImage(v))
	}
	still := frames[len(frames)-1]
	frames = append(frames, still, still) // unchanged: the encoder resends lossless
	return frames
}

// dragFrames is a text window dragged over a photographic wallpaper (ATLAS
// ops with Motion), then one still frame (the lossless refinement).
func dragFrames(w, h int) []*capture.Frame {
	var frames []*capture.Frame
	for k := range 6 {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8((x + y) / 2), 255})
			}
		}
		rnd := rand.New(rand.NewPCG(9, 10)) // the same text wherever the window is
		win := image.Rect(30, 20, 150, 100).Add(image.Pt(12*k, 3*k))
		for y := win.Min.Y; y < win.Max.Y; y++ {
			for x := win.Min.X; x < win.Max.X; x++ {
				c := uint8(240)
				if rnd.IntN(4) == 0 {
					c = uint8(rnd.IntN(3) * 60)
				}
				img.Set(x, y, color.RGBA{c, c, c, 255})
			}
		}
		frames = append(frames, capture.FrameFromImage(img))
	}
	return append(frames, frames[len(frames)-1])
}

func toImage(f *capture.Frame, img *image.RGBA) {
	for y := range f.Height {
		for x := range f.Width {
			o, p := y*f.Stride+x*4, img.PixOffset(x, y)
			img.Pix[p], img.Pix[p+1], img.Pix[p+2], img.Pix[p+3] = f.Pix[o+2], f.Pix[o+1], f.Pix[o], 255
		}
	}
}

// goldenServer serves the console's modules and the payloads of streams,
// /golden/{stream}/{frame}.
func goldenServer(tb testing.TB, streams []*golden) *httptest.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(webconsole.StaticFS())))
	mux.HandleFunc("GET /golden/{s}/{f}", func(w http.ResponseWriter, r *http.Request) {
		s, _ := strconv.Atoi(r.PathValue("s"))
		f, _ := strconv.Atoi(r.PathValue("f"))
		if s < 0 || s >= len(streams) || f < 0 || f >= len(streams[s].payloads) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(streams[s].payloads[f])
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<!doctype html><title>golden</title>"))
	})
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	return srv
}

// browserFrame is what the page reports per payload.
type browserFrame struct {
	Sum   string   `json:"sum"`
	Pix   string   `json:"pix"` // base64 RGBA, only when Sum differs from the Go decoder's
	Err   string   `json:"err"`
	MS    float64  `json:"ms"`   // decode and paint
	JPEGs [][4]int `json:"jpeg"` // the JPEG ops' rectangles: x, y, w, h
	// CanvasDiff is the first byte where the painted canvas differs from
	// the decoder's screen, -1 none.
	CanvasDiff int `json:"canvasDiff"`
	// Paths counts, on the last frame, the payloads whose COPY ops the
	// decoder applied by a sweep of the rows or through a snapshot.
	Paths map[string]int `json:"paths"`
}

// decodeInBrowser decodes stream s in the page (all payloads fetched
// first, then decoded and painted onto an OffscreenCanvas one by one).
func decodeInBrowser(tb testing.TB, ctx context.Context, s int, g *golden) []browserFrame {
	tb.Helper()
	want, _ := json.Marshal(g.sums)
	js := fmt.Sprintf(`(async () => {
  const { Decoder } = await import('/console/static/decoder.js');
  const { Painter } = await import('/console/static/paint.js');
  const want = %s;
  const payloads = [];
  for (let i = 0; i < want.length; i++) payloads.push(new Uint8Array(await (await fetch('/golden/%d/' + i)).arrayBuffer()));
  const d = new Decoder();
  const paint = new Painter(new OffscreenCanvas(1, 1));
  const out = [];
  for (let i = 0; i < payloads.length; i++) {
    const f = {};
    try {
      const t0 = performance.now();
      const u = await d.decode(payloads[i]);
      paint.paint(d, u);
      f.ms = performance.now() - t0;
      f.jpeg = u.jpeg;
    } catch (e) { f.err = String(e); out.push(f); continue; }
    // The painted canvas (COPY ops moved on the canvas itself, tiles put)
    // equals the decoder's screen.
    const c = paint.ctx.getImageData(0, 0, d.w, d.h).data;
    f.canvasDiff = -1;
    for (let k = 0; k < c.length; k++) if (c[k] !== d.pix[k]) { f.canvasDiff = k; break; }
    const sum = new Uint8Array(await crypto.subtle.digest('SHA-256', d.pix));
    f.sum = Array.from(sum, b => b.toString(16).padStart(2, '0')).join('');
    if (f.sum !== want[i]) {
      let s = '';
      for (let k = 0; k < d.pix.length; k += 0x8000) s += String.fromCharCode.apply(null, d.pix.subarray(k, k + 0x8000));
      f.pix = btoa(s);
    }
    out.push(f);
  }
  if (out.length) out[out.length - 1].paths = d.copyPaths;
  return out;
})()`, want, s)
	out, err := chromedp.Run(ctx, chromedp.Evaluate[[]browserFrame](js, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.Fatalf("decoding in the browser: %v", err)
	}
	return out
}

// The browser's decoder against the Go encoder: every payload of streams
// with and without PREDICT, one with JPEG and a drag with ATLAS ops, decoded in Chromium, gives
// the Go decoder's screen byte for byte; where the screen holds JPEG
// pixels (libjpeg-turbo in the browser, image/jpeg in Go) they differ by a
// few levels at most, and once the encoder resends the region lossless,
// exactly nothing.
func TestGoldenFramesInChromium(t *testing.T) {
	ctx := newChromium(t)
	w, h := 400, 300
	frames := scenes(w, h)
	streams := []*golden{
		encodeGolden(t, codec.EncoderOptions{TileSize: 32}, frames),
		encodeGolden(t, codec.EncoderOptions{TileSize: 64, Predict: true}, frames),
		encodeGolden(t, codec.EncoderOptions{TileSize: 32, Predict: true, JPEGQuality: 50}, frames),
		encodeGolden(t, codec.EncoderOptions{TileSize: 32, Predict: true, JPEGQuality: 30, Motion: true}, dragFrames(w, h)),
	}
	if !streams[2].lossless[len(streams[2].lossless)-1] {
		t.Fatal("the encoder did not resend the still video lossless")
	}
	if !streams[3].lossless[len(streams[3].lossless)-1] || streams[3].lossless[len(streams[3].lossless)-2] {
		t.Fatal("the drag was not lossy while moving and exact once refined")
	}
	srv := goldenServer(t, streams)
	if _, err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	paths := map[string]int{} // how the decoder applied COPY ops, over all streams
	defer func() {
		if paths["sweep"] == 0 || paths["snapshot"] == 0 {
			t.Errorf("COPY ops applied %v: the scenes should take both ways", paths)
		}
	}()
	const minPSNR = 25 // dB: random noise (JPEG too) upsampled two ways measures ~29
	for s, g := range streams {
		got := decodeInBrowser(t, ctx, s, g)
		if len(got) != len(g.payloads) {
			t.Fatalf("stream %d: %d results for %d payloads", s, len(got), len(g.payloads))
		}
		worstPSNR := math.Inf(1)
		lossy := image.Rectangle{} // every JPEG op's rectangle so far
		for _, f := range got {
			g.jpegs += len(f.JPEGs)
		}
		if s >= 2 && g.jpegs == 0 {
			t.Fatalf("stream %d carries no JPEG or ATLAS op", s)
		}
		for i, f := range got {
			if f.Err != "" {
				t.Fatalf("stream %d frame %d: browser decoder: %s", s, i, f.Err)
			}
			if f.CanvasDiff != -1 {
				t.Errorf("stream %d frame %d: the painted canvas differs from the decoder's screen at byte %d", s, i, f.CanvasDiff)
			}
			for _, r := range f.JPEGs {
				lossy = lossy.Union(image.Rect(r[0], r[1], r[0]+r[2], r[1]+r[3]))
			}
			if f.Sum == g.sums[i] {
				continue
			}
			if g.lossless[i] {
				t.Errorf("stream %d frame %d (lossless): browser screen differs from the Go decoder's: %s", s, i, firstDiff(t, f.Pix, g.images[i]))
				continue
			}
			// Two JPEG decoders (libjpeg-turbo's fancy chroma upsampling,
			// image/jpeg's plain one) agree closely but not exactly, and
			// only where JPEG ops painted.
			out, psnr := compareLossy(t, f.Pix, g.images[i], lossy)
			worstPSNR = min(worstPSNR, psnr)
			if out != "" {
				t.Errorf("stream %d frame %d: outside the JPEG rectangles %v the screens differ: %s", s, i, lossy, out)
			}
			if psnr < minPSNR {
				t.Errorf("stream %d frame %d: browser and Go JPEG pixels at %.1f dB PSNR (< %d)", s, i, psnr, minPSNR)
			}
		}
		for k, v := range got[len(got)-1].Paths {
			paths[k] += v
		}
		t.Logf("stream %d: %d payloads, %d JPEG ops, lowest PSNR of the browser's JPEG pixels against Go's %.1f dB", s, len(g.payloads), g.jpegs, worstPSNR)
	}
}

func browserPix(tb testing.TB, b64 string, want *image.RGBA) []byte {
	pix, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(pix) != len(want.Pix) {
		tb.Fatalf("browser screen: %d bytes (want %d), %v", len(pix), len(want.Pix), err)
	}
	return pix
}

func firstDiff(tb testing.TB, b64 string, want *image.RGBA) string {
	pix := browserPix(tb, b64, want)
	for i := range pix {
		if pix[i] != want.Pix[i] {
			p := i / 4
			x, y := p%want.Rect.Dx(), p/want.Rect.Dx()
			return fmt.Sprintf("first at (%d,%d): browser %v, Go %v", x, y, pix[p*4:p*4+4], want.Pix[p*4:p*4+4])
		}
	}
	return "no difference"
}

// compareLossy reports the first pixel outside lossy where the screens
// differ, and the PSNR of the pixels inside it.
func compareLossy(tb testing.TB, b64 string, want *image.RGBA, lossy image.Rectangle) (string, float64) {
	pix := browserPix(tb, b64, want)
	var se float64
	n := 0
	for y := range want.Rect.Dy() {
		for x := range want.Rect.Dx() {
			o := want.PixOffset(x, y)
			in := image.Pt(x, y).In(lossy)
			for c := range 3 {
				d := float64(pix[o+c]) - float64(want.Pix[o+c])
				if !in && d != 0 {
					return fmt.Sprintf("at (%d,%d): browser %v, Go %v", x, y, pix[o:o+4], want.Pix[o:o+4]), 0
				}
				if in {
					se += d * d
					n++
				}
			}
		}
	}
	if se == 0 {
		return "", math.Inf(1)
	}
	return "", 10 * math.Log10(255*255/(se/float64(n)))
}

// stats returns the mean and the 95th percentile of v.
func stats(v []float64) (mean, p95 float64) {
	if len(v) == 0 {
		return 0, 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	for _, x := range s {
		mean += x
	}
	return mean / float64(len(s)), s[min(len(s)-1, (len(s)*95+99)/100-1)]
}
