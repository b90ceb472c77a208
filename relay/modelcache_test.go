package relay

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/store"
)

// TestModelCacheSingleFlight: requests arriving while an account's expired
// model reloads wait for that one load (no stampede), all get its model,
// and a request after a write does not join a load started before it.
func TestModelCacheSingleFlight(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir()+"/m.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	acct, err := st.CreateAccount(ctx, store.Account{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	c := newModelCache(st, time.Second, clock)
	var loads atomic.Int32
	release := make(chan struct{})
	c.load = func(ctx context.Context, id string) (policy.Snapshot, error) {
		loads.Add(1)
		<-release
		return st.Snapshot(ctx, id)
	}
	close(release)
	if _, err := c.model(ctx, acct.ID); err != nil { // warm
		t.Fatal(err)
	}
	advance(2 * time.Second) // expired
	release = make(chan struct{})
	loads.Store(0)

	const n = 32
	models := make([]*policy.Model, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := c.model(ctx, acct.ID)
			if err != nil {
				t.Error(err)
			}
			models[i] = m
		}()
	}
	// Wait (bounded) until one request loads and the others wait on it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		f := c.flights[flightKey{acct.ID, c.gen}]
		waiting := 0
		if f != nil {
			waiting = f.waiters
		}
		c.mu.Unlock()
		if waiting == n-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests waiting on one load, %d loads, want %d waiting", waiting, loads.Load(), n-1)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if got := loads.Load(); got != 1 {
		t.Fatalf("%d store loads for %d concurrent requests, want 1", got, n)
	}
	for i, m := range models {
		if m == nil || m != models[0] {
			t.Fatalf("request %d got another model", i)
		}
	}
	// Fresh again: no load at all.
	if _, err := c.model(ctx, acct.ID); err != nil || loads.Load() != 1 {
		t.Fatalf("a fresh model was reloaded: %v, %d loads", err, loads.Load())
	}

	// A write during a load: a request after the write starts its own load
	// and that load's model is the one kept.
	c.invalidate()
	gate := make(chan struct{})
	c.load = func(ctx context.Context, id string) (policy.Snapshot, error) {
		if loads.Add(1) == 2 {
			<-gate // the first load after the invalidation is held
		}
		return st.Snapshot(ctx, id)
	}
	first := make(chan *policy.Model)
	go func() { m, _ := c.model(ctx, acct.ID); first <- m }()
	for deadline := time.Now().Add(10 * time.Second); loads.Load() < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first load never started")
		}
	}
	c.invalidate() // a write completes while the first load is held
	second, err := c.model(ctx, acct.ID)
	if err != nil || loads.Load() != 3 {
		t.Fatalf("a request after a write joined the load started before it: %v, %d loads", err, loads.Load())
	}
	close(gate)
	if m := <-first; m == nil || m == second {
		t.Fatal("the held load returned the later model")
	}
	if m, _ := c.model(ctx, acct.ID); m != second || loads.Load() != 3 {
		t.Fatalf("the model loaded before the write was kept (%d loads)", loads.Load())
	}
}

// TestModelCacheWaiterCancel: a waiting request gives up with its own
// context; the load goes on for the others.
func TestModelCacheWaiterCancel(t *testing.T) {
	c := newModelCache(nil, time.Second, time.Now)
	release := make(chan struct{})
	c.load = func(context.Context, string) (policy.Snapshot, error) { <-release; return policy.Snapshot{}, nil }
	done := make(chan error, 1)
	go func() { _, err := c.model(context.Background(), "a"); done <- err }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		c.mu.Lock()
		n := len(c.flights)
		c.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no load started")
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.model(ctx, "a"); err != context.Canceled {
		t.Fatalf("a cancelled waiter: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
