package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/input"
)

// TestBackoffFullJitter: each wait is drawn from [0, min(max, base·2ⁿ)],
// from the first retry on, and the window stops growing at max.
func TestBackoffFullJitter(t *testing.T) {
	var asked []int64
	b := newBackoff()
	b.rand = func(n int64) int64 { asked = append(asked, n); return n - 1 } // the top of each window
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
	for i, w := range want {
		if got := b.next(); got != w*time.Second {
			t.Fatalf("retry %d: the top of the window is %v, want %v", i, got, w*time.Second)
		}
		if asked[i] != int64(w*time.Second)+1 {
			t.Fatalf("retry %d drew from [0, %d), want [0, %d]", i, asked[i], w*time.Second)
		}
	}
	for range 100 { // far past any shift overflow
		if d := b.next(); d != time.Minute {
			t.Fatalf("a late retry waits %v, want the cap", d)
		}
	}
	b.reset()
	if d := b.next(); d != time.Second {
		t.Fatalf("after a reset: %v", d)
	}

	// With a real (seeded) source the waits are spread, never above the window.
	b = newBackoff()
	src := mrand.New(mrand.NewPCG(1, 2))
	b.rand = src.Int64N
	seen := map[time.Duration]bool{}
	for i := range 200 {
		ceiling := min(time.Minute, time.Second<<min(i, 10))
		d := b.next()
		if d < 0 || d > ceiling {
			t.Fatalf("retry %d waits %v, outside [0, %v]", i, d, ceiling)
		}
		seen[d] = true
	}
	if len(seen) < 190 {
		t.Fatalf("only %d distinct waits in 200: not jittered", len(seen))
	}
}

// TestHostReconnectJitter: a Host whose relay is unreachable draws every
// wait from the jittered window, from the first retry.
func TestHostReconnectJitter(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close() // nothing listens: every connection fails at once
	pub, devKey, _ := ed25519.GenerateKey(rand.Reader)
	h, err := New(Options{RelayURL: url, DeviceID: "dev-1", Key: devKey, RelayKey: pub,
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		Capture: func() (capture.Capturer, error) { return newFakeCapturer(), nil },
		Input:   func() (input.Injector, error) { return &recordingInjector{}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	windows := make(chan int64, 16)
	h.retry.rand = func(n int64) int64 {
		select {
		case windows <- n:
		default:
		}
		return 0 // retry at once: the test waits for nothing
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	for i, w := range []time.Duration{1, 2, 4, 8} {
		select {
		case n := <-windows:
			if n != int64(w*time.Second)+1 {
				t.Fatalf("retry %d drew from [0, %d), want [0, %v]", i, n, w*time.Second)
			}
		case <-ctx.Done():
			t.Fatalf("retry %d never drew a jittered wait", i)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
