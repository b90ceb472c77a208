package transport

import (
	"context"
	"sync"
	"time"
)

// PacerConfig tunes a Pacer; zero fields take the defaults.
type PacerConfig struct {
	// HighWater is the send buffer (bytes) at which no frame is sent at
	// all, whatever else the pacer knows. Default 512 KiB.
	HighWater uint64
	// MinInterval is the shortest time between frames (default 1/60 s);
	// MaxInterval the longest the pacer slows to (default 1/2 s).
	MinInterval, MaxInterval time.Duration
	// Qualities are the lossy tiles' qualities (0–100) from best to worst;
	// default {85, 60, 40}.
	Qualities []int
	// MaxInFlight bounds frames sent and not yet acknowledged by the guest
	// (default 2). A second frame goes out only once the first has left
	// the bottleneck by the bandwidth estimate, or its acknowledgement is
	// overdue, so at most about one frame ever waits in the link: the
	// pacer never builds a backlog, and the next frame is captured as late
	// as possible (the newest screen). A guest that never acknowledges is
	// paced by the buffered amount alone (NoAckMark).
	MaxInFlight int
	// FrameTime is the share of the link one frame may take (default
	// 20 ms): frames longer than that at the estimated bandwidth lower
	// the quality, and stretch the interval.
	FrameTime time.Duration
	// NoAckMark is the buffered amount under which a guest that has never
	// acknowledged a frame gets the next one (default 64 KiB).
	NoAckMark uint64
	// ForgetAfter is when a frame never acknowledged stops counting as in
	// flight (default 3 s): a guest that stopped acknowledging is then
	// paced by HighWater, never stopped.
	ForgetAfter time.Duration
	// ClearAfter is how many frames in a row well under FrameTime raise
	// the quality one step (default 10): drop fast, recover slowly.
	ClearAfter int
}

// Pacer paces a screen stream by what the link shows: the guest's frame
// acknowledgements (delivery time of each frame, hence the bandwidth), the
// round-trip time (pings, and acks of small frames) and the data channel's
// buffered amount. It holds no clock: callers pass the time with each
// observation, so the policy is tested deterministically. Safe for
// concurrent use.
type Pacer struct {
	cfg PacerConfig

	mu      sync.Mutex
	flight  []flightFrame // sent, not acknowledged, oldest first
	ackSeen bool
	lastAck time.Time // when the last acknowledgement came
	srtt    time.Duration
	minRTT  time.Duration
	bw      []bwSample // recent delivery samples
	level   int        // index into Qualities
	clear   int
	last    int // bytes of the last frame sent
	ackc    chan struct{}
}

// bwSample is a frame's bytes and the time it took at the bottleneck (its
// delivery time less the RTT).
type bwSample struct{ bytes, secs float64 }

type flightFrame struct {
	seq   uint32
	bytes int
	at    time.Time
}

// bwSamples is how many frames the estimate spans: their bytes over their
// time at the bottleneck (a ratio of sums, so one frame's jitter in a
// short delivery does not swing it).
const bwSamples = 10

// minSampleBytes: smaller frames take about one RTT whatever the rate and
// say nothing about it.
const minSampleBytes = 6 << 10

// Decision is what the sender does next.
type Decision struct {
	// Send: capture, encode and send a frame now. Otherwise wait (WaitAck
	// with Wait) and ask again: the link still holds the last frame.
	Send bool
	// Wait is how long to wait at most before asking again when !Send.
	Wait time.Duration
	// Interval is the least time from this frame to the next one.
	Interval time.Duration
	// Quality is the lossy tiles' quality for this frame.
	Quality int
	// Budget is the bytes a frame may take (FrameTime at the estimated
	// bandwidth; 0 while there is no estimate), for a codec that can aim
	// at a size.
	Budget int
	// Saturated: the link looked saturated at this decision.
	Saturated bool
}

// NewPacer returns a Pacer at its best quality.
func NewPacer(cfg PacerConfig) *Pacer {
	if cfg.HighWater == 0 {
		cfg.HighWater = 512 << 10
	}
	if cfg.MinInterval <= 0 {
		cfg.MinInterval = time.Second / 60
	}
	if cfg.MaxInterval < cfg.MinInterval {
		cfg.MaxInterval = max(time.Second/2, cfg.MinInterval)
	}
	if len(cfg.Qualities) == 0 {
		cfg.Qualities = []int{85, 60, 40}
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 2
	}
	if cfg.FrameTime <= 0 {
		cfg.FrameTime = 20 * time.Millisecond
	}
	if cfg.NoAckMark == 0 {
		cfg.NoAckMark = 64 << 10
	}
	if cfg.ForgetAfter <= 0 {
		cfg.ForgetAfter = 3 * time.Second
	}
	if cfg.ClearAfter <= 0 {
		cfg.ClearAfter = 10
	}
	return &Pacer{cfg: cfg, ackc: make(chan struct{}, 1)}
}

// OnSent records that frame seq of n bytes was sent at now.
func (p *Pacer) OnSent(seq uint32, n int, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.flight = append(p.flight, flightFrame{seq: seq, bytes: n, at: now})
	if len(p.flight) > 64 { // a guest acknowledging nothing: keep the newest
		p.flight = p.flight[len(p.flight)-64:]
	}
	p.last = n
	// Quality follows the frames' size at the link's rate: drop one step
	// for a frame over FrameTime, recover a step after ClearAfter frames
	// under a third of it.
	if tx, ok := p.txTime(n); ok {
		switch {
		case tx > p.cfg.FrameTime:
			p.level = min(p.level+1, len(p.cfg.Qualities)-1)
			p.clear = 0
		case tx < p.cfg.FrameTime/3:
			if p.clear++; p.clear >= p.cfg.ClearAfter && p.level > 0 {
				p.level--
				p.clear = 0
			}
		default:
			p.clear = 0
		}
	}
}

// OnAck records the guest's acknowledgement (FrameAck) of frame seq at
// now: the frame and every earlier one are delivered. It wakes WaitAck.
func (p *Pacer) OnAck(seq uint32, now time.Time) {
	p.mu.Lock()
	p.ackSeen = true
	i := 0
	for ; i < len(p.flight) && int32(p.flight[i].seq-seq) <= 0; i++ {
		f := p.flight[i]
		if f.seq != seq {
			continue // acknowledged by a later frame's ack: no timing
		}
		took := now.Sub(f.at)
		if took <= 0 {
			continue
		}
		if f.bytes < minSampleBytes/4 {
			p.rttSample(took) // a small frame's delivery is a round trip
		}
		// A frame's time at the bottleneck: from when it could start
		// (its send plus one round trip, in acknowledgement time) or
		// when the frame before it was done (that frame's ack), whichever
		// is later, to its own ack.
		if f.bytes >= minSampleBytes && p.minRTT > 0 {
			start := f.at.Add(p.minRTT)
			if p.lastAck.After(start) {
				start = p.lastAck
			}
			if tx := now.Sub(start); tx > time.Millisecond {
				p.bw = append(p.bw, bwSample{float64(f.bytes), tx.Seconds()})
				if len(p.bw) > bwSamples {
					p.bw = p.bw[1:]
				}
			}
		}
		p.lastAck = now
	}
	p.flight = p.flight[i:]
	p.mu.Unlock()
	select {
	case p.ackc <- struct{}{}:
	default:
	}
}

// OnRTT records one round-trip sample (a Ping's Pong).
func (p *Pacer) OnRTT(d time.Duration) {
	if d <= 0 {
		return
	}
	p.mu.Lock()
	p.rttSample(d)
	p.mu.Unlock()
}

func (p *Pacer) rttSample(d time.Duration) {
	if p.minRTT == 0 || d < p.minRTT {
		p.minRTT = d
	}
	if p.srtt == 0 {
		p.srtt = d
	} else {
		p.srtt = (7*p.srtt + d) / 8 // RFC 6298's smoothing
	}
}

// Bandwidth is the estimated bottleneck rate in bytes per second (0: no
// estimate yet).
func (p *Pacer) Bandwidth() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bandwidth()
}

func (p *Pacer) bandwidth() float64 {
	var bytes, secs float64
	for _, s := range p.bw {
		bytes += s.bytes
		secs += s.secs
	}
	if secs <= 0 {
		return 0
	}
	return bytes / secs
}

// RTT is the smallest round trip seen (0: none yet).
func (p *Pacer) RTT() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.minRTT
}

// txTime is how long n bytes take at the estimated bandwidth.
func (p *Pacer) txTime(n int) (time.Duration, bool) {
	bw := p.bandwidth()
	if bw <= 0 {
		return 0, false
	}
	return time.Duration(float64(n) / bw * float64(time.Second)), true
}

// InFlight is the number of frames sent and not yet acknowledged.
func (p *Pacer) InFlight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.flight)
}

// Next decides about the next frame at now, given the screen channel's
// buffered amount.
func (p *Pacer) Next(now time.Time, buffered uint64) Decision {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := Decision{Quality: p.cfg.Qualities[p.level], Interval: p.cfg.MinInterval}
	if bw := p.bandwidth(); bw > 0 {
		d.Budget = int(bw * p.cfg.FrameTime.Seconds())
	}
	// The frame rate follows the link: the next frame no sooner than the
	// last one takes at the bottleneck, with a quarter to spare for the
	// other channels (input echo, cursor, acknowledgements).
	if tx, ok := p.txTime(p.last); ok {
		d.Interval = min(max(d.Interval, tx*5/4), p.cfg.MaxInterval)
	}
	// A queue of the link's own making: the smoothed RTT over twice the
	// best plus 20 ms.
	queued := p.minRTT > 0 && p.srtt > 2*p.minRTT+20*time.Millisecond
	d.Saturated = queued || p.level > 0
	d.Send, d.Wait = p.gate(now, buffered)
	return d
}

// gate says whether a frame may go now, else how long to wait at most.
func (p *Pacer) gate(now time.Time, buffered uint64) (bool, time.Duration) {
	const recheck = 100 * time.Millisecond
	if buffered >= p.cfg.HighWater {
		return false, recheck
	}
	if !p.ackSeen {
		// A guest that does not acknowledge (yet): only what the data
		// channel holds says the link is busy.
		if buffered < p.cfg.NoAckMark || len(p.flight) == 0 {
			return true, 0
		}
		return false, recheck
	}
	for len(p.flight) > 0 && now.Sub(p.flight[0].at) > p.cfg.ForgetAfter {
		p.flight = p.flight[1:]
	}
	if len(p.flight) == 0 {
		return true, 0
	}
	if len(p.flight) >= p.cfg.MaxInFlight {
		return false, recheck
	}
	// One frame in flight: a second may follow once the first has left
	// the bottleneck (it then waits behind nothing) or its acknowledgement
	// is overdue (a lost packet: new data makes the receiver report the
	// gap, which retransmits it sooner than a timeout).
	newest, oldest := p.flight[len(p.flight)-1], p.flight[0]
	rtt := max(p.srtt, p.minRTT)
	overdue := oldest.at.Add(2*rtt + p.cfg.FrameTime)
	if tx, ok := p.txTime(oldest.bytes); ok {
		overdue = overdue.Add(tx)
	}
	if rtt > 0 && !now.Before(overdue) {
		return true, 0
	}
	if tx, ok := p.txTime(newest.bytes); ok {
		if left := newest.at.Add(tx); !now.Before(left) {
			return true, 0
		} else if rtt == 0 || left.Before(overdue) {
			return false, left.Sub(now)
		}
	}
	if rtt > 0 {
		return false, max(overdue.Sub(now), time.Millisecond)
	}
	return false, recheck
}

// WaitAck blocks until an acknowledgement arrives after the call (or one
// arrived since the last WaitAck), ctx ends, or timeout passes (so a guest
// that stops acknowledging delays frames, never stops them).
func (p *Pacer) WaitAck(ctx context.Context, timeout time.Duration) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.ackc:
	case <-ctx.Done():
	case <-t.C:
	}
}
