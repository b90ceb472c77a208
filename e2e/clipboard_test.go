package e2e

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/jezek/xgb/xproto"
	"github.com/spf13/cobra"

	"github.com/tandem-rc/tandem/agent"
	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/internal/xext"
	"github.com/tandem-rc/tandem/internal/xvfb"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

func needXclip(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("xclip"); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatal("xclip not installed (scripts/deps.sh test)")
		}
		tb.Skip("skipping: xclip not installed (scripts/deps.sh test)")
	}
}

// deskEnv is a relay and a host whose clipboard, input lock and blanking
// work on a private Xvfb.
func deskEnv(tb testing.TB) (*env, *hostHandle, *xvfb.Server) {
	needXclip(tb)
	x := captest.StartX(tb, 640, 480)
	e := newEnv(tb)
	local := agent.LocalOptions{Display: x.Display, Logger: e.log}
	h := e.startHost(tb, x.Display, false, func(o *agent.Options) {
		o.Clipboard = func() (agent.Clipboard, error) { return agent.OpenClipboard(local) }
		o.InputLock = func() (agent.InputLocker, error) { return agent.OpenInputLocker(local) }
		o.ScreenBlank = func() (agent.ScreenBlanker, error) { return agent.OpenScreenBlanker(local) }
	})
	return e, h, x
}

// TestClipboard: through a real relay, the technician's text is pasted on
// the host and the host's copied text reaches the technician; when the
// session ends its text leaves the host, and the next session never sees it.
func TestClipboard(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e, h, x := deskEnv(t)
	s := e.connect(t, ctx, h.hostname, false)

	const secretText = "password of technician 1: hunter2 ✓"
	if err := s.SetClipboard(ctx, secretText); err != nil {
		t.Fatal(err)
	}
	if got, ok := captest.Paste(t, x); !ok || got != secretText {
		t.Fatalf("host paste = %q (%v)", got, ok)
	}
	if got, err := s.Clipboard(ctx); err != nil || got != secretText {
		t.Fatalf("Clipboard = %q, %v", got, err)
	}
	s.Close()
	for i := 0; ; i++ { // the host withdraws it once it has seen the session end
		if _, ok := captest.Paste(t, x); !ok {
			break
		}
		if i == 400 {
			t.Fatal("the ended session's text stayed on the host's clipboard")
		}
		time.Sleep(25 * time.Millisecond)
	}

	// A second technician: sees nothing of the first, then gets what the
	// host's user copies, pushed and on request.
	pushed := make(chan string, 4)
	s2, err := e.login(t).Connect(ctx, h.hostname, guest.ConnectOptions{Transport: transport.Config{Loopback: true, Logger: e.log},
		OnClipboard: func(text string) { pushed <- text }})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got, err := s2.Clipboard(ctx); err != nil || got != "" {
		t.Fatalf("second session's Clipboard = %q, %v", got, err)
	}
	if got := <-pushed; got != "" {
		t.Fatalf("answer pushed %q", got)
	}
	captest.Copy(t, x, "copied on the host")
	select {
	case got := <-pushed:
		if got != "copied on the host" {
			t.Fatalf("pushed %q", got)
		}
	case <-ctx.Done():
		t.Fatal("the host's copy never reached the technician")
	}
	if got, err := s2.Clipboard(ctx); err != nil || got != "copied on the host" {
		t.Fatalf("Clipboard = %q, %v", got, err)
	}
}

// TestRoleWithoutLocalDesk: a role with view_screen and keyboard_mouse only
// yields a grant without clipboard, lock_input and blank_screen; a guest
// that asks anyway is refused by the Host and nothing changes there.
func TestRoleWithoutLocalDesk(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e, h, x := deskEnv(t)
	captest.Copy(t, x, "the user's text")
	_, s := e.roleSession(t, ctx, "operator@example.com", h.hostname, policy.ViewScreen, policy.KeyboardMouse)
	if got := s.Perms; len(got) != 2 {
		t.Fatalf("session permissions %v, want view_screen and keyboard_mouse", got)
	}
	if err := s.SetClipboard(ctx, "from the guest"); wireCode(err) != wire.ErrCodeDenied {
		t.Fatalf("set clipboard without the permission: %v, want denied", err)
	}
	if _, err := s.Clipboard(ctx); wireCode(err) != wire.ErrCodeDenied {
		t.Fatalf("get clipboard without the permission: %v, want denied", err)
	}
	if err := s.LockInput(ctx, true); wireCode(err) != wire.ErrCodeDenied {
		t.Fatalf("lock input without the permission: %v, want denied", err)
	}
	if err := s.BlankScreen(ctx, true); wireCode(err) != wire.ErrCodeDenied {
		t.Fatalf("blank screen without the permission: %v, want denied", err)
	}
	if got, _ := captest.Paste(t, x); got != "the user's text" {
		t.Fatalf("the host's clipboard changed to %q", got)
	}
	if s.LocalState() != 0 {
		t.Fatalf("local state %d", s.LocalState())
	}
}

// The command line: clipboard set holds the text on the host while it
// runs and withdraws it when interrupted; clipboard get prints the host's
// text; lock holds the local keyboard and mouse until interrupted.
func TestClipboardCLI(t *testing.T) {
	e, h, x := deskEnv(t)
	c := e.login(t)
	cfg := t.TempDir()
	if err := guest.SaveState(cfg, &guest.State{Relay: c.Relay, Email: ownerEmail, Token: c.Token}); err != nil {
		t.Fatal(err)
	}
	cmd := func(out io.Writer, args ...string) *cobra.Command {
		cmd := guest.Command()
		cmd.SetArgs(append([]string{"--config", cfg, "--ice-loopback", "--log-level", "error"}, args...))
		cmd.SetOut(out)
		cmd.SetErr(io.Discard)
		return cmd
	}
	// background runs a holding command until it says it holds (on
	// stderr), and returns how to interrupt it.
	background := func(args ...string) (stop func() error) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		said := &signalWriter{c: make(chan struct{})}
		c := cmd(io.Discard, args...)
		c.SetErr(said)
		go func() { done <- c.ExecuteContext(ctx) }()
		select {
		case <-said.c:
		case err := <-done:
			cancel()
			t.Fatalf("%v: %v", args, err)
		}
		return func() error { cancel(); return <-done }
	}
	until := func(what string, cond func() bool) {
		t.Helper()
		for i := 0; !cond(); i++ {
			if i == 1200 {
				t.Fatalf("never: %s", what)
			}
			time.Sleep(25 * time.Millisecond)
		}
	}

	stop := background("clipboard", "set", h.hostname, "from the command line")
	if got, _ := captest.Paste(t, x); got != "from the command line" {
		t.Fatalf("the host pastes %q", got)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	until("the text leaves the host", func() bool { _, ok := captest.Paste(t, x); return !ok })

	captest.Copy(t, x, "host text")
	var out bytes.Buffer
	if err := cmd(&out, "clipboard", "get", h.hostname).Execute(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "host text" {
		t.Fatalf("clipboard get printed %q", out.String())
	}

	conn, err := xext.Dial(x.Display)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	root := xproto.Setup(conn).DefaultScreen(conn).Root
	keyboardFree := func() bool {
		r, err := xproto.GrabKeyboard(conn, false, root, xproto.TimeCurrentTime, xproto.GrabModeAsync, xproto.GrabModeAsync).Reply()
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != xproto.GrabStatusSuccess {
			return false
		}
		xproto.UngrabKeyboard(conn, xproto.TimeCurrentTime)
		_, _ = xproto.GetInputFocus(conn).Reply()
		return true
	}
	stop = background("lock", h.hostname)
	if keyboardFree() {
		t.Fatal("lock holds, yet the keyboard is free")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	until("the keyboard is free again", keyboardFree)
}

// signalWriter closes c on the first write.
type signalWriter struct {
	once sync.Once
	c    chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.c) })
	return len(p), nil
}
