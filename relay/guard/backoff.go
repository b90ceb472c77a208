package guard

import (
	"sync"
	"time"
)

// Backoff counts failures per (user, source) pair: the first Free
// failures cost nothing, each further one blocks the pair for Base,
// doubling up to Max. A pair quiet for Forget is forgotten, as is a pair
// that succeeds. One source's failures never block another source, so an
// anonymous guesser cannot lock a user out of their own address.
type Backoff struct {
	Free   int
	Base   time.Duration
	Max    time.Duration
	Forget time.Duration
	// MaxPairs bounds memory: when full, the pair quiet the longest goes.
	MaxPairs int
	Now      func() time.Time

	mu sync.Mutex
	m  map[Pair]*strikes
}

// Pair is a user (normalised login name) and a Source.
type Pair struct{ User, Source string }

type strikes struct {
	n     int
	last  time.Time
	until time.Time
}

func (b *Backoff) init() {
	if b.m == nil {
		b.m = make(map[Pair]*strikes)
	}
}

// Blocked reports whether p must wait, and how long.
func (b *Backoff) Blocked(p Pair) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.m[p]
	if s == nil {
		return false, 0
	}
	if d := s.until.Sub(b.Now()); d > 0 {
		return true, d
	}
	return false, 0
}

// Fail counts a failure of p and returns how long p is now blocked.
func (b *Backoff) Fail(p Pair) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.init()
	now := b.Now()
	s := b.m[p]
	if s == nil {
		if len(b.m) >= b.MaxPairs {
			b.evict(now)
		}
		s = &strikes{}
		b.m[p] = s
	}
	s.n++
	s.last = now
	if s.n < b.Free {
		return 0
	}
	d := b.Base
	for i := b.Free; i < s.n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	s.until = now.Add(d)
	return d
}

// evict makes room: forgotten pairs first, else the one quiet longest.
func (b *Backoff) evict(now time.Time) {
	var oldest Pair
	var at time.Time
	for p, s := range b.m {
		if now.Sub(s.last) >= b.Forget && !now.Before(s.until) {
			delete(b.m, p)
			continue
		}
		if at.IsZero() || s.last.Before(at) {
			oldest, at = p, s.last
		}
	}
	if len(b.m) >= b.MaxPairs {
		delete(b.m, oldest)
	}
}

// Succeeded forgets p's failures.
func (b *Backoff) Succeeded(p Pair) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, p)
}

// ForgetUser lifts every source's block on user (an administrator's
// unlock).
func (b *Backoff) ForgetUser(user string) {
	b.ForgetUserBefore(user, time.Time{})
}

// ForgetUserBefore forgets user's pairs whose last failure is not after
// t (zero t: all of them): an unlock recorded by another process, to the
// millisecond.
func (b *Backoff) ForgetUserBefore(user string, t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for p, s := range b.m {
		if p.User == user && (t.IsZero() || !s.last.Truncate(time.Millisecond).After(t)) {
			delete(b.m, p)
		}
	}
}

// Prune forgets pairs quiet for Forget and no longer blocked.
func (b *Backoff) Prune() {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.Now()
	for p, s := range b.m {
		if now.Sub(s.last) >= b.Forget && !now.Before(s.until) {
			delete(b.m, p)
		}
	}
}

// Len is the number of pairs remembered.
func (b *Backoff) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}
