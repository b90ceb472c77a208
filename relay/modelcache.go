package relay

import (
	"context"
	"sync"
	"time"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/store"
)

// modelCache keeps each account's indexed access model between requests:
// loading and indexing 10 000 role assignments costs about 100 ms, a
// decision on the indexed model about 50 µs.
//
// Staleness is bounded two ways. Every write request this relay serves
// (any method but GET and HEAD) invalidates the whole cache when it
// completes, and a model being loaded while such a write happens is not
// kept; writes by another process on the same database (the admin
// command, other relay nodes on PostgreSQL) are seen after at most ttl.
// Sessions already running are not affected by either, as before.
type modelCache struct {
	st  *store.Store
	ttl time.Duration // 0: no caching
	now func() time.Time

	mu      sync.Mutex
	gen     uint64
	entries map[string]cachedModel
}

type cachedModel struct {
	m      *policy.Model
	gen    uint64
	loaded time.Time
}

func newModelCache(st *store.Store, ttl time.Duration, now func() time.Time) *modelCache {
	return &modelCache{st: st, ttl: ttl, now: now, entries: map[string]cachedModel{}}
}

// model returns the account's model, loading it when missing or stale.
func (c *modelCache) model(ctx context.Context, accountID string) (*policy.Model, error) {
	c.mu.Lock()
	e, ok := c.entries[accountID]
	gen := c.gen
	c.mu.Unlock()
	if ok && e.gen == gen && c.now().Sub(e.loaded) < c.ttl {
		return e.m, nil
	}
	start := c.now()
	snap, err := c.st.Snapshot(ctx, accountID)
	if err != nil {
		return nil, err
	}
	m := policy.NewModel(snap)
	if c.ttl > 0 {
		c.mu.Lock()
		if c.gen == gen { // no write completed meanwhile
			c.entries[accountID] = cachedModel{m: m, gen: gen, loaded: start}
		}
		c.mu.Unlock()
	}
	return m, nil
}

// invalidate forgets every model: called after each write request.
func (c *modelCache) invalidate() {
	c.mu.Lock()
	c.gen++
	clear(c.entries)
	c.mu.Unlock()
}
