package guard

import (
	"context"
	"sync/atomic"
	"time"
)

// Gate caps concurrent expensive work, such as argon2id hashes (19 MiB
// each): at most slots run at once and at most queue wait; a caller
// beyond that gets ErrBusy at once. Memory stays near slots × the work's
// footprint whatever the number of concurrent requests.
type Gate struct {
	slots   chan struct{}
	queue   int64
	maxWait time.Duration
	waiting atomic.Int64
	ran     atomic.Int64
}

// NewGate returns a gate of slots concurrent runs and queue waiters, who
// wait at most maxWait.
func NewGate(slots, queue int, maxWait time.Duration) *Gate {
	return &Gate{slots: make(chan struct{}, max(1, slots)), queue: int64(max(0, queue)), maxWait: maxWait}
}

// Do runs fn when a slot is free: ErrBusy when the queue is full or the
// wait is too long, ctx's error when the caller went away.
func (g *Gate) Do(ctx context.Context, fn func()) error {
	select {
	case g.slots <- struct{}{}:
	default:
		if g.waiting.Add(1) > g.queue {
			g.waiting.Add(-1)
			return ErrBusy
		}
		t := time.NewTimer(g.maxWait)
		select {
		case g.slots <- struct{}{}:
			g.waiting.Add(-1)
			t.Stop()
		case <-t.C:
			g.waiting.Add(-1)
			return ErrBusy
		case <-ctx.Done():
			g.waiting.Add(-1)
			t.Stop()
			return ctx.Err()
		}
	}
	defer func() { <-g.slots }()
	g.ran.Add(1)
	fn()
	return nil
}

// Ran is how many times Do ran its work (for tests and metrics).
func (g *Gate) Ran() int64 { return g.ran.Load() }
