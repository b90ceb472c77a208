// Package linkemu emulates a network link in user space (tc netem is not
// available on these machines): a bottleneck of a given rate with a
// drop-tail queue, a one-way propagation delay and random loss. Net wraps
// pion's stdnet so that a pion peer (webrtc.SettingEngine.SetNet) sends
// every UDP datagram through one shaped direction of the link; two Nets,
// one per peer, make a two-way link between real loopback sockets.
//
// The model is a serialisation queue: a datagram of n bytes occupies the
// bottleneck for n*8/Rate seconds after the datagrams before it, then
// arrives Delay later. That is a token bucket whose burst is one datagram,
// followed by a fixed delay line. The queue holds at most Queue bytes of
// datagrams waiting for the bottleneck; more are dropped, as a router does.
package linkemu

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Config is one direction of a link; zero fields mean "no limit".
type Config struct {
	// Rate is the bottleneck in bits per second (0: unlimited).
	Rate int64
	// Delay is the one-way propagation delay (half the RTT of a
	// symmetric link).
	Delay time.Duration
	// Loss is the probability that a datagram is lost on the wire (it
	// still used its share of the bottleneck).
	Loss float64
	// Queue is how many bytes may wait for the bottleneck before arriving
	// datagrams are dropped. Default: 100 ms at Rate, at least 64 KiB
	// (a home router's buffer: enough to build a backlog, not to hide one).
	Queue int
	// Seed makes the loss pattern reproducible (0: a fixed default seed).
	Seed uint64
}

func (c Config) queue() int {
	if c.Queue > 0 {
		return c.Queue
	}
	return max(64<<10, int(c.Rate/8/10))
}

// Verdict is what the link does with one datagram.
type Verdict int

// Verdicts of Shaper.Admit.
const (
	Delivered Verdict = iota // arrives at the returned time
	Lost                     // lost on the wire (random loss)
	Dropped                  // the queue was full (tail drop)
)

// Stats counts what a direction of the link did; Bytes are the bytes of
// the datagrams delivered.
type Stats struct {
	Delivered, Lost, Dropped int
	Bytes                    int64
}

// Shaper is the link model of one direction, without a clock: callers pass
// the time a datagram is offered and get the time it arrives, so the model
// is tested in virtual time. Safe for concurrent use.
type Shaper struct {
	cfg Config

	mu    sync.Mutex
	rng   *rand.Rand
	busy  time.Time // the bottleneck is busy with earlier datagrams until then
	stats Stats
}

// NewShaper returns a shaper for one direction.
func NewShaper(cfg Config) *Shaper {
	seed := cfg.Seed
	if seed == 0 {
		seed = 0x7a6e646d
	}
	return &Shaper{cfg: cfg, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Admit offers a datagram of n bytes at now and says what becomes of it and,
// when Delivered, when it arrives.
func (s *Shaper) Admit(now time.Time, n int) (time.Time, Verdict) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := now
	if s.busy.After(now) {
		start = s.busy
	}
	var tx time.Duration
	if s.cfg.Rate > 0 {
		// Waiting bytes: the bottleneck time still owed, at the rate.
		waiting := int64(start.Sub(now)) * s.cfg.Rate / 8 / int64(time.Second)
		if waiting+int64(n) > int64(s.cfg.queue()) {
			s.stats.Dropped++
			return time.Time{}, Dropped
		}
		tx = time.Duration(int64(n) * 8 * int64(time.Second) / s.cfg.Rate)
	}
	s.busy = start.Add(tx)
	if s.cfg.Loss > 0 && s.rng.Float64() < s.cfg.Loss {
		s.stats.Lost++
		return time.Time{}, Lost
	}
	s.stats.Delivered++
	s.stats.Bytes += int64(n)
	return s.busy.Add(s.cfg.Delay), Delivered
}

// Stats returns the counts so far.
func (s *Shaper) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}
