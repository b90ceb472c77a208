package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/input"
)

// A service runs as root (LocalSystem) with no display of its own: each
// session start finds the machine's active graphical session and runs
// capture, input, clipboard, window enumeration and the local prompts
// there, so a user logging out and another logging in is followed.

// Desktop is the active graphical session.
type Desktop struct {
	Display    string // X11 display, ":0"; "" on a Wayland desktop
	Wayland    string // a Wayland desktop's compositor socket (absolute path); "" on X11
	RuntimeDir string // the session's XDG_RUNTIME_DIR (Wayland)
	SessionBus string // GNOME on Wayland: the session bus socket where Mutter's remote desktop API answers
	Kind       string // the desktop's name (XDG_CURRENT_DESKTOP: "sway", "GNOME", ...); "" if unknown
	XAuthority string // the cookie file X clients of this session use; "" = none needed
	User       string // login name of the session's owner; "" if unknown
	UID, GID   int    // -1 when unknown
	Home       string
	Locked     bool   // at the lock screen (logind LockedHint, the X screen saver, or WTS on Windows)
	NoUser     bool   // the login screen: served, but nobody is logged in
	Session    string // logind session id on Linux, WTS session id on Windows; "" when not known
	Source     string // how it was found: "logind", "x11-scan", "static"
}

// ErrNoDesktop means nobody is logged in at the console (no graphical
// session): the "except when no user is logged in" state.
var ErrNoDesktop = errors.New("agent: no graphical session (nobody is logged in at the console)")

// ErrDesktopUnsupported means a graphical session is there but this host
// cannot capture or control it (a Wayland compositor without a back end).
var ErrDesktopUnsupported = errors.New("not supported on this desktop")

// CaptureOptions are capture's options for this desktop: its X display,
// or its Wayland compositor.
func (d *Desktop) CaptureOptions(log *slog.Logger) capture.Options {
	return capture.Options{Display: d.Display, Wayland: d.Wayland, RuntimeDir: d.RuntimeDir, SessionBus: d.SessionBus, Logger: log}
}

// InputOptions are input's options for this desktop.
func (d *Desktop) InputOptions(log *slog.Logger) input.Options {
	return input.Options{Display: d.Display, Wayland: d.Wayland, RuntimeDir: d.RuntimeDir, SessionBus: d.SessionBus, Logger: log}
}

// X11Only refuses a feature that needs an X display on a Wayland desktop,
// where an outside program sees no other client's windows, selection or
// input devices.
func (d *Desktop) X11Only(feature string) error {
	if d != nil && d.Wayland != "" {
		return fmt.Errorf("agent: %s on a Wayland desktop (%s): %w (%w)", feature, d.kindName(), ErrDesktopUnsupported, errors.ErrUnsupported)
	}
	return nil
}

func (d *Desktop) kindName() string {
	if d.Kind == "" {
		return "unknown compositor"
	}
	return d.Kind
}

// Discoverer finds the active graphical session. It returns ErrNoDesktop
// when there is none, and another error when it cannot tell (then no
// "except when" exception applies).
type Discoverer interface {
	Discover(ctx context.Context) (*Desktop, error)
}

// NewDiscoverer returns the platform's discovery: on Linux logind over
// the system D-Bus, else a scan of the X servers and session processes.
func NewDiscoverer(log *slog.Logger) Discoverer {
	if log == nil {
		log = slog.Default()
	}
	return newPlatformDiscoverer(log)
}

// StaticDesktop is the desktop the foreground `run` serves: the given
// display (or $DISPLAY) with $XAUTHORITY, owned by the current user (on
// Windows and macOS simply the process's own desktop). Its lock state is
// not known (never "locked").
type StaticDesktop struct{ Display string }

func (s StaticDesktop) Discover(context.Context) (*Desktop, error) {
	d := &Desktop{Display: s.Display, XAuthority: os.Getenv("XAUTHORITY"), User: os.Getenv("USER"),
		UID: os.Getuid(), GID: os.Getgid(), Source: "static"}
	if d.Display == "" {
		d.Display = os.Getenv("DISPLAY")
	}
	d.Home, _ = os.UserHomeDir()
	if d.Display == "" && needDisplay {
		return nil, ErrNoDesktop
	}
	return d, nil
}

// Env returns base with this desktop's DISPLAY and XAUTHORITY (on Wayland
// its WAYLAND_DISPLAY and XDG_RUNTIME_DIR instead), and, when asUser, its
// user's HOME, USER and LOGNAME.
func (d *Desktop) Env(base []string, asUser bool) []string {
	set := map[string]string{}
	if d.Wayland != "" {
		set["WAYLAND_DISPLAY"], set["XDG_RUNTIME_DIR"] = d.Wayland, d.RuntimeDir
	} else {
		set["DISPLAY"] = d.Display
	}
	if d.XAuthority != "" {
		set["XAUTHORITY"] = d.XAuthority
	}
	if asUser && d.User != "" {
		set["USER"], set["LOGNAME"] = d.User, d.User
		if d.Home != "" {
			set["HOME"] = d.Home
		}
	}
	out := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := set[k]; ok {
			continue
		}
		if k == "XAUTHORITY" && d.XAuthority == "" {
			continue // another session's cookie
		}
		if d.Wayland != "" && k == "DISPLAY" || d.Wayland == "" && k == "WAYLAND_DISPLAY" {
			continue // the other kind of display: GTK would prefer it
		}
		out = append(out, kv)
	}
	for _, k := range []string{"DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "XAUTHORITY", "USER", "LOGNAME", "HOME"} {
		if v, ok := set[k]; ok {
			out = append(out, k+"="+v)
		}
	}
	return out
}

// DesktopTracker follows the active desktop for one process: each
// Discover (the Host calls it at each session start) finds it again and
// remembers it for the openers and prompts, which read Current.
//
// X libraries read the cookie file's name from $XAUTHORITY only (xgb and
// libX11 alike), so the tracker sets it in the process environment when
// the desktop changes; the service serves one desktop at a time.
type DesktopTracker struct {
	d   Discoverer
	log *slog.Logger

	mu      sync.Mutex
	cur     *Desktop
	lastErr error
}

// NewDesktopTracker wraps d.
func NewDesktopTracker(d Discoverer, log *slog.Logger) *DesktopTracker {
	if log == nil {
		log = slog.Default()
	}
	return &DesktopTracker{d: d, log: log}
}

// Discover finds the desktop now and makes it current.
func (t *DesktopTracker) Discover(ctx context.Context) (*Desktop, error) {
	d, err := t.d.Discover(ctx)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		if t.cur != nil {
			t.log.Info("graphical session gone", "display", t.cur.Display, "user", t.cur.User, "err", err)
		}
		t.cur, t.lastErr = nil, err
		return nil, err
	}
	t.lastErr = nil
	if t.cur == nil || t.cur.Display != d.Display || t.cur.Wayland != d.Wayland || t.cur.XAuthority != d.XAuthority || t.cur.User != d.User {
		t.log.Info("serving graphical session", "display", d.Display, "wayland", d.Wayland, "desktop", d.Kind,
			"user", d.User, "xauthority", d.XAuthority, "source", d.Source)
		if d.XAuthority != "" {
			_ = os.Setenv("XAUTHORITY", d.XAuthority)
		} else {
			_ = os.Unsetenv("XAUTHORITY")
		}
	}
	c := *d
	t.cur = &c
	return d, nil
}

// Current is the desktop found last; nil before any or when there is none.
func (t *DesktopTracker) Current() *Desktop {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur == nil {
		return nil
	}
	c := *t.cur
	return &c
}

// Need is Current, or when there is none why: the last discovery's error
// (a desktop not supported, say), else ErrNoDesktop.
func (t *DesktopTracker) Need() (*Desktop, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur != nil {
		c := *t.cur
		return &c, nil
	}
	if t.lastErr != nil && !errors.Is(t.lastErr, ErrNoDesktop) {
		return nil, t.lastErr
	}
	return nil, ErrNoDesktop
}

// Display is Current's display, "" when there is none.
func (t *DesktopTracker) Display() string {
	if d := t.Current(); d != nil {
		return d.Display
	}
	return ""
}

// staticDesktop is a fixed display for the process's own user ("" =
// $DISPLAY as inherited).
func staticDesktop(display string) func() *Desktop {
	return func() *Desktop { return &Desktop{Display: display, UID: -1, GID: -1, Source: "static"} }
}

// desktopCommand prepares a program for desktop d: its DISPLAY and
// XAUTHORITY, and, when this process is root and d belongs to another
// user, that user's identity (a prompt must never run as root on a user's
// screen). A nil d, or one without a display, is refused.
func desktopCommand(ctx context.Context, d *Desktop, name string, args ...string) (*exec.Cmd, error) {
	if d == nil {
		return nil, ErrNoDesktop
	}
	cmd := exec.CommandContext(ctx, name, args...)
	if d.Display == "" && d.Wayland == "" {
		return cmd, nil // the inherited $DISPLAY (foreground run)
	}
	asUser := os.Geteuid() == 0 && d.UID > 0
	cmd.Env = d.Env(os.Environ(), asUser)
	if asUser {
		if err := runAsUser(cmd, d); err != nil {
			return nil, err
		}
	}
	return cmd, nil
}

// hostState is the Host's state for the grant's exceptions: locked,
// nobody logged in. Without a Discoverer, or when it cannot tell, both are
// false, so no exception applies (deny by default).
func (h *Host) hostState(ctx context.Context) (d *Desktop, locked, noUser bool) {
	if h.o.Desktop == nil {
		return nil, false, false
	}
	d, err := h.o.Desktop.Discover(ctx)
	switch {
	case errors.Is(err, ErrNoDesktop):
		return nil, false, true
	case err != nil:
		h.log.Warn("cannot tell the desktop's state; no confirm/whitelist exception applies", "err", err)
		return nil, false, false
	}
	return d, d.Locked && !d.NoUser, d.NoUser
}

// SessionBusPath is the socket of a session bus address
// (DBUS_SESSION_BUS_ADDRESS "unix:path=..."), or runtimeDir/bus without
// one; "" when it names no absolute socket path.
func SessionBusPath(address, runtimeDir string) string {
	path := filepath.Join(runtimeDir, "bus")
	if a, ok := strings.CutPrefix(address, "unix:path="); ok {
		path, _, _ = strings.Cut(a, ",")
	} else if address != "" || runtimeDir == "" {
		return "" // abstract sockets and other transports: not served
	}
	if !filepath.IsAbs(path) {
		return ""
	}
	return path
}
