package ondemand

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/tandem-rc/tandem/agent"
)

// scriptEngine plays the agent engine's side of the contract (the engine
// itself is tested in agent/ against a relay; the lead's end-to-end test
// runs them together): the test calls the consent prompt and reports
// events as the engine would, and decides what Run returns.
type scriptEngine struct {
	confirm      agent.ConfirmUI
	onEvent      func(agent.Event)
	result       chan error
	disconnected chan struct{}
	once         sync.Once
}

func (e *scriptEngine) Run(ctx context.Context) error {
	select {
	case err := <-e.result:
		return err
	case <-ctx.Done():
		return nil
	}
}

func (e *scriptEngine) Disconnect() { e.once.Do(func() { close(e.disconnected) }) }

type scriptBackend struct {
	mu      sync.Mutex
	joins   []string // relay|key
	joinErr error
	id      *agent.OnDemandIdentity
	eng     chan *scriptEngine
}

func newBackend() *scriptBackend {
	return &scriptBackend{eng: make(chan *scriptEngine, 1),
		id: &agent.OnDemandIdentity{DeviceID: "od-1", Technician: "Tess Tech", ExpiresAt: time.Now().Add(time.Hour)}}
}

func (b *scriptBackend) Join(ctx context.Context, relay, key string) (*agent.OnDemandIdentity, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.joins = append(b.joins, relay+"|"+key)
	if b.joinErr != nil {
		return nil, b.joinErr
	}
	return b.id, nil
}

func (b *scriptBackend) Engine(id *agent.OnDemandIdentity, c agent.ConfirmUI, ev func(agent.Event)) (Engine, error) {
	e := &scriptEngine{confirm: c, onEvent: ev, result: make(chan error, 1), disconnected: make(chan struct{})}
	b.eng <- e
	return e, nil
}

func (b *scriptBackend) calls() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.joins...)
}

func (b *scriptBackend) engine(t *testing.T) *scriptEngine {
	t.Helper()
	select {
	case e := <-b.eng:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no engine started")
		return nil
	}
}

func newTestWindow(t *testing.T, b Backend, relay, key string, clock func() time.Time) (*Controller, *Window) {
	t.Helper()
	a := test.NewTempApp(t)
	c := NewController(b, relay, key, clock)
	w := NewWindow(a, c, nil)
	w.W.Show()
	t.Cleanup(func() { c.cancel() })
	return c, w
}

// waitShown waits until the window shows st.
func waitShown(t *testing.T, w *Window, st State) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		w.mu.Lock()
		shown := w.shown
		w.mu.Unlock()
		if shown == st {
			return
		}
		select {
		case <-w.changed:
		case <-timeout:
			t.Fatalf("window shows %v, want %v", shown, st)
		}
	}
}

// text reads a label under the window's lock.
func text(w *Window, l *widget.Label) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return l.Text
}

// waitText waits until l shows part.
func waitText(t *testing.T, w *Window, l *widget.Label, part string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for !strings.Contains(text(w, l), part) {
		select {
		case <-w.changed:
		case <-timeout:
			t.Fatalf("%q does not show %q", text(w, l), part)
		}
	}
}

func wantText(t *testing.T, w *Window, l *widget.Label, parts ...string) {
	t.Helper()
	got := text(w, l)
	for _, p := range parts {
		if !strings.Contains(got, p) {
			t.Fatalf("%q does not show %q", got, p)
		}
	}
}

// TestWindowSession: key prefilled → Connect → waiting for the technician →
// the consent prompt in the spec's words → Allow → who is connected and
// what they may do → Disconnect session → ended, and the engine was told.
func TestWindowSession(t *testing.T) {
	b := newBackend()
	c, w := newTestWindow(t, b, "https://relay.example.com", "613220463", nil)
	waitShown(t, w, StateEntry)
	if w.keyEntry.Text != "613220463" {
		t.Fatalf("key entry %q", w.keyEntry.Text)
	}
	test.Tap(w.connectBtn)
	c.Connect("613220463") // a second click joins no more
	e := b.engine(t)
	waitShown(t, w, StateWaiting)
	wantText(t, w, w.waitLabel, "Waiting for assistance")
	wantText(t, w, w.waitTech, "Tess Tech")
	if got := b.calls(); len(got) != 1 || got[0] != "https://relay.example.com|613220463" {
		t.Fatalf("joins %v", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	answer := make(chan bool, 1)
	go func() {
		ok, err := e.confirm.Ask(ctx, agent.ConfirmRequest{SessionID: "s1", Technician: "Tess Tech <tess@example.com>",
			Permissions: []string{"view_screen", "keyboard_mouse", "clipboard"}})
		if err != nil {
			t.Error(err)
		}
		answer <- ok
	}()
	waitShown(t, w, StateConsent)
	wantText(t, w, w.consentText, "Tess Tech <tess@example.com>")
	wantText(t, w, w.consentPerm, "View remote screen", "Use keyboard & mouse")
	wantText(t, w, w.countdown, "denied in")
	test.Tap(w.allowBtn)
	if !<-answer {
		t.Fatal("Allow did not allow")
	}
	e.onEvent(agent.Event{Kind: "session_started", SessionID: "s1", Technician: "Tess Tech <tess@example.com>",
		Detail: "view_screen keyboard_mouse clipboard"})
	waitShown(t, w, StateSession)
	wantText(t, w, w.sessionText, "Tess Tech")
	wantText(t, w, w.sessionPerm, "View remote screen", "Use keyboard & mouse", "clipboard")

	test.Tap(w.disconnectBtn)
	select {
	case <-e.disconnected:
	case <-time.After(10 * time.Second):
		t.Fatal("Disconnect session did not reach the engine")
	}
	e.onEvent(agent.Event{Kind: "session_ended", SessionID: "s1"})
	e.result <- nil
	waitShown(t, w, StateEnded)
	if v := c.View(); v.Ending != EndLocal || !v.Ending.OK() {
		t.Fatalf("ending %v", v.Ending)
	}
	wantText(t, w, w.endText, "You disconnected")
	<-c.Done()
}

// TestWindowKeyErrors: bad input never reaches the relay; the relay's
// refusals are worded for the user, and the key can be typed again.
func TestWindowKeyErrors(t *testing.T) {
	b := newBackend()
	c, w := newTestWindow(t, b, "", "", nil)
	waitShown(t, w, StateEntry)

	test.Tap(w.connectBtn)
	wantText(t, w, w.entryError, "enter the session key")
	test.Type(w.keyEntry, "12 34")
	test.Tap(w.connectBtn)
	wantText(t, w, w.entryError, "9 digits")
	w.keyEntry.SetText("613 220 463")
	test.Tap(w.connectBtn)
	wantText(t, w, w.entryError, "needs its relay")
	if n := len(b.calls()); n != 0 {
		t.Fatalf("%d joins for bad input", n)
	}

	b.joinErr = &agent.JoinError{Status: 404, Code: "invalid_key"}
	b.joinErr = errors.Join(agent.ErrOnDemandKey, b.joinErr)
	w.keyEntry.SetText("https://relay.example.com/s/613-220-463")
	test.Tap(w.connectBtn)
	waitText(t, w, w.entryError, "does not know this session key")
	waitShown(t, w, StateEntry)
	if got := b.calls(); len(got) != 1 || got[0] != "https://relay.example.com|613220463" {
		t.Fatalf("joins %v", got)
	}
	// The window closed on a wrong key: an error ending (exit status 1).
	c.Close()
	if v := c.View(); v.State != StateEnded || v.Ending != EndError || !strings.Contains(v.Message, "does not know") {
		t.Fatalf("closed: %+v", v)
	}
}

// TestConsentTimeoutDenies: nobody answers before the engine's deadline:
// the prompt answers no, the window waits for the engine, then says so.
func TestConsentTimeoutDenies(t *testing.T) {
	b := newBackend()
	c, w := newTestWindow(t, b, "https://relay.example.com", "613220463", nil)
	c.Connect("613220463")
	e := b.engine(t)
	waitShown(t, w, StateWaiting)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	ok, err := e.confirm.Ask(ctx, agent.ConfirmRequest{Technician: "Tess", Permissions: []string{"view_screen"}})
	if ok || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unanswered prompt: %v, %v", ok, err)
	}
	waitShown(t, w, StateWaiting)
	test.Tap(w.allowBtn) // too late: nothing to answer
	e.onEvent(agent.Event{Kind: "confirm_timeout"})
	e.onEvent(agent.Event{Kind: "session_ended"})
	e.result <- nil
	waitShown(t, w, StateEnded)
	if v := c.View(); v.Ending != EndTimeout {
		t.Fatalf("ending %v", v.Ending)
	}
	wantText(t, w, w.endText, "did not answer in time")
}

// TestWindowEndings: Deny; a technician's rejection; an expired key; the
// hotkey and the Disconnect button while waiting.
func TestWindowEndings(t *testing.T) {
	t.Run("deny", func(t *testing.T) {
		b := newBackend()
		c, w := newTestWindow(t, b, "https://relay.example.com", "613220463", nil)
		c.Connect("613220463")
		e := b.engine(t)
		res := make(chan bool, 1)
		go func() {
			ok, _ := e.confirm.Ask(context.Background(), agent.ConfirmRequest{Technician: "Tess", Permissions: []string{"view_screen"}})
			res <- ok
		}()
		waitShown(t, w, StateConsent)
		test.Tap(w.denyBtn)
		if <-res {
			t.Fatal("Deny allowed")
		}
		e.onEvent(agent.Event{Kind: "confirm_denied"})
		e.onEvent(agent.Event{Kind: "session_ended"})
		e.result <- agent.ErrOnDemandOver // the relay closes the dead key too
		waitShown(t, w, StateEnded)
		if v := c.View(); v.Ending != EndDenied {
			t.Fatalf("ending %v", v.Ending)
		}
	})
	t.Run("relay ends the key before the engine reports the end", func(t *testing.T) {
		b := newBackend()
		c, w := newTestWindow(t, b, "https://relay.example.com", "613220463", nil)
		c.Connect("613220463")
		e := b.engine(t)
		e.onEvent(agent.Event{Kind: "session_started", Technician: "Tess"})
		waitShown(t, w, StateSession)
		e.result <- agent.ErrOnDemandOver
		waitShown(t, w, StateEnded)
		if v := c.View(); v.Ending != EndSession || !v.Ending.OK() {
			t.Fatalf("ending %v", v.Ending)
		}
		wantText(t, w, w.endText, "The session ended")
	})
	t.Run("rejected", func(t *testing.T) {
		b := newBackend()
		c, w := newTestWindow(t, b, "https://relay.example.com", "613220463", nil)
		c.Connect("613220463")
		b.engine(t).result <- agent.ErrOnDemandOver
		waitShown(t, w, StateEnded)
		if v := c.View(); v.Ending != EndRejected || v.Ending.OK() {
			t.Fatalf("ending %v", v.Ending)
		}
		wantText(t, w, w.endText, "rejected")
	})
	t.Run("expired", func(t *testing.T) {
		b := newBackend()
		later := func() time.Time { return b.id.ExpiresAt.Add(time.Second) }
		c, w := newTestWindow(t, b, "https://relay.example.com", "613220463", later)
		c.Connect("613220463")
		b.engine(t).result <- agent.ErrOnDemandOver
		waitShown(t, w, StateEnded)
		if v := c.View(); v.Ending != EndExpired {
			t.Fatalf("ending %v", v.Ending)
		}
		wantText(t, w, w.endText, "expired")
	})
	t.Run("hotkey and leaving the queue", func(t *testing.T) {
		b := newBackend()
		c, w := newTestWindow(t, b, "https://relay.example.com", "613220463", nil)
		hk := make(chan struct{})
		c.WatchHotkey(hk)
		c.Connect("613220463")
		e := b.engine(t)
		waitShown(t, w, StateWaiting)
		hk <- struct{}{}
		<-e.disconnected
		e.result <- nil
		waitShown(t, w, StateEnded)
		if v := c.View(); v.Ending != EndLocal {
			t.Fatalf("ending %v", v.Ending)
		}

		b = newBackend()
		c, w = newTestWindow(t, b, "https://relay.example.com", "613220463", nil)
		c.Connect("613220463")
		e = b.engine(t)
		waitShown(t, w, StateWaiting)
		test.Tap(w.disconnectWait)
		<-e.disconnected
		e.result <- nil
		waitShown(t, w, StateEnded)
	})
}
