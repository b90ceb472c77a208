package ondemand

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/tandem-rc/tandem/agent"
)

// State is where the OnDemand run is.
type State int

const (
	StateEntry   State = iota // the key is asked for
	StateJoining              // the relay checks the key
	StateWaiting              // in the technician's queue: "Waiting for assistance…"
	StateConsent              // the technician started: Allow or Deny
	StateSession              // the technician is connected
	StateEnded                // over; Message says why
)

func (s State) String() string {
	return [...]string{"entry", "joining", "waiting", "consent", "session", "ended"}[s]
}

// Ending is why the run ended.
type Ending int

const (
	EndNone     Ending = iota
	EndSession         // the session ran and the technician ended it
	EndLocal           // the user disconnected (or left the queue)
	EndDenied          // the user denied access
	EndTimeout         // the user did not answer: denied
	EndRejected        // a technician rejected it, or the key died otherwise
	EndExpired         // an hour in the queue, or the key's 24 h
	EndError           // something broke
)

// OK reports whether the run ended the way runs end (exit status 0).
func (e Ending) OK() bool {
	return e == EndSession || e == EndLocal || e == EndDenied || e == EndTimeout
}

// expirySkew: a relay whose clock runs ahead ends the queue a little
// before ExpiresAt by ours; that is still the expiry.
const expirySkew = time.Minute

// Engine is the agent engine for one OnDemand run (*agent.Host).
type Engine interface {
	Run(ctx context.Context) error
	Disconnect()
}

// Backend joins the queue and builds the engine; cmd/tandem-ondemand's
// uses agent.JoinOnDemand and agent.New with OnDemand set.
type Backend interface {
	Join(ctx context.Context, relayURL, key string) (*agent.OnDemandIdentity, error)
	Engine(id *agent.OnDemandIdentity, confirm agent.ConfirmUI, onEvent func(agent.Event)) (Engine, error)
}

// View is what the window shows: a copy, safe to keep.
type View struct {
	State       State
	Relay, Key  string
	Error       string // entry: why the last attempt failed
	Technician  string
	Permissions []string  // consent: asked; session: granted
	Deadline    time.Time // consent: denied at this time
	Ending      Ending
	Message     string // ended: what happened, in words
}

// Controller is the OnDemand window's state machine. Its methods are safe
// from any goroutine; OnChange's function runs after every change.
type Controller struct {
	b     Backend
	clock func() time.Time

	mu       sync.Mutex
	v        View
	onChange func(View)
	eng      Engine
	id       *agent.OnDemandIdentity
	answer   chan bool // the pending consent's
	local    bool      // the user disconnected
	started  bool      // a session started
	ending   Ending    // learned from engine events
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{}
}

// NewController starts in the entry state with what Prefill found.
func NewController(b Backend, relayURL, key string, clock func() time.Time) *Controller {
	if clock == nil {
		clock = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Controller{b: b, clock: clock, v: View{State: StateEntry, Relay: relayURL, Key: key},
		ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// OnChange sets the function told about every change (the window).
func (c *Controller) OnChange(f func(View)) {
	c.mu.Lock()
	c.onChange = f
	c.mu.Unlock()
}

// View returns the current view.
func (c *Controller) View() View {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snapshot()
}

func (c *Controller) snapshot() View {
	v := c.v
	v.Permissions = append([]string(nil), c.v.Permissions...)
	return v
}

// Done is closed once the run ended.
func (c *Controller) Done() <-chan struct{} { return c.done }

// update changes the view under the lock and tells the window.
func (c *Controller) update(f func(v *View)) {
	c.mu.Lock()
	f(&c.v)
	v, cb := c.snapshot(), c.onChange
	c.mu.Unlock()
	if cb != nil {
		cb(v)
	}
}

// Connect joins with what the user entered (a key or a link); the relay
// comes from the link or from the prefill.
func (c *Controller) Connect(input string) {
	relay, key, err := ParseInput(input)
	joining := false
	c.update(func(v *View) {
		if v.State != StateEntry {
			return // a second click while joining
		}
		if relay == "" {
			relay = v.Relay
		}
		if err == nil && relay == "" {
			err = errors.New("this key needs its relay: open the link your technician sent you, or paste it here")
		}
		if err != nil {
			v.Key, v.Error = input, err.Error()
			return
		}
		v.State, v.Relay, v.Key, v.Error = StateJoining, relay, key, ""
		joining = true
	})
	if joining {
		go c.join(relay, key)
	}
}

func (c *Controller) join(relay, key string) {
	ctx, cancel := context.WithTimeout(c.ctx, time.Minute)
	id, err := c.b.Join(ctx, relay, key)
	cancel()
	var eng Engine
	if err == nil {
		eng, err = c.b.Engine(id, c, c.event)
	}
	if err != nil {
		if c.ctx.Err() != nil {
			c.end(EndLocal, nil)
			return
		}
		c.update(func(v *View) { v.State, v.Error = StateEntry, joinMessage(err) })
		return
	}
	c.mu.Lock()
	c.eng, c.id = eng, id
	c.mu.Unlock()
	c.update(func(v *View) { v.State, v.Technician = StateWaiting, id.Technician })
	err = eng.Run(c.ctx)
	c.end(EndNone, err)
}

func joinMessage(err error) string {
	switch {
	case errors.Is(err, agent.ErrOnDemandKey):
		return "The relay does not know this session key. Check the digits with your technician."
	case errors.Is(err, agent.ErrOnDemandOver):
		return "This session key was already used, rejected or has expired. Ask your technician for a new one."
	case errors.Is(err, agent.ErrThrottled):
		return "Too many attempts. Wait a minute and try again."
	}
	return err.Error()
}

// end moves to the ended state once, with why.
func (c *Controller) end(why Ending, err error) {
	c.mu.Lock()
	if c.v.State == StateEnded {
		c.mu.Unlock()
		return
	}
	if why == EndNone {
		why = c.ending
		switch {
		case c.local:
			why = EndLocal
		case errors.Is(err, agent.ErrOnDemandOver) && why == EndNone && c.started:
			// The relay ended the key with the session, before the
			// engine reported the session's end.
			why = EndSession
		case errors.Is(err, agent.ErrOnDemandOver) && why == EndNone:
			why = EndRejected
			if c.id != nil && !c.clock().Before(c.id.ExpiresAt.Add(-expirySkew)) {
				why = EndExpired
			}
		case err != nil && !errors.Is(err, agent.ErrOnDemandOver):
			why = EndError
		case why == EndNone:
			why = EndSession
		}
	}
	msg := endMessage(why)
	if why == EndError && err != nil {
		msg = err.Error()
	}
	c.v.State, c.v.Ending, c.v.Message, c.v.Deadline = StateEnded, why, msg, time.Time{}
	v, cb := c.snapshot(), c.onChange
	c.mu.Unlock()
	close(c.done)
	if cb != nil {
		cb(v)
	}
}

func endMessage(e Ending) string {
	switch e {
	case EndSession:
		return "The session ended. The technician can no longer see or control this computer."
	case EndLocal:
		return "You disconnected. The technician can no longer see or control this computer."
	case EndDenied:
		return "You denied access. The technician did not see or control this computer."
	case EndTimeout:
		return "You did not answer in time, so access was denied."
	case EndRejected:
		return "The technician rejected this session, or its key is no longer valid. Ask for a new session key if you still need help."
	case EndExpired:
		return "The session key expired: a session waits for a technician for 1 hour at most. Ask for a new key."
	}
	return "The session stopped."
}

// event follows the engine: session start and end, consent answers.
func (c *Controller) event(e agent.Event) {
	switch e.Kind {
	case "session_started":
		c.mu.Lock()
		c.started = true
		c.mu.Unlock()
		c.update(func(v *View) {
			if v.State != StateEnded {
				v.State, v.Technician = StateSession, e.Technician
				if e.Detail != "" { // what the grant allows
					v.Permissions = strings.Fields(e.Detail)
				}
			}
		})
	case "confirm_denied", "confirm_timeout":
		c.mu.Lock()
		if c.ending == EndNone {
			c.ending = EndDenied
			if e.Kind == "confirm_timeout" {
				c.ending = EndTimeout
			}
		}
		c.mu.Unlock()
	case "session_ended":
		c.mu.Lock()
		if c.ending == EndNone {
			c.ending = EndSession
		}
		c.mu.Unlock()
	}
}

// Ask is the consent prompt (agent.ConfirmUI): it shows the technician
// and the permissions until Allow, Deny or ctx's deadline (then denied).
func (c *Controller) Ask(ctx context.Context, r agent.ConfirmRequest) (bool, error) {
	answer := make(chan bool, 1)
	deadline, _ := ctx.Deadline()
	c.mu.Lock()
	if c.v.State == StateEnded {
		c.mu.Unlock()
		return false, nil
	}
	c.answer = answer
	c.mu.Unlock()
	c.update(func(v *View) {
		v.State, v.Technician, v.Permissions, v.Deadline = StateConsent, r.Technician, r.Permissions, deadline
	})
	var ok bool
	var err error
	select {
	case ok = <-answer:
	case <-ctx.Done():
		err = ctx.Err()
	}
	c.mu.Lock()
	c.answer = nil
	c.mu.Unlock()
	c.update(func(v *View) {
		if v.State != StateConsent {
			return
		}
		v.Deadline = time.Time{}
		if ok {
			v.State = StateSession
		} else {
			v.State = StateWaiting // until the engine reports the end
		}
	})
	return ok, err
}

// Allow and Deny answer the pending consent prompt.
func (c *Controller) Allow() { c.reply(true) }
func (c *Controller) Deny()  { c.reply(false) }

func (c *Controller) reply(ok bool) {
	c.mu.Lock()
	a := c.answer
	c.answer = nil
	c.mu.Unlock()
	if a != nil {
		a <- ok
	}
}

// Disconnect ends the session or leaves the queue at once: the Disconnect
// buttons and the Ctrl+Shift+X hotkey.
func (c *Controller) Disconnect() {
	c.mu.Lock()
	eng, st := c.eng, c.v.State
	if st == StateEnded || st == StateEntry {
		c.mu.Unlock()
		return
	}
	c.local = true
	c.mu.Unlock()
	if eng != nil {
		eng.Disconnect()
		return
	}
	c.cancel() // still joining: give up
}

// WatchHotkey disconnects whenever hk fires, until the run ends.
func (c *Controller) WatchHotkey(hk <-chan struct{}) {
	go func() {
		for {
			select {
			case <-hk:
				c.Disconnect()
			case <-c.done:
				return
			}
		}
	}()
}

// Close is the window going away: whatever runs ends (the user's doing),
// with a bounded wait for the farewell to reach the relay.
func (c *Controller) Close() {
	c.mu.Lock()
	st, msg, joined := c.v.State, c.v.Error, c.eng != nil
	c.mu.Unlock()
	c.Disconnect()
	switch {
	case joined:
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
		}
	case st == StateEntry && msg != "":
		c.end(EndError, errors.New(msg)) // a wrong key never corrected
	default:
		c.end(EndLocal, nil)
	}
	c.cancel()
}
