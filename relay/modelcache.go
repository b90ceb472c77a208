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
//
// Loads are single-flight per account and generation: requests arriving
// while the account's model is being loaded wait for that load instead of
// each starting their own (a stampede of reloads every ttl under load).
// A request arriving after a write joins only a load started after it.
type modelCache struct {
	ttl  time.Duration // 0: no caching
	now  func() time.Time
	load func(ctx context.Context, accountID string) (policy.Snapshot, error)

	mu      sync.Mutex
	gen     uint64
	entries map[string]cachedModel
	flights map[flightKey]*modelFlight
	changed func() // set once, before use: tells the other relay nodes
}

// loadTimeout bounds one model load (it no longer ends with its request).
const loadTimeout = 30 * time.Second

type cachedModel struct {
	m      *policy.Model
	gen    uint64
	loaded time.Time
}

type flightKey struct {
	account string
	gen     uint64
}

// modelFlight is one load in progress; done is closed when m or err is set.
type modelFlight struct {
	done    chan struct{}
	m       *policy.Model
	err     error
	waiters int // requests waiting on this load (tests poll it)
}

func newModelCache(st *store.Store, ttl time.Duration, now func() time.Time) *modelCache {
	return &modelCache{ttl: ttl, now: now, load: st.Snapshot,
		entries: map[string]cachedModel{}, flights: map[flightKey]*modelFlight{}}
}

// model returns the account's model, loading it when missing or stale.
func (c *modelCache) model(ctx context.Context, accountID string) (*policy.Model, error) {
	c.mu.Lock()
	gen := c.gen
	if e, ok := c.entries[accountID]; ok && e.gen == gen && c.now().Sub(e.loaded) < c.ttl {
		c.mu.Unlock()
		return e.m, nil
	}
	key := flightKey{accountID, gen}
	f, joined := c.flights[key]
	if joined {
		f.waiters++
	} else {
		f = &modelFlight{done: make(chan struct{})}
		c.flights[key] = f
	}
	c.mu.Unlock()
	if joined {
		select {
		case <-f.done:
			return f.m, f.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}

	// The leader's cancellation must not fail the requests waiting on it;
	// the load is still bounded.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
	defer cancel()
	start := c.now()
	snap, err := c.load(lctx, accountID)
	if err == nil {
		f.m = policy.NewModel(snap)
	}
	f.err = err
	c.mu.Lock()
	delete(c.flights, key)
	if err == nil && c.ttl > 0 && c.gen == gen { // no write completed meanwhile
		c.entries[accountID] = cachedModel{m: f.m, gen: gen, loaded: start}
	}
	c.mu.Unlock()
	close(f.done)
	return f.m, f.err
}

// invalidate forgets every model: called after each write request. With
// other nodes (changed set), they are told to forget theirs.
func (c *modelCache) invalidate() {
	c.drop()
	if c.changed != nil {
		c.changed()
	}
}

// drop forgets every model here.
func (c *modelCache) drop() {
	c.mu.Lock()
	c.gen++
	clear(c.entries)
	c.mu.Unlock()
}
