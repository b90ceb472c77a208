//go:build linux

package agent

import (
	"errors"
	"fmt"
	"image"
	"os"
	"slices"
	"strconv"
	"sync"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/res"
	"github.com/jezek/xgb/xproto"

	"github.com/tandem-rc/tandem/internal/xext"
)

// x11Windows enumerates the root window's mapped children over one xgb
// connection. The root's children in QueryTree order are exactly the
// stacking order, with or without a window manager (with one they are its
// frames, whose client window carries WM_STATE), so occlusion needs no EWMH.
// The owning process comes from the X server itself (X-Resource
// QueryClientIds, which a client cannot forge) and, only when the server
// lacks that extension, from the client-set _NET_WM_PID.
type x11Windows struct {
	mu      sync.Mutex
	conn    *xgb.Conn
	root    xproto.Window
	hasRes  bool
	wmState xproto.Atom
	wmPID   xproto.Atom
	procDir string // "/proc"
	closed  bool

	// The list is kept between calls and rebuilt only after the root
	// reported a change (SubstructureNotify: map, unmap, configure,
	// restack, reparent, destroy of its children); executables are cached
	// per top-level window until it is destroyed or reparented.
	cache []TopWindow
	dirty bool
	exes  map[xproto.Window]string
}

func openWindows(o WindowsOptions) (Windows, error) {
	conn, err := xext.Dial(o.Display)
	if err != nil {
		return nil, fmt.Errorf("X display: %w", err)
	}
	w := &x11Windows{conn: conn, root: xproto.Setup(conn).DefaultScreen(conn).Root, procDir: "/proc",
		dirty: true, exes: map[xproto.Window]string{}}
	if err := xproto.ChangeWindowAttributesChecked(conn, w.root, xproto.CwEventMask,
		[]uint32{xproto.EventMaskSubstructureNotify}).Check(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("X root events: %w", err)
	}
	if err := res.Init(conn); err == nil {
		if v, err := res.QueryVersion(conn, 1, 2).Reply(); err == nil && (v.ServerMajor > 1 || v.ServerMinor >= 2) {
			w.hasRes = true
		}
	}
	if !w.hasRes {
		o.Logger.Warn("whitelist: X-Resource 1.2 missing; trusting the windows' _NET_WM_PID")
	}
	for name, dst := range map[string]*xproto.Atom{"WM_STATE": &w.wmState, "_NET_WM_PID": &w.wmPID} {
		a, err := xproto.InternAtom(conn, false, uint16(len(name)), name).Reply()
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("X atom %s: %w", name, err)
		}
		*dst = a.Atom
	}
	return w, nil
}

func (w *x11Windows) List() ([]TopWindow, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, errors.New("windows: closed")
	}
	// A round trip orders this call after everything the server did
	// before it (a grab on another connection included): every change
	// made so far has reached the event queue once the reply is here.
	w.drain()
	if _, err := xproto.GetInputFocus(w.conn).Reply(); err != nil {
		return nil, fmt.Errorf("windows: sync: %w", err)
	}
	w.drain()
	if !w.dirty {
		return slices.Clone(w.cache), nil
	}
	w.dirty = false
	tree, err := xproto.QueryTree(w.conn, w.root).Reply()
	if err != nil {
		w.dirty = true
		return nil, fmt.Errorf("windows: query tree: %w", err)
	}
	// Pipeline the per-window requests: one round trip for all of them.
	n := len(tree.Children)
	attrs := make([]xproto.GetWindowAttributesCookie, n)
	geoms := make([]xproto.GetGeometryCookie, n)
	for i, c := range tree.Children {
		attrs[i] = xproto.GetWindowAttributes(w.conn, c)
		geoms[i] = xproto.GetGeometry(w.conn, xproto.Drawable(c))
	}
	out := make([]TopWindow, 0, n)
	for i, c := range tree.Children {
		a, aerr := attrs[i].Reply()
		g, gerr := geoms[i].Reply()
		if aerr != nil || gerr != nil {
			continue // destroyed meanwhile
		}
		if a.MapState != xproto.MapStateViewable || a.Class == xproto.WindowClassInputOnly {
			continue
		}
		bw := int(g.BorderWidth) * 2
		r := image.Rect(int(g.X), int(g.Y), int(g.X)+int(g.Width)+bw, int(g.Y)+int(g.Height)+bw)
		exe, ok := w.exes[c]
		if !ok {
			if exe = w.exe(w.client(c, 2)); exe != "" {
				w.exes[c] = exe
			} else {
				w.dirty = true // may be resolvable later (_NET_WM_PID set after mapping)
			}
		}
		out = append(out, TopWindow{ID: uint64(c), Rect: r, Exe: exe})
	}
	w.cache = out
	return slices.Clone(out), nil
}

// drain consumes the queued root events. Called often enough (every frame
// and input event) that xgb's 5000-event queue never fills.
func (w *x11Windows) drain() {
	for {
		ev, xerr := w.conn.PollForEvent()
		if ev == nil && xerr == nil {
			return
		}
		w.dirty = true
		switch e := ev.(type) {
		case xproto.DestroyNotifyEvent:
			delete(w.exes, e.Window)
		case xproto.ReparentNotifyEvent:
			delete(w.exes, e.Window)
			delete(w.exes, e.Parent)
		}
	}
}

// client finds the application's window under a top-level one: the
// descendant with WM_STATE (set by a window manager on the client it
// frames), else the top-level window itself (no window manager).
func (w *x11Windows) client(win xproto.Window, depth int) xproto.Window {
	if w.hasProp(win, w.wmState) {
		return win
	}
	if depth > 0 {
		if t, err := xproto.QueryTree(w.conn, win).Reply(); err == nil {
			for _, c := range t.Children {
				if found := w.client(c, depth-1); w.hasProp(found, w.wmState) {
					return found
				}
			}
		}
	}
	return win
}

func (w *x11Windows) hasProp(win xproto.Window, atom xproto.Atom) bool {
	p, err := xproto.GetProperty(w.conn, false, win, atom, xproto.GetPropertyTypeAny, 0, 0).Reply()
	return err == nil && p.Format != 0
}

// pid is the process that created win, as the X server knows it; 0 when
// unknown (a remote client, or no X-Resource and no _NET_WM_PID).
func (w *x11Windows) pid(win xproto.Window) int {
	if w.hasRes {
		r, err := res.QueryClientIds(w.conn, 1, []res.ClientIdSpec{{Client: uint32(win), Mask: res.ClientIdMaskLocalClientPID}}).Reply()
		if err != nil {
			return 0
		}
		for _, id := range r.Ids {
			if id.Spec.Mask&res.ClientIdMaskLocalClientPID != 0 && len(id.Value) > 0 {
				return int(id.Value[0])
			}
		}
		return 0
	}
	p, err := xproto.GetProperty(w.conn, false, win, w.wmPID, xproto.AtomCardinal, 0, 1).Reply()
	if err != nil || p.Format != 32 || len(p.Value) < 4 {
		return 0
	}
	return int(xgb.Get32(p.Value))
}

// exe resolves the executable of win's process; "" when unknown.
func (w *x11Windows) exe(win xproto.Window) string {
	pid := w.pid(win)
	if pid <= 0 {
		return ""
	}
	p, err := os.Readlink(w.procDir + "/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		return ""
	}
	return p // a replaced binary reads "... (deleted)": no longer matches
}

func (w *x11Windows) Focused() (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, errors.New("windows: closed")
	}
	f, err := xproto.GetInputFocus(w.conn).Reply()
	if err != nil {
		return 0, fmt.Errorf("windows: input focus: %w", err)
	}
	win := f.Focus
	switch win {
	case xproto.WindowNone:
		return 0, nil
	case xproto.InputFocusPointerRoot, w.root:
		// Focus follows the pointer: the top-level window under it.
		p, err := xproto.QueryPointer(w.conn, w.root).Reply()
		if err != nil {
			return 0, fmt.Errorf("windows: pointer: %w", err)
		}
		return uint64(p.Child), nil
	}
	for {
		t, err := xproto.QueryTree(w.conn, win).Reply()
		if err != nil {
			return 0, nil // destroyed meanwhile
		}
		if t.Parent == w.root || t.Parent == xproto.WindowNone {
			return uint64(win), nil
		}
		win = t.Parent
	}
}

func (w *x11Windows) Pointer() (image.Point, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return image.Point{}, errors.New("windows: closed")
	}
	p, err := xproto.QueryPointer(w.conn, w.root).Reply()
	if err != nil {
		return image.Point{}, fmt.Errorf("windows: pointer: %w", err)
	}
	return image.Pt(int(p.RootX), int(p.RootY)), nil
}

func (w *x11Windows) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.closed = true
		w.conn.Close()
	}
	return nil
}

func samePath(a, b string) bool { return a == b }
