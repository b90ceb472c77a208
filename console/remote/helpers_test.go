package remote

import (
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
)

// uiQueue stands in for fyne.Do: the window's updates from session
// goroutines queue here and the test goroutine runs them, so the test and
// the window never touch widgets concurrently.
type uiQueue struct {
	mu   sync.Mutex
	fs   []func()
	wake chan struct{}
}

func newUIQueue() *uiQueue { return &uiQueue{wake: make(chan struct{}, 1)} }

func (q *uiQueue) do(f func()) {
	q.mu.Lock()
	q.fs = append(q.fs, f)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *uiQueue) pump() {
	for {
		q.mu.Lock()
		fs := q.fs
		q.fs = nil
		q.mu.Unlock()
		if len(fs) == 0 {
			return
		}
		for _, f := range fs {
			f()
		}
	}
}

// until runs queued updates until cond holds; the timeout only bounds a
// failure.
func (q *uiQueue) until(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		q.pump()
		if cond() {
			return
		}
		select {
		case <-q.wake:
		case <-time.After(50 * time.Millisecond): // conditions outside the queue (files, X)
		case <-deadline.C:
			tb.Fatalf("gave up waiting for %s", what)
		}
	}
}

// pressDialogButton taps the button labelled text in the window's top
// dialog; a dialog must be showing.
func pressDialogButton(t *testing.T, w *window, text string) {
	t.Helper()
	top := w.win.Canvas().Overlays().Top()
	if top == nil {
		t.Fatal("no dialog is showing")
	}
	for _, o := range test.LaidOutObjects(top) {
		if b, ok := o.(*widget.Button); ok && b.Text == text {
			test.Tap(b)
			return
		}
	}
	t.Fatalf("the dialog has no %q button", text)
}

func mouse(pos fyne.Position, b desktop.MouseButton) *desktop.MouseEvent {
	return &desktop.MouseEvent{PointEvent: fyne.PointEvent{Position: pos}, Button: b}
}
