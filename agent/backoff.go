package agent

import (
	"math/rand/v2"
	"time"
)

// backoff spaces reconnection attempts with "full jitter": the n-th retry
// (from 0) waits a uniformly random time in [0, min(max, base·2ⁿ)]. After
// a relay restart its Hosts spread over the whole window from the first
// retry instead of arriving together at 1, 2, 4, 8 s.
type backoff struct {
	base, max time.Duration
	// rand returns a uniform value in [0, n); nil: math/rand/v2.
	rand    func(n int64) int64
	attempt int
}

func newBackoff() *backoff { return &backoff{base: time.Second, max: time.Minute} }

// next returns the wait before the next attempt and counts it.
func (b *backoff) next() time.Duration {
	ceiling := b.max
	if b.attempt < 32 && b.base<<b.attempt < b.max { // no overflow
		ceiling = b.base << b.attempt
	}
	b.attempt++
	r := rand.Int64N
	if b.rand != nil {
		r = b.rand
	}
	return time.Duration(r(int64(ceiling) + 1))
}

// reset starts again from the smallest window (a connection that lasted).
func (b *backoff) reset() { b.attempt = 0 }
