//go:build linux

package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tandem-rc/tandem/internal/mutter"
	"github.com/tandem-rc/tandem/internal/wl"
)

// A Wayland session is found by its clients: logind names the session
// and its user but not the compositor, whose socket the session's
// processes name in WAYLAND_DISPLAY (relative to XDG_RUNTIME_DIR). The
// compositor is then asked which protocols it offers, which picks the back
// end (wlroots), or GNOME's Mutter answers on the session bus, or the
// answer says plainly that this desktop is not supported.

// wlrootsGlobals are what the wlroots back ends need.
var wlrootsGlobals = []string{"zwlr_screencopy_manager_v1", "zwlr_virtual_pointer_manager_v1",
	"zwp_virtual_keyboard_manager_v1", "zxdg_output_manager_v1", "wl_shm", "wl_seat"}

// waylandSupport says whether a compositor offering globals (on desktop
// kind, XDG_CURRENT_DESKTOP) can be served, and if not, what to tell.
func waylandSupport(globals []string, kind string) error {
	missing := 0
	for _, g := range wlrootsGlobals {
		if !slices.Contains(globals, g) {
			missing++
		}
	}
	if missing == 0 {
		return nil
	}
	k := strings.ToUpper(kind)
	switch {
	case strings.Contains(k, "GNOME"):
		return fmt.Errorf("GNOME on Wayland without Mutter's remote desktop API on the session bus is %w: choose \"GNOME on Xorg\" at login", ErrDesktopUnsupported)
	case strings.Contains(k, "KDE"):
		return fmt.Errorf("KDE Plasma on Wayland is %w yet: choose \"Plasma (X11)\" at login", ErrDesktopUnsupported)
	}
	if kind == "" {
		kind = "unknown"
	}
	return fmt.Errorf("the Wayland compositor (%s) offers no wlr-screencopy and virtual pointer/keyboard: %w; choose an Xorg session at login", kind, ErrDesktopUnsupported)
}

// wayland finds the Wayland session of uid (any user's when uid < 0,
// root's last), preferring processes of logind session id.
func (s x11Scan) wayland(ctx context.Context, uid int, session string) (*Desktop, error) {
	var cands []xProc
	for _, p := range s.processes() {
		if p.wayland != "" && (uid < 0 || p.uid == uid) {
			cands = append(cands, p)
		}
	}
	slices.SortStableFunc(cands, func(a, b xProc) int {
		if am, bm := session != "" && a.session == session, session != "" && b.session == session; am != bm {
			if am {
				return -1
			}
			return 1
		}
		if c := rootLast(a.uid, b.uid); c != 0 {
			return c
		}
		return a.pid - b.pid
	})
	tried := map[string]bool{}
	var errs []error
	for _, p := range cands {
		rt := p.runtimeDir
		if rt == "" {
			rt = "/run/user/" + strconv.Itoa(p.uid)
		}
		path, err := wl.SocketPath(p.wayland, rt)
		key := path + "\x00" + strconv.Itoa(p.uid)
		if err != nil || tried[key] {
			continue
		}
		tried[key] = true
		// The service connects as root: only a socket the naming process's
		// user owns, so a user cannot point it at another user's desktop.
		if !socketOwnedBy(path, p.uid) {
			errs = append(errs, fmt.Errorf("%s: not a socket of uid %d", path, p.uid))
			continue
		}
		globals, err := probeWayland(ctx, path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var bus string
		if err := waylandSupport(globals, p.kind); err != nil {
			// Not wlroots: GNOME's Mutter serves its remote desktop API
			// on the session's bus.
			if bus = mutterBus(ctx, p, rt); bus == "" {
				return nil, fmt.Errorf("agent: %w", err)
			}
		}
		d := &Desktop{Wayland: path, RuntimeDir: filepath.Dir(path), SessionBus: bus, Kind: p.kind, UID: p.uid, GID: -1,
			User: p.user, Home: p.home, Session: p.session, Source: "wayland-scan"}
		fillUser(d)
		return d, nil
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("agent: no Wayland compositor answers: %w", errors.Join(errs...))
	}
	if uid >= 0 {
		return nil, fmt.Errorf("agent: no process of the session names its Wayland display (WAYLAND_DISPLAY)")
	}
	return nil, ErrNoDesktop
}

// mutterBus is the session bus socket of process p (runtime directory rt)
// when Mutter's remote desktop API answers there from a process of p's
// user; "" otherwise. The bus socket must be the user's, and the name's
// owner too: another user's program cannot pose as the compositor.
func mutterBus(ctx context.Context, p xProc, rt string) string {
	path := SessionBusPath(p.bus, rt)
	if path == "" || !socketOwnedBy(path, p.uid) {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := mutter.DialBus(ctx, path, p.uid)
	if err != nil {
		return ""
	}
	defer conn.Close()
	var owner uint32
	err = conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.GetConnectionUnixUser", 0,
		"org.gnome.Mutter.RemoteDesktop").Store(&owner)
	if err != nil || int(owner) != p.uid {
		return ""
	}
	return path
}

// probeWayland lists a compositor's globals.
func probeWayland(ctx context.Context, path string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := wl.Dial(ctx, path)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var out []string
	for _, g := range c.Globals() {
		out = append(out, g.Interface)
	}
	return out, nil
}

// socketOwnedBy: path is a socket (not a symlink) owned by uid.
func socketOwnedBy(path string, uid int) bool {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Type() != fs.ModeSocket {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == uid
}
