package agent

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

// ExecOptions configure command execution (sessions granted execute_command).
//
// Commands run as the user the agent runs as, with its environment. The
// Host service runs as root (LocalSystem on Windows); running them as the
// logged-in user instead needs that user's credentials and environment
// (setuid/setgid from logind's active session, CreateProcessAsUser with
// WTSQueryUserToken) — not done yet.
type ExecOptions struct {
	// MaxConcurrent bounds the commands running at once per session; 0
	// means DefaultMaxCommands.
	MaxConcurrent int
	// MaxTimeout caps every command's run time (also when the guest asks
	// for none); 0 means no cap of the host's.
	MaxTimeout time.Duration
	// AsUser, when set, runs commands as the logged-in desktop user it
	// returns (uid, gid, groups, HOME, USER, DISPLAY) instead of as the
	// host's own account (root for the service); nil from it refuses the
	// command, so nothing silently runs as root. Linux/Unix only.
	AsUser func() *Desktop
}

// DefaultMaxCommands is the per-session limit when none is configured.
const DefaultMaxCommands = 4

const (
	execHighWater = 512 << 10 // output pacing: bytes queued on the exec channel
	maxArgvBytes  = 32 << 10  // a command line (Windows caps one at 32 767 characters)
	// execWaitDelay bounds the wait for output pipes a command's leftover
	// children keep open after it exited.
	execWaitDelay = 2 * time.Second
)

type execRun struct {
	id      uint32
	argv    []string
	ch      *transport.Channel
	ctx     context.Context
	cancel  context.CancelFunc
	reason  atomic.Uint32 // wire.ExecCancelled when the guest cancelled
	started chan struct{} // closed once ExecStarted went out: output follows it
}

// execServer runs one session's commands.
type execServer struct {
	s   *Session
	ctx context.Context
	log *slog.Logger
	max int

	mu     sync.Mutex
	closed bool
	runs   map[uint32]*execRun
	wg     sync.WaitGroup
}

func newExecServer(ctx context.Context, s *Session) *execServer {
	max := s.h.o.Exec.MaxConcurrent
	if max <= 0 {
		max = DefaultMaxCommands
	}
	return &execServer{s: s, ctx: ctx, log: s.log, max: max, runs: map[uint32]*execRun{}}
}

// close kills every running command (its process group) and waits for it.
func (x *execServer) close() {
	x.mu.Lock()
	x.closed = true
	for _, r := range x.runs {
		r.reason.CompareAndSwap(0, uint32(wire.ExecCancelled))
		r.cancel()
	}
	x.mu.Unlock()
	x.wg.Wait()
}

// handle runs one exec message; the caller checked the permission.
func (x *execServer) handle(ch *transport.Channel, m wire.Message) error {
	switch m := m.(type) {
	case *wire.ExecStart:
		if ferr := x.start(ch, m); ferr != nil {
			x.log.Warn("command refused", "argv", clip(m.Argv), "reason", ferr.msg)
			x.s.h.event(Event{Kind: "refused", SessionID: x.s.g.SessionID, Technician: technician(x.s.g), Detail: "execute command: " + ferr.msg})
			return ch.Send(&wire.Error{Code: ferr.code, Ref: m.Type(), Message: ferr.msg})
		}
		return nil
	case *wire.ExecCancel:
		x.mu.Lock()
		if r := x.runs[m.ID]; r != nil {
			r.reason.CompareAndSwap(0, uint32(wire.ExecCancelled))
			r.cancel()
		}
		x.mu.Unlock()
		return nil // one that already ended has sent its ExecExit
	}
	return ch.Send(&wire.Error{Code: wire.ErrCodeBadRequest, Ref: m.Type(), Message: fmt.Sprintf("a guest does not send message 0x%02x", uint8(m.Type()))})
}

// checkCommand refuses a command line before anything runs.
func checkCommand(m *wire.ExecStart) *fileErr {
	if len(m.Argv) == 0 || m.Argv[0] == "" {
		return refusedf(wire.ErrCodeBadRequest, "empty command: send the program and its arguments")
	}
	total := 0
	for i, a := range m.Argv {
		if strings.IndexByte(a, 0) >= 0 {
			return refusedf(wire.ErrCodeBadRequest, "argument %d contains a NUL byte", i)
		}
		total += len(a) + 1
	}
	if total > maxArgvBytes {
		return refusedf(wire.ErrCodeTooLarge, "the command line is %d bytes; this host accepts up to %d", total, maxArgvBytes)
	}
	if strings.IndexByte(m.Dir, 0) >= 0 {
		return refusedf(wire.ErrCodeBadRequest, "the working directory contains a NUL byte")
	}
	if m.Dir != "" && !filepath.IsAbs(m.Dir) {
		return refusedf(wire.ErrCodeBadRequest, "working directory %q refused: it must be an absolute path on the host", m.Dir)
	}
	return nil
}

func (x *execServer) start(ch *transport.Channel, m *wire.ExecStart) *fileErr {
	if ch.Label() != wire.ChannelExec {
		return refusedf(wire.ErrCodeBadRequest, "command messages go on the exec channel")
	}
	if ferr := checkCommand(m); ferr != nil {
		return ferr
	}
	dir := m.Dir
	if dir == "" {
		dir, _ = os.UserHomeDir() // else the agent's own working directory
	} else if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return refusedf(wire.ErrCodeNotFound, "working directory %q does not exist on the host", m.Dir)
	}
	prog, err := exec.LookPath(m.Argv[0])
	if err != nil {
		return refusedf(wire.ErrCodeNotFound, "program %q not found on the host: %v", m.Argv[0], errors.Unwrap(err))
	}

	x.mu.Lock()
	defer x.mu.Unlock()
	switch {
	case x.closed:
		return refusedf(wire.ErrCodeBadRequest, "the session is ending")
	case x.runs[m.ID] != nil:
		return refusedf(wire.ErrCodeBadRequest, "command %d is already running", m.ID)
	case len(x.runs) >= x.max:
		return refusedf(wire.ErrCodeBadRequest, "too many commands at once (at most %d per session)", x.max)
	}
	timeout := time.Duration(m.TimeoutMs) * time.Millisecond
	if max := x.s.h.o.Exec.MaxTimeout; max > 0 && (timeout == 0 || timeout > max) {
		timeout = max
	}
	ctx, cancel := context.WithCancel(x.ctx)
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(x.ctx, timeout)
	}
	r := &execRun{id: m.ID, argv: m.Argv, ch: ch, ctx: ctx, cancel: cancel, started: make(chan struct{})}
	cmd := exec.CommandContext(ctx, prog, m.Argv[1:]...)
	cmd.Args[0] = m.Argv[0]
	cmd.Dir = dir
	cmd.Stdout = &execWriter{r: r, stream: wire.StreamStdout}
	cmd.Stderr = &execWriter{r: r, stream: wire.StreamStderr}
	cmd.WaitDelay = execWaitDelay
	ownProcessGroup(cmd)
	cmd.Cancel = func() error { return killProcessGroup(cmd) }
	if as := x.s.h.o.Exec.AsUser; as != nil {
		d := as()
		known, own := false, false
		if d != nil {
			known, own = desktopUser(d)
		}
		if !known {
			cancel()
			return refusedf(wire.ErrCodeDenied, "this host runs commands as the logged-in user, and nobody is logged in")
		}
		cmd.Env = d.Env(os.Environ(), true)
		if m.Dir == "" {
			cmd.Dir = "/" // the host's home is not the user's
			if fi, err := os.Stat(d.Home); err == nil && fi.IsDir() {
				cmd.Dir = d.Home
			}
		}
		if !own {
			if err := runAsUser(cmd, d); err != nil {
				cancel()
				return refusedf(wire.ErrCodeDenied, "cannot run as %s: %v", d.User, err)
			}
		}
	}
	if err := cmd.Start(); err != nil {
		cancel()
		switch {
		case errors.Is(err, iofs.ErrPermission):
			return refusedf(wire.ErrCodeDenied, "the host may not run %q: %v", m.Argv[0], err)
		case errors.Is(err, iofs.ErrNotExist):
			return refusedf(wire.ErrCodeNotFound, "%q: %v", m.Argv[0], err)
		}
		return refusedf(wire.ErrCodeInternal, "starting %q failed: %v", m.Argv[0], err)
	}
	// ExecStarted precedes all output: the writers wait for started.
	if err := ch.Send(&wire.ExecStarted{ID: m.ID, PID: uint32(cmd.Process.Pid)}); err != nil {
		cancel()
	}
	close(r.started)
	x.runs[m.ID] = r
	x.wg.Add(1)
	x.log.Info("command started", "id", m.ID, "argv", clip(m.Argv), "dir", dir, "pid", cmd.Process.Pid, "timeout", timeout)
	x.s.h.event(Event{Kind: "command_started", SessionID: x.s.g.SessionID, Technician: technician(x.s.g), Detail: clip(m.Argv)})
	go x.wait(r, cmd, timeout)
	return nil
}

// wait reaps a command and sends its ExecExit after all its output.
func (x *execServer) wait(r *execRun, cmd *exec.Cmd, timeout time.Duration) {
	defer x.wg.Done()
	err := cmd.Wait()
	exit := &wire.ExecExit{ID: r.id, Status: wire.ExecExited}
	st := cmd.ProcessState
	if st != nil {
		exit.Code = int32(st.ExitCode())
	}
	reason := uint8(r.reason.Load())
	if reason == 0 && errors.Is(r.ctx.Err(), context.DeadlineExceeded) {
		reason = wire.ExecTimedOut
	}
	if reason == 0 && x.ctx.Err() != nil {
		reason = wire.ExecCancelled // the session ended
	}
	sig, signaled := exitSignal(st)
	switch {
	case reason == wire.ExecTimedOut:
		exit.Status, exit.Message = reason, fmt.Sprintf("timed out after %v; the host killed its process group", timeout)
	case reason == wire.ExecCancelled:
		exit.Status, exit.Message = reason, "cancelled; the host killed its process group"
	case signaled:
		exit.Status, exit.Code, exit.Message = wire.ExecKilled, int32(sig), "killed by a signal: "+st.String()
	case st == nil:
		exit.Status, exit.Code, exit.Message = wire.ExecFailed, -1, fmt.Sprintf("the host lost the command: %v", err)
	case errors.Is(err, exec.ErrWaitDelay):
		exit.Message = "exited; output its children still wrote was cut off"
	}
	r.cancel()
	x.mu.Lock()
	delete(x.runs, r.id)
	x.mu.Unlock()
	_ = r.ch.Send(exit)
	x.log.Info("command ended", "id", r.id, "argv", clip(r.argv), "status", exit.Status, "code", exit.Code, "message", exit.Message)
	x.s.h.event(Event{Kind: "command_ended", SessionID: x.s.g.SessionID, Technician: technician(x.s.g),
		Detail: fmt.Sprintf("%s: status %d, code %d", clip(r.argv), exit.Status, exit.Code)})
}

// execWriter streams one of a command's outputs, paced on the exec
// channel's buffer: while the guest is slow, Write blocks, the pipe fills
// and the command blocks writing.
type execWriter struct {
	r      *execRun
	stream uint8
}

func (w *execWriter) Write(p []byte) (int, error) {
	<-w.r.started
	n := 0
	for len(p) > 0 {
		if err := w.r.ch.WaitBuffered(w.r.ctx, execHighWater); err != nil {
			return n, err
		}
		c := min(len(p), wire.MaxExecChunk)
		if err := w.r.ch.Send(&wire.ExecOutput{ID: w.r.id, Stream: w.stream, Data: p[:c]}); err != nil {
			return n, err
		}
		n += c
		p = p[c:]
	}
	return n, nil
}

// clip is a command line for logs and events, cut at a readable length.
func clip(argv []string) string {
	s := fmt.Sprintf("%q", argv)
	if len(s) > 300 {
		s = s[:300] + fmt.Sprintf("…(%d bytes)", len(s))
	}
	return s
}
