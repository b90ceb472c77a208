//go:build linux

// Package swaytest starts a private headless sway (a wlroots compositor)
// for tests and benchmarks: its own runtime directory and home, software
// rendering, a chosen set of virtual outputs.
//
// sway refuses to run as root, so when the test runs as root the
// compositor and its clients run as an unprivileged uid without a
// password entry (nothing is added to the system's user database); the
// test process, as root, still reaches the socket.
package swaytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/internal/wl"
)

// ErrUnavailable means sway is not installed.
var ErrUnavailable = errors.New("swaytest: sway is not installed (run scripts/deps.sh test)")

// testUID is the unprivileged identity sway runs under when started by
// root; runtime directories are private, so parallel tests may share it.
const testUID = 64123

// Output is one virtual output of the compositor.
type Output struct {
	Width, Height int
	X, Y          int
	Scale         int    // 0 or 1: unscaled; 2: HiDPI (logical size Width/2 × Height/2)
	Transform     string // sway's output transform ("90", "flipped-180", ...); "" = normal
}

// Sway is a running headless compositor.
type Sway struct {
	Dir        string // home; the runtime directory is Dir/run
	RuntimeDir string
	Socket     string // WAYLAND_DISPLAY (relative to RuntimeDir)
	UID, GID   int

	cmd      *exec.Cmd
	kbd      *wl.Conn // the stand-in hardware keyboard's connection
	exited   chan struct{}
	log      *os.File
	mu       sync.Mutex
	children []*exec.Cmd
	closed   bool
}

// Start runs sway with the given outputs (HEADLESS-1, HEADLESS-2, ...) and
// waits until it serves them.
func Start(ctx context.Context, outs ...Output) (*Sway, error) {
	bin, err := exec.LookPath("sway")
	if err != nil {
		return nil, ErrUnavailable
	}
	if len(outs) == 0 {
		outs = []Output{{Width: 1280, Height: 720}}
	}
	uid, gid := os.Getuid(), os.Getgid()
	if uid == 0 {
		uid, gid = testUID, testUID
	}
	dir, err := os.MkdirTemp("", "tandem-sway-")
	if err != nil {
		return nil, err
	}
	s := &Sway{Dir: dir, RuntimeDir: filepath.Join(dir, "run"), UID: uid, GID: gid}
	fail := func(err error) (*Sway, error) {
		s.Close()
		return nil, err
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		return fail(err)
	}
	if err := os.Mkdir(s.RuntimeDir, 0o700); err != nil {
		return fail(err)
	}
	var cfg strings.Builder
	for i, o := range outs {
		fmt.Fprintf(&cfg, "output HEADLESS-%d resolution %dx%d position %d %d scale %d\n", i+1, o.Width, o.Height, o.X, o.Y, max(o.Scale, 1))
		if o.Transform != "" {
			fmt.Fprintf(&cfg, "output HEADLESS-%d transform %s\n", i+1, o.Transform)
		}
	}
	// No bar, no decorations: the screen is what the clients draw.
	cfg.WriteString("default_border none\nfocus_follows_mouse no\nseat * hide_cursor 0\n")
	cfgPath := filepath.Join(dir, "config")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o644); err != nil {
		return fail(err)
	}
	for _, p := range []string{dir, s.RuntimeDir, cfgPath} {
		if err := os.Chown(p, uid, gid); err != nil {
			return fail(err)
		}
	}
	if s.log, err = os.Create(filepath.Join(dir, "sway.log")); err != nil {
		return fail(err)
	}
	s.cmd = exec.Command(bin, "-c", cfgPath)
	s.cmd.Env = append(s.env(), "WLR_BACKENDS=headless", "WLR_RENDERER=pixman", "WLR_LIBINPUT_NO_DEVICES=1",
		fmt.Sprintf("WLR_HEADLESS_OUTPUTS=%d", len(outs)))
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = s.attr()
	if err := s.cmd.Start(); err != nil {
		return fail(fmt.Errorf("swaytest: start sway: %w", err))
	}
	exited := make(chan struct{})
	s.exited = exited
	go func() { _ = s.cmd.Wait(); close(exited) }()
	// Ready: a socket answers with every output laid out.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := s.ready(ctx, len(outs)); err == nil {
			if err := s.plugKeyboard(ctx); err != nil {
				return fail(err)
			}
			return s, nil
		}
		select {
		case <-exited:
			return fail(fmt.Errorf("swaytest: sway exited: %s", s.Log()))
		case <-ctx.Done():
			return fail(fmt.Errorf("swaytest: sway not ready: %w; log: %s", ctx.Err(), s.Log()))
		case <-tick.C:
		}
	}
}

func (s *Sway) ready(ctx context.Context, n int) error {
	ents, err := os.ReadDir(s.RuntimeDir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "wayland-") || strings.HasSuffix(e.Name(), ".lock") {
			continue
		}
		c, err := wl.Dial(ctx, filepath.Join(s.RuntimeDir, e.Name()))
		if err != nil {
			return err
		}
		defer c.Close()
		o, err := wl.TrackOutputs(ctx, c)
		if err != nil {
			return err
		}
		if l, _ := o.List(); len(l) < n {
			return fmt.Errorf("swaytest: %d of %d outputs", len(l), n)
		}
		s.Socket = e.Name()
		return nil
	}
	return errors.New("swaytest: no socket yet")
}

// plugKeyboard gives the seat a keyboard for the compositor's lifetime,
// as a machine's real keyboard would be: without one, a client binds its
// wl_keyboard only once a first keyboard appears, and keys sent in that
// moment reach nobody.
func (s *Sway) plugKeyboard(ctx context.Context) error {
	c, err := wl.Dial(ctx, s.SocketPath())
	if err != nil {
		return err
	}
	seat, ok1 := c.Global("wl_seat")
	mgr, ok2 := c.Global("zwp_virtual_keyboard_manager_v1")
	if !ok1 || !ok2 {
		c.Close()
		return errors.New("swaytest: sway offers no seat or virtual keyboard")
	}
	seatID, err := c.Bind(seat, 1, nil)
	if err == nil {
		var mgrID uint32
		if mgrID, err = c.Bind(mgr, 1, nil); err == nil {
			kbd := c.NewID(nil)
			err = c.Send(mgrID, 0, seatID, kbd) // create_virtual_keyboard
			if err == nil {
				err = sendKeymap(c, kbd)
			}
		}
	}
	if err == nil {
		err = c.Roundtrip(ctx)
	}
	if err != nil {
		c.Close()
		return fmt.Errorf("swaytest: keyboard: %w", err)
	}
	s.kbd = c
	return nil
}

func sendKeymap(c *wl.Conn, kbd uint32) error {
	const km = "xkb_keymap { xkb_keycodes { include \"evdev\" }; xkb_types { include \"complete\" }; " +
		"xkb_compat { include \"complete\" }; xkb_symbols { include \"pc+us\" }; };"
	fd, mem, err := wl.Memfd("swaytest-keymap", len(km)+1)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	copy(mem, km)
	_ = syscall.Munmap(mem)
	return c.Send(kbd, 0, uint32(1), wl.FD(fd), uint32(len(km)+1)) // keymap(XKB_V1, fd, size)
}

func (s *Sway) attr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	if os.Getuid() == 0 {
		a.Credential = &syscall.Credential{Uid: uint32(s.UID), Gid: uint32(s.GID), Groups: []uint32{}}
	}
	return a
}

func (s *Sway) env() []string {
	env := []string{"HOME=" + s.Dir, "XDG_RUNTIME_DIR=" + s.RuntimeDir, "PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8"}
	if s.Socket != "" {
		env = append(env, "WAYLAND_DISPLAY="+s.Socket)
	}
	return env
}

// Pid is the compositor's process id.
func (s *Sway) Pid() int { return s.cmd.Process.Pid }

// SocketPath is the compositor socket's absolute path.
func (s *Sway) SocketPath() string { return filepath.Join(s.RuntimeDir, s.Socket) }

// Command prepares a client of the compositor, run as its user; Close
// kills it if it is still running.
func (s *Sway) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = s.env()
	cmd.Dir = s.Dir
	cmd.SysProcAttr = s.attr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	s.mu.Lock()
	s.children = append(s.children, cmd)
	s.mu.Unlock()
	return cmd
}

// Log is what sway printed so far (for failure messages).
func (s *Sway) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "sway.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Close kills the compositor and the clients Command started, and
// removes the directory.
func (s *Sway) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	children := s.children
	s.mu.Unlock()
	if s.kbd != nil {
		s.kbd.Close()
	}
	for _, c := range children {
		if c.Process != nil {
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		}
	}
	if s.cmd != nil && s.cmd.Process != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
	if s.log != nil {
		s.log.Close()
	}
	return os.RemoveAll(s.Dir)
}

// StartT starts sway for tb and stops it at cleanup. Without sway it
// skips, except under CI (CI set) where it fails.
func StartT(tb testing.TB, outs ...Output) *Sway {
	tb.Helper()
	s, err := Start(context.Background(), outs...)
	if errors.Is(err, ErrUnavailable) && os.Getenv("CI") == "" {
		tb.Skipf("skipping: %v", err)
	}
	if err != nil {
		tb.Fatalf("start sway: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// Grim is the compositor's own screenshot (grim) of the whole layout, with
// the pointer drawn in when cursor is set.
func (s *Sway) Grim(ctx context.Context, cursor bool) (*image.RGBA, error) {
	args := []string{"-t", "png"}
	if cursor {
		args = append(args, "-c")
	}
	out, err := s.Command(ctx, "grim", append(args, "-")...).Output()
	if err != nil {
		return nil, fmt.Errorf("grim: %w", err)
	}
	img, err := png.Decode(bytes.NewReader(out))
	if err != nil {
		return nil, fmt.Errorf("grim: %w", err)
	}
	rgba := image.NewRGBA(img.Bounds())
	draw.Draw(rgba, rgba.Rect, img, img.Bounds().Min, draw.Src)
	return rgba, nil
}

// Uniform reports whether every pixel of img has the same colour (nothing
// drawn yet).
func Uniform(img *image.RGBA) bool {
	for i := 4; i+4 <= len(img.Pix); i += 4 {
		if !bytes.Equal(img.Pix[i:i+3], img.Pix[:3]) {
			return false
		}
	}
	return true
}

// Terminal starts foot running sh -c script and waits until the
// compositor shows it (a non-uniform screen).
func (s *Sway) Terminal(ctx context.Context, script string) error {
	cmd := s.Command(ctx, "foot", "sh", "-c", script)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("swaytest: foot: %w", err)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		img, err := s.Grim(ctx, false)
		if err != nil {
			return err
		}
		if !Uniform(img) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("swaytest: foot never drew: %w; log: %s", ctx.Err(), s.Log())
		case <-tick.C:
		}
	}
}
