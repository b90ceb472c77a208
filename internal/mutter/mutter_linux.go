//go:build linux

// Package mutter drives GNOME's compositor (Mutter) through its private
// D-Bus API, as gnome-remote-desktop does: one org.gnome.Mutter.RemoteDesktop
// session (pointer and keyboard) with a linked org.gnome.Mutter.ScreenCast
// session recording every monitor into a PipeWire stream. No dialog asks the
// user: the API is the compositor's own, reachable on the user's session bus.
//
// Capture (PipeWire frames) and input share one session per bus: Acquire
// counts the users and the session ends with the last Release.
package mutter

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"
)

const (
	rdName   = "org.gnome.Mutter.RemoteDesktop"
	scName   = "org.gnome.Mutter.ScreenCast"
	dcName   = "org.gnome.Mutter.DisplayConfig"
	rdPath   = "/org/gnome/Mutter/RemoteDesktop"
	scPath   = "/org/gnome/Mutter/ScreenCast"
	dcPath   = "/org/gnome/Mutter/DisplayConfig"
	maxMons  = 16
	callWait = 10 * time.Second
)

// Cursor modes of RecordMonitor.
const (
	CursorHidden   = 0
	CursorEmbedded = 1
	CursorMetadata = 2
)

// ErrNoMutter means nothing on the bus answers as Mutter's remote desktop
// API: not a GNOME session (or a GNOME too old for it).
var ErrNoMutter = errors.New("mutter: no org.gnome.Mutter.RemoteDesktop on the session bus")

// Stream is one monitor's screen cast.
type Stream struct {
	Connector           string
	Path                dbus.ObjectPath // the stream object, for absolute pointer motion
	Node                uint32          // the PipeWire node id
	X, Y, Width, Height int             // the monitor in the layout (logical pixels)
	Primary             bool
}

// Session is a started remote desktop session with one stream per monitor.
type Session struct {
	BusPath      string
	PipeWirePath string // the session's PipeWire socket
	UID          int    // the session's user (the bus socket's owner)
	Streams      []Stream

	log      *slog.Logger
	conn     *dbus.Conn
	rd, sc   dbus.BusObject
	closed   chan struct{}
	once     sync.Once
	watched  chan struct{} // closed when watch returns
	refs     int
	stopping atomic.Bool
	key      string
}

var (
	regMu    sync.Mutex
	sessions = map[string]*Session{}
)

// Acquire returns the session for the bus socket busPath, starting one
// when none runs; pipewire names the PipeWire socket ("" = pipewire-0
// beside the bus socket). Every Acquire needs one Release.
func Acquire(ctx context.Context, busPath, pipewire string, log *slog.Logger) (*Session, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	regMu.Lock()
	defer regMu.Unlock()
	if s := sessions[busPath]; s != nil {
		select {
		case <-s.closed:
			delete(sessions, busPath)
		default:
			s.refs++
			return s, nil
		}
	}
	s, err := start(ctx, busPath, pipewire, log)
	if err != nil {
		return nil, err
	}
	s.refs, s.key = 1, busPath
	sessions[busPath] = s
	return s, nil
}

// Release drops one user of s; the last one stops the session.
func (s *Session) Release() {
	regMu.Lock()
	s.refs--
	last := s.refs <= 0
	if last && sessions[s.key] == s {
		delete(sessions, s.key)
	}
	regMu.Unlock()
	if last {
		s.stop()
	}
}

// Closed is closed when Mutter ends the session (or the bus goes away).
func (s *Session) Closed() <-chan struct{} { return s.closed }

func start(ctx context.Context, busPath, pipewire string, log *slog.Logger) (*Session, error) {
	uid, err := socketOwner(busPath)
	if err != nil {
		return nil, err
	}
	if pipewire == "" {
		pipewire = filepath.Join(filepath.Dir(busPath), "pipewire-0")
	}
	conn, err := DialBus(ctx, busPath, uid)
	if err != nil {
		return nil, err
	}
	s := &Session{BusPath: busPath, PipeWirePath: pipewire, UID: uid, log: log, conn: conn, closed: make(chan struct{})}
	if err := s.open(ctx); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *Session) call(ctx context.Context, o dbus.BusObject, method string, out any, args ...any) error {
	ctx, cancel := context.WithTimeout(ctx, callWait)
	defer cancel()
	c := o.CallWithContext(ctx, method, 0, args...)
	if c.Err != nil {
		return fmt.Errorf("mutter: %s: %w", method, c.Err)
	}
	if out != nil {
		if err := c.Store(out); err != nil {
			return fmt.Errorf("mutter: %s: %w", method, err)
		}
	}
	return nil
}

// monitor is a connector with its place in the layout.
type monitor struct {
	connector           string
	x, y, width, height int
	primary             bool
}

func (s *Session) open(ctx context.Context) error {
	var rdSession dbus.ObjectPath
	if err := s.call(ctx, s.conn.Object(rdName, rdPath), rdName+".CreateSession", &rdSession); err != nil {
		var de dbus.Error
		if errors.As(err, &de) && (de.Name == "org.freedesktop.DBus.Error.ServiceUnknown" || de.Name == "org.freedesktop.DBus.Error.NameHasNoOwner") {
			return fmt.Errorf("%w: %w", ErrNoMutter, err)
		}
		return err
	}
	s.rd = s.conn.Object(rdName, rdSession)
	if err := s.conn.AddMatchSignal(dbus.WithMatchObjectPath(rdSession), dbus.WithMatchInterface(rdName+".Session"), dbus.WithMatchMember("Closed")); err != nil {
		return fmt.Errorf("mutter: %w", err)
	}
	idv, err := s.rd.GetProperty(rdName + ".Session.SessionId")
	if err != nil {
		return fmt.Errorf("mutter: session id: %w", err)
	}
	id, _ := idv.Value().(string)
	var scSession dbus.ObjectPath
	if err := s.call(ctx, s.conn.Object(scName, scPath), scName+".CreateSession", &scSession,
		map[string]dbus.Variant{"remote-desktop-session-id": dbus.MakeVariant(id)}); err != nil {
		return err
	}
	s.sc = s.conn.Object(scName, scSession)
	mons, err := s.monitors(ctx)
	if err != nil {
		return err
	}
	sig := make(chan *dbus.Signal, 64)
	s.conn.Signal(sig)
	for _, m := range mons {
		var sp dbus.ObjectPath
		if err := s.call(ctx, s.sc, scName+".Session.RecordMonitor", &sp, m.connector,
			map[string]dbus.Variant{"cursor-mode": dbus.MakeVariant(uint32(CursorMetadata))}); err != nil {
			return err
		}
		if err := s.conn.AddMatchSignal(dbus.WithMatchObjectPath(sp), dbus.WithMatchInterface(scName+".Stream"), dbus.WithMatchMember("PipeWireStreamAdded")); err != nil {
			return fmt.Errorf("mutter: %w", err)
		}
		s.Streams = append(s.Streams, Stream{Connector: m.connector, Path: sp, X: m.x, Y: m.y, Width: m.width, Height: m.height, Primary: m.primary})
	}
	if err := s.call(ctx, s.rd, rdName+".Session.Start", nil); err != nil {
		return err
	}
	// Every stream names its PipeWire node once started.
	wait, cancel := context.WithTimeout(ctx, callWait)
	defer cancel()
	for missing := len(s.Streams); missing > 0; {
		select {
		case v, ok := <-sig:
			if !ok {
				return errors.New("mutter: the session bus closed")
			}
			if v.Name != scName+".Stream.PipeWireStreamAdded" || len(v.Body) != 1 {
				continue
			}
			node, _ := v.Body[0].(uint32)
			for i := range s.Streams {
				if s.Streams[i].Path == v.Path && s.Streams[i].Node == 0 {
					s.Streams[i].Node = node
					missing--
				}
			}
		case <-wait.Done():
			return fmt.Errorf("mutter: no PipeWire stream announced: %w", wait.Err())
		}
	}
	s.watched = make(chan struct{})
	go s.watch(sig)
	// The layout as recorded (a stream's Parameters are authoritative).
	for i := range s.Streams {
		st := &s.Streams[i]
		v, err := s.conn.Object(scName, st.Path).GetProperty(scName + ".Stream.Parameters")
		if err != nil {
			continue // older Mutter: keep DisplayConfig's layout
		}
		p, _ := v.Value().(map[string]dbus.Variant)
		if xy, ok := pair(p["position"]); ok {
			st.X, st.Y = xy[0], xy[1]
		}
		if wh, ok := pair(p["size"]); ok && wh[0] > 0 && wh[1] > 0 {
			st.Width, st.Height = wh[0], wh[1]
		}
	}
	s.log.Info("mutter: remote desktop session started", "bus", s.BusPath, "monitors", len(s.Streams))
	return nil
}

// pair reads an (ii) variant.
func pair(v dbus.Variant) ([2]int, bool) {
	switch t := v.Value().(type) {
	case []any:
		if len(t) == 2 {
			a, ok1 := t[0].(int32)
			b, ok2 := t[1].(int32)
			return [2]int{int(a), int(b)}, ok1 && ok2
		}
	}
	return [2]int{}, false
}

// watch ends the session when Mutter closes it or the bus goes.
func (s *Session) watch(sig chan *dbus.Signal) {
	defer close(s.watched)
	for v := range sig {
		if v.Name == rdName+".Session.Closed" && v.Path == s.rd.Path() && !s.stopping.Load() {
			s.log.Info("mutter: the compositor closed the remote desktop session")
			s.once.Do(func() { close(s.closed) })
		}
	}
	s.once.Do(func() { close(s.closed) })
}

// monitors reads the logical layout from DisplayConfig.GetCurrentState:
// (serial, monitors a((ssss)a(siiddada{sv})a{sv}),
// logical_monitors a(iiduba(ssss)a{sv}), properties a{sv}).
func (s *Session) monitors(ctx context.Context) ([]monitor, error) {
	var (
		serial   uint32
		physical []struct {
			ID    struct{ Connector, Vendor, Product, Serial string }
			Modes []struct {
				ID            string
				Width, Height int32
				Rate, Scale   float64
				Scales        []float64
				Props         map[string]dbus.Variant
			}
			Props map[string]dbus.Variant
		}
		logical []struct {
			X, Y      int32
			Scale     float64
			Transform uint32
			Primary   bool
			Monitors  []struct{ Connector, Vendor, Product, Serial string }
			Props     map[string]dbus.Variant
		}
		props map[string]dbus.Variant
	)
	ctx, cancel := context.WithTimeout(ctx, callWait)
	defer cancel()
	c := s.conn.Object(dcName, dcPath).CallWithContext(ctx, dcName+".GetCurrentState", 0)
	if c.Err != nil {
		return nil, fmt.Errorf("mutter: display config: %w", c.Err)
	}
	if err := c.Store(&serial, &physical, &logical, &props); err != nil {
		return nil, fmt.Errorf("mutter: display config: %w", err)
	}
	var out []monitor
	for _, l := range logical {
		for _, lm := range l.Monitors {
			m := monitor{connector: lm.Connector, x: int(l.X), y: int(l.Y), primary: l.Primary}
			for _, p := range physical {
				if p.ID.Connector != lm.Connector {
					continue
				}
				for _, md := range p.Modes {
					if cur, _ := md.Props["is-current"].Value().(bool); cur {
						w, h := int(md.Width), int(md.Height)
						if l.Transform%2 == 1 { // 90 or 270 degrees
							w, h = h, w
						}
						// Logical size: a scaled monitor (layout mode 2) is smaller.
						if l.Scale > 0 {
							w, h = int(float64(w)/l.Scale+0.5), int(float64(h)/l.Scale+0.5)
						}
						m.width, m.height = w, h
					}
				}
			}
			if m.width > 0 && !slices.ContainsFunc(out, func(o monitor) bool { return o.connector == m.connector }) {
				out = append(out, m)
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("mutter: the compositor reports no monitor")
	}
	if len(out) > maxMons {
		out = out[:maxMons]
	}
	return out, nil
}

// stop ends the session and the bus connection.
func (s *Session) stop() {
	s.stopping.Store(true)
	if s.rd != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.rd.CallWithContext(ctx, rdName+".Session.Stop", 0).Err
		cancel()
	}
	_ = s.conn.Close() // closes sig: watch returns
	if s.watched != nil {
		<-s.watched
	}
	s.once.Do(func() { close(s.closed) })
}

// StreamAt is the stream whose monitor holds layout point (x, y), else
// the nearest one; ok is false without streams.
func (s *Session) StreamAt(x, y int) (Stream, bool) {
	best, bestD := -1, 0
	for i, st := range s.Streams {
		dx := max(st.X-x, 0, x-(st.X+st.Width-1))
		dy := max(st.Y-y, 0, y-(st.Y+st.Height-1))
		if d := dx*dx + dy*dy; best < 0 || d < bestD {
			best, bestD = i, d
		}
	}
	if best < 0 {
		return Stream{}, false
	}
	return s.Streams[best], true
}

// Call invokes a RemoteDesktop session method (Notify*).
func (s *Session) Call(method string, args ...any) error {
	select {
	case <-s.closed:
		return errors.New("mutter: the remote desktop session has ended")
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), callWait)
	defer cancel()
	if err := s.rd.CallWithContext(ctx, rdName+".Session."+method, 0, args...).Err; err != nil {
		return fmt.Errorf("mutter: %s: %w", method, err)
	}
	return nil
}

// socketOwner is the uid owning the socket at path (not a symlink).
func socketOwner(path string) (int, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return -1, fmt.Errorf("mutter: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return -1, fmt.Errorf("mutter: %s is not a socket", path)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return -1, fmt.Errorf("mutter: %s: no owner", path)
	}
	return int(st.Uid), nil
}

// DialBus connects to the session bus at path as uid and authenticates.
// A session bus admits its own user only; a root service reaches it by
// connecting from a thread whose effective uid is the user's.
func DialBus(ctx context.Context, path string, uid int) (*dbus.Conn, error) {
	c, err := DialAs(ctx, path, uid)
	if err != nil {
		return nil, fmt.Errorf("mutter: session bus: %w", err)
	}
	conn, err := dbus.NewConn(c) // not WithContext: that would end the connection with ctx
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("mutter: session bus: %w", err)
	}
	if err := conn.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(uid))}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("mutter: session bus: %w", err)
	}
	if err := conn.Hello(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("mutter: session bus: %w", err)
	}
	return conn, nil
}

// DialAs connects to the unix socket at path with uid's credentials: the
// peer (dbus-daemon, PipeWire) sees uid in SO_PEERCRED. Only the calling
// thread changes its effective uid (a raw setresuid; Go's own changes all
// threads), and only for the connect.
func DialAs(ctx context.Context, path string, uid int) (net.Conn, error) {
	var d net.Dialer
	if os.Geteuid() != 0 || uid == 0 {
		return d.DialContext(ctx, "unix", path)
	}
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is left locked (and so discarded) unless the uid
		// comes back: a thread with a stray uid must serve nothing else.
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), uintptr(uid), ^uintptr(0)); e != 0 {
			runtime.UnlockOSThread()
			ch <- result{nil, fmt.Errorf("set effective uid %d: %w", uid, e)}
			return
		}
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err == nil {
			err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), 0, ^uintptr(0)); e == 0 {
			runtime.UnlockOSThread()
		}
		if err != nil {
			if fd >= 0 {
				unix.Close(fd)
			}
			ch <- result{nil, fmt.Errorf("connect %s as uid %d: %w", path, uid, err)}
			return
		}
		f := os.NewFile(uintptr(fd), path)
		c, err := net.FileConn(f)
		f.Close()
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.c != nil {
				r.c.Close()
			}
		}()
		return nil, ctx.Err()
	}
}
