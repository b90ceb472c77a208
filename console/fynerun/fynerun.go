// Package fynerun runs a Fyne app on the main goroutine and bounds how
// long the toolkit may take to stop once the program asked it to quit.
//
// Fyne 2.8.1 can hang for good while stopping: a window event that
// reaches the main-thread queue after the loop's last drain is never
// answered, and app.Run waits for it forever (Lifecycle.WaitForEvents).
// It was seen about once in 40 SIGTERMs of tandem-ondemand under Xvfb.
// The windows are gone by then, so the program finishes without the
// toolkit rather than keep running where the user can no longer see it.
package fynerun

import (
	"log/slog"
	"os"
	"sync"
	"time"

	"fyne.io/fyne/v2"
)

// Grace is how long the toolkit gets to stop after Quit.
const Grace = 5 * time.Second

// Runner runs one app. Quit is safe from any goroutine.
type Runner struct {
	a     fyne.App
	log   *slog.Logger
	grace time.Duration
	exit  func(int) // os.Exit; tests replace it

	quitOnce sync.Once
	quitting chan struct{}

	finOnce sync.Once
	code    int
}

// New returns a Runner for a; log (nil: slog.Default) tells when the
// toolkit had to be left behind.
func New(a fyne.App, log *slog.Logger) *Runner {
	if log == nil {
		log = slog.Default()
	}
	return &Runner{a: a, log: log, grace: Grace, exit: os.Exit, quitting: make(chan struct{})}
}

// Quit asks the app to quit and starts the grace period.
func (r *Runner) Quit() {
	r.quitOnce.Do(func() { close(r.quitting) })
	fyne.Do(r.a.Quit)
}

// Run runs the app on the calling goroutine (main) until it stops, then
// runs finish once and returns its exit status. If the app has not
// stopped Grace after Quit, finish runs on another goroutine and the
// process exits with its status.
func (r *Runner) Run(finish func() int) int {
	stopped := make(chan struct{})
	go func() {
		select {
		case <-stopped:
			return
		case <-r.quitting:
		}
		t := time.NewTimer(r.grace)
		defer t.Stop()
		select {
		case <-stopped:
			return
		case <-t.C:
		}
		r.log.Warn("the window toolkit did not stop after quitting; finishing without it", "grace", r.grace)
		r.exit(r.finish(finish))
	}()
	r.a.Run()
	close(stopped)
	return r.finish(finish)
}

func (r *Runner) finish(f func() int) int {
	r.finOnce.Do(func() { r.code = f() })
	return r.code
}
