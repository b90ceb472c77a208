package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/internal/setupname"
	"github.com/tandem-rc/tandem/transport"
)

// startRelay runs the real relay in-process on 127.0.0.1 with an owner
// allowed to create OnDemand keys, logged in.
func startRelay(t *testing.T) (url string, c *guest.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := relaytest.Start(t, slog.New(slog.DiscardHandler))
	relaytest.AllowOnDemand(t, r.Srv)
	url = r.URL
	const email, password = relaytest.OwnerEmail, relaytest.OwnerPassword
	var err error
	if c, err = guest.NewClient(url, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(ctx, email, password); err != nil {
		t.Fatal(err)
	}
	return url, c
}

// pixels counts the pixels near colour rgb.
func pixels(d *captest.XWD, r, g, b byte) int {
	n := 0
	for i := 0; i+2 < len(d.RGB); i += 3 {
		if near(d.RGB[i], r) && near(d.RGB[i+1], g) && near(d.RGB[i+2], b) {
			n++
		}
	}
	return n
}

// TestProgramWithRelay: the real program, named as the relay serves it,
// against the real relay: it joins with nothing typed, the technician
// starts the session, the window asks (Deny has the focus; Tab, Space
// allows), shows the connected technician, the screen streams to the
// guest, Ctrl+Shift+X ends the session for the guest too, and the program
// exits with status 0, leaving nothing behind.
func TestProgramWithRelay(t *testing.T) {
	for _, tool := range []string{"xdotool", "xwd"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is missing", tool)
			}
			t.Skipf("no %s", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	x := captest.StartX(t, 640, 400)
	url, c := startRelay(t)
	od, err := c.CreateOnDemand(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	name, err := setupname.OnDemandName(url, od.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, name)
	if err := os.Rename(buildAgent(t, dir), bin); err != nil {
		t.Fatal(err)
	}
	home, tmp := t.TempDir(), t.TempDir()
	cmd := exec.CommandContext(ctx, bin, "--ice-loopback", "--display", x.Display)
	cmd.Env = append(x.Env(), "HOME="+home, "TMPDIR="+tmp)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	win, err := x.WaitWindow(ctx, "Tandem OnDemand")
	if err != nil {
		t.Fatalf("no window: %v\n%s", err, &out)
	}
	xdo := func(args ...string) {
		t.Helper()
		if o, err := x.Command(ctx, "xdotool", args...).CombinedOutput(); err != nil {
			t.Fatalf("xdotool %v: %v %s", args, err, o)
		}
	}

	// The technician starts it as soon as the agent is online.
	sess := make(chan *guest.Session, 1)
	go func() {
		for {
			s, err := c.Connect(ctx, "", guest.ConnectOptions{OnDemand: od.Key, Transport: transport.Config{Loopback: true, Logger: slog.New(slog.DiscardHandler)}})
			var ae *guest.APIError
			if errors.As(err, &ae) && (ae.Code == "device_offline" || ae.Code == "conflict") && ctx.Err() == nil {
				select { // not in the queue yet
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			if err != nil {
				t.Errorf("connect: %v", err)
				close(sess)
				return
			}
			sess <- s
			return
		}
	}()
	screenUntil(t, ctx, x, "relay-consent", func(d *captest.XWD) bool { return pixels(d, 0xf5, 0x9e, 0x0b) > 60 })
	xdo("windowfocus", "--sync", win)
	xdo("key", "Tab", "space")
	screenUntil(t, ctx, x, "relay-session", func(d *captest.XWD) bool { return pixels(d, 0x2e, 0xa0, 0x43) > 60 })
	s, ok := <-sess
	if !ok {
		t.Fatalf("no session\n%s", &out)
	}
	defer s.Close()
	if err := s.WaitFrames(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if info := s.Info(); info == nil || len(info.Permissions) == 0 {
		t.Fatalf("session info %+v", info)
	}

	xdo("key", "ctrl+shift+x")
	select {
	case <-s.Done():
	case <-ctx.Done():
		t.Fatal("Ctrl+Shift+X did not end the guest's session")
	}
	screenUntil(t, ctx, x, "relay-ended", func(d *captest.XWD) bool {
		return pixels(d, 0x2e, 0xa0, 0x43) == 0 && windowPixels(d) > 50000
	})
	xdo("windowfocus", "--sync", win)
	xdo("key", "space")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, &out)
	}
	nothingLeft(t, &out, home, tmp)
	if l, err := c.OnDemandSessions(ctx); err != nil || len(l) != 0 {
		t.Fatalf("the key outlived its session: %+v %v", l, err)
	}
}
