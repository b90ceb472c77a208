package agent

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/jezek/xgb"
	"github.com/jezek/xgb/screensaver"
	"github.com/jezek/xgb/xproto"

	"github.com/tandem-rc/tandem/internal/xext"
)

// linuxDiscoverer asks logind first; where logind or the system bus is
// absent (containers, machines without systemd) it scans the X servers'
// sockets and the processes' command lines and environments.
type linuxDiscoverer struct {
	log  *slog.Logger
	bus  string // D-Bus address; "" = the system bus
	scan x11Scan
}

func newPlatformDiscoverer(log *slog.Logger) Discoverer {
	return &linuxDiscoverer{log: log, scan: x11Scan{proc: "/proc", sockets: "/tmp/.X11-unix"}}
}

func (l *linuxDiscoverer) Discover(ctx context.Context) (*Desktop, error) {
	d, err := l.logind(ctx)
	if !errors.Is(err, errNoLogind) {
		return d, err
	}
	l.log.Debug("logind unavailable; scanning the X servers", "err", err)
	d, err = l.scan.discover()
	if !errors.Is(err, ErrNoDesktop) {
		return d, err
	}
	// No X display: a Wayland compositor's session, by its clients.
	return l.scan.wayland(ctx, -1, "")
}

// needDisplay: an X11 desktop is a display; none named, none served.
const needDisplay = true

// errNoLogind: no system bus or no logind on it; the caller falls back.
var errNoLogind = errors.New("logind is not reachable")

func (l *linuxDiscoverer) logind(ctx context.Context) (*Desktop, error) {
	var conn *dbus.Conn
	var err error
	if l.bus != "" {
		conn, err = dbus.Connect(l.bus, dbus.WithContext(ctx))
	} else {
		conn, err = dbus.ConnectSystemBus(dbus.WithContext(ctx))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoLogind, err)
	}
	defer conn.Close()
	const svc = "org.freedesktop.login1"
	seat := conn.Object(svc, "/org/freedesktop/login1/seat/seat0")
	v, err := seat.GetProperty(svc + ".Seat.ActiveSession")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoLogind, err)
	}
	var active struct {
		ID   string
		Path dbus.ObjectPath
	}
	if err := dbus.Store([]any{v.Value()}, &active); err != nil {
		return nil, fmt.Errorf("logind: seat0 ActiveSession: %w", err)
	}
	if active.ID == "" {
		return nil, ErrNoDesktop
	}
	props := map[string]dbus.Variant{}
	if err := conn.Object(svc, active.Path).CallWithContext(ctx, "org.freedesktop.DBus.Properties.GetAll", 0,
		svc+".Session").Store(&props); err != nil {
		return nil, fmt.Errorf("logind: session %s: %w", active.ID, err)
	}
	d, leader, err := desktopFromLogind(active.ID, props)
	if err != nil {
		return nil, err
	}
	if d.Display == "" { // Wayland
		w, err := l.scan.wayland(ctx, d.UID, active.ID)
		if err != nil {
			return nil, fmt.Errorf("agent: the active session %s is Wayland: %w", active.ID, err)
		}
		w.User, w.Session, w.Source, w.Locked = d.User, d.Session, d.Source, d.Locked
		return w, nil
	}
	// logind does not know the cookie file: the session's own processes do.
	d.XAuthority = xauthority(l.scan.processes(), d.Display, d.UID, leader, d.Home)
	return d, nil
}

// desktopFromLogind reads a logind Session's properties (GetAll on
// org.freedesktop.login1.Session). It returns the session leader's pid.
func desktopFromLogind(id string, p map[string]dbus.Variant) (*Desktop, uint32, error) {
	str := func(k string) string { s, _ := p[k].Value().(string); return s }
	leader, _ := p["Leader"].Value().(uint32)
	switch typ, class := str("Type"), str("Class"); {
	case class == "greeter" && typ == "x11" && str("Display") != "":
		// The login screen: served (as root, with the X server's cookie),
		// so a technician can log in, but nobody is logged in.
		return &Desktop{Display: str("Display"), Session: id, Source: "logind", UID: -1, GID: -1, NoUser: true}, leader, nil
	case class == "greeter", class == "lock-screen":
		return nil, 0, ErrNoDesktop // a login screen this host cannot serve
	case typ != "x11" && typ != "wayland":
		return nil, 0, ErrNoDesktop // a text console: no graphical session
	}
	d := &Desktop{Display: str("Display"), User: str("Name"), Session: id, Source: "logind", UID: -1, GID: -1}
	if str("Type") == "wayland" {
		d.Display = "" // Xwayland's, if named, shows X clients only
	} else if d.Display == "" {
		return nil, 0, fmt.Errorf("agent: logind session %s is x11 but names no display", id)
	}
	d.Locked, _ = p["LockedHint"].Value().(bool)
	var u struct {
		UID  uint32
		Path dbus.ObjectPath
	}
	if v, ok := p["User"]; ok && dbus.Store([]any{v.Value()}, &u) == nil {
		d.UID = int(u.UID)
	}
	fillUser(d)
	return d, leader, nil
}

// fillUser completes the name, home and group from the password database.
func fillUser(d *Desktop) {
	var u *user.User
	var err error
	switch {
	case d.UID >= 0:
		u, err = user.LookupId(strconv.Itoa(d.UID))
	case d.User != "":
		u, err = user.Lookup(d.User)
	default:
		return
	}
	if err != nil {
		return
	}
	d.User = u.Username
	d.UID, _ = strconv.Atoi(u.Uid)
	d.GID, _ = strconv.Atoi(u.Gid)
	if d.Home == "" {
		d.Home = u.HomeDir
	}
}

// x11Scan finds X servers by their sockets, and who uses them by the
// environments of the processes (what `w` and display managers' helpers
// do when logind is absent).
type x11Scan struct{ proc, sockets string }

// xServers are the names X servers run under.
var xServers = []string{"X", "Xorg", "Xvfb", "Xephyr", "Xvnc", "Xtigervnc", "Xtightvnc", "Xnest"}

type xProc struct {
	pid      int
	uid, gid int
	display  string // ":N"
	auth     string // the server's -auth, or the client's XAUTHORITY
	home     string
	user     string
	isServer bool

	wayland    string // WAYLAND_DISPLAY
	bus        string // DBUS_SESSION_BUS_ADDRESS
	runtimeDir string // XDG_RUNTIME_DIR
	kind       string // XDG_CURRENT_DESKTOP
	session    string // XDG_SESSION_ID
}

// socketDisplays maps the inodes of listening X sockets to their displays
// (/proc/net/unix), so a server started with -displayfd, whose command line
// names no display, is known by the socket it holds.
func (s x11Scan) socketDisplays() map[string]string {
	out := map[string]string{}
	b, err := os.ReadFile(filepath.Join(s.proc, "net", "unix"))
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		_, n, ok := strings.Cut(f[7], "/.X11-unix/X")
		if _, err := strconv.Atoi(n); !ok || err != nil {
			continue
		}
		out["socket:["+f[6]+"]"] = ":" + n
	}
	return out
}

// heldDisplay is the display whose socket process pid holds.
func (s x11Scan) heldDisplay(pid string, sockets map[string]string) string {
	fds, _ := os.ReadDir(filepath.Join(s.proc, pid, "fd"))
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join(s.proc, pid, "fd", fd.Name()))
		if d, ok := sockets[l]; err == nil && ok {
			return d
		}
	}
	return ""
}

// processes reads every process's display use; unreadable ones are skipped.
func (s x11Scan) processes() []xProc {
	var sockets map[string]string
	ents, _ := os.ReadDir(s.proc)
	self := os.Getpid()
	var out []xProc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		dir := filepath.Join(s.proc, e.Name())
		fi, err := os.Stat(dir)
		if err != nil {
			continue
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		if st == nil {
			continue
		}
		p := xProc{pid: pid, uid: int(st.Uid), gid: int(st.Gid)}
		if cmd, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil && len(cmd) > 0 {
			args := strings.Split(strings.TrimRight(string(cmd), "\x00"), "\x00")
			if slices.Contains(xServers, filepath.Base(args[0])) {
				p.isServer = true
				for i, a := range args[1:] {
					if strings.HasPrefix(a, ":") && p.display == "" {
						p.display = displayName(a)
					}
					if a == "-auth" && i+2 < len(args) {
						p.auth = args[i+2]
					}
				}
				if p.display == "" {
					if sockets == nil {
						sockets = s.socketDisplays()
					}
					p.display = s.heldDisplay(e.Name(), sockets)
				}
				if p.display != "" {
					out = append(out, p)
				}
				continue
			}
		}
		env, err := os.ReadFile(filepath.Join(dir, "environ"))
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			k, v, _ := strings.Cut(string(kv), "=")
			switch k {
			case "DISPLAY":
				p.display = displayName(v)
			case "XAUTHORITY":
				p.auth = v
			case "HOME":
				p.home = v
			case "USER":
				p.user = v
			case "WAYLAND_DISPLAY":
				p.wayland = v
			case "DBUS_SESSION_BUS_ADDRESS":
				p.bus = v
			case "XDG_RUNTIME_DIR":
				p.runtimeDir = v
			case "XDG_CURRENT_DESKTOP":
				p.kind = v
			case "XDG_SESSION_ID":
				p.session = v
			}
		}
		if p.display != "" || p.wayland != "" {
			out = append(out, p)
		}
	}
	return out
}

// displayName normalizes a local display ("unix:1.0", ":1.0") to ":1";
// "" for remote ones (host:N, forwarded over ssh).
func displayName(v string) string {
	host, num, ok := strings.Cut(v, ":")
	if !ok || (host != "" && host != "unix") {
		return ""
	}
	num, _, _ = strings.Cut(num, ".")
	if _, err := strconv.Atoi(num); err != nil {
		return ""
	}
	return ":" + num
}

// scanned is a display the scan found; rootServer: its X server runs as
// root, as the console's does (a server a user started is not the console).
type scanned struct {
	Desktop
	rootServer bool
}

// candidates are the live local displays, each with its best user: the
// earliest (lowest pid) non-root process using it, else the server's owner.
func (s x11Scan) candidates() []scanned {
	procs := s.processes()
	slices.SortFunc(procs, func(a, b xProc) int { return a.pid - b.pid })
	var out []scanned
	seen := map[string]bool{}
	for _, sp := range procs {
		if sp.display == "" || seen[sp.display] || !s.socket(sp.display) {
			continue
		}
		seen[sp.display] = true
		d := Desktop{Display: sp.display, UID: -1, GID: -1, Source: "x11-scan"}
		var server, client *xProc
		for i := range procs {
			p := &procs[i]
			if p.display != sp.display {
				continue
			}
			if p.isServer && server == nil {
				server = p
			}
			if !p.isServer && p.uid != 0 && client == nil {
				client = p
			}
		}
		switch {
		case client != nil:
			d.UID, d.User, d.Home = client.uid, client.user, client.home
			d.XAuthority = xauthority(procs, d.Display, d.UID, 0, d.Home)
		case server != nil:
			d.UID = server.uid
			d.XAuthority = xauthority(procs, d.Display, d.UID, 0, "")
		default:
			// Only root clients: their cookie.
			d.UID = sp.uid
			d.XAuthority = xauthority(procs, d.Display, 0, 0, sp.home)
		}
		fillUser(&d)
		out = append(out, scanned{Desktop: d, rootServer: server != nil && server.uid == 0})
	}
	return out
}

func (s x11Scan) socket(display string) bool {
	_, err := os.Stat(filepath.Join(s.sockets, "X"+display[1:]))
	return err == nil
}

// xauthority is the cookie file for display used by uid's processes
// (the leader's first), else the X server's -auth, else ~/.Xauthority.
func xauthority(procs []xProc, display string, uid int, leader uint32, home string) string {
	procs = slices.Clone(procs)
	slices.SortFunc(procs, func(a, b xProc) int {
		if a.pid == int(leader) {
			return -1
		}
		if b.pid == int(leader) {
			return 1
		}
		return a.pid - b.pid
	})
	// The service reads these files as root: only a regular file owned by
	// the process that names it is taken, so a user cannot make it read
	// another file (/etc/shadow) by naming it in their environment.
	for _, p := range procs {
		if !p.isServer && p.display == display && p.uid == uid && ownedBy(p.auth, p.uid) {
			return p.auth
		}
	}
	for _, p := range procs {
		if p.isServer && p.display == display && ownedBy(p.auth, p.uid) {
			return p.auth
		}
	}
	if home != "" && uid >= 0 {
		if f := filepath.Join(home, ".Xauthority"); ownedBy(f, uid) {
			return f
		}
	}
	return ""
}

// ownedBy: path is a regular file (not a symlink) owned by uid.
func ownedBy(path string, uid int) bool {
	if path == "" || !filepath.IsAbs(path) {
		return false
	}
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == uid
}

// discover picks a session: one whose X server runs as root (the console's)
// first, then a user's before root's (root's displays are usually other
// services' or tests'), then the lowest display number. Its
// lock state is the X screen saver's (what lockers drive when logind is
// absent); a display that refuses us is skipped.
func (s x11Scan) discover() (*Desktop, error) {
	cs := s.candidates()
	slices.SortStableFunc(cs, func(a, b scanned) int {
		if a.rootServer != b.rootServer {
			if a.rootServer {
				return -1
			}
			return 1
		}
		if c := rootLast(a.UID, b.UID); c != 0 {
			return c
		}
		an, _ := strconv.Atoi(a.Display[1:])
		bn, _ := strconv.Atoi(b.Display[1:])
		return an - bn
	})
	var errs []error
	for i := range cs {
		d := cs[i].Desktop
		locked, err := s.screenSaverOn(&d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		d.Locked = locked
		return &d, nil
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("agent: no X display accepts this host: %w", errors.Join(errs...))
	}
	return nil, ErrNoDesktop
}

// rootLast orders a user's before root's (uid 0).
func rootLast(a, b int) int {
	switch {
	case (a == 0) == (b == 0):
		return 0
	case a == 0:
		return 1
	}
	return -1
}

// screenSaverOn connects with d's cookie and asks MIT-SCREEN-SAVER.
func (s x11Scan) screenSaverOn(d *Desktop) (bool, error) {
	c, err := dialX(s.sockets, d)
	if err != nil {
		return false, err
	}
	defer c.Close()
	if err := xext.Init(c, "MIT-SCREEN-SAVER", screensaver.Init); err != nil {
		return false, nil // no extension: not known to be locked
	}
	root := xproto.Setup(c).DefaultScreen(c).Root
	r, err := screensaver.QueryInfo(c, xproto.Drawable(root)).Reply()
	if err != nil {
		return false, fmt.Errorf("display %s: screen saver: %w", d.Display, err)
	}
	return r.State == screensaver.StateOn, nil
}

// dialX opens d's display with its cookie file directly, without reading
// the process environment.
func dialX(sockets string, d *Desktop) (*xgb.Conn, error) {
	nc, err := net.DialTimeout("unix", filepath.Join(sockets, "X"+d.Display[1:]), 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("display %s: %w", d.Display, err)
	}
	cookie := ""
	if d.XAuthority != "" {
		if cookie, err = readCookie(d.XAuthority, d.Display[1:]); err != nil {
			nc.Close()
			return nil, fmt.Errorf("display %s: %w", d.Display, err)
		}
	}
	var c *xgb.Conn
	if cookie != "" {
		c, err = xgb.NewConnNetWithCookieHex(nc, cookie)
	} else {
		c, err = xgb.NewConnNet(nc)
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("display %s (cookie %s): %w", d.Display, d.XAuthority, err)
	}
	xext.Prime(c)
	return c, nil
}

// readCookie finds the MIT-MAGIC-COOKIE-1 for a local display number in an
// Xauthority file (entries: family, address, number, name, data, each
// length-prefixed, big endian).
func readCookie(file, number string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return "", err
	}
	field := func() ([]byte, bool) {
		if len(b) < 2 {
			return nil, false
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return nil, false
		}
		v := b[2 : 2+n]
		b = b[2+n:]
		return v, true
	}
	for len(b) >= 2 {
		family := binary.BigEndian.Uint16(b)
		b = b[2:]
		_, ok1 := field()
		num, ok2 := field()
		name, ok3 := field()
		data, ok4 := field()
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return "", fmt.Errorf("%s: malformed Xauthority file", file)
		}
		// 256 = FamilyLocal, 65535 = FamilyWild, 0 = Internet (localhost)
		if (family == 256 || family == 65535 || family == 0) && (len(num) == 0 || string(num) == number) &&
			string(name) == "MIT-MAGIC-COOKIE-1" {
			return hex.EncodeToString(data), nil
		}
	}
	return "", fmt.Errorf("%s: no MIT-MAGIC-COOKIE-1 for display :%s", file, number)
}
