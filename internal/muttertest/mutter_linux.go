//go:build linux

// Package muttertest starts a private headless GNOME compositor (Mutter)
// for tests: its own session bus (dbus-daemon), PipeWire and WirePlumber,
// runtime directory and home, and one virtual monitor per size asked.
//
// When the test runs as root, all of it runs as the unprivileged user
// nobody (dbus-daemon needs a password entry for its uid, so swaytest's
// anonymous uid does not do); the test process reaches the user's bus the
// way the Host service does (internal/mutter).
package muttertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/internal/mutter"
	"github.com/tandem-rc/tandem/internal/wl"
)

// ErrUnavailable means mutter, PipeWire or WirePlumber is not installed.
var ErrUnavailable = errors.New("muttertest: mutter, pipewire or wireplumber is not installed (run scripts/deps.sh test)")

// nobody is Debian's unprivileged user (uid and gid 65534).
const nobody = 65534

// Mutter is a running headless GNOME compositor with its session.
type Mutter struct {
	Dir        string // home; the runtime directory is Dir/run
	RuntimeDir string
	Bus        string // the session bus socket (absolute path)
	Socket     string // WAYLAND_DISPLAY (relative to RuntimeDir)
	UID, GID   int

	mu     sync.Mutex
	procs  []*exec.Cmd
	exited []chan struct{} // of the session's daemons
	closed bool
}

// Start runs dbus-daemon, pipewire, wireplumber and mutter with a virtual
// monitor per size ("1920x1080") and waits until Mutter's remote desktop
// API answers.
func Start(ctx context.Context, monitors ...string) (*Mutter, error) {
	for _, b := range []string{"dbus-daemon", "pipewire", "wireplumber", "mutter"} {
		if _, err := exec.LookPath(b); err != nil {
			return nil, ErrUnavailable
		}
	}
	if len(monitors) == 0 {
		monitors = []string{"1280x720"}
	}
	uid, gid := os.Getuid(), os.Getgid()
	if uid == 0 {
		uid, gid = nobody, nobody
	}
	dir, err := os.MkdirTemp("", "tandem-mutter-")
	if err != nil {
		return nil, err
	}
	m := &Mutter{Dir: dir, RuntimeDir: filepath.Join(dir, "run"), UID: uid, GID: gid}
	m.Bus = filepath.Join(m.RuntimeDir, "bus")
	fail := func(err error) (*Mutter, error) {
		m.Close()
		return nil, err
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		return fail(err)
	}
	if err := os.Mkdir(m.RuntimeDir, 0o700); err != nil {
		return fail(err)
	}
	for _, p := range []string{dir, m.RuntimeDir} {
		if err := os.Chown(p, uid, gid); err != nil {
			return fail(err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := m.run("dbus", "dbus-daemon", "--session", "--nofork", "--nopidfile", "--address=unix:path="+m.Bus); err != nil {
		return fail(err)
	}
	if err := m.await(ctx, "dbus", func() bool { _, err := os.Stat(m.Bus); return err == nil }); err != nil {
		return fail(err)
	}
	if err := m.run("pipewire", "pipewire"); err != nil {
		return fail(err)
	}
	if err := m.await(ctx, "pipewire", func() bool { _, err := os.Stat(filepath.Join(m.RuntimeDir, "pipewire-0")); return err == nil }); err != nil {
		return fail(err)
	}
	if err := m.run("wireplumber", "wireplumber"); err != nil {
		return fail(err)
	}
	args := []string{"--headless", "--wayland", "--no-x11"}
	for _, mon := range monitors {
		args = append(args, "--virtual-monitor", mon)
	}
	if err := m.run("mutter", "mutter", args...); err != nil {
		return fail(err)
	}
	err = m.await(ctx, "mutter", func() bool {
		ents, _ := os.ReadDir(m.RuntimeDir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "wayland-") && !strings.HasSuffix(e.Name(), ".lock") {
				c, err := wl.Dial(ctx, filepath.Join(m.RuntimeDir, e.Name()))
				if err != nil {
					return false
				}
				c.Close()
				m.Socket = e.Name()
				return strings.Contains(m.Log("mutter"), "Added virtual monitor") && m.remoteDesktopUp(ctx)
			}
		}
		return false
	})
	if err != nil {
		return fail(err)
	}
	return m, nil
}

// remoteDesktopUp: Mutter owns its remote desktop name on the bus.
func (m *Mutter) remoteDesktopUp(ctx context.Context) bool {
	conn, err := mutter.DialBus(ctx, m.Bus, m.UID)
	if err != nil {
		return false
	}
	defer conn.Close()
	var has bool
	err = conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, "org.gnome.Mutter.RemoteDesktop").Store(&has)
	return err == nil && has
}

// run starts a long-running part of the session, logging to Dir/name.log.
func (m *Mutter) run(name, bin string, args ...string) error {
	log, err := os.Create(filepath.Join(m.Dir, name+".log"))
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = m.Env()
	cmd.Dir = m.Dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = m.attr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("muttertest: start %s: %w", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	m.mu.Lock()
	m.procs = append(m.procs, cmd)
	m.exited = append(m.exited, done)
	m.mu.Unlock()
	return nil
}

// await polls ok (bounded by ctx) while the part named lives.
func (m *Mutter) await(ctx context.Context, name string, ok func() bool) error {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for !ok() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("muttertest: %s not ready: %w; log: %s", name, ctx.Err(), m.Log(name))
		case <-tick.C:
		}
	}
	return nil
}

func (m *Mutter) attr() *syscall.SysProcAttr {
	// Pdeathsig: a test binary that dies (a panic skips TestMain's
	// CloseShared) takes the session with it.
	a := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if os.Getuid() == 0 {
		a.Credential = &syscall.Credential{Uid: uint32(m.UID), Gid: uint32(m.GID), Groups: []uint32{}}
	}
	return a
}

// Env is the session's environment for its clients.
func (m *Mutter) Env() []string {
	env := []string{"HOME=" + m.Dir, "XDG_RUNTIME_DIR=" + m.RuntimeDir, "PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8",
		"DBUS_SESSION_BUS_ADDRESS=unix:path=" + m.Bus, "XDG_CURRENT_DESKTOP=GNOME", "XDG_SESSION_TYPE=wayland"}
	if m.Socket != "" {
		env = append(env, "WAYLAND_DISPLAY="+m.Socket)
	}
	return env
}

// Command prepares a client of the session, run as its user; Close kills
// it if it is still running.
func (m *Mutter) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = m.Env()
	cmd.Dir = m.Dir
	cmd.SysProcAttr = m.attr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	m.mu.Lock()
	m.procs = append(m.procs, cmd)
	m.mu.Unlock()
	return cmd
}

// SocketPath is the compositor's Wayland socket.
func (m *Mutter) SocketPath() string { return filepath.Join(m.RuntimeDir, m.Socket) }

// Log is the tail of what the part named ("mutter", "pipewire", ...)
// printed.
func (m *Mutter) Log(name string) string {
	b, _ := os.ReadFile(filepath.Join(m.Dir, name+".log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Close kills every process of the session and removes the directory.
func (m *Mutter) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	procs, exited := m.procs, m.exited
	m.mu.Unlock()
	// Clients first, the compositor and the buses last.
	for i := len(procs) - 1; i >= 0; i-- {
		if p := procs[i].Process; p != nil {
			_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
		}
	}
	for _, e := range exited {
		<-e
	}
	return os.RemoveAll(m.Dir)
}

// StartT starts Mutter for tb and stops it at cleanup. Without Mutter it
// skips, except under CI (CI set) where it fails.
func StartT(tb testing.TB, monitors ...string) *Mutter {
	tb.Helper()
	m, err := Start(context.Background(), monitors...)
	skipOrFail(tb, err)
	tb.Cleanup(func() { _ = m.Close() })
	return m
}

// skipOrFail ends tb when Mutter did not start: a skip without Mutter
// installed (a failure under CI), a failure otherwise.
func skipOrFail(tb testing.TB, err error) {
	tb.Helper()
	if errors.Is(err, ErrUnavailable) && os.Getenv("CI") == "" {
		tb.Skipf("skipping: %v", err)
	}
	if err != nil {
		tb.Fatalf("start mutter: %v", err)
	}
}

var (
	sharedMu  sync.Mutex
	shared    *Mutter
	sharedErr error
)

// Shared is one Mutter (with monitors, as first asked) for the whole test
// binary: the session takes seconds to start, so a package starts it
// once. The package's TestMain calls CloseShared.
func Shared(tb testing.TB, monitors ...string) *Mutter {
	tb.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil && sharedErr == nil {
		shared, sharedErr = Start(context.Background(), monitors...)
	}
	skipOrFail(tb, sharedErr)
	return shared
}

// CloseShared stops the shared Mutter, if one was started.
func CloseShared() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared != nil {
		shared.Close()
		shared = nil
	}
}

// Pid is the pid of the part named ("mutter", "pipewire", ...); 0 if none.
func (m *Mutter) Pid(name string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.procs {
		if p.Process != nil && filepath.Base(p.Path) == name {
			return p.Process.Pid
		}
	}
	return 0
}
