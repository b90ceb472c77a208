package webconsole_test

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/capture/codec"
	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/internal/codecbench"
)

// benchWorkloads are 1920×1080 frame sequences shaped like
// ../shared/bench/workloads.sh's (typing, scroll, drag, idle, video).
// With TANDEM_BENCH_FRAMES=DIR, DIR/<name>/f_NNN.png (that script's
// output) are used instead.
func benchWorkloads(tb testing.TB, n int) map[string][]*capture.Frame {
	if dir := os.Getenv("TANDEM_BENCH_FRAMES"); dir != "" {
		out := map[string][]*capture.Frame{}
		for _, name := range []string{"typing", "scroll", "drag", "idle", "video"} {
			fs, err := codecbench.LoadFrames(filepath.Join(dir, name), n)
			if err != nil {
				tb.Fatal(err)
			}
			out[name] = fs
		}
		return out
	}
	const w, h = 1920, 1080
	out := map[string][]*capture.Frame{}
	ty := captest.NewTypist(w, h)
	for range n {
		out["typing"] = append(out["typing"], cloneFrame(ty.Frame))
		ty.Next()
	}
	for i := range n {
		out["scroll"] = append(out["scroll"], captest.Desktop(w, h, i*3, 0))
	}
	wall := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			wall.Pix[wall.PixOffset(x, y)+0] = uint8((x*x + y*3) >> 5)
			wall.Pix[wall.PixOffset(x, y)+1] = uint8((x + y*y) >> 6)
			wall.Pix[wall.PixOffset(x, y)+2] = uint8((x ^ y) & 0xff)
			wall.Pix[wall.PixOffset(x, y)+3] = 255
		}
	}
	win := image.NewRGBA(image.Rect(0, 0, 720, 540))
	toImage(captest.Desktop(720, 540, 0, 10), win)
	for i := range n {
		img := image.NewRGBA(wall.Rect)
		copy(img.Pix, wall.Pix)
		draw.Draw(img, win.Rect.Add(image.Pt(100+16*i, 100+4*i)), win, image.Point{}, draw.Src)
		out["drag"] = append(out["drag"], capture.FrameFromImage(img))
	}
	idle := out["drag"][0]
	for range n {
		out["idle"] = append(out["idle"], idle)
	}
	for i := range n {
		img := image.NewRGBA(wall.Rect)
		toImage(idle, img)
		for y := 500; y < 980; y++ {
			for x := 1000; x < 1854; x++ {
				c := color.RGBA{uint8((x*3 + i*9 + y) & 255), uint8((y*5 - i*7 + x/2) & 255), uint8((x*y/97 + i*13) & 255), 255}
				img.SetRGBA(x, y, c)
			}
		}
		out["video"] = append(out["video"], capture.FrameFromImage(img))
	}
	return out
}

func cloneFrame(f *capture.Frame) *capture.Frame {
	c := *f
	c.Pix = append([]byte(nil), f.Pix...)
	return &c
}

// BenchmarkBrowserDecode measures, per workload, the browser console's
// decode and paint time per frame in headless Chromium (decoder.js, then
// putImageData of the changed rectangles on an OffscreenCanvas) and the Go
// decoder's on the same payloads (as the Host sends them: version 2,
// PREDICT, JPEG for video). Frame 0 (the keyframe) is reported apart.
//
//	go test -run '^$' -bench BrowserDecode -benchtime 1x ./relay/webconsole/
func BenchmarkBrowserDecode(b *testing.B) {
	ctx := newChromium(b)
	const n = 40
	wls := benchWorkloads(b, n)
	names := []string{"typing", "scroll", "drag", "idle", "video"}
	var streams []*golden
	var goMS [][]float64
	for _, name := range names {
		enc := codec.NewEncoder(codec.EncoderOptions{Version: 2, JPEGQuality: codec.DefaultJPEGQuality, Predict: true})
		dec := codec.NewDecoder(codec.Limits{})
		g := &golden{}
		var ms []float64
		for _, f := range wls[name] {
			p, err := enc.Encode(f)
			if err != nil {
				b.Fatal(err)
			}
			if p == nil {
				continue
			}
			t0 := time.Now()
			if _, err := dec.Decode(p); err != nil {
				b.Fatal(err)
			}
			ms = append(ms, float64(time.Since(t0).Microseconds())/1000)
			g.payloads = append(g.payloads, p)
		}
		enc.Close()
		dec.Close()
		streams = append(streams, g)
		goMS = append(goMS, ms)
	}
	srv := goldenServer(b, streams)
	if _, err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		b.Fatal(err)
	}
	var table strings.Builder
	for b.Loop() {
		table.Reset()
		fmt.Fprintf(&table, "\n%-8s %7s %9s | %-23s | %-14s | %-12s | %-23s\n", "workload", "frames", "B/frame", "browser ms mean / p95", "of it decode", "of it zstd", "Go decoder ms mean / p95")
		for s, name := range names {
			g := streams[s]
			js := fmt.Sprintf(`(async () => {
  const { Decoder } = await import('/console/static/decoder.js');
  const { Painter } = await import('/console/static/paint.js');
  const ps = [];
  for (let i = 0; i < %d; i++) ps.push(new Uint8Array(await (await fetch('/golden/%d/' + i)).arrayBuffer()));
  const d = new Decoder(), paint = new Painter(new OffscreenCanvas(1, 1)), ms = [], dms = [], zms = [];
  for (const p of ps) {
    const t0 = performance.now();
    const u = await d.decode(p);
    const t1 = performance.now();
    paint.paint(d, u);
    ms.push(performance.now() - t0); dms.push(t1 - t0); zms.push(d.zstdMs);
  }
  return JSON.stringify({ ms, dms, zms });
})()`, len(g.payloads), s)
			out, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
			if err != nil {
				b.Fatal(err)
			}
			var res struct{ MS, DMS, ZMS []float64 }
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				b.Fatal(err)
			}
			ms := res.MS
			bytes := 0
			for _, p := range g.payloads[1:] {
				bytes += len(p)
			}
			bm, bp := stats(ms[1:])
			dm, _ := stats(res.DMS[1:])
			zm, _ := stats(res.ZMS[1:])
			gm, gp := stats(goMS[s][1:])
			fmt.Fprintf(&table, "%-8s %7d %9d | %9.2f / %-11.2f | %14.2f | %12.2f | %9.2f / %-11.2f\n", name, len(ms)-1, bytes/max(1, len(ms)-1), bm, bp, dm, zm, gm, gp)
			b.ReportMetric(bm, name+"-browser-ms/frame")
			b.ReportMetric(gm, name+"-go-ms/frame")
			if s == 0 {
				fmt.Fprintf(&table, "%-8s %7d %9d | %9.2f / %-11s | %14.2f | %12.2f | %9.2f / %-11s\n", "keyframe", 1, len(g.payloads[0]), ms[0], "-", res.DMS[0], res.ZMS[0], goMS[s][0], "-")
			}
		}
	}
	b.Log(table.String())
}
