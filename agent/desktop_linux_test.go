package agent

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"
	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/policy"
)

// authX is an Xvfb that admits only clients with its cookie, as a display
// manager's server does.
type authX struct {
	display string // ":N"
	auth    string // the server's -auth file
	cookie  []byte
	sockets string // a socket folder holding only this server's socket
}

// writeXauth writes an Xauthority file with one FamilyWild entry for any
// display number (what `xauth add` writes for "." hosts).
func writeXauth(t *testing.T, path string, cookie []byte, mode os.FileMode) {
	t.Helper()
	var b []byte
	put := func(v []byte) {
		b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
		b = append(b, v...)
	}
	b = binary.BigEndian.AppendUint16(b, 65535)
	put(nil)
	put(nil)
	put([]byte("MIT-MAGIC-COOKIE-1"))
	put(cookie)
	if err := os.WriteFile(path, b, mode); err != nil {
		t.Fatal(err)
	}
}

func startAuthX(t *testing.T) *authX {
	t.Helper()
	bin, err := exec.LookPath("Xvfb")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("Xvfb is missing")
		}
		t.Skip("no Xvfb")
	}
	x := &authX{auth: filepath.Join(t.TempDir(), "serverauth"), cookie: make([]byte, 16)}
	_, _ = rand.Read(x.cookie)
	writeXauth(t, x.auth, x.cookie, 0o600)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-displayfd", "3", "-auth", x.auth, "-screen", "0", "640x480x24", "-noreset", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(io.LimitReader(r, 32)).ReadString('\n')
	r.Close()
	n, aerr := strconv.Atoi(strings.TrimSpace(line))
	if aerr != nil {
		t.Fatalf("Xvfb did not start: %q %v", line, err)
	}
	x.display = ":" + strconv.Itoa(n)
	x.sockets = t.TempDir()
	if err := os.Symlink(filepath.Join("/tmp/.X11-unix", "X"+strconv.Itoa(n)), filepath.Join(x.sockets, "X"+strconv.Itoa(n))); err != nil {
		t.Fatal(err)
	}
	return x
}

// sessionProcess starts a long-lived process as uid with the session's
// environment, as a desktop session's processes have.
func sessionProcess(t *testing.T, uid, gid int, env ...string) {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
}

func findDisplay(cs []scanned, display string) *Desktop {
	for i := range cs {
		if cs[i].Display == display {
			return &cs[i].Desktop
		}
	}
	return nil
}

// TestX11ScanFallback: without logind, the scan finds a display by its
// server's -auth, then by a user's session process (that user and its
// cookie file); the cookie really opens the display, and nothing opens
// it without one. The screen saver stands for the lock state.
func TestX11ScanFallback(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: reads other processes' environments and starts one as nobody")
	}
	x := startAuthX(t)
	scan := x11Scan{proc: "/proc", sockets: x.sockets}

	// Only the server: its -auth, owned by root.
	d := findDisplay(scan.candidates(), x.display)
	if d == nil || d.XAuthority != x.auth || d.UID != 0 || d.User != "root" {
		t.Fatalf("server only: %+v", d)
	}
	if _, err := dialX(x.sockets, &Desktop{Display: x.display}); err == nil {
		t.Fatal("the display admitted a client without its cookie: the test proves nothing")
	}

	// A user's session: nobody's process with its own readable cookie file.
	userDir, err := os.MkdirTemp("", "tandem-user-") // t.TempDir's parent is closed to nobody
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(userDir) })
	if err := os.Chmod(userDir, 0o755); err != nil {
		t.Fatal(err)
	}
	userAuth := filepath.Join(userDir, "user.Xauthority")
	writeXauth(t, userAuth, x.cookie, 0o600)
	if err := os.Chown(userAuth, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	// An earlier process of the same user naming a file it does not own:
	// never read.
	sessionProcess(t, 65534, 65534, "DISPLAY="+x.display, "XAUTHORITY=/etc/shadow", "USER=nobody")
	sessionProcess(t, 65534, 65534, "DISPLAY="+x.display+".0", "XAUTHORITY="+userAuth, "HOME=/nonexistent", "USER=nobody")
	got, err := scan.discover()
	if err != nil {
		t.Fatal(err)
	}
	if got.Display != x.display || got.XAuthority != userAuth || got.User != "nobody" || got.UID != 65534 ||
		got.GID != 65534 || got.Source != "x11-scan" || got.Locked {
		t.Fatalf("discovered %+v", got)
	}

	// The prompts run on that desktop as its user.
	ui := DesktopConfirmUIOn(slog.New(slog.DiscardHandler), func() *Desktop { return got })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res := make(chan bool, 1)
	go func() {
		ok, err := ui.Ask(ctx, ConfirmRequest{Technician: "Tess Tech", Permissions: []string{"view_screen"}})
		if err != nil {
			t.Error(err)
		}
		res <- ok
	}()
	xdo := func(args ...string) string {
		t.Helper()
		for {
			cmd := exec.CommandContext(ctx, "xdotool", args...)
			cmd.Env = got.Env(os.Environ(), false)
			out, err := cmd.Output()
			if err == nil && len(out) > 0 || args[0] != "search" {
				if err != nil {
					t.Fatalf("xdotool %v: %v", args, err)
				}
				return strings.TrimSpace(string(out))
			}
			select {
			case <-ctx.Done():
				t.Fatal("the prompt did not appear")
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	win := strings.Fields(xdo("search", "--onlyvisible", "--name", "Tandem: allow remote access"))[0]
	status, err := os.ReadFile("/proc/" + xdo("getwindowpid", win) + "/status")
	if err != nil || !strings.Contains(string(status), "\nUid:\t65534\t") {
		t.Fatalf("the prompt does not run as nobody: %v\n%s", err, status)
	}
	xdo("windowfocus", "--sync", win)
	xdo("key", "Return")
	if !<-res {
		t.Fatal("Allow on the user's desktop was not an allow")
	}

	// Screen saver on: locked.
	cmd := exec.Command("xset", "s", "activate")
	cmd.Env = got.Env(os.Environ(), false)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xset: %v %s", err, out)
	}
	if got, err = scan.discover(); err != nil || !got.Locked {
		t.Fatalf("after xset s activate: %+v %v", got, err)
	}
}

// TestX11ScanNoDisplay: no live X socket, nobody logged in.
func TestX11ScanNoDisplay(t *testing.T) {
	if _, err := (x11Scan{proc: "/proc", sockets: t.TempDir()}).discover(); !errors.Is(err, ErrNoDesktop) {
		t.Fatalf("got %v", err)
	}
}

// TestDiscoverAndCapture: as a service would (root, its own environment
// naming no usable cookie), the tracker finds the display and capture
// opens it with the discovered cookie.
func TestDiscoverAndCapture(t *testing.T) {
	x := startAuthX(t)
	t.Setenv("XAUTHORITY", filepath.Join(t.TempDir(), "none"))
	t.Setenv("DISPLAY", "")
	if c, err := capture.Open(capture.Options{Display: x.display, Logger: slog.New(slog.DiscardHandler)}); err == nil {
		c.Close()
		t.Fatal("capture opened the display without its cookie: the test proves nothing")
	}
	tr := NewDesktopTracker(&linuxDiscoverer{log: slog.New(slog.DiscardHandler), bus: "unix:path=" + filepath.Join(t.TempDir(), "nobus"),
		scan: x11Scan{proc: "/proc", sockets: x.sockets}}, slog.New(slog.DiscardHandler))
	d, err := tr.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.Display != x.display || tr.Display() != x.display || os.Getenv("XAUTHORITY") != d.XAuthority {
		t.Fatalf("discovered %+v, env XAUTHORITY=%q", d, os.Getenv("XAUTHORITY"))
	}
	c, err := capture.Open(capture.Options{Display: tr.Display(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("capture on the discovered desktop: %v", err)
	}
	defer c.Close()
	f, err := c.Grab(c.Bounds(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if b := c.Bounds(); b.Dx() != 640 || b.Dy() != 480 || len(f.Pix) == 0 {
		t.Fatalf("bounds %v", b)
	}
}

// logindSO and logindUO are logind's (id, path) and (uid, path) pairs.
type logindSO struct {
	ID   string
	Path dbus.ObjectPath
}
type logindUO struct {
	UID  uint32
	Path dbus.ObjectPath
}

// fakeLogind serves seat0 with one active session of the given properties
// (as logind names and types them) on a private dbus-daemon; it returns
// the bus address and the seat and session objects.
func fakeLogind(t *testing.T, session map[string]any) (string, *prop.Properties, *prop.Properties) {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("no dbus-daemon")
	}
	dir := t.TempDir()
	addr := "unix:path=" + filepath.Join(dir, "bus")
	cmd := exec.Command(daemon, "--session", "--nofork", "--nopidfile", "--address="+addr, "--print-address=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	srv, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if r, err := srv.RequestName("org.freedesktop.login1", dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("name: %v %v", r, err)
	}
	seat, err := prop.Export(srv, "/org/freedesktop/login1/seat/seat0", prop.Map{"org.freedesktop.login1.Seat": {
		"ActiveSession": {Value: logindSO{session["Id"].(string), "/org/freedesktop/login1/session/_32"}, Writable: true}}})
	if err != nil {
		t.Fatal(err)
	}
	props := map[string]*prop.Prop{}
	for k, v := range session {
		props[k] = &prop.Prop{Value: v, Writable: true}
	}
	sess, err := prop.Export(srv, "/org/freedesktop/login1/session/_32", prop.Map{"org.freedesktop.login1.Session": props})
	if err != nil {
		t.Fatal(err)
	}
	return addr, seat, sess
}

// TestLogindDiscovery: logind cannot run in this container, so a stand-in
// serves seat0 and a session with logind's object paths and property
// types on a private dbus-daemon; the discoverer talks real D-Bus to it.
func TestLogindDiscovery(t *testing.T) {
	addr, seat, sess := fakeLogind(t, map[string]any{"Id": "2", "Type": "x11", "Class": "user",
		"Display": ":7", "Name": "nobody", "User": logindUO{65534, "/org/freedesktop/login1/user/_65534"},
		"LockedHint": true, "Leader": uint32(1), "Active": true, "Remote": false})
	dir := t.TempDir()
	l := &linuxDiscoverer{log: slog.New(slog.DiscardHandler), bus: addr, scan: x11Scan{proc: filepath.Join(dir, "noproc"), sockets: dir}}
	ctx := context.Background()
	d, err := l.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Display != ":7" || d.User != "nobody" || d.UID != 65534 || d.GID != 65534 || !d.Locked || d.Session != "2" || d.Source != "logind" {
		t.Fatalf("discovered %+v", d)
	}
	set := func(p *prop.Properties, iface, name string, v any) {
		if derr := p.Set(iface, name, dbus.MakeVariant(v)); derr != nil {
			t.Fatal(derr)
		}
	}
	set(sess, "org.freedesktop.login1.Session", "LockedHint", false)
	if d, err = l.Discover(ctx); err != nil || d.Locked {
		t.Fatalf("unlocked: %+v %v", d, err)
	}
	set(sess, "org.freedesktop.login1.Session", "Type", "wayland")
	if _, err = l.Discover(ctx); err == nil || !strings.Contains(err.Error(), "Wayland") {
		t.Fatalf("wayland: %v", err)
	}
	set(sess, "org.freedesktop.login1.Session", "Type", "x11")
	// The login screen: served, as nobody's (the X server's cookie, which
	// the scan finds; none here), and counted as "no user".
	set(sess, "org.freedesktop.login1.Session", "Class", "greeter")
	if d, err = l.Discover(ctx); err != nil || !d.NoUser || d.Display != ":7" || d.UID != -1 || d.User != "" {
		t.Fatalf("greeter: %+v %v", d, err)
	}
	h := &Host{o: Options{Desktop: l}, log: slog.New(slog.DiscardHandler)}
	if _, locked, noUser := h.hostState(ctx); locked || !noUser {
		t.Fatalf("greeter state: locked %v, no user %v", locked, noUser)
	}
	set(sess, "org.freedesktop.login1.Session", "Type", "tty")
	if _, err = l.Discover(ctx); !errors.Is(err, ErrNoDesktop) {
		t.Fatalf("text console greeter: %v", err)
	}
	// Logged out: seat0 has no active session.
	set(seat, "org.freedesktop.login1.Seat", "ActiveSession", logindSO{"", "/"})
	if _, err = l.Discover(ctx); !errors.Is(err, ErrNoDesktop) {
		t.Fatalf("no session: %v", err)
	}
}

// TestLockedDesktopWaivesConfirm: the exception decided by the real
// desktop state: a prompt while the X screen saver is off, none once it
// is on (what a locker does when logind is absent).
func TestLockedDesktopWaivesConfirm(t *testing.T) {
	x := startAuthX(t)
	log := slog.New(slog.DiscardHandler)
	desk := NewDesktopTracker(&linuxDiscoverer{log: log, bus: "unix:path=" + filepath.Join(t.TempDir(), "nobus"),
		scan: x11Scan{proc: "/proc", sockets: x.sockets}}, log)
	t.Setenv("XAUTHORITY", os.Getenv("XAUTHORITY")) // the tracker sets it; restored after
	ui := &scriptedConfirm{asked: make(chan ConfirmRequest, 4), answers: make(chan bool, 4)}
	fh := startFeatureHost(t, func(o *Options) { o.Confirm = ui; o.Desktop = desk })
	exceptLocked := func(g *policy.Grant) { g.ConfirmLocal, g.ConfirmExceptLocked = true, true }

	ui.answers <- false
	route := fh.exceptGrant(t, "unlocked", exceptLocked)
	<-ui.asked
	waitBye(t, route, "denied access")

	cmd := exec.Command("xset", "s", "activate")
	cmd.Env = append(os.Environ(), "DISPLAY="+x.display, "XAUTHORITY="+x.auth)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xset: %v %s", err, out)
	}
	fh.exceptGrant(t, "locked", exceptLocked)
	fh.started(t, "locked")
	if len(ui.asked) != 0 || fh.events.count("confirm_waived") != 1 {
		t.Fatalf("asked %d times, %d waived", len(ui.asked), fh.events.count("confirm_waived"))
	}
}
