package transport

import (
	"bytes"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/transport/wire"
)

func TestPacerSteps(t *testing.T) {
	p := NewPacer(PacerConfig{HighWater: 1000, MinInterval: 10 * time.Millisecond, MaxInterval: 40 * time.Millisecond,
		Qualities: []int{85, 60, 40}, ClearAfter: 3})
	d := p.Next(0)
	if !d.Send || d.Saturated || d.Quality != 85 || d.Interval != 10*time.Millisecond {
		t.Fatalf("idle link: %+v", d)
	}
	// Saturated decisions: quality first, then the interval doubles, up
	// to the bound.
	want := []struct {
		q  int
		iv time.Duration
	}{{60, 10}, {40, 10}, {40, 20}, {40, 40}, {40, 40}}
	for i, w := range want {
		d := p.Next(600) // over half the high water
		if !d.Send || !d.Saturated || d.Quality != w.q || d.Interval != w.iv*time.Millisecond {
			t.Fatalf("saturated step %d: %+v, want quality %d interval %v", i, d, w.q, w.iv*time.Millisecond)
		}
	}
	if d := p.Next(1000); d.Send {
		t.Fatalf("a full buffer still sends: %+v", d)
	}
	// Recovery: one level per ClearAfter clear decisions.
	var got []int
	for range 12 {
		d := p.Next(0)
		got = append(got, d.Quality)
		if d.Saturated {
			t.Fatalf("clear link reported saturated: %+v", d)
		}
	}
	if d := p.Next(0); d.Quality != 85 || d.Interval != 10*time.Millisecond {
		t.Fatalf("after 13 clear decisions: %+v (qualities %v)", d, got)
	}
}

func TestPacerInFlightAndRTT(t *testing.T) {
	p := NewPacer(PacerConfig{MaxInFlight: 4, ClearAfter: 1000})
	for seq := uint32(1); seq <= 4; seq++ {
		p.OnSent(seq)
	}
	// Before any acknowledgement the guest may be one that never acks.
	if d := p.Next(0); !d.Send {
		t.Fatalf("no ack seen yet, yet not sending: %+v", d)
	}
	p.OnAck(0)
	if d := p.Next(0); d.Send || p.InFlight() != 4 {
		t.Fatalf("4 frames in flight of 4 allowed: %+v, in flight %d", d, p.InFlight())
	}
	p.OnAck(3)
	p.OnAck(2) // late and out of order: ignored
	if d := p.Next(0); !d.Send || p.InFlight() != 1 {
		t.Fatalf("after ack 3: %+v, in flight %d", d, p.InFlight())
	}
	q := NewPacer(PacerConfig{})
	q.OnRTT(2 * time.Millisecond)
	if d := q.Next(0); d.Saturated {
		t.Fatalf("base RTT reads as saturation: %+v", d)
	}
	for range 20 {
		q.OnRTT(200 * time.Millisecond)
	}
	if d := q.Next(0); !d.Saturated {
		t.Fatalf("RTT grown 100x is not saturation: %+v", d)
	}
}

// TestPacerSlowReader runs a real pion pair whose guest reads the screen
// channel only when the test lets it: the host's frames stay bounded by
// the in-flight budget (no queue grows without bound), quality and frame
// rate drop while the reader stalls, and come back once it reads again.
func TestPacerSlowReader(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	pr := newPair(t, ctx, loopbackConfig(), loopbackConfig(), 0)
	pr.waitConnected(t, ctx)
	g, h := pr.channels(t, ctx, wire.ChannelScreen)

	const frameBytes = 48 << 10
	pc := PacerConfig{HighWater: 256 << 10, MaxInFlight: 6, Qualities: []int{85, 60, 40}, ClearAfter: 5}
	p := NewPacer(pc)
	// The host reads acknowledgements.
	go func() {
		for {
			m, err := h.Recv(ctx)
			if err != nil {
				return
			}
			if a, ok := m.(*wire.FrameAck); ok {
				p.OnAck(a.Seq)
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
		d := p.Next(h.BufferedAmount())
		if !d.Send {
			p.WaitAck(ctx, 5*time.Millisecond)
			return d
		}
		seq++
		if err := h.Send(&wire.ScreenFrame{Seq: seq, Codec: wire.CodecTilesV2, Data: payload}); err != nil {
			t.Fatal(err)
		}
		p.OnSent(seq)
		maxBuffered = max(maxBuffered, h.BufferedAmount())
		maxInFlight = max(maxInFlight, p.InFlight())
		return d
	}

	// Phase 1: the reader keeps up (a token per frame).
	for range 3 {
		tokens <- 1
		step()
	}
	for p.InFlight() > 0 {
		p.WaitAck(ctx, time.Second)
	}
	// Phase 2: the reader stalls. 200 decisions, most refused.
	sentBefore := seq
	var last Decision
	refused := 0
	for range 200 {
		if last = step(); !last.Send {
			refused++
		}
	}
	if got := seq - sentBefore; got > uint32(pc.MaxInFlight) {
		t.Fatalf("%d frames sent to a stalled reader, budget %d", got, pc.MaxInFlight)
	}
	if maxInFlight > pc.MaxInFlight || maxBuffered > pc.HighWater+frameBytes+64 {
		t.Fatalf("queue grew: %d frames in flight, %d bytes buffered", maxInFlight, maxBuffered)
	}
	if refused < 190 || last.Quality != 40 || last.Interval <= time.Second/60 {
		t.Fatalf("stalled reader: %d of 200 refused, last decision %+v (want worst quality, longer interval)", refused, last)
	}
	// Phase 3: the reader drains and keeps up again; pacing recovers.
	for range 900 {
		tokens <- 1 // the reader reads whatever arrives
	}
	// A reader that keeps up: each frame is acknowledged before the next
	// one is due (what the pacer's interval gives a link that has room).
	for range 100 {
		last = step()
		for p.InFlight() > 0 {
			p.WaitAck(ctx, time.Second)
		}
	}
	if last.Quality != 85 || last.Interval != time.Second/60 {
		t.Fatalf("after the reader recovered: %+v", last)
	}
	close(tokens)
}
