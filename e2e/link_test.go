package e2e

import (
	"context"
	"fmt"
	"image"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/tandem-rc/tandem/agent"
	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/internal/linkemu"
	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

// A link between Host and Guest, emulated in user space (internal/linkemu):
// each peer's UDP leaves through its own shaped direction.
type linkProfile struct {
	name string
	rate int64 // bits per second
	rtt  time.Duration
	loss float64 // each way
}

var linkProfiles = []linkProfile{
	{"100Mbps_5ms_1%loss", 100e6, 5 * time.Millisecond, 0.01},
	{"20Mbps_40ms_1%loss", 20e6, 40 * time.Millisecond, 0.01},
	{"5Mbps_80ms_1%loss", 5e6, 80 * time.Millisecond, 0.01},
}

// linkConfigs returns the Host's and the Guest's transport over p (no
// shaping for a zero profile), and the Host's egress (the screen's way).
func linkConfigs(tb testing.TB, p linkProfile) (host, guest transport.Config, hostNet *linkemu.Net) {
	tb.Helper()
	if p.rate == 0 && p.rtt == 0 && p.loss == 0 {
		return transport.Config{Loopback: true}, transport.Config{Loopback: true}, nil
	}
	cfg := func(seed uint64) (transport.Config, *linkemu.Net) {
		n, err := linkemu.NewNet(linkemu.Config{Rate: p.rate, Delay: p.rtt / 2, Loss: p.loss, Seed: seed})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { n.Close() })
		se := &webrtc.SettingEngine{}
		se.SetNet(n)
		return transport.Config{Loopback: true, Setting: se}, n
	}
	host, hostNet = cfg(1)
	guest, _ = cfg(2)
	return host, guest, hostNet
}

// synthDesk is a synthetic desktop, Capturer and Injector at once, so the
// link (not X) is what the test measures, and the source is known to the
// pixel: a gradient, a text area where typed characters appear as glyph
// cells, and a photographic box that moves 8 pixels per 60 Hz tick while
// Moving (a window dragged over the screen).
type synthDesk struct {
	w, h int

	mu     sync.Mutex
	pix    []byte // BGRX
	bg     []byte
	sx, cy []float64 // the pattern's rows and columns
	noise  []byte
	pw, ph int
	box    image.Point
	dx     int
	tick   int
	col    int
	row    int
	stop   chan struct{}
	wg     sync.WaitGroup
}

const (
	glyphW, glyphH = 10, 18
	textCols       = 60
)

// newSynthDesk returns a w×h desktop whose moving box is bw×bh.
func newSynthDesk(w, h, bw, bh int) *synthDesk {
	d := &synthDesk{w: w, h: h, pw: bw, ph: bh, dx: 8}
	d.bg = make([]byte, w*h*4)
	for y := range h {
		for x := range w {
			i := (y*w + x) * 4
			d.bg[i], d.bg[i+1], d.bg[i+2] = byte(40+x*80/w), byte(60+y*60/h), byte(90+(x+y)*40/(w+h))
		}
	}
	// The text area: white, top left.
	for y := 10; y < 10+8*(glyphH+2); y++ {
		for x := 10; x < 10+textCols*glyphW+10; x++ {
			i := (y*w + x) * 4
			d.bg[i], d.bg[i+1], d.bg[i+2] = 255, 255, 255
		}
	}
	// The box's content is video-like: a moving pattern with fresh noise
	// every tick, which no copy or palette codes (lossy, link-bound).
	d.sx, d.cy = make([]float64, d.pw+64), make([]float64, d.ph+64)
	for x := range d.sx {
		d.sx[x] = math.Sin(float64(x) / 7)
	}
	for y := range d.cy {
		d.cy[y] = math.Cos(float64(y) / 5)
	}
	d.noise = make([]byte, 1<<16+1)
	seed := uint32(12345)
	for i := range d.noise {
		seed = seed*1664525 + 1013904223
		d.noise[i] = byte(seed>>24) / 64
	}
	d.reset()
	return d
}

// reset puts the desktop back to its first state (no text, the box home).
func (d *synthDesk) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pix = slices.Clone(d.bg)
	d.box, d.dx, d.col, d.row, d.tick = image.Pt(d.w/8, d.h/2), 8, 0, 0, 0
	d.drawBox()
}

func (d *synthDesk) drawBox() {
	ox, oy := d.tick%64, (d.tick*3)%64
	for y := range d.ph {
		i := ((d.box.Y+y)*d.w + d.box.X) * 4
		row := d.pix[i : i+d.pw*4]
		cy := d.cy[y+oy]
		for x := range d.pw {
			v := 120 + 60*d.sx[x+ox]*cy
			n := d.noise[(y*d.pw+x+d.tick*7919)&0xffff]
			row[x*4], row[x*4+1], row[x*4+2] = byte(v*0.8)+n, byte(v)+n/2, byte(v*0.9)+n
		}
	}
}

// step moves the box one tick, uncovering the background behind it.
func (d *synthDesk) step() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for y := range d.ph {
		i := ((d.box.Y+y)*d.w + d.box.X) * 4
		copy(d.pix[i:i+d.pw*4], d.bg[i:i+d.pw*4])
	}
	if nx := d.box.X + d.dx; nx < 0 || nx+d.pw > d.w {
		d.dx = -d.dx
	}
	d.box.X += d.dx
	d.tick++
	d.drawBox()
}

// move starts or stops the motion; it returns once the last tick is drawn.
func (d *synthDesk) move(on bool) {
	if on {
		d.stop = make(chan struct{})
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			t := time.NewTicker(time.Second / 60) // the workload's clock
			defer t.Stop()
			for {
				select {
				case <-d.stop:
					return
				case <-t.C:
					d.step()
				}
			}
		}()
		return
	}
	close(d.stop)
	d.wg.Wait()
}

// typeRune draws r's glyph cell at the text cursor (a pattern from its
// code, dark on white) and advances it.
func (d *synthDesk) typeRune(r rune) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if r == '\n' || d.col == textCols {
		d.col, d.row = 0, (d.row+1)%8
		if r == '\n' {
			return
		}
	}
	x0, y0 := 15+d.col*glyphW, 12+d.row*(glyphH+2)
	for y := range glyphH - 2 {
		for x := range glyphW - 2 {
			if (uint32(r)*2654435761>>(uint(x+y*3)%29))&1 == 1 {
				i := ((y0+y)*d.w + x0 + x) * 4
				d.pix[i], d.pix[i+1], d.pix[i+2] = 20, 20, 20
			}
		}
	}
	d.col++
}

// rgba is the source as the guest should show it.
func (d *synthDesk) rgba() *image.RGBA {
	d.mu.Lock()
	defer d.mu.Unlock()
	img := image.NewRGBA(image.Rect(0, 0, d.w, d.h))
	for i := 0; i < len(d.pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = d.pix[i+2], d.pix[i+1], d.pix[i], 255
	}
	return img
}

// Capturer.
func (d *synthDesk) Bounds() image.Rectangle { return image.Rect(0, 0, d.w, d.h) }
func (d *synthDesk) Monitors() ([]capture.Monitor, error) {
	return []capture.Monitor{{Name: "synthetic", Width: d.w, Height: d.h, Primary: true}}, nil
}
func (d *synthDesk) Grab(r image.Rectangle, dst *capture.Frame) (*capture.Frame, error) {
	r = r.Intersect(d.Bounds())
	if r.Empty() {
		return nil, capture.ErrEmptyRect
	}
	if dst == nil {
		dst = &capture.Frame{}
	}
	dst.Width, dst.Height, dst.Stride = r.Dx(), r.Dy(), r.Dx()*4
	if cap(dst.Pix) < dst.Stride*dst.Height {
		dst.Pix = make([]byte, dst.Stride*dst.Height)
	}
	dst.Pix = dst.Pix[:dst.Stride*dst.Height]
	d.mu.Lock()
	defer d.mu.Unlock()
	for y := range dst.Height {
		i := ((r.Min.Y+y)*d.w + r.Min.X) * 4
		copy(dst.Pix[y*dst.Stride:(y+1)*dst.Stride], d.pix[i:i+dst.Stride])
	}
	return dst, nil
}
func (d *synthDesk) Close() error { return nil }

// Injector: text and Enter draw; the rest is accepted and ignored.
type synthInput struct{ d *synthDesk }

func (in synthInput) MoveMouse(x, y int) error             { return nil }
func (in synthInput) MouseButton(input.Button, bool) error { return nil }
func (in synthInput) Wheel(int, int) error                 { return nil }
func (in synthInput) Key(string, bool) error               { return nil }
func (in synthInput) Tap(code string, _ input.Modifiers) error {
	if code == "Enter" {
		in.d.typeRune('\n')
	}
	return nil
}
func (in synthInput) Type(text string) error {
	for _, r := range text {
		in.d.typeRune(r)
	}
	return nil
}
func (in synthInput) ReleaseAll() error { return nil }
func (in synthInput) Close() error      { return nil }

// linkRun is one session over a link: its frames as the guest decoded them.
type linkRun struct {
	env    *env
	desk   *synthDesk
	host   *hostHandle
	s      *guest.Session
	frames chan guest.FrameEvent
}

// startLinkRun starts a Host on desk over profile p and connects a guest.
func startLinkRun(tb testing.TB, ctx context.Context, e *env, desk *synthDesk, p linkProfile) (*linkRun, *linkemu.Net) {
	tb.Helper()
	hostCfg, guestCfg, hostNet := linkConfigs(tb, p)
	h := e.startHost(tb, "", false, func(o *agent.Options) {
		o.Transport = hostCfg
		o.Capture = func() (capture.Capturer, error) { return desk, nil }
		o.Input = func() (input.Injector, error) { return synthInput{desk}, nil }
	})
	r := &linkRun{env: e, desk: desk, host: h, frames: make(chan guest.FrameEvent, 4096)}
	c := e.login(tb)
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	guestCfg.Logger = e.log
	s, err := c.Connect(cctx, h.deviceID, guest.ConnectOptions{Transport: guestCfg, OnFrame: func(ev guest.FrameEvent) {
		select {
		case r.frames <- ev:
		default:
		}
	}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	r.s = s
	// The first frame is the keyframe; its event may come after Snapshot
	// could return: wait for the event, so typing starts after it.
	for {
		select {
		case ev := <-r.frames:
			if ev.Keyframe {
				return r, hostNet
			}
		case <-ctx.Done():
			tb.Fatal("no keyframe")
		}
	}
}

// drain takes the frames that arrived so far.
func (r *linkRun) drain() []guest.FrameEvent {
	var evs []guest.FrameEvent
	for {
		select {
		case ev := <-r.frames:
			evs = append(evs, ev)
		default:
			return evs
		}
	}
}

// typing types n characters one at a time, each after the last one's frame
// arrived: input → pixels in ms, and the bytes of each keystroke's frame.
func (r *linkRun) typing(tb testing.TB, ctx context.Context, n int) (lat []float64, bytes []int) {
	tb.Helper()
	r.drain()
	for i := range n {
		sent := time.Now()
		if err := r.s.Send(&wire.Text{Text: string(rune('a' + i%26))}); err != nil {
			tb.Fatal(err)
		}
		select {
		case ev := <-r.frames:
			lat = append(lat, float64(ev.DecodedAt.Sub(sent).Microseconds())/1000)
			bytes = append(bytes, ev.Bytes)
		case <-ctx.Done():
			tb.Fatalf("keystroke %d never showed up", i)
		}
	}
	return lat, bytes
}

// motion moves the box for d and returns the frames decoded meanwhile.
func (r *linkRun) motion(d time.Duration) []guest.FrameEvent {
	r.drain()
	r.desk.move(true)
	time.Sleep(d) // the workload's length, not a synchronisation
	r.desk.move(false)
	return r.drain()
}

// motionFrames moves the box until n frames were decoded (a slow machine,
// under -race, takes longer: the count, not the time, is the workload).
func (r *linkRun) motionFrames(tb testing.TB, ctx context.Context, n int) []guest.FrameEvent {
	tb.Helper()
	r.drain()
	r.desk.move(true)
	defer r.desk.move(false)
	var evs []guest.FrameEvent
	for len(evs) < n {
		select {
		case ev := <-r.frames:
			evs = append(evs, ev)
		case <-ctx.Done():
			tb.Fatalf("%d frames of %d during the motion", len(evs), n)
		}
	}
	return evs
}

// converge waits until the guest shows the source exactly; the time it
// took from the call.
func (r *linkRun) converge(tb testing.TB, ctx context.Context) time.Duration {
	tb.Helper()
	start := time.Now()
	want := r.desk.rgba()
	for {
		got, _, err := r.s.Snapshot(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		diff := 0
		for i := 0; i < len(want.Pix); i += 4 {
			if got.Pix[i] != want.Pix[i] || got.Pix[i+1] != want.Pix[i+1] || got.Pix[i+2] != want.Pix[i+2] {
				diff++
			}
		}
		if diff == 0 {
			return time.Since(start)
		}
		n := r.s.Frames()
		wctx, cancel := context.WithTimeout(ctx, 3*time.Second) // a frame, or the next look
		err = r.s.WaitFrames(wctx, n)
		cancel()
		if ctx.Err() != nil {
			tb.Fatalf("the guest never showed the source: %d pixels differ", diff)
		}
	}
}

// ages is, for each frame but the last, how old the screen it showed got
// before the next frame replaced it (next decode − its capture), in ms.
func ages(evs []guest.FrameEvent) []float64 {
	var out []float64
	for i := 0; i+1 < len(evs); i++ {
		out = append(out, float64(evs[i+1].DecodedAt.UnixNano()-evs[i].CaptureNano)/1e6)
	}
	return out
}

func pct(v []float64, p int) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func sum(v []int) int {
	t := 0
	for _, x := range v {
		t += x
	}
	return t
}

// On 5 Mb/s, 80 ms RTT and 1 % loss each way, a screen in continuous
// motion never queues on the Host: a frame never finds more than about one
// earlier frame still in the screen channel (a pacer that fills the send
// buffer leaves hundreds of KB there); once the motion stops the guest converges to the source
// pixel for pixel; and typing costs the same bytes as on plain loopback.
func TestScreenOverSlowLink(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := newEnv(t)
	desk := newSynthDesk(960, 540, 160, 120)
	slow := linkProfiles[2]

	// Typing: the same keys on the same screen, over the link and over
	// plain loopback, fresh sessions both.
	const keys = 12
	r, hostNet := startLinkRun(t, ctx, e, desk, slow)
	_, slowBytes := r.typing(t, ctx, keys)
	desk.reset()
	plain, _ := startLinkRun(t, ctx, e, desk, linkProfile{})
	_, plainBytes := plain.typing(t, ctx, keys)
	if !slices.Equal(slowBytes, plainBytes) {
		t.Errorf("typing bytes per key: %v over the link, %v on loopback", slowBytes, plainBytes)
	}
	plain.s.Close()

	// Motion on the slow link.
	evs := r.motionFrames(t, ctx, 12)
	maxFrame := 0
	for _, ev := range evs {
		maxFrame = max(maxFrame, ev.Bytes)
	}
	st, ok := r.host.h.ScreenStats(r.s.ID)
	if !ok {
		t.Fatal("no screen stats for the session")
	}
	t.Logf("motion: %d frames, largest %d B, backlog at most %d B and %d frames, quality %d, bandwidth estimate %.0f kB/s, RTT %v, link %+v; age p50 %.0f ms p95 %.0f ms",
		len(evs), maxFrame, st.MaxBacklog, st.MaxInFlight, st.Quality, st.Bandwidth/1000, st.RTT, hostNet.Stats(), pct(ages(evs), 50), pct(ages(evs), 95))
	if st.MaxInFlight > 1 {
		t.Errorf("a frame was sent with %d earlier ones unacknowledged, want at most one", st.MaxInFlight)
	}
	if bound := uint64(maxFrame + 16<<10); st.MaxBacklog > bound {
		t.Errorf("a frame found %d bytes of earlier frames in the screen channel, over one frame (%d)", st.MaxBacklog, bound)
	}
	took := r.converge(t, ctx)
	t.Logf("converged %v after the motion stopped", took)
}

// BenchmarkLink measures a 1920×1080 session over emulated links: typing
// (input → pixels p50/p95 against the goal RTT + 20 ms, bytes per key),
// then a window dragged for a few seconds (frames/s, how old the screen
// got against 2 RTT, the most bytes of earlier frames a frame found queued), then the time to
// show the source exactly once the drag stops. One iteration per link:
//
//	go test ./e2e -run '^$' -bench BenchmarkLink -benchtime 1x -v
func BenchmarkLink(b *testing.B) {
	profiles := append([]linkProfile{{name: "loopback"}}, linkProfiles...)
	e := newEnv(b)
	for _, p := range profiles {
		b.Run(p.name, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			desk := newSynthDesk(1920, 1080, 320, 240)
			for range b.N {
				desk.reset()
				r, _ := startLinkRun(b, ctx, e, desk, p)
				lat, bytes := r.typing(b, ctx, 60)
				evs := r.motion(5 * time.Second)
				st, _ := r.host.h.ScreenStats(r.s.ID)
				conv := r.converge(b, ctx)
				a := ages(evs)
				goal := float64(p.rtt.Milliseconds()) + 20
				b.ReportMetric(pct(lat, 50), "in2px-p50-ms")
				b.ReportMetric(pct(lat, 95), "in2px-p95-ms")
				b.ReportMetric(goal, "goal-p95-ms")
				b.ReportMetric(float64(sum(bytes))/float64(len(bytes)), "B/key")
				b.ReportMetric(float64(len(evs))/5, "drag-fps")
				b.ReportMetric(pct(a, 95), "age-p95-ms")
				b.ReportMetric(pct(a, 100), "age-max-ms")
				b.ReportMetric(float64(2*p.rtt.Milliseconds()), "2rtt-ms")
				b.ReportMetric(float64(st.MaxBacklog)/1024, "backlog-KiB")
				b.ReportMetric(float64(conv.Milliseconds()), "converge-ms")
				b.ReportMetric(st.Bandwidth*8/1e6, "est-Mbps")
				fmt.Printf("| %s | %.1f | %.1f | %.0f | %.0f | %.1f | %.0f | %.0f | %.0f | %.0f | %d | %.1f | %.0f |\n",
					p.name, pct(lat, 50), pct(lat, 95), goal, float64(sum(bytes))/float64(len(bytes)),
					float64(len(evs))/5, pct(a, 95), pct(a, 100), float64(2*p.rtt.Milliseconds()),
					float64(st.MaxBacklog)/1024, st.Quality, st.Bandwidth*8/1e6, float64(conv.Milliseconds()))
				r.s.Close()
			}
		})
	}
}
