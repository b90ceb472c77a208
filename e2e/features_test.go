package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/agent"
	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/transport/wire"
)

// chatScreen stands in for the local user's chat window: it keeps what the
// host showed.
type chatScreen struct{ shown chan agent.ChatMessage }

func (c *chatScreen) Show(m agent.ChatMessage) { c.shown <- m }

func (c *chatScreen) next(t *testing.T) agent.ChatMessage {
	t.Helper()
	select {
	case m := <-c.shown:
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("the host showed no chat message")
	}
	return agent.ChatMessage{}
}

// recordedPower records power actions: carrying them out would lock or
// reboot the machine running the tests (the Linux commands are unit-tested
// in agent/power_linux_test.go).
type recordedPower struct {
	mu      sync.Mutex
	actions []agent.PowerAction
}

func (p *recordedPower) Do(_ context.Context, a agent.PowerAction) error {
	if a == agent.PowerCtrlAltDel {
		return errors.ErrUnsupported // as on Linux
	}
	p.mu.Lock()
	p.actions = append(p.actions, a)
	p.mu.Unlock()
	return nil
}

func (p *recordedPower) list() []agent.PowerAction {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]agent.PowerAction(nil), p.actions...)
}

type events struct {
	mu sync.Mutex
	ev []agent.Event
}

func (e *events) add(ev agent.Event) { e.mu.Lock(); e.ev = append(e.ev, ev); e.mu.Unlock() }
func (e *events) count(kind string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.ev {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

// reaches waits until kind was recorded n times: the host records some
// events just after sending what the test already received.
func (e *events) reaches(kind string, n int) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if e.count(kind) >= n {
			return e.count(kind) == n
		}
	}
	return false
}

type featureEnv struct {
	env    *env
	host   *hostHandle
	chat   *chatScreen
	power  *recordedPower
	events *events
}

func newFeatureEnv(tb testing.TB) *featureEnv {
	x := captest.StartX(tb, 640, 480)
	fe := &featureEnv{env: newEnv(tb), chat: &chatScreen{shown: make(chan agent.ChatMessage, 16)}, power: &recordedPower{}, events: &events{}}
	fe.host = fe.env.startHost(tb, x.Display, false, func(o *agent.Options) {
		o.ChatUI = fe.chat
		o.Power = fe.power
		o.OnEvent = fe.events.add
	})
	return fe
}

// syncBuffer is a bytes.Buffer a command writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestChatThroughRelay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fe := newFeatureEnv(t)
	s := fe.env.connect(t, ctx, fe.host.hostname, false)
	if err := s.Chat().Send(ctx, "Hello, this is IT.\nMay I restart Outlook?"); err != nil {
		t.Fatal(err)
	}
	m := fe.chat.next(t)
	if m.Text != "Hello, this is IT.\nMay I restart Outlook?" || !strings.Contains(m.Technician, ownerEmail) {
		t.Fatalf("the local user saw %+v", m)
	}
	if err := m.Reply("Yes, go ahead ✓"); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-s.Chat().Messages():
		if r.Text != "Yes, go ahead ✓" || r.Seq != 1 {
			t.Fatalf("the technician got %+v", r)
		}
	case <-ctx.Done():
		t.Fatal("the reply never reached the guest")
	}
	if err := s.Chat().Send(ctx, "bell\a"); !errors.Is(err, wire.ErrChatText) {
		t.Fatalf("control character: %v", err)
	}
	if fe.events.count("chat_received") != 1 || !fe.events.reaches("chat_sent", 1) {
		t.Fatal("chat not audited on the host")
	}
}

func TestExecThroughRelay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fe := newFeatureEnv(t)
	s := fe.env.connect(t, ctx, fe.host.hostname, false)
	var out, errb syncBuffer
	res, err := s.Exec(ctx, []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, guest.ExecOptions{Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != wire.ExecExited || res.Code != 3 || res.ExitCode() != 3 || out.String() != "out\n" || errb.String() != "err\n" {
		t.Fatalf("result %+v, stdout %q, stderr %q", res, out.String(), errb.String())
	}

	// 5 MiB of output arrives whole and in order.
	var big bytes.Buffer
	res, err = s.Exec(ctx, []string{"sh", "-c", "yes | head -c 5M"}, guest.ExecOptions{Stdout: &big})
	if err != nil || res.Code != 0 || big.Len() != 5<<20 || !bytes.Equal(big.Bytes(), bytes.Repeat([]byte("y\n"), 5<<19)) {
		t.Fatalf("big output: %+v, %v, %d bytes", res, err, big.Len())
	}

	// Cancelling the context kills the command on the host.
	cctx, ccancel := context.WithCancel(ctx)
	started := &cancelOnWrite{cancel: ccancel}
	res, err = s.Exec(cctx, []string{"sh", "-c", "echo running; sleep 60"}, guest.ExecOptions{Stdout: started})
	if !errors.Is(err, context.Canceled) || res == nil || res.Status != wire.ExecCancelled || res.ExitCode() != 130 {
		t.Fatalf("cancelled command: %+v, %v", res, err)
	}

	// Refusals are clear errors.
	if _, err := s.Exec(ctx, []string{"true"}, guest.ExecOptions{Dir: "relative/dir"}); wireCode(err) != wire.ErrCodeBadRequest || !strings.Contains(err.Error(), "absolute") {
		t.Fatalf("relative dir: %v", err)
	}
	if _, err := s.Exec(ctx, []string{"tandem-no-such-program"}, guest.ExecOptions{}); wireCode(err) != wire.ErrCodeNotFound {
		t.Fatalf("missing program: %v", err)
	}
	if fe.events.count("command_started") != 3 || !fe.events.reaches("command_ended", 3) {
		t.Fatal("commands not audited on the host")
	}
}

// cancelOnWrite cancels once the command has printed something.
type cancelOnWrite struct {
	once   sync.Once
	cancel context.CancelFunc
}

func (c *cancelOnWrite) Write(p []byte) (int, error) { c.once.Do(c.cancel); return len(p), nil }

func TestPowerThroughRelay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fe := newFeatureEnv(t)
	s := fe.env.connect(t, ctx, fe.host.hostname, false)
	for _, a := range []uint8{wire.PowerLock, wire.PowerLogout, wire.PowerRestart, wire.PowerShutdown} {
		if err := s.Power(ctx, a); err != nil {
			t.Fatalf("%s: %v", wire.PowerActionName(a), err)
		}
	}
	if got := fe.power.list(); len(got) != 4 || got[0] != agent.PowerLock || got[3] != agent.PowerShutdown {
		t.Fatalf("carried out %v", got)
	}
	if err := s.Power(ctx, wire.PowerCtrlAltDel); wireCode(err) != wire.ErrCodeUnsupported {
		t.Fatalf("Ctrl+Alt+Del on Linux: %v", err)
	}
}

// The command line: chat, exec and power against a real host.
func TestFeaturesCLI(t *testing.T) {
	fe := newFeatureEnv(t)
	c := fe.env.login(t)
	cfg := t.TempDir()
	if err := guest.SaveState(cfg, &guest.State{Relay: c.Relay, Email: ownerEmail, Token: c.Token}); err != nil {
		t.Fatal(err)
	}
	run := func(stdin io.Reader, stdout, stderr io.Writer, args ...string) error {
		cmd := guest.Command()
		cmd.SetArgs(append([]string{"--config", cfg, "--ice-loopback", "--log-level", "error"}, args...))
		cmd.SetIn(stdin)
		cmd.SetOut(stdout)
		cmd.SetErr(stderr)
		return cmd.Execute()
	}

	var out, errb syncBuffer
	err := run(nil, &out, &errb, "exec", fe.host.hostname, "--", "sh", "-c", "echo hello; echo oops >&2; exit 5")
	var ee *guest.ExitError
	if !errors.As(err, &ee) || ee.Code != 5 || out.String() != "hello\n" || errb.String() != "oops\n" {
		t.Fatalf("exec: %v, stdout %q, stderr %q", err, out.String(), errb.String())
	}
	dir := t.TempDir()
	out = syncBuffer{}
	if err := run(nil, &out, io.Discard, "exec", fe.host.hostname, "--dir", dir, "--", "pwd"); err != nil {
		t.Fatal(err)
	}
	if real, _ := filepath.EvalSymlinks(dir); strings.TrimSpace(out.String()) != real {
		t.Fatalf("pwd printed %q, want %q", out.String(), real)
	}

	out = syncBuffer{}
	if err := run(nil, &out, io.Discard, "power", fe.host.hostname, "lock"); err != nil || !strings.Contains(out.String(), "lock done") {
		t.Fatalf("power: %v, %q", err, out.String())
	}
	if err := run(nil, io.Discard, io.Discard, "power", fe.host.hostname, "hibernate"); err == nil || !strings.Contains(err.Error(), "unknown power action") {
		t.Fatalf("unknown action: %v", err)
	}

	// chat: a line typed goes to the local user; the answer is printed.
	pr, pw := io.Pipe()
	out = syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(pr, &out, io.Discard, "chat", fe.host.hostname) }()
	if _, err := io.WriteString(pw, "Can you see my cursor?\r\n"); err != nil {
		t.Fatal(err)
	}
	m := fe.chat.next(t)
	if m.Text != "Can you see my cursor?" {
		t.Fatalf("shown %q", m.Text)
	}
	if err := m.Reply("Yes\nit's moving"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "Yes\nit's moving\n"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("chat printed %q", out.String())
		}
	}
	pw.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("chat did not end with its input")
	}
}

// TestRoleWithoutSessionFeatures: a role that gives view_screen and
// file_transfer only yields a grant without chat, execute_command and
// power; a guest that sends those messages anyway is refused by the Host
// itself, and nothing is shown, run or done there.
func TestRoleWithoutSessionFeatures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fe := newFeatureEnv(t)
	_, s := fe.env.roleSession(t, ctx, "helper@example.com", fe.host.hostname, policy.ViewScreen, policy.FileTransfer)
	for _, p := range []policy.Permission{policy.Chat, policy.ExecuteCommand, policy.PowerActions} {
		for _, have := range s.Perms {
			if have == string(p) {
				t.Fatalf("the grant carries %s: %v", p, s.Perms)
			}
		}
	}

	if err := s.Chat().Send(ctx, "hello"); wireCode(err) != wire.ErrCodeDenied || !strings.Contains(err.Error(), "chat") {
		t.Fatalf("chat without the permission: %v", err)
	}
	marker := filepath.Join(t.TempDir(), "ran")
	if _, err := s.Exec(ctx, []string{"touch", marker}, guest.ExecOptions{}); wireCode(err) != wire.ErrCodeDenied || !strings.Contains(err.Error(), "execute_command") {
		t.Fatalf("exec without the permission: %v", err)
	}
	if err := s.Power(ctx, wire.PowerRestart); wireCode(err) != wire.ErrCodeDenied || !strings.Contains(err.Error(), "power") {
		t.Fatalf("power without the permission: %v", err)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the command ran: %v", err)
	}
	if got := fe.power.list(); len(got) != 0 {
		t.Fatalf("power actions carried out: %v", got)
	}
	select {
	case m := <-fe.chat.shown:
		t.Fatalf("the local user was shown %+v", m)
	default:
	}
	if !fe.events.reaches("refused", 3) {
		n := fe.events.count("refused")
		t.Fatalf("%d refusals audited on the host, want 3", n)
	}
	// The local user cannot open a chat into this session either.
	if err := fe.host.h.SendChat(s.ID, "hi"); !errors.Is(err, agent.ErrChatNotGranted) {
		t.Fatalf("SendChat: %v", err)
	}
}
