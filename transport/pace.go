package transport

import (
	"context"
	"sync"
	"time"
)

// PacerConfig tunes a Pacer; zero fields take the defaults.
type PacerConfig struct {
	// HighWater is the send buffer (bytes) at which no frame is sent at
	// all; from half of it on the link counts as saturated. Default 512 KiB.
	HighWater uint64
	// MinInterval is the shortest time between frames (default 1/60 s);
	// MaxInterval the longest the pacer slows to (default 1/4 s).
	MinInterval, MaxInterval time.Duration
	// Qualities are the lossy tiles' JPEG qualities from best to worst;
	// default {85, 60, 40}.
	Qualities []int
	// MaxInFlight bounds frames sent but not yet acknowledged by the
	// guest (default 8), so frames never wait in buffers for a slow
	// reader; it applies once the guest has acknowledged a frame (a
	// guest that never acknowledges is paced by the buffer alone).
	MaxInFlight int
	// ClearAfter is how many clear decisions in a row undo one step
	// (default 30, half a second at 60 fps): drop fast, recover slowly.
	ClearAfter int
}

// Pacer picks the frame rate and the lossy quality of a screen stream from
// what the link shows: the data channel's buffered amount, the frames sent
// but not yet acknowledged, and the round-trip time (pings on the control
// channel share the SCTP association with the screen, so a queue behind
// the screen channel shows as a longer RTT). It holds no clock: callers
// feed it observations and ask for a Decision, so its policy is tested
// deterministically. Safe for concurrent use.
//
// Policy: a level from 0 (best quality, fastest rate) upwards. Each
// saturated decision steps one level down (worse quality first, then
// longer intervals, doubling), each run of ClearAfter clear decisions one
// level back up.
type Pacer struct {
	cfg PacerConfig

	mu           sync.Mutex
	level, clear int
	sent, acked  uint32
	ackSeen      bool
	srtt, minRTT time.Duration
	ackc         chan struct{}
}

// Decision is what the sender does next.
type Decision struct {
	Send      bool          // false: the link is full; wait (WaitAck, WaitBuffered) and ask again
	Interval  time.Duration // at least this long after this frame before the next one
	Quality   int           // JPEG quality for lossy tiles
	Saturated bool          // the link looked saturated at this decision
}

// NewPacer returns a Pacer at its best level.
func NewPacer(cfg PacerConfig) *Pacer {
	if cfg.HighWater == 0 {
		cfg.HighWater = 512 << 10
	}
	if cfg.MinInterval <= 0 {
		cfg.MinInterval = time.Second / 60
	}
	if cfg.MaxInterval < cfg.MinInterval {
		cfg.MaxInterval = max(time.Second/4, cfg.MinInterval)
	}
	if len(cfg.Qualities) == 0 {
		cfg.Qualities = []int{85, 60, 40}
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 8
	}
	if cfg.ClearAfter <= 0 {
		cfg.ClearAfter = 30
	}
	return &Pacer{cfg: cfg, ackc: make(chan struct{}, 1)}
}

// OnSent records that frame seq was sent.
func (p *Pacer) OnSent(seq uint32) {
	p.mu.Lock()
	p.sent = seq
	p.mu.Unlock()
}

// OnAck records the guest's acknowledgement of frame seq (FrameAck) and
// wakes WaitAck.
func (p *Pacer) OnAck(seq uint32) {
	p.mu.Lock()
	if int32(seq-p.acked) > 0 {
		p.acked = seq
	}
	p.ackSeen = true
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
	defer p.mu.Unlock()
	if p.minRTT == 0 || d < p.minRTT {
		p.minRTT = d
	}
	if p.srtt == 0 {
		p.srtt = d
	} else {
		p.srtt = (7*p.srtt + d) / 8 // RFC 6298's smoothing
	}
}

// InFlight is the number of frames sent and not yet acknowledged.
func (p *Pacer) InFlight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inFlight()
}

func (p *Pacer) inFlight() int { return int(int32(p.sent - p.acked)) }

// Next decides about the next frame given the screen channel's buffered
// amount.
func (p *Pacer) Next(buffered uint64) Decision {
	p.mu.Lock()
	defer p.mu.Unlock()
	full := buffered >= p.cfg.HighWater || (p.ackSeen && p.inFlight() >= p.cfg.MaxInFlight)
	// RTT inflation: a queue of its own making when the smoothed RTT is
	// over twice the best seen plus 20 ms (loopback's RTT is ~0).
	queued := p.minRTT > 0 && p.srtt > 2*p.minRTT+20*time.Millisecond
	// Half the frame budget in flight: the reader lags, or the RTT spans
	// several frames (a long link at a high rate): either way, slow down.
	saturated := full || buffered >= p.cfg.HighWater/2 || queued ||
		(p.ackSeen && p.inFlight() >= (p.cfg.MaxInFlight+1)/2)
	maxLevel := len(p.cfg.Qualities) - 1
	for iv := p.cfg.MinInterval; iv < p.cfg.MaxInterval; iv *= 2 {
		maxLevel++
	}
	if saturated {
		p.clear = 0
		p.level = min(p.level+1, maxLevel)
	} else if p.clear++; p.clear >= p.cfg.ClearAfter && p.level > 0 {
		p.clear = 0
		p.level--
	}
	return Decision{Send: !full, Interval: p.interval(), Quality: p.quality(), Saturated: saturated}
}

func (p *Pacer) quality() int {
	return p.cfg.Qualities[min(p.level, len(p.cfg.Qualities)-1)]
}

func (p *Pacer) interval() time.Duration {
	iv := p.cfg.MinInterval
	for range max(0, p.level-(len(p.cfg.Qualities)-1)) {
		iv *= 2
	}
	return min(iv, p.cfg.MaxInterval)
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
