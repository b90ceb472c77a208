package transport

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/transport/wire"
)

var p0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func ms(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

// The bandwidth: a frame's bytes over its time at the bottleneck, which
// runs from its send plus one RTT, or from the previous frame's ack when
// that is later, to its own ack.
func TestPacerBandwidthFromAcks(t *testing.T) {
	p := NewPacer(PacerConfig{})
	p.OnRTT(ms(80))
	if d := p.Next(p0, 0); !d.Send || d.Budget != 0 || d.Quality != 85 {
		t.Fatalf("idle link: %+v", d)
	}
	// 5 Mb/s = 625,000 B/s: 50,000 bytes take 80 ms, plus the RTT.
	p.OnSent(1, 50000, p0)
	p.OnAck(1, p0.Add(ms(160)))
	if bw := p.Bandwidth(); math.Abs(bw-625000) > 1 {
		t.Fatalf("bandwidth %0.f B/s, want 625000", bw)
	}
	// Small frames say nothing about the rate, only about the RTT.
	p.OnSent(2, 500, p0.Add(ms(200)))
	p.OnAck(2, p0.Add(ms(279)))
	if bw, rtt := p.Bandwidth(), p.RTT(); math.Abs(bw-625000) > 1 || rtt != ms(79) {
		t.Fatalf("after a small frame: %0.f B/s, RTT %v", bw, rtt)
	}
	d := p.Next(p0.Add(ms(300)), 0)
	if d.Budget != 12500 { // FrameTime (20 ms) at 625,000 B/s
		t.Fatalf("budget %d, want 12500", d.Budget)
	}
	// Back to back: the second frame went while the first was in flight,
	// so its time at the bottleneck runs from the first one's ack.
	q := NewPacer(PacerConfig{})
	q.OnRTT(ms(80))
	q.OnSent(1, 25000, p0)
	q.OnSent(2, 25000, p0.Add(ms(10)))
	q.OnAck(1, p0.Add(ms(120)))
	q.OnAck(2, p0.Add(ms(160)))
	if bw := q.Bandwidth(); math.Abs(bw-625000) > 1 {
		t.Fatalf("back to back: %0.f B/s, want 625000", bw)
	}
}

// A second frame goes out once the first has left the bottleneck (not
// before: it would queue behind it), and a third never: at most about one
// frame waits in the link.
func TestPacerOneFrameInTheLink(t *testing.T) {
	p := learned(t) // 625,000 B/s, 80 ms
	at := p0.Add(time.Second)
	p.OnSent(10, 25000, at) // 40 ms at the bottleneck
	d := p.Next(at.Add(ms(10)), 25000)
	if d.Send || d.Wait != ms(30) {
		t.Fatalf("10 ms after a 40 ms frame: %+v, want to wait 30ms", d)
	}
	if d := p.Next(at.Add(ms(40)), 25000); !d.Send {
		t.Fatalf("after the frame left the bottleneck: %+v", d)
	}
	p.OnSent(11, 25000, at.Add(ms(40)))
	if d := p.Next(at.Add(ms(100)), 50000); d.Send || p.InFlight() != 2 {
		t.Fatalf("two frames in flight, a third allowed: %+v", d)
	}
	p.OnAck(11, at.Add(ms(170))) // acknowledges 10 as well
	if d := p.Next(at.Add(ms(170)), 0); !d.Send || p.InFlight() != 0 {
		t.Fatalf("after the ack: %+v, %d in flight", d, p.InFlight())
	}
}

// An acknowledgement that does not come (a lost packet, retransmitted
// only on a timeout) lets one more frame go once it is overdue: new data
// makes the receiver report the gap. MaxInFlight is a hard cap, and frames
// never acknowledged are forgotten after ForgetAfter.
func TestPacerOverdueAck(t *testing.T) {
	// No bandwidth estimate yet (5,000-byte frames give none): overdue
	// after 2 RTT + FrameTime.
	p := NewPacer(PacerConfig{})
	p.OnRTT(ms(80))
	p.OnSent(1, 5000, p0)
	p.OnAck(1, p0.Add(ms(100)))
	if p.Bandwidth() != 0 {
		t.Fatalf("bandwidth from a small frame: %0.f", p.Bandwidth())
	}
	at := p0.Add(time.Second)
	p.OnSent(2, 5000, at)
	if d := p.Next(at.Add(ms(179)), 5000); d.Send || d.Wait != ms(1) {
		t.Fatalf("1 ms before overdue: %+v", d)
	}
	if d := p.Next(at.Add(ms(180)), 5000); !d.Send {
		t.Fatalf("overdue: %+v", d)
	}
	// With an estimate, a big frame leaves the bottleneck before it is
	// overdue: the wait is until then.
	q := learned(t)
	q.OnSent(10, 200000, at) // 320 ms at 625,000 B/s
	if d := q.Next(at.Add(ms(100)), 200000); d.Send || d.Wait != ms(220) {
		t.Fatalf("big frame in the bottleneck: %+v", d)
	}
	one := learnedWith(t, PacerConfig{MaxInFlight: 1})
	one.OnSent(10, 6250, at)
	if d := one.Next(at.Add(time.Second), 6250); d.Send {
		t.Fatalf("MaxInFlight 1 exceeded: %+v", d)
	}
	if d := one.Next(at.Add(3*time.Second+time.Millisecond), 6250); !d.Send || one.InFlight() != 0 {
		t.Fatalf("after ForgetAfter: %+v, %d in flight", d, one.InFlight())
	}
}

// Frames over FrameTime at the link's rate lower the quality a step each
// and stretch the interval; a run of small frames raises it a step.
func TestPacerQualityAndRate(t *testing.T) {
	p := learnedWith(t, PacerConfig{ClearAfter: 3})
	at := p0.Add(time.Second)
	var d Decision
	for i, want := range []int{60, 40, 40} {
		p.OnSent(uint32(10+i), 50000, at) // 80 ms at the bottleneck
		p.OnAck(uint32(10+i), at.Add(ms(160)))
		at = at.Add(ms(200))
		if d = p.Next(at, 0); d.Quality != want || !d.Saturated {
			t.Fatalf("after big frame %d: %+v, want quality %d", i, d, want)
		}
	}
	if d.Interval != ms(100) { // 80 ms, a quarter to spare
		t.Fatalf("interval %v after 80 ms frames, want 100ms", d.Interval)
	}
	for i, want := range []int{40, 40, 60, 60, 60, 85} {
		p.OnSent(uint32(20+i), 1000, at) // 1.6 ms
		p.OnAck(uint32(20+i), at.Add(ms(82)))
		at = at.Add(ms(100))
		if d = p.Next(at, 0); d.Quality != want {
			t.Fatalf("after small frame %d: %+v, want quality %d", i, d, want)
		}
	}
	if d.Interval != time.Second/60 || d.Saturated {
		t.Fatalf("small frames: %+v", d)
	}
}

// A guest that never acknowledges is paced by the buffered amount alone;
// the high water stops everyone.
func TestPacerNoAcks(t *testing.T) {
	p := NewPacer(PacerConfig{HighWater: 1 << 20})
	for seq := uint32(1); seq <= 4; seq++ {
		p.OnSent(seq, 30000, p0)
	}
	if d := p.Next(p0, 60000); !d.Send {
		t.Fatalf("no acks, 60 KB buffered: %+v", d)
	}
	if d := p.Next(p0, 70000); d.Send {
		t.Fatalf("no acks, 70 KB buffered: %+v", d)
	}
	p.OnAck(4, p0.Add(ms(10)))
	if d := p.Next(p0.Add(ms(10)), 1<<20); d.Send {
		t.Fatalf("at the high water: %+v", d)
	}
}

// learned is a pacer that measured 625,000 B/s (5 Mb/s) and an 80 ms RTT.
func learned(t *testing.T) *Pacer { return learnedWith(t, PacerConfig{}) }

func learnedWith(t *testing.T, cfg PacerConfig) *Pacer {
	t.Helper()
	p := NewPacer(cfg)
	p.OnRTT(ms(80))
	p.OnSent(1, 50000, p0)
	p.OnAck(1, p0.Add(ms(160)))
	if bw := p.Bandwidth(); math.Abs(bw-625000) > 1 {
		t.Fatalf("bandwidth %0.f", bw)
	}
	return p
}

// TestPacerSlowReader runs a real pion pair whose guest reads the screen
// channel only when the test lets it: a stalled reader gets at most
// MaxInFlight frames (no queue grows), and frames flow again once it reads.
func TestPacerSlowReader(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	pr := newPair(t, ctx, loopbackConfig(), loopbackConfig(), 0)
	pr.waitConnected(t, ctx)
	g, h := pr.channels(t, ctx, wire.ChannelScreen)

	const frameBytes = 48 << 10
	pc := PacerConfig{HighWater: 256 << 10, ForgetAfter: time.Hour}
	p := NewPacer(pc)
	// The host reads acknowledgements.
	go func() {
		for {
			m, err := h.Recv(ctx)
			if err != nil {
				return
			}
			if a, ok := m.(*wire.FrameAck); ok {
				p.OnAck(a.Seq, time.Now())
			}
		}
	}()
	// The guest reads (and acknowledges) one frame per token.
	tokens := make(chan int, 1000)
	go func() {
		for range tokens {
			m, err := g.Recv(ctx)
			if err != nil {
				return
			}
			f := m.(*wire.ScreenFrame)
			if err := g.Send(&wire.FrameAck{Seq: f.Seq}); err != nil {
				return
			}
		}
	}()

	payload := bytes.Repeat([]byte{0x5a, 0xa5, 0x3c}, frameBytes/3)
	var seq uint32
	var maxBuffered uint64
	maxInFlight := 0
	// step makes one pacing decision and sends when allowed.
	step := func() Decision {
		if err := h.WaitBuffered(ctx, pc.HighWater); err != nil {
			t.Fatal(err)
		}
		d := p.Next(time.Now(), h.BufferedAmount())
		if !d.Send {
			p.WaitAck(ctx, min(d.Wait, 5*time.Millisecond))
			return d
		}
		seq++
		if err := h.Send(&wire.ScreenFrame{Seq: seq, Codec: wire.CodecTilesV2, Data: payload}); err != nil {
			t.Fatal(err)
		}
		p.OnSent(seq, len(payload), time.Now())
		maxBuffered = max(maxBuffered, h.BufferedAmount())
		maxInFlight = max(maxInFlight, p.InFlight())
		return d
	}

	// Phase 1: the reader keeps up (a token per frame).
	for range 3 {
		tokens <- 1
		for !step().Send {
		}
		for p.InFlight() > 0 {
			p.WaitAck(ctx, time.Second)
		}
	}
	// Phase 2: the reader stalls. 200 decisions, nearly all refused.
	sentBefore := seq
	for range 200 {
		step()
	}
	if got := seq - sentBefore; got > 2 {
		t.Fatalf("%d frames sent to a stalled reader, budget 2", got)
	}
	if maxInFlight > 2 || maxBuffered > 2*frameBytes+4096 {
		t.Fatalf("queue grew: %d frames in flight, %d bytes buffered", maxInFlight, maxBuffered)
	}
	// Phase 3: the reader reads again; frames flow.
	for range 900 {
		tokens <- 1
	}
	sentBefore = seq
	for seq-sentBefore < 50 {
		step()
	}
	if maxInFlight > 2 {
		t.Fatalf("%d frames in flight", maxInFlight)
	}
	close(tokens)
}
