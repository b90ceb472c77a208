package fynerun

import (
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
)

// stuckApp's Run stops only when told to: the toolkit hanging while it
// stops (release never closed) or stopping normally (closed by Quit).
type stuckApp struct {
	fyne.App
	hang    bool
	quit    chan struct{}
	release chan struct{}
}

func newStuckApp(t *testing.T, hang bool) *stuckApp {
	a := &stuckApp{App: test.NewTempApp(t), hang: hang, quit: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(func() { close(a.release) })
	return a
}

func (a *stuckApp) Run() {
	<-a.quit
	if a.hang {
		<-a.release
	}
}

func (a *stuckApp) Quit() {
	select {
	case <-a.quit:
	default:
		close(a.quit)
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// A toolkit that hangs while stopping: finish runs once and the process
// exits with its status.
func TestHungToolkitStillFinishes(t *testing.T) {
	a := newStuckApp(t, true)
	r := New(a, quiet())
	r.grace = 10 * time.Millisecond
	exited := make(chan int, 2)
	r.exit = func(code int) { exited <- code }
	var finished atomic.Int32
	go r.Run(func() int { finished.Add(1); return 3 })
	r.Quit()
	select {
	case code := <-exited:
		if code != 3 {
			t.Fatalf("exit status %d, want finish's 3", code)
		}
	case <-time.After(time.Minute):
		t.Fatal("the process never exited while the toolkit hung")
	}
	if n := finished.Load(); n != 1 {
		t.Fatalf("finish ran %d times", n)
	}
}

// A toolkit that stops: Run returns finish's status and nothing exits
// the process.
func TestStoppedToolkitReturns(t *testing.T) {
	a := newStuckApp(t, false)
	r := New(a, quiet())
	r.grace = 10 * time.Millisecond
	var exits atomic.Int32
	r.exit = func(int) { exits.Add(1) }
	var finished atomic.Int32
	done := make(chan int)
	go func() { done <- r.Run(func() int { finished.Add(1); return 0 }) }()
	r.Quit()
	r.Quit() // twice: the window's button and a signal
	if code := <-done; code != 0 {
		t.Fatalf("status %d", code)
	}
	time.Sleep(50 * time.Millisecond) // past the grace: a watchdog still armed would fire
	if n := exits.Load(); n != 0 {
		t.Fatalf("the process was exited %d times after the toolkit stopped", n)
	}
	if n := finished.Load(); n != 1 {
		t.Fatalf("finish ran %d times", n)
	}
}
