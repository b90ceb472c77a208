package e2e

import (
	"context"
	"errors"
	"image"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/installer"
	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/internal/winetest"
	"github.com/tandem-rc/tandem/internal/xvfb"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

// The Windows programs under test run under Wine in one prefix shared by
// this package's tests (booting one costs 25–40 s on 2 cores), with the
// real tandem-host.exe cross-built once. TestMain closes it.
var wine struct {
	once sync.Once
	p    *winetest.Prefix
	dir  string // the Windows builds
	host string // tandem-host.exe
	keys string // the keystroke recorder (winetest/fixtures/keys.c)
	err  error
}

const wineW, wineH = 1024, 768

// winePrefix returns the shared prefix and builds, starting them on first
// use. Where Wine cannot run (not amd64) the test skips; where it is not
// installed it skips, except under CI, which must run it.
func winePrefix(t *testing.T) *winetest.Prefix {
	t.Helper()
	if err := winetest.Check(); err != nil {
		if errors.Is(err, winetest.ErrUnsupported) || os.Getenv("CI") == "" {
			t.Skipf("skipping the Windows Host under Wine: %v", err)
		}
		t.Fatal(err)
	}
	if testing.Short() {
		t.Skip("boots a Wine prefix and cross-builds tandem-host.exe")
	}
	wine.once.Do(func() {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		if wine.dir, wine.err = os.MkdirTemp("", "tandem-winbuild-"); wine.err != nil {
			return
		}
		wine.host = filepath.Join(wine.dir, "tandem-host.exe")
		wine.keys = filepath.Join(wine.dir, "keys.exe")
		// The prefix boots (mostly waiting on Wine) while Go and mingw build.
		var wg sync.WaitGroup
		var bootErr, hostErr, keysErr error
		wg.Add(3)
		go func() { defer wg.Done(); wine.p, bootErr = winetest.Start(ctx, wineW, wineH) }()
		go func() { defer wg.Done(); hostErr = winetest.BuildGo(ctx, wine.host, "../cmd/tandem-host", "") }()
		go func() { defer wg.Done(); keysErr = winetest.BuildC(ctx, wine.keys, "keys.c", "-mwindows") }()
		wg.Wait()
		wine.err = errors.Join(bootErr, hostErr, keysErr)
		t.Logf("wine prefix booted and tandem-host.exe built in %v", time.Since(start).Round(100*time.Millisecond))
	})
	if wine.err != nil {
		t.Fatal(wine.err)
	}
	return wine.p
}

func TestMain(m *testing.M) {
	code := m.Run()
	closeWine()
	os.Exit(code)
}

// closeWine ends the shared prefix.
func closeWine() {
	if wine.p != nil {
		_ = wine.p.Close()
	}
	if wine.dir != "" {
		_ = os.RemoveAll(wine.dir)
	}
}

// wineHost is tandem-host.exe enrolled and running in the foreground
// (`tandem-host run`) under Wine.
type wineHost struct {
	deviceID string
	cfg      string // its configuration directory (Linux path)
	root     string // its file-transfer folder (Linux path)
	proc     *winetest.Proc
}

// startWineHost enrolls tandem-host.exe with e's package key and runs it
// until the test ends, waiting until the relay lists it online.
func (e *env) startWineHost(t *testing.T, ctx context.Context, p *winetest.Prefix) *wineHost {
	t.Helper()
	h := &wineHost{cfg: t.TempDir(), root: t.TempDir()}
	out, err := p.Output(ctx, wine.host, "enroll", "--relay", e.url, "--key", e.key, "--config", winetest.WinPath(h.cfg))
	if err != nil {
		t.Fatal(err)
	}
	c, err := installer.Load(h.cfg)
	if err != nil {
		t.Fatalf("enrolled (%q) but: %v", out, err)
	}
	h.deviceID = c.DeviceID
	h.proc, err = p.Go(wine.host, filepath.Join(t.TempDir(), "host.log"), "run", "--config", winetest.WinPath(h.cfg),
		"--files-root", winetest.WinPath(h.root), "--ice-loopback", "--log-level", "debug")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = h.proc.Close()
		if t.Failed() {
			t.Logf("tandem-host.exe's log:\n%s", h.proc.Output())
		}
	})
	relaytest.WaitOnline(t, ctx, e.login(t), h.deviceID)
	return h
}

// TestWindowsHostUnderWine: the real tandem-host.exe, enrolled with a
// package key, serves the real guest over WebRTC through the embedded TURN
// server: the screen equals the X framebuffer pixel for pixel, the pointer
// lands where moved, typed text reaches a Windows program, file transfer
// stays in its folder, and a grant without keyboard_mouse injects nothing.
func TestWindowsHostUnderWine(t *testing.T) {
	p := winePrefix(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	x := p.X

	// A Windows program that records the characters it receives.
	typed := filepath.Join(t.TempDir(), "typed.txt")
	keys, err := p.Go(wine.keys, filepath.Join(t.TempDir(), "keys.log"),
		"tandem-wine-keys", winetest.WinPath(typed), "100", "100", "400", "300")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = keys.Close() })
	if _, err := p.WaitWindow(ctx, "tandem-wine-keys"); err != nil {
		t.Fatal(err)
	}

	e := newEnv(t)
	h := e.startWineHost(t, ctx, p)
	if d := deviceInfo(t, ctx, e, h.deviceID); d.OS != "windows" || d.Monitors[0].Width != wineW {
		t.Errorf("the relay lists the host as %+v", d)
	}
	s := e.connect(t, ctx, h.deviceID, true)
	if local, _, err := s.SelectedPair(); err != nil || local != "relay" {
		t.Fatalf("relay-only session uses a %q pair (%v)", local, err)
	}

	// 1. The snapshot equals the X framebuffer pixel for pixel.
	matchScreen(t, ctx, s, x)

	// 2. Mouse moves land on the X pointer.
	movePointer(t, ctx, s, x, image.Point{700, 500}, image.Point{wineW - 1, wineH - 1}, image.Point{0, 0}, image.Point{512, 300})

	// 3. Typed text reaches the Windows program: click into it, type.
	const text = "Hello, Tandem 42"
	for _, m := range []wire.Message{&wire.MouseMove{X: 300, Y: 250}, &wire.MouseButton{Button: 1, Down: true},
		&wire.MouseButton{Button: 1, Down: false}, &wire.Text{Text: text}, &wire.KeyTap{Code: "Enter"}} {
		if err := s.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	want := text + "\r"
	if got := waitFileContent(ctx, typed, want); got != want {
		t.Fatalf("the Windows program received %q, want %q", got, want)
	}

	// 4. File transfer: in and out of its folder, and nowhere else.
	local := t.TempDir()
	src := filepath.Join(local, "src.bin")
	data := randomFile(t, src, 300<<10+7)
	if err := os.Mkdir(filepath.Join(h.root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Files().Put(ctx, src, "sub/up.bin", guest.TransferOptions{}); err != nil {
		t.Fatal(err)
	}
	sameFile(t, filepath.Join(h.root, "sub", "up.bin"), data)
	back := filepath.Join(local, "back.bin")
	if _, err := s.Files().Get(ctx, "sub/up.bin", back, guest.TransferOptions{}); err != nil {
		t.Fatal(err)
	}
	sameFile(t, back, data)
	outside := filepath.Dir(h.root)
	before, _ := os.ReadDir(outside)
	for _, name := range []string{"../escape.bin", `..\escape.bin`, `sub\..\..\escape.bin`, `C:\windows\escape.bin`,
		`Z:\tmp\escape.bin`, `\\server\share\x`, "/etc/passwd", "sub/../../escape.bin", "x\x00y"} {
		if _, err := s.Files().Put(ctx, src, name, guest.TransferOptions{Overwrite: true}); !strings.Contains(errString(err), "refused") {
			t.Errorf("put %q: %v", name, err)
		}
		if _, err := s.Files().Get(ctx, name, filepath.Join(local, "x"), guest.TransferOptions{}); !strings.Contains(errString(err), "refused") {
			t.Errorf("get %q: %v", name, err)
		}
	}
	if after, _ := os.ReadDir(outside); len(after) != len(before) {
		t.Fatalf("entries next to the transfer folder changed: %d → %d", len(before), len(after))
	}
	if _, err := os.Stat(p.Path(`C:\windows\escape.bin`)); err == nil {
		t.Fatal("a transfer wrote into C:\\windows")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// 5. A grant without keyboard_mouse: the host refuses the input and
	// neither the pointer nor the program sees any.
	pointer := captest.Pointer(t, x)
	_, v := e.roleSession(t, ctx, "viewer@example.com", h.deviceID, policy.ViewScreen)
	if got := v.Perms; len(got) != 1 || got[0] != string(policy.ViewScreen) {
		t.Fatalf("session permissions %v, want view_screen only", got)
	}
	for _, m := range []wire.Message{&wire.MouseMove{X: 150, Y: 150}, &wire.MouseButton{Button: 1, Down: true},
		&wire.MouseButton{Button: 1, Down: false}, &wire.Text{Text: "injected"}, &wire.KeyTap{Code: "Enter"}} {
		if err := v.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Sync(ctx); wireCode(err) != wire.ErrCodeDenied {
		t.Fatalf("input without keyboard_mouse: %v, want denied", err)
	}
	if got := captest.Pointer(t, x); got != pointer {
		t.Fatalf("the pointer moved from %v to %v without keyboard_mouse", pointer, got)
	}
	if b, _ := os.ReadFile(typed); string(b) != want {
		t.Fatalf("the Windows program received %q without keyboard_mouse", b)
	}
}

// deviceInfo is the relay's listing of device id.
func deviceInfo(t *testing.T, ctx context.Context, e *env, id string) wire.Device {
	t.Helper()
	ds, err := e.login(t).Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.ID == id {
			if len(d.Monitors) == 0 {
				d.Monitors = []wire.MonitorInfo{{}}
			}
			return d
		}
	}
	t.Fatalf("the relay does not list device %s", id)
	return wire.Device{}
}

// waitFileContent polls path until it holds want or ctx's deadline (at most
// 15 s) passes, and returns what it last held.
func waitFileContent(ctx context.Context, path, want string) string {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var got string
	for {
		b, _ := os.ReadFile(path)
		if got = string(b); got == want {
			return got
		}
		select {
		case <-ctx.Done():
			return got
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestWindowsClipboardUnderWine: the Windows Host's clipboard (user32's,
// which Wine shares with the X CLIPBOARD selection) both ways through a
// real relay: the technician's text is what an X program pastes and what
// the session reads back; when the session ends its text leaves the
// clipboard and the next session never sees it; what a local program
// copies reaches the next technician, pushed and on request.
func TestWindowsClipboardUnderWine(t *testing.T) {
	needXclip(t)
	p := winePrefix(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := newEnv(t)
	h := e.startWineHost(t, ctx, p)
	s := e.connect(t, ctx, h.deviceID, false)

	const offered = "technician's text: hunter2 ✓"
	if err := s.SetClipboard(ctx, offered); err != nil {
		t.Fatal(err)
	}
	waitPaste(t, ctx, p.X, func(got string, ok bool) bool { return ok && got == offered }, "the technician's text")
	if got, err := s.Clipboard(ctx); err != nil || got != offered {
		t.Fatalf("Clipboard = %q, %v", got, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The next session: the ended session's text has left the clipboard
	// (the host withdraws it once it has seen the end; its Get reads the
	// Windows clipboard itself).
	pushed := make(chan string, 256) // answers to Clipboard come here too
	s2, err := e.login(t).Connect(ctx, h.deviceID, guest.ConnectOptions{Transport: transport.Config{Loopback: true, Logger: e.log},
		OnClipboard: func(text string) {
			select {
			case pushed <- text:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for deadline := time.Now().Add(20 * time.Second); ; {
		got, err := s2.Clipboard(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got != offered {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the ended session's text stayed on the host's clipboard")
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	const copied = "copied on the Windows host"
	captest.Copy(t, p.X, copied)
	for {
		select {
		case got := <-pushed:
			if got == offered {
				t.Fatalf("the host pushed the ended session's text")
			}
			if got != copied {
				continue // the answer to Clipboard above
			}
		case <-ctx.Done():
			t.Fatal("the host's copy never reached the technician")
		}
		break
	}
	if got, err := s2.Clipboard(ctx); err != nil || got != copied {
		t.Fatalf("Clipboard = %q, %v", got, err)
	}
}

// waitPaste polls what an X program pastes until accept takes it (at most
// 20 s); what names the state waited for.
func waitPaste(t *testing.T, ctx context.Context, x *xvfb.Server, accept func(string, bool) bool, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		got, ok := captest.Paste(t, x)
		if accept(got, ok) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: X pastes %q (%v)", what, got, ok)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
