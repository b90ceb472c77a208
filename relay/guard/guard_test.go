package guard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// eventually polls cond (state another goroutine changes, with no event
// to wait on) with a bound.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in time")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSource(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":                      "192.0.2.7",
		"::ffff:192.0.2.7":               "192.0.2.7",
		"2001:db8:1:2::1":                "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff:ffff:ff": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":                "2001:db8:1:3::/64",
		"fe80::1%eth0":                   "fe80::/64",
		"not an address":                 "not an address",
	} {
		if got := Source(in); got != want {
			t.Errorf("Source(%q) = %q, want %q", in, got, want)
		}
	}
}

// At most slots run at once, at most queue wait, the rest are told to
// come back: the memory of the work stays bounded.
func TestGateBounds(t *testing.T) {
	g := NewGate(2, 3, time.Minute)
	release := make(chan struct{})
	var running, peak atomic.Int64
	var started sync.WaitGroup
	errs := make(chan error, 20)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			once := sync.OnceFunc(started.Done)
			defer once()
			errs <- g.Do(context.Background(), func() {
				once()
				n := running.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				<-release
				running.Add(-1)
			})
		}()
	}
	// Everyone either runs, waits or was refused before we let go; the
	// 15 refused ones have returned.
	busy := 0
	for busy < 15 {
		if err := <-errs; errors.Is(err, ErrBusy) {
			busy++
		} else {
			t.Fatalf("early answer %v", err)
		}
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a queued caller got %v", err)
		}
	}
	if peak.Load() > 2 || g.Ran() != 5 {
		t.Fatalf("peak %d running, %d ran; want ≤ 2 and 5", peak.Load(), g.Ran())
	}
}

func TestGateCallerGone(t *testing.T) {
	g := NewGate(1, 1, time.Minute)
	hold := make(chan struct{})
	go g.Do(context.Background(), func() { <-hold })
	defer close(hold)
	eventually(t, func() bool { return len(g.slots) == 1 }) // the holder has its slot
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Do(ctx, func() { t.Error("ran for a caller who left") }); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

// One holder per key; waiters beyond the bound are refused; keys vanish
// when released.
func TestSerial(t *testing.T) {
	s := NewSerial(2)
	ctx := context.Background()
	unlock, err := s.Lock(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.Lock(ctx, "b") // another key is independent
	if err != nil {
		t.Fatal(err)
	}
	other()
	var inside atomic.Int64
	var wg sync.WaitGroup
	got := make(chan error, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := s.Lock(ctx, "a")
			got <- err
			if err == nil {
				if inside.Add(1) != 1 {
					t.Error("two holders at once")
				}
				inside.Add(-1)
				u()
			}
		}()
	}
	eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.m["a"].users == 3 // the holder and both waiters
	})
	if _, err := s.Lock(ctx, "a"); !errors.Is(err, ErrBusy) {
		t.Fatalf("third waiter: %v", err)
	}
	unlock()
	unlock() // idempotent
	wg.Wait()
	if s.Len() != 0 {
		t.Fatalf("%d keys left", s.Len())
	}
}

func TestBackoffGrowsAndForgets(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	b := &Backoff{Free: 3, Base: 30 * time.Second, Max: 4 * time.Minute, Forget: time.Hour, MaxPairs: 3,
		Now: func() time.Time { return now }}
	p := Pair{"u@example.com", "192.0.2.1"}
	var delays []time.Duration
	for range 7 {
		if blocked, _ := b.Blocked(p); blocked {
			t.Fatal("blocked before its delay")
		}
		d := b.Fail(p)
		delays = append(delays, d)
		now = now.Add(d)
	}
	want := []time.Duration{0, 0, 30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 4 * time.Minute}
	if fmt.Sprint(delays) != fmt.Sprint(want) {
		t.Fatalf("delays %v, want %v", delays, want)
	}
	b.Fail(p)
	if blocked, _ := b.Blocked(Pair{p.User, "192.0.2.2"}); blocked {
		t.Fatal("another source is blocked")
	}
	// An unlock recorded at or after the last failure lifts it.
	b.ForgetUserBefore(p.User, now.Add(-time.Second))
	if blocked, _ := b.Blocked(p); !blocked {
		t.Fatal("an unlock older than the failure lifted it")
	}
	b.ForgetUserBefore(p.User, now)
	if blocked, _ := b.Blocked(p); blocked {
		t.Fatal("unlock did not lift it")
	}
	// Bounded: the pair quiet the longest goes.
	for i := range 5 {
		now = now.Add(time.Second)
		b.Fail(Pair{"x", fmt.Sprint(i)})
	}
	if b.Len() != 3 {
		t.Fatalf("%d pairs, want 3", b.Len())
	}
	now = now.Add(2 * time.Hour)
	b.Prune()
	if b.Len() != 0 {
		t.Fatalf("%d pairs after the quiet time", b.Len())
	}
}

func TestKnown(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	k := &Known{PerUser: 2, MaxUsers: 2, TTL: time.Hour, Now: func() time.Time { return now }}
	k.Add("a", "s1")
	k.Add("a", "s2")
	k.Add("a", "s3") // s1 goes
	if k.Has("a", "s1") || !k.Has("a", "s2") || !k.Has("a", "s3") || k.Has("b", "s2") {
		t.Fatal("per-user bound")
	}
	now = now.Add(time.Minute)
	k.Add("b", "s1")
	now = now.Add(time.Minute)
	k.Add("c", "s1") // "a" (oldest login) goes
	if k.Has("a", "s3") || !k.Has("b", "s1") || !k.Has("c", "s1") {
		t.Fatal("user bound")
	}
	now = now.Add(time.Hour)
	if k.Has("c", "s1") {
		t.Fatal("expired source still known")
	}
}

func TestTallyBounded(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	ty := &Tally{Window: time.Minute, Max: 3, Now: func() time.Time { return now }}
	for i := range 1000 {
		ty.Add(TallyKey{Source: fmt.Sprint("10.0.0.", i%10), Reason: "bad signature"}, fmt.Sprint("dev", i%7))
	}
	if ty.Len() != 4 { // 3 sources and the overflow record
		t.Fatalf("%d records", ty.Len())
	}
	if due := ty.Due(false); len(due) != 0 {
		t.Fatalf("due before the window ended: %v", due)
	}
	now = now.Add(time.Minute)
	total := 0
	for _, c := range ty.Due(false) {
		total += c.N
		if len(c.Samples) > maxSamples {
			t.Fatalf("%d samples", len(c.Samples))
		}
	}
	if total != 1000 || ty.Len() != 0 {
		t.Fatalf("counted %d of 1000, %d left", total, ty.Len())
	}
}
