package e2e

import (
	"context"
	"image"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/internal/xvfb"
	"github.com/tandem-rc/tandem/transport/wire"
)

// BenchmarkFrameLatency measures host capture → guest decoded over loopback
// WebRTC at 1920×1080, with an xterm printing a line every 20 ms so the
// screen keeps changing. Reports p50/p95 in ms and bytes per frame.
func BenchmarkFrameLatency(b *testing.B) {
	x := captest.StartX(b, 1920, 1080)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := x.Run(ctx, "xterm", "-geometry", "120x40+100+100", "-title", "tandem-bench", "-e", "sh", "-c",
		`i=0; while :; do i=$((i+1)); echo "line $i of a busy terminal, measuring Tandem frame latency"; sleep 0.02; done`); err != nil {
		b.Fatal(err)
	}
	if _, err := x.WaitWindow(ctx, "tandem-bench"); err != nil {
		b.Fatal(err)
	}
	env := newEnv(b)
	h := env.startHost(b, x.Display, false)

	var (
		mu    sync.Mutex
		lat   []float64
		bytes int
		tick  = make(chan struct{}, 1024)
	)
	s := env.connectWith(b, ctx, h.hostname, false, func(ev guest.FrameEvent) {
		mu.Lock()
		lat = append(lat, float64(ev.DecodedAt.UnixNano()-ev.CaptureNano)/1e6)
		bytes += ev.Bytes
		mu.Unlock()
		select {
		case tick <- struct{}{}:
		default:
		}
	})
	defer s.Close()
	if _, _, err := s.Snapshot(ctx); err != nil {
		b.Fatal(err)
	}
	mu.Lock()
	lat, bytes = lat[:0], 0
	mu.Unlock()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		select {
		case <-tick:
		case <-ctx.Done():
			b.Fatal("no frames")
		}
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	if len(lat) == 0 {
		return
	}
	sort.Float64s(lat)
	b.ReportMetric(lat[len(lat)/2], "p50-ms")
	b.ReportMetric(lat[len(lat)*95/100], "p95-ms")
	b.ReportMetric(float64(bytes)/float64(len(lat)), "B/frame")
}

// BenchmarkInputToPixels measures a guest keystroke → the echoed character
// decoded at the guest: input over WebRTC, injection, the xterm drawing it,
// capture, encode, transfer and decode, on loopback at 1920×1080.
func BenchmarkInputToPixels(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	x := echoScreen(b, ctx)
	env := newEnv(b)
	inputToPixels(b, ctx, env, env.startHost(b, x.Display, false), echoPointer)
}

// echoPointer is over echoScreen's xterm: the pointer there gives it the
// keyboard (no window manager).
var echoPointer = image.Pt(300, 200)

// echoScreen starts a 1920×1080 X server showing an xterm that echoes
// what is typed (cat).
func echoScreen(b *testing.B, ctx context.Context) *xvfb.Server {
	x := captest.StartX(b, 1920, 1080)
	if _, err := x.Run(ctx, "xterm", "-geometry", "120x40+0+0", "-title", "tandem-echo", "-e", "cat"); err != nil {
		b.Fatal(err)
	}
	if _, err := x.WaitWindow(ctx, "tandem-echo"); err != nil {
		b.Fatal(err)
	}
	return x
}

// inputToPixels runs BenchmarkInputToPixels's measurement on Host h
// showing a terminal that echoes, the pointer first moved to pointer.
func inputToPixels(b *testing.B, ctx context.Context, env *env, h *hostHandle, pointer image.Point) {
	d := newDeskEcho(b, ctx, env, h, pointer)
	defer d.s.Close()
	d.quiet()
	b.ResetTimer()
	lat := echoKeys(d, b.N)
	b.StopTimer()
	sort.Float64s(lat)
	b.ReportMetric(lat[len(lat)/2], "p50-ms")
	b.ReportMetric(lat[len(lat)*95/100], "p95-ms")
}

// echoConsole is a console typing into a terminal that echoes.
type echoConsole interface {
	// key types r and returns, in ms, how long the console took from
	// sending it to showing the first frame after it.
	key(r rune) float64
	enter()
	// quiet returns once no frame has come for 100 ms, so that a
	// cursor blink or a second partial frame is not taken for the next
	// key's echo.
	quiet()
}

// echoKeys types n keys (Enter every 100, keeping the line short), each
// once the screen is quiet, and returns their input → pixels in ms.
func echoKeys(c echoConsole, n int) []float64 {
	lat := make([]float64, 0, n)
	for i := range n {
		if i%100 == 99 {
			c.enter()
			c.quiet()
		}
		lat = append(lat, c.key(rune('a'+i%26)))
		c.quiet()
	}
	return lat
}

// deskEcho is the desktop console's side: a guest session whose frames,
// decoded, end the measurement.
type deskEcho struct {
	tb     testing.TB
	ctx    context.Context
	s      *guest.Session
	frames chan guest.FrameEvent
}

func newDeskEcho(tb testing.TB, ctx context.Context, env *env, h *hostHandle, pointer image.Point) *deskEcho {
	d := &deskEcho{tb: tb, ctx: ctx, frames: make(chan guest.FrameEvent, 256)}
	d.s = env.connectWith(tb, ctx, h.hostname, false, func(ev guest.FrameEvent) {
		select {
		case d.frames <- ev:
		default:
		}
	})
	if _, _, err := d.s.Snapshot(ctx); err != nil {
		tb.Fatal(err)
	}
	if err := d.s.Send(&wire.MouseMove{X: int32(pointer.X), Y: int32(pointer.Y)}); err != nil {
		tb.Fatal(err)
	}
	if err := d.s.Sync(ctx); err != nil {
		tb.Fatal(err)
	}
	return d
}

func (d *deskEcho) quiet() {
	for {
		select {
		case <-d.frames:
		case <-time.After(100 * time.Millisecond):
			return
		}
	}
}

func (d *deskEcho) enter() { _ = d.s.Send(&wire.KeyTap{Code: "Enter"}) }

func (d *deskEcho) key(r rune) float64 {
	sent := time.Now()
	if err := d.s.Send(&wire.Text{Text: string(r)}); err != nil {
		d.tb.Fatal(err)
	}
	select {
	case ev := <-d.frames:
		return float64(ev.DecodedAt.Sub(sent).Microseconds()) / 1000
	case <-d.ctx.Done():
		d.tb.Fatal("the keystroke never showed up")
		return 0
	}
}
