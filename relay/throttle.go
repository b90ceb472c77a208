package relay

import (
	"sync"
	"time"
)

// limiter is a set of token buckets keyed by caller (remote IP, IP+email).
// Callers check blocked before doing the work and call fail when the
// attempt was wrong, so honest traffic is never slowed down.
type limiter struct {
	mu    sync.Mutex
	burst float64
	every time.Duration
	now   func() time.Time
	m     map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(burst int, every time.Duration, now func() time.Time) *limiter {
	return &limiter{burst: float64(burst), every: every, now: now, m: make(map[string]*bucket)}
}

// refill brings b up to date; l.mu is held.
func (l *limiter) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(l.burst, b.tokens+float64(el)/float64(l.every))
		b.last = now
	}
}

// blocked reports whether key has no token left and how long until it has.
func (l *limiter) blocked(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[key]
	if b == nil {
		return false, 0
	}
	l.refill(b, l.now())
	if b.tokens >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - b.tokens) * float64(l.every))
}

// fail takes a token from key's bucket.
func (l *limiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.m[key]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.m[key] = b
	}
	l.refill(b, now)
	b.tokens = max(0, b.tokens-1)
}

// prune forgets buckets that have refilled completely.
func (l *limiter) prune() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for k, b := range l.m {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.m, k)
		}
	}
}
