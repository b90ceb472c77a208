package mail

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// observed passes messages to a real sender and reports each result.
type observed struct {
	next    Sender
	results chan error
}

func (o *observed) Send(ctx context.Context, m Message) error {
	err := o.next.Send(ctx, m)
	o.results <- err
	return err
}

// fakeTimer hands each requested backoff to the test, which fires it.
type fakeTimer struct {
	asked chan time.Duration
	fire  chan time.Time
}

func newFakeTimer() *fakeTimer {
	return &fakeTimer{asked: make(chan time.Duration, 100), fire: make(chan time.Time)}
}

func (f *fakeTimer) after(d time.Duration) <-chan time.Time {
	f.asked <- d
	return f.fire
}

func newQueueFixture(t *testing.T, dir string) (*testServer, *observed, *fakeTimer, *Queue) {
	t.Helper()
	ts := newTestServer(t, serverOpts{mode: modeStartTLS, reject: "nobody@example.org"})
	s, err := NewSMTP(ts.config(TLSStartTLS))
	if err != nil {
		t.Fatal(err)
	}
	obs := &observed{next: s, results: make(chan error, 100)}
	ft := newFakeTimer()
	// Each spool file gets a later time, so "oldest first" is testable.
	var mu sync.Mutex
	clock := fixedTime
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Millisecond)
		return clock
	}
	q, err := NewQueue(QueueConfig{Dir: dir, MinBackoff: time.Second, MaxBackoff: 8 * time.Second, Now: now, After: ft.after}, obs, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ts, obs, ft, q
}

func runQueue(t *testing.T, q *Queue) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(func() {
		if ctx.Err() == nil {
			stop()
		}
	})
	return stop
}

func TestQueueSpoolsDuringOutageAndRetries(t *testing.T) {
	dir := t.TempDir()
	ts, obs, ft, q := newQueueFixture(t, dir)
	ts.down.Store(true)

	m := testMessage()
	if err := q.Send(context.Background(), m); err != nil {
		t.Fatalf("Send during outage: %v (want nil: spooled)", err)
	}
	if err := <-obs.results; !errors.Is(err, ErrUnreachable) {
		t.Fatalf("first attempt: %v, want ErrUnreachable", err)
	}
	pending, err := q.Pending()
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending %v %v", pending, err)
	}
	if fi, err := os.Stat(pending[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("spool file mode %v %v", fi, err)
	}

	stop := runQueue(t, q)
	// Still down: each failure doubles the wait, capped at MaxBackoff.
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		if err := <-obs.results; !errors.Is(err, ErrUnreachable) {
			t.Fatalf("retry %d: %v", i, err)
		}
		if got := <-ft.asked; got != want {
			t.Fatalf("backoff %d = %v, want %v", i, got, want)
		}
		if i < 4 {
			ft.fire <- time.Time{}
		}
	}
	if n := len(ts.received()); n != 0 {
		t.Fatalf("delivered during outage: %d", n)
	}
	ts.down.Store(false)
	ft.fire <- time.Time{}
	if err := <-obs.results; err != nil {
		t.Fatalf("retry after recovery: %v", err)
	}
	stop()
	if pending, _ := q.Pending(); len(pending) != 0 {
		t.Errorf("spool not emptied: %v", pending)
	}
	got := ts.received()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	h, text, _ := parsed(t, got[0].data)
	checkHeaders(t, h, m)
	if !sameBody(text, m.Text) {
		t.Errorf("text %q", text)
	}
}

func TestQueuePicksUpSpoolAfterRestart(t *testing.T) {
	dir := t.TempDir()
	ts1, obs1, _, q1 := newQueueFixture(t, dir)
	ts1.down.Store(true)
	for _, subj := range []string{"first", "second"} {
		m := testMessage()
		m.Subject = subj
		if err := q1.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		<-obs1.results
	}
	// "Restart": a new queue over the same directory, a working server,
	// and the first queue never ran.
	ts2, obs2, ft2, q2 := newQueueFixture(t, dir)
	stop := runQueue(t, q2)
	for range 2 {
		if err := <-obs2.results; err != nil {
			t.Fatal(err)
		}
	}
	stop()
	select {
	case d := <-ft2.asked:
		t.Errorf("queue backed off (%v) although everything was delivered", d)
	default:
	}
	got := ts2.received()
	if len(got) != 2 {
		t.Fatalf("received %d, want 2", len(got))
	}
	for i, want := range []string{"first", "second"} {
		h, _, _ := parsed(t, got[i].data)
		if h.Get("Subject") != want {
			t.Errorf("message %d subject %q, want %q (oldest first)", i, h.Get("Subject"), want)
		}
	}
	if pending, _ := q2.Pending(); len(pending) != 0 {
		t.Errorf("pending %v", pending)
	}
}

func TestQueueNewMessageWakesRun(t *testing.T) {
	dir := t.TempDir()
	ts, obs, ft, q := newQueueFixture(t, dir)
	runQueue(t, q)
	// The spool is empty and the server up: Send delivers directly.
	if err := q.Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	if err := <-obs.results; err != nil {
		t.Fatal(err)
	}
	// An outage: the message is spooled and Run is woken to retry it.
	ts.down.Store(true)
	if err := q.Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	<-obs.results // the direct attempt
	if err := <-obs.results; !errors.Is(err, ErrUnreachable) {
		t.Fatalf("woken retry: %v", err)
	}
	if d := <-ft.asked; d != time.Second {
		t.Fatalf("backoff %v", d)
	}
	ts.down.Store(false)
	ft.fire <- time.Time{}
	if err := <-obs.results; err != nil {
		t.Fatal(err)
	}
	if n := len(ts.received()); n != 2 {
		t.Errorf("received %d, want 2", n)
	}
}

func TestQueuePermanentErrorsNotSpooled(t *testing.T) {
	dir := t.TempDir()
	_, obs, _, q := newQueueFixture(t, dir)
	bad := testMessage()
	bad.To = []string{"nobody@example.org"}
	err := q.Send(context.Background(), bad)
	if !errors.Is(err, ErrRecipientRejected) || !Permanent(err) {
		t.Fatalf("err = %v, want a permanent recipient rejection", err)
	}
	<-obs.results
	invalid := testMessage()
	invalid.To = nil
	if err := q.Send(context.Background(), invalid); !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
	if pending, _ := q.Pending(); len(pending) != 0 {
		t.Errorf("permanent failures spooled: %v", pending)
	}
}

func TestQueueMovesUndeliverableToFailed(t *testing.T) {
	dir := t.TempDir()
	ts, obs, _, q := newQueueFixture(t, dir)
	// A spooled message whose recipient the server now refuses for good,
	// and a corrupt spool file: both go to failed/, neither is deleted,
	// and the good message behind them is still delivered.
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	refused := testMessage()
	refused.To = []string{"nobody@example.org"}
	b, _ := json.Marshal(spooled{Message: refused})
	write("20260101T000000.000000000Z-a.json", b)
	write("20260101T000000.000000001Z-b.json", []byte("{not json"))
	b, _ = json.Marshal(spooled{Message: testMessage()})
	write("20260101T000000.000000002Z-c.json", b)

	stop := runQueue(t, q)
	if err := <-obs.results; !Permanent(err) {
		t.Fatalf("first: %v", err)
	}
	if err := <-obs.results; err != nil {
		t.Fatalf("third: %v", err)
	}
	stop()
	failed, _ := os.ReadDir(filepath.Join(dir, "failed"))
	if len(failed) != 2 {
		t.Errorf("failed/ has %d files, want 2", len(failed))
	}
	if pending, _ := q.Pending(); len(pending) != 0 {
		t.Errorf("pending %v", pending)
	}
	if n := len(ts.received()); n != 1 {
		t.Errorf("received %d, want 1", n)
	}
}
