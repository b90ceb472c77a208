package agent

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"image"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/internal/captest"
)

// TestSessionAgent: the macOS daemon's link to its per-user LaunchAgent,
// run here with a real X capture and real input behind the agent. The
// daemon leaves a ticket for the console user (another uid than the
// agent's process here, so the hand-over by chown is real); the agent
// connects with it and serves the screen's pixels and the pointer; each
// new helper gets a new ticket and secret, so the old secret is refused.
func TestSessionAgent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: tickets are handed to another uid and read from a root-owned directory")
	}
	x := captest.StartX(t, 320, 240)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	openCapture := func() (capture.Capturer, error) {
		return capture.Open(capture.Options{Display: x.Display, Logger: log})
	}
	openInput := func() (input.Injector, error) { return input.Open(input.Options{Display: x.Display, Logger: log}) }

	const uid = 4242 // the console user the tickets are for
	dir := filepath.Join(t.TempDir(), "run")
	var secrets [][]byte
	b, err := NewHelperBridge(log, func(addr string, secret []byte) error {
		secrets = append(secrets, bytes.Clone(secret))
		return WriteAgentTicket(dir, uid, addr, secret)
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.Run(ctx) }()
	defer b.Close()
	agentDone := make(chan error, 1)
	go func() { agentDone <- RunSessionAgent(ctx, dir, uid, 20*time.Millisecond, openCapture, openInput, log) }()

	c, err := b.OpenCapture()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(ticketPath(dir, uid))
	if err != nil {
		t.Fatal(err)
	}
	if owner := fi.Sys().(*syscall.Stat_t).Uid; fi.Mode().Perm() != 0o600 || owner != uid {
		t.Fatalf("ticket mode %v owner %d, want 0600 owned by %d", fi.Mode().Perm(), owner, uid)
	}
	direct, err := openCapture()
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	r := image.Rect(5, 6, 105, 56)
	want, err := direct.Grab(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Grab(r, nil)
	if err != nil || !bytes.Equal(got.Pix, want.Pix) {
		t.Fatalf("grab through the agent: %v (equal %v)", err, err == nil && bytes.Equal(got.Pix, want.Pix))
	}
	inj, err := b.OpenInput()
	if err != nil {
		t.Fatal(err)
	}
	if err := inj.MoveMouse(77, 88); err != nil {
		t.Fatal(err)
	}
	if p := captest.Pointer(t, x); p != image.Pt(77, 88) {
		t.Fatalf("pointer at %v, want (77,88)", p)
	}

	// The daemon drops the agent (the console's user changed): the next
	// capture writes a new ticket with a new secret and the agent comes back.
	b.Drop()
	c2, err := b.OpenCapture()
	if err != nil {
		t.Fatalf("after drop: %v", err)
	}
	c2.Close()
	if len(secrets) != 2 || bytes.Equal(secrets[0], secrets[1]) {
		t.Fatalf("%d tickets; a new helper must get a new secret", len(secrets))
	}
	// Whoever holds the first ticket's secret is now refused.
	imp, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = imp.Write(secrets[0])
	_ = imp.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := imp.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !strings.Contains(errString(err), "reset") {
		t.Fatalf("old secret: %v", err)
	}
	imp.Close()
	if _, err := c.Grab(r, nil); err != nil {
		t.Fatalf("the agent was displaced by the old secret: %v", err)
	}
	cancel()
	if err := <-agentDone; err != nil {
		t.Fatal(err)
	}
}

// TestAgentTicketRefused: a ticket anyone but root (or the user) could
// have written, or one pointing off this machine, is not followed: it
// would send the user's screen to its writer.
func TestAgentTicketRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: tickets are read from a root-owned directory")
	}
	const uid = 4243
	secret := bytes.Repeat([]byte{9}, HelperSecretSize)
	good := "127.0.0.1:4000 " + hex.EncodeToString(secret) + "\n"
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir, p string)
	}{
		{"directory others may write to", func(t *testing.T, dir, p string) { must(t, os.Chmod(dir, 0o777)) }},
		{"directory of another user", func(t *testing.T, dir, p string) { must(t, os.Chown(dir, 1000, -1)) }},
		{"ticket readable by others", func(t *testing.T, dir, p string) { must(t, os.Chmod(p, 0o644)) }},
		{"ticket of a third user", func(t *testing.T, dir, p string) { must(t, os.Chown(p, 1001, -1)) }},
		{"ticket is a symlink", func(t *testing.T, dir, p string) {
			other := filepath.Join(t.TempDir(), "t")
			must(t, os.WriteFile(other, []byte(good), 0o600))
			must(t, os.Remove(p))
			must(t, os.Symlink(other, p))
		}},
		{"address off this machine", func(t *testing.T, dir, p string) {
			must(t, os.WriteFile(p, []byte("10.1.2.3:4000 "+hex.EncodeToString(secret)), 0o600))
		}},
		{"short secret", func(t *testing.T, dir, p string) {
			must(t, os.WriteFile(p, []byte("127.0.0.1:4000 abcd"), 0o600))
		}},
		{"oversized", func(t *testing.T, dir, p string) {
			must(t, os.WriteFile(p, bytes.Repeat([]byte("a"), 1<<20), 0o600))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			must(t, WriteAgentTicket(dir, uid, "127.0.0.1:4000", secret))
			if _, _, _, err := readAgentTicket(dir, uid); err != nil {
				t.Fatalf("the good ticket: %v", err)
			}
			tc.setup(t, dir, ticketPath(dir, uid))
			if addr, _, _, err := readAgentTicket(dir, uid); err == nil || errors.Is(err, errNoTicket) {
				t.Fatalf("followed to %q (%v)", addr, err)
			}
		})
	}
	// No ticket yet is not a problem to report.
	if _, _, _, err := readAgentTicket(filepath.Join(t.TempDir(), "none"), uid); !errors.Is(err, errNoTicket) {
		t.Fatalf("no directory: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
