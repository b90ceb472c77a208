//go:build linux

package agent

import (
	"context"
	"errors"
	"image"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/internal/muttertest"
	"github.com/tandem-rc/tandem/internal/swaytest"
)

func TestWaylandSupport(t *testing.T) {
	if err := waylandSupport(append([]string{"wl_compositor"}, wlrootsGlobals...), "sway"); err != nil {
		t.Fatalf("wlroots: %v", err)
	}
	gnome := []string{"wl_compositor", "wl_shm", "wl_seat", "zxdg_output_manager_v1"}
	for kind, want := range map[string]string{"ubuntu:GNOME": "GNOME on Xorg", "KDE": "Plasma (X11)", "": "(unknown)", "weston": "(weston)"} {
		err := waylandSupport(gnome, kind)
		if !errors.Is(err, ErrDesktopUnsupported) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v", kind, err)
		}
	}
}

// TestWaylandDiscovery: logind (a stand-in on a private bus) says the
// active session is Wayland; the discoverer finds its compositor (a real
// headless sway) through the session's processes, skips a socket its
// process's user does not own, and capture and input open there, with
// both outputs offered to the monitor picker.
func TestWaylandDiscovery(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: reads other processes' environments and starts them as other users")
	}
	sway := swaytest.StartT(t, swaytest.Output{Width: 800, Height: 600}, swaytest.Output{Width: 640, Height: 480, X: 800})
	id := "w" + strconv.Itoa(os.Getpid())
	env := []string{"XDG_CURRENT_DESKTOP=sway", "XDG_SESSION_ID=" + id, "XDG_RUNTIME_DIR=" + sway.RuntimeDir}
	// Another user's process naming the compositor's socket, which that
	// user does not own, comes first by pid: it must not make the
	// desktop theirs.
	sessionProcess(t, 65534, 65534, append(env, "WAYLAND_DISPLAY="+sway.SocketPath())...)
	sessionProcess(t, sway.UID, sway.GID, append(env, "WAYLAND_DISPLAY="+sway.Socket)...)
	scan := x11Scan{proc: "/proc", sockets: t.TempDir()}
	if d, err := scan.wayland(context.Background(), -1, id); err != nil || d.UID != sway.UID || d.Source != "wayland-scan" {
		t.Fatalf("scan: %+v %v", d, err)
	}

	addr, _, sess := fakeLogind(t, map[string]any{"Id": id, "Type": "wayland", "Class": "user",
		"Display": "", "Name": "", "User": logindUO{uint32(sway.UID), dbus.ObjectPath("/org/freedesktop/login1/user/_" + strconv.Itoa(sway.UID))},
		"LockedHint": false, "Leader": uint32(1), "Active": true, "Remote": false})
	log := slog.New(slog.DiscardHandler)
	desk := NewDesktopTracker(&linuxDiscoverer{log: log, bus: addr, scan: scan}, log)
	ctx := context.Background()
	d, err := desk.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Wayland != sway.SocketPath() || d.Display != "" || d.Kind != "sway" || d.UID != sway.UID || d.Session != id || d.Source != "logind" {
		t.Fatalf("discovered %+v", d)
	}
	if env := d.Env([]string{"DISPLAY=:5", "PATH=/bin"}, false); strings.Contains(strings.Join(env, " "), "DISPLAY=:5") ||
		!strings.Contains(strings.Join(env, " "), "WAYLAND_DISPLAY="+sway.SocketPath()) {
		t.Fatalf("environment %q", env)
	}
	servesBothOutputs(t, d, log)
	if err := d.X11Only("whitelisted applications"); !errors.Is(err, ErrDesktopUnsupported) || !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("X11-only feature on Wayland: %v", err)
	}

	// A session whose processes name no compositor: a clear error, and
	// the tracker says so to openers rather than "nobody is logged in".
	if err := sess.Set("org.freedesktop.login1.Session", "Id", dbus.MakeVariant("other")); err != nil {
		t.Fatal(err)
	}
	if err := sess.Set("org.freedesktop.login1.Session", "User", dbus.MakeVariant(logindUO{4242, "/org/freedesktop/login1/user/_4242"})); err != nil {
		t.Fatal(err)
	}
	if _, err := desk.Discover(ctx); err == nil || !strings.Contains(err.Error(), "is Wayland") {
		t.Fatalf("no compositor: %v", err)
	}
	if _, err := desk.Need(); err == nil || errors.Is(err, ErrNoDesktop) {
		t.Fatalf("need: %v", err)
	}
}

// TestGNOMEDiscovery: logind says the active session is Wayland and its
// processes name a compositor without wlroots protocols; Mutter's remote
// desktop API answers on the session's bus, owned by the session's user,
// so the GNOME back end is picked: capture (both monitors) and input open
// through it. A process of another user naming the same bus is not
// believed.
func TestGNOMEDiscovery(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: reads other processes' environments and starts them as other users")
	}
	m := muttertest.StartT(t, "800x600", "640x480")
	id := "g" + strconv.Itoa(os.Getpid())
	env := []string{"XDG_CURRENT_DESKTOP=GNOME", "XDG_SESSION_ID=" + id, "XDG_RUNTIME_DIR=" + m.RuntimeDir,
		"DBUS_SESSION_BUS_ADDRESS=unix:path=" + m.Bus, "WAYLAND_DISPLAY=" + m.Socket}
	sessionProcess(t, m.UID, m.GID, env...)
	if bus := mutterBus(context.Background(), xProc{uid: 4242, bus: "unix:path=" + m.Bus}, m.RuntimeDir); bus != "" {
		t.Fatalf("a bus another user owns was taken as uid 4242's: %s", bus)
	}

	addr, _, _ := fakeLogind(t, map[string]any{"Id": id, "Type": "wayland", "Class": "user",
		"Display": "", "Name": "", "User": logindUO{uint32(m.UID), dbus.ObjectPath("/org/freedesktop/login1/user/_" + strconv.Itoa(m.UID))},
		"LockedHint": false, "Leader": uint32(1), "Active": true, "Remote": false})
	log := slog.New(slog.DiscardHandler)
	scan := x11Scan{proc: "/proc", sockets: t.TempDir()}
	desk := NewDesktopTracker(&linuxDiscoverer{log: log, bus: addr, scan: scan}, log)
	d, err := desk.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.SessionBus != m.Bus || d.Wayland != m.SocketPath() || d.Kind != "GNOME" || d.UID != m.UID || d.Session != id {
		t.Fatalf("discovered %+v", d)
	}
	servesBothOutputs(t, d, log)
}

// servesBothOutputs: capture on d offers the two outputs (800x600 and
// 640x480 beside it) and grabs the second; input moves onto it.
func servesBothOutputs(t *testing.T, d *Desktop, log *slog.Logger) {
	t.Helper()
	c, err := capture.Open(d.CaptureOptions(log))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ms, err := c.Monitors()
	if err != nil || len(ms) != 2 || ms[1].Rect() != image.Rect(800, 0, 1440, 480) {
		t.Fatalf("monitors %+v %v", ms, err)
	}
	if _, err := c.Grab(ms[1].Rect(), nil); err != nil {
		t.Fatal(err)
	}
	in, err := input.Open(d.InputOptions(log))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if err := in.MoveMouse(900, 100); err != nil {
		t.Fatal(err)
	}
}

func TestSessionBusPath(t *testing.T) {
	for _, c := range []struct{ addr, rt, want string }{
		{"unix:path=/run/user/1000/bus", "/run/user/1000", "/run/user/1000/bus"},
		{"unix:path=/run/user/1000/bus,guid=abc", "", "/run/user/1000/bus"},
		{"", "/run/user/1000", "/run/user/1000/bus"},
		{"", "", ""},
		{"unix:abstract=/tmp/dbus-x", "/run/user/1000", ""}, // not a file: no owner to check
		{"unix:path=bus", "/run/user/1000", ""},             // relative
		{"tcp:host=127.0.0.1,port=1", "/run/user/1000", ""},
	} {
		if got := SessionBusPath(c.addr, c.rt); got != c.want {
			t.Errorf("SessionBusPath(%q, %q) = %q, want %q", c.addr, c.rt, got, c.want)
		}
	}
}
