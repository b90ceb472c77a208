package guest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

// ChatMessage is a message from the local user at the host.
type ChatMessage struct {
	Seq  uint32
	Time time.Time // the host's clock
	Text string
}

// Chat is the session's chat with the host's local user; the grant must
// carry chat.
type Chat struct {
	s   *Session
	seq atomic.Uint32
	in  chan ChatMessage
}

// chatQueue bounds the host's messages waiting for Messages' reader; more
// are dropped (and logged) rather than stall the control channel.
const chatQueue = 256

// Chat returns the session's chat.
func (s *Session) Chat() *Chat { return s.chat }

// Messages delivers the local user's messages, in order. It is never
// closed: select on Session.Done too.
func (c *Chat) Messages() <-chan ChatMessage { return c.in }

// Send sends a message to the local user and returns once the host has
// taken it: a refusal (a *wire.Error, ErrCodeDenied without chat) is the
// error. Text must pass wire.ValidChatText.
func (c *Chat) Send(ctx context.Context, text string) error {
	if err := wire.ValidChatText(text); err != nil {
		return err
	}
	if err := c.s.Err(); err != nil {
		return err
	}
	if err := c.s.ctrl.Send(&wire.Chat{Seq: c.seq.Add(1), Time: time.Now().UnixMilli(), Text: text}); err != nil {
		return err
	}
	errs, err := c.s.barrier(ctx, c.s.ctrl)
	if err != nil {
		return err
	}
	for _, e := range errs {
		if e.Ref == wire.TypeChat {
			return e
		}
	}
	return nil
}

func (c *Chat) deliver(m *wire.Chat) {
	select {
	case c.in <- ChatMessage{Seq: m.Seq, Time: time.UnixMilli(m.Time), Text: m.Text}:
	default:
		c.s.c.Logger.Warn("chat message dropped: nobody reads Chat().Messages()", "seq", m.Seq)
	}
}

// Power actions by name, for Session.Power and the CLI.
var PowerActions = map[string]uint8{
	"logout": wire.PowerLogout, "lock": wire.PowerLock, "restart": wire.PowerRestart,
	"shutdown": wire.PowerShutdown, "ctrl-alt-del": wire.PowerCtrlAltDel,
}

// Power asks the host to carry out a power action (wire.PowerLock, ...) and
// returns once it is done, or the host's refusal (a *wire.Error:
// ErrCodeDenied without the power permission, ErrCodeUnsupported where the
// host's platform has no such action).
func (s *Session) Power(ctx context.Context, action uint8) error {
	if wire.PowerActionName(action) == "" {
		return fmt.Errorf("guest: unknown power action %d", action)
	}
	s.powerMu.Lock()
	defer s.powerMu.Unlock()
	id := s.powerID.Add(1)
	reply := make(chan wire.Message, 1)
	s.mu.Lock()
	s.powerReply = reply
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.powerReply = nil
		s.mu.Unlock()
	}()
	if err := s.ctrl.Send(&wire.PowerAction{ID: id, Action: action}); err != nil {
		return err
	}
	for {
		select {
		case m := <-reply:
			switch m := m.(type) {
			case *wire.Error:
				return m
			case *wire.PowerDone:
				if m.ID == id {
					return nil
				}
			}
		case <-s.done:
			return s.Err()
		case <-ctx.Done():
			return fmt.Errorf("guest: the host did not answer the %s request: %w", wire.PowerActionName(action), ctx.Err())
		}
	}
}

// onPower hands a power reply to the request waiting for it.
func (s *Session) onPower(m wire.Message) {
	s.mu.Lock()
	c := s.powerReply
	s.mu.Unlock()
	if c != nil {
		select {
		case c <- m:
		default:
		}
	}
}

// ExecOptions tune a remote command.
type ExecOptions struct {
	Dir     string        // absolute working directory on the host; "" is the host's default
	Timeout time.Duration // 0: none (the host may still have one)
	// Stdout and Stderr receive the command's output as it arrives (nil
	// discards it). They are called from the session's exec receiver: a slow
	// writer slows the command (backpressure), and the session's other
	// commands with it.
	Stdout, Stderr io.Writer
}

// ExecResult is how a remote command ended.
type ExecResult struct {
	Status  uint8 // wire.ExecExited, wire.ExecKilled, wire.ExecTimedOut, ...
	Code    int   // exit code, or the signal number when killed
	Message string
}

// ExitCode is the code a local shell would report: the command's own, 128
// plus the signal, 124 for a timeout (as timeout(1)), 130 when cancelled.
func (r *ExecResult) ExitCode() int {
	switch r.Status {
	case wire.ExecExited:
		return r.Code
	case wire.ExecKilled:
		return 128 + r.Code
	case wire.ExecTimedOut:
		return 124
	case wire.ExecCancelled:
		return 130
	}
	return 255
}

type execCmd struct {
	o    ExecOptions
	exit chan *wire.ExecExit
}

// execs runs the session's remote commands on the exec channel.
type execs struct {
	s       *Session
	ch      *transport.Channel
	startMu sync.Mutex // starts are answered in order: one outstanding at a time
	started chan wire.Message
	id      atomic.Uint32
	mu      sync.Mutex
	cmds    map[uint32]*execCmd
}

// cancelWait bounds the wait for the host's ExecExit after a cancel.
const cancelWait = 15 * time.Second

// Exec runs argv (the program and its arguments, never a shell string) on
// the host and returns how it ended; the grant must carry execute_command.
// Cancelling ctx kills the command on the host (its process group); the
// result then says so and the error is ctx's. A refusal is a *wire.Error.
func (s *Session) Exec(ctx context.Context, argv []string, o ExecOptions) (*ExecResult, error) {
	x := s.execs
	if x.ch == nil {
		return nil, errors.New("guest: this host does not offer command execution")
	}
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("guest: empty command")
	}
	for _, a := range append([]string{o.Dir}, argv...) {
		if strings.IndexByte(a, 0) >= 0 {
			return nil, errors.New("guest: the command contains a NUL byte")
		}
	}
	ms := uint32(0)
	if o.Timeout > 0 {
		ms = uint32(min(o.Timeout.Milliseconds(), 1<<32-1))
		ms = max(ms, 1)
	}
	id := x.id.Add(1)
	c := &execCmd{o: o, exit: make(chan *wire.ExecExit, 1)}
	x.mu.Lock()
	x.cmds[id] = c
	x.mu.Unlock()
	defer func() {
		x.mu.Lock()
		delete(x.cmds, id)
		x.mu.Unlock()
	}()

	x.startMu.Lock()
	started := make(chan wire.Message, 1)
	x.mu.Lock()
	x.started = started
	x.mu.Unlock()
	err := x.ch.Send(&wire.ExecStart{ID: id, TimeoutMs: ms, Dir: o.Dir, Argv: argv})
	var reply wire.Message
	if err == nil {
		select {
		case reply = <-started:
		case <-s.done:
			err = s.Err()
		case <-ctx.Done():
			err = ctx.Err() // the reply still comes, to nobody: a started command is cancelled below
			_ = x.ch.Send(&wire.ExecCancel{ID: id})
		}
	}
	x.mu.Lock()
	x.started = nil
	x.mu.Unlock()
	x.startMu.Unlock()
	if err != nil {
		return nil, err
	}
	if e, ok := reply.(*wire.Error); ok {
		return nil, e
	}

	var exit *wire.ExecExit
	select {
	case exit = <-c.exit:
	case <-s.done:
		return nil, s.Err()
	case <-ctx.Done():
		_ = x.ch.Send(&wire.ExecCancel{ID: id})
		select {
		case exit = <-c.exit:
		case <-s.done:
			return nil, s.Err()
		case <-time.After(cancelWait):
			return nil, fmt.Errorf("guest: the host did not confirm the cancel: %w", ctx.Err())
		}
	}
	res := &ExecResult{Status: exit.Status, Code: int(exit.Code), Message: exit.Message}
	if exit.Status == wire.ExecCancelled && ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

// loop reads the exec channel: start replies to Exec, output to the
// command's writers, exits to the command.
func (x *execs) loop(ctx context.Context) {
	for {
		m, err := x.ch.Recv(ctx)
		if err != nil {
			var pe *transport.ProtocolError
			if errors.As(err, &pe) {
				x.s.c.Logger.Warn("malformed message from host", "err", err)
				continue
			}
			return
		}
		switch m := m.(type) {
		case *wire.ExecStarted:
			x.toStarter(m)
		case *wire.Error:
			if m.Ref == wire.TypeExecStart {
				x.toStarter(m)
			} else {
				x.s.c.Logger.Warn("the host refused a command message", "err", m)
			}
		case *wire.ExecOutput:
			x.mu.Lock()
			c := x.cmds[m.ID]
			x.mu.Unlock()
			if c == nil {
				continue
			}
			w := c.o.Stdout
			if m.Stream == wire.StreamStderr {
				w = c.o.Stderr
			}
			if w != nil {
				_, _ = w.Write(m.Data)
			}
		case *wire.ExecExit:
			x.mu.Lock()
			c := x.cmds[m.ID]
			x.mu.Unlock()
			if c != nil {
				c.exit <- m
			}
		case *wire.Ping:
			_ = x.ch.Send((*wire.Pong)(m))
		}
	}
}

func (x *execs) toStarter(m wire.Message) {
	x.mu.Lock()
	c := x.started
	x.mu.Unlock()
	if c != nil {
		select {
		case c <- m:
		default:
		}
	}
}
