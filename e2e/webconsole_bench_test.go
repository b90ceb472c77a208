package e2e

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/internal/captest"
)

// BenchmarkConsolesInputToPixels puts the browser console beside the
// desktop console on one Host (Xvfb 1920×1080, an xterm running cat, over
// loopback WebRTC): keys typed, each timed until its echo is shown (the
// desktop console: decoded; the browser: painted by its screen worker), and
// the bytes each console's transport received meanwhile. It prints one
// table and reports the same figures as metrics; it asserts no timing.
//
//	go test -run '^$' -bench ConsolesInputToPixels -benchtime 1x ./e2e/
func BenchmarkConsolesInputToPixels(b *testing.B) {
	const keys = 200
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	x := echoScreen(b, ctx)
	env := newEnv(b)
	h := env.startHost(b, x.Display, false)
	br := newConsoleBrowser(b, env, env.login(b).Token)
	pointer := echoPointer

	type row struct {
		name     string
		lat      []float64
		bytes    uint64
		duration time.Duration
	}
	var rows []row
	for b.Loop() {
		rows = rows[:0]

		d := newDeskEcho(b, ctx, env, h, pointer)
		d.quiet()
		b0, t0 := d.s.BytesReceived(), time.Now()
		lat := echoKeys(d, keys)
		rows = append(rows, row{"desktop (Go guest)", lat, d.s.BytesReceived() - b0, time.Since(t0)})
		d.s.Close()
		if err := h.waitNoSessions(ctx); err != nil {
			b.Fatal(err)
		}

		br.open(ctx, "/console/?device="+h.deviceID)
		br.waitConnected(ctx)
		br.click(ctx, pointer.X, pointer.Y) // the console's focus, the Host's pointer
		for deadline := time.Now().Add(20 * time.Second); captest.Pointer(b, x) != pointer; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatalf("the Host's pointer never reached %v", pointer)
			}
		}
		e := newBrowserEcho(ctx, br)
		e.quiet()
		b0, t0 = e.bytes(), time.Now()
		lat = echoKeys(e, keys)
		rows = append(rows, row{"browser (Chromium)", lat, e.bytes() - b0, time.Since(t0)})
		br.open(ctx, "/mydevices") // closes the console's session
		if err := h.waitNoSessions(ctx); err != nil {
			b.Fatal(err)
		}
	}
	var table strings.Builder
	fmt.Fprintf(&table, "\ninput → pixels, %d keys into an xterm (cat), 1920×1080, loopback\n", keys)
	fmt.Fprintf(&table, "%-20s %9s %9s %12s %10s\n", "console", "p50 ms", "p95 ms", "bytes/s", "bytes/key")
	for _, r := range rows {
		sort.Float64s(r.lat)
		p50, p95 := r.lat[len(r.lat)/2], r.lat[len(r.lat)*95/100]
		perSec := float64(r.bytes) / r.duration.Seconds()
		fmt.Fprintf(&table, "%-20s %9.2f %9.2f %12.0f %10.0f\n", r.name, p50, p95, perSec, float64(r.bytes)/keys)
		short := strings.Fields(r.name)[0]
		b.ReportMetric(p50, short+"-p50-ms")
		b.ReportMetric(p95, short+"-p95-ms")
		b.ReportMetric(perSec, short+"-B/s")
	}
	b.Log(table.String())
}

// browserEcho is the browser console's side. The page marks the time of
// each key (a capture-phase keydown listener, ahead of the console's) and
// of the first frame the screen worker paints after it (the console's
// onPaint hook); both are performance.now() in the page, so the CDP round
// trips that drive it are not counted.
type browserEcho struct {
	ctx context.Context
	b   *consoleBrowser
}

func newBrowserEcho(ctx context.Context, b *consoleBrowser) *browserEcho {
	b.eval(ctx, `(() => {
  const m = window.tandemBench = { keyAt: 0, ms: -1, armed: false };
  addEventListener('keydown', () => { m.keyAt = performance.now(); m.ms = -1; m.armed = true; }, true);
  tandemConsole.onPaint = (t) => { if (m.armed) { m.armed = false; m.ms = t - m.keyAt; } };
  return "ok";
})()`)
	return &browserEcho{ctx: ctx, b: b}
}

func (e *browserEcho) key(r rune) float64 {
	e.b.typeKeys(e.ctx, string(r))
	s := e.b.eval(e.ctx, `new Promise((r) => { const t = setInterval(() => {
  if (tandemBench.ms >= 0) { clearInterval(t); r(String(tandemBench.ms)); } }, 5); })`)
	ms, err := strconv.ParseFloat(s, 64)
	if err != nil {
		e.b.t.Fatalf("the page's latency %q: %v", s, err)
	}
	return ms
}

func (e *browserEcho) enter() { e.b.typeKeys(e.ctx, "\r") }

func (e *browserEcho) quiet() {
	e.b.eval(e.ctx, `new Promise((r) => { let f = tandemConsole.state.frames; const t = setInterval(() => {
  const g = tandemConsole.state.frames; if (g === f) { clearInterval(t); r("quiet"); } f = g; }, 100); })`)
}

// bytes is the browser transport's bytesReceived (RTCTransportStats).
func (e *browserEcho) bytes() uint64 {
	s := e.b.eval(e.ctx, `tandemConsole.selectedPair().then((p) => String(p ? p.bytesReceived : 0))`)
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		e.b.t.Fatalf("the browser's bytesReceived %q: %v", s, err)
	}
	return n
}
