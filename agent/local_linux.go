//go:build linux

package agent

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/dpms"
	"github.com/jezek/xgb/xproto"

	"github.com/tandem-rc/tandem/internal/xext"
)

// X11 implementations. Each opens its own connection so a session's grabs,
// selection ownership and DPMS level end with the connection, even if the
// agent dies: the X server then drops them itself.

const (
	clipWait     = 5 * time.Second        // an unresponsive clipboard owner
	clipPoll     = 300 * time.Millisecond // local clipboard polling
	clipChunk    = 64 << 10               // bytes per property write (well under the core request limit)
	anyPropType  = xproto.Atom(xproto.GetPropertyTypeAny)
	propDeleteEv = xproto.PropertyDelete
)

func openX(o LocalOptions) (*xgb.Conn, string, *slog.Logger, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	name := o.Display
	if name == "" {
		name = os.Getenv("DISPLAY")
	}
	conn, err := xext.Dial(o.Display)
	if err != nil {
		return nil, "", nil, fmt.Errorf("agent: X display %q: %w", name, err)
	}
	return conn, name, log, nil
}

// tandemOwners holds every window through which a session offers clipboard
// text ("display/window"), so no session reads or forwards another's text.
var tandemOwners sync.Map

type x11Clipboard struct {
	log                                                         *slog.Logger
	conn                                                        *xgb.Conn
	win                                                         xproto.Window
	display                                                     string
	clip, utf8, str, text, targets, timestamp, incr, atom, prop xproto.Atom

	mu    sync.Mutex
	owned bool
	offer string
	sends map[incrKey]*incrSend // INCR transfers to requestors in progress

	getMu   sync.Mutex // one conversion at a time
	replies chan xproto.SelectionNotifyEvent
	props   chan xproto.PropertyNotifyEvent // property changes on win (INCR reads)
	changes chan string
	done    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

type incrKey struct {
	win  xproto.Window
	prop xproto.Atom
}

type incrSend struct {
	typ  xproto.Atom
	data []byte
}

// OpenClipboard opens the X11 CLIPBOARD selection for one session.
func OpenClipboard(o LocalOptions) (Clipboard, error) {
	conn, name, log, err := openX(o)
	if err != nil {
		return nil, err
	}
	c := &x11Clipboard{log: log, conn: conn, display: name, sends: map[incrKey]*incrSend{},
		replies: make(chan xproto.SelectionNotifyEvent, 1), props: make(chan xproto.PropertyNotifyEvent, 64),
		changes: make(chan string, 1), done: make(chan struct{})}
	if err := c.init(); err != nil {
		conn.Close()
		return nil, err
	}
	tandemOwners.Store(c.ownerKey(c.win), true)
	c.wg.Add(2)
	go c.events()
	go c.watch()
	return c, nil
}

func (c *x11Clipboard) ownerKey(w xproto.Window) string { return fmt.Sprintf("%s/%d", c.display, w) }

func (c *x11Clipboard) init() error {
	for _, a := range []struct {
		p    *xproto.Atom
		name string
	}{{&c.clip, "CLIPBOARD"}, {&c.utf8, "UTF8_STRING"}, {&c.str, "STRING"}, {&c.text, "TEXT"},
		{&c.targets, "TARGETS"}, {&c.timestamp, "TIMESTAMP"}, {&c.incr, "INCR"}, {&c.atom, "ATOM"}, {&c.prop, "TANDEM_CLIPBOARD"}} {
		r, err := xproto.InternAtom(c.conn, false, uint16(len(a.name)), a.name).Reply()
		if err != nil {
			return fmt.Errorf("agent: clipboard: intern %s: %w", a.name, err)
		}
		*a.p = r.Atom
	}
	screen := xproto.Setup(c.conn).DefaultScreen(c.conn)
	win, err := xproto.NewWindowId(c.conn)
	if err != nil {
		return fmt.Errorf("agent: clipboard: %w", err)
	}
	// An unmapped window: the selection owner and the target of conversions.
	if err := xproto.CreateWindowChecked(c.conn, 0, win, screen.Root, 0, 0, 1, 1, 0,
		xproto.WindowClassInputOnly, 0, xproto.CwEventMask, []uint32{xproto.EventMaskPropertyChange | xproto.EventMaskStructureNotify}).Check(); err != nil {
		return fmt.Errorf("agent: clipboard: create window: %w", err)
	}
	c.win = win
	return nil
}

func (c *x11Clipboard) Set(text string) error {
	if len(text) > MaxClipboard {
		return ErrClipboardTooLarge
	}
	if !utf8.ValidString(text) {
		return errors.New("agent: clipboard text is not valid UTF-8")
	}
	c.mu.Lock()
	c.offer, c.owned = text, true
	c.mu.Unlock()
	xproto.SetSelectionOwner(c.conn, c.win, c.clip, xproto.TimeCurrentTime)
	r, err := xproto.GetSelectionOwner(c.conn, c.clip).Reply()
	if err != nil {
		return fmt.Errorf("agent: clipboard: %w", err)
	}
	if r.Owner != c.win {
		c.mu.Lock()
		c.offer, c.owned = "", false
		c.mu.Unlock()
		return errors.New("agent: clipboard: the X server did not give this session the clipboard")
	}
	return nil
}

func (c *x11Clipboard) Get(ctx context.Context) (string, error) {
	c.getMu.Lock()
	defer c.getMu.Unlock()
	c.mu.Lock()
	if c.owned {
		defer c.mu.Unlock()
		return c.offer, nil
	}
	c.mu.Unlock()
	r, err := xproto.GetSelectionOwner(c.conn, c.clip).Reply()
	if err != nil {
		return "", fmt.Errorf("agent: clipboard: %w", err)
	}
	if r.Owner == xproto.WindowNone || c.isSession(r.Owner) {
		return "", nil
	}
	b, err := c.convert(ctx, c.utf8)
	if errors.Is(err, errNoConversion) {
		if b, err = c.convert(ctx, c.str); err == nil {
			b = latin1ToUTF8(b)
		}
	}
	if errors.Is(err, errNoConversion) {
		return "", nil // the owner has no text (an image, say)
	}
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return strings.ToValidUTF8(string(b), "\uFFFD"), nil
	}
	return string(b), nil
}

func (c *x11Clipboard) isSession(w xproto.Window) bool {
	_, ok := tandemOwners.Load(c.ownerKey(w))
	return ok
}

var errNoConversion = errors.New("agent: clipboard owner cannot convert to this target")

// convert asks the owner for the selection as target and reads the answer,
// following the INCR protocol for large data.
func (c *x11Clipboard) convert(ctx context.Context, target xproto.Atom) ([]byte, error) {
	// Forget what earlier conversions left: a late answer to one that timed
	// out, and the property events of each (only INCR reads them).
	select {
	case <-c.replies:
	default:
	}
	for len(c.props) > 0 {
		<-c.props
	}
	xproto.DeleteProperty(c.conn, c.win, c.prop)
	xproto.ConvertSelection(c.conn, c.win, c.clip, target, c.prop, xproto.TimeCurrentTime)
	timer := time.NewTimer(clipWait)
	defer timer.Stop()
	var ev xproto.SelectionNotifyEvent
	for {
		select {
		case ev = <-c.replies:
		case <-timer.C:
			return nil, errors.New("agent: clipboard: the application holding the clipboard did not answer")
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.done:
			return nil, errors.New("agent: clipboard closed")
		}
		if ev.Target == target {
			break
		}
	}
	if ev.Property == xproto.AtomNone {
		return nil, errNoConversion
	}
	p, err := xproto.GetProperty(c.conn, true, c.win, c.prop, anyPropType, 0, MaxClipboard/4+1).Reply()
	if err != nil {
		return nil, fmt.Errorf("agent: clipboard: read: %w", err)
	}
	if p.Type != c.incr {
		if p.BytesAfter > 0 || len(p.Value) > MaxClipboard {
			return nil, ErrClipboardTooLarge
		}
		return p.Value, nil
	}
	// INCR: every time we delete the property, the owner writes the next
	// chunk; a zero-length chunk ends the transfer.
	var out []byte
	for {
		select {
		case pe := <-c.props:
			if pe.Atom != c.prop || pe.State != xproto.PropertyNewValue {
				continue
			}
			p, err := xproto.GetProperty(c.conn, true, c.win, c.prop, anyPropType, 0, MaxClipboard/4+1).Reply()
			if err != nil {
				return nil, fmt.Errorf("agent: clipboard: read: %w", err)
			}
			if p.Type == xproto.AtomNone {
				continue // an event about a value already read
			}
			if len(p.Value) == 0 {
				return out, nil
			}
			if out = append(out, p.Value...); len(out) > MaxClipboard {
				return nil, ErrClipboardTooLarge
			}
			timer.Reset(clipWait)
		case <-timer.C:
			return nil, errors.New("agent: clipboard: the application holding the clipboard stopped sending")
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.done:
			return nil, errors.New("agent: clipboard closed")
		}
	}
}

func (c *x11Clipboard) Changes() <-chan string { return c.changes }

func (c *x11Clipboard) events() {
	defer c.wg.Done()
	for {
		ev, err := c.conn.WaitForEvent()
		if ev == nil && err == nil {
			return // connection closed
		}
		if err != nil {
			continue // an X error of a request sent without a reply
		}
		switch e := ev.(type) {
		case xproto.DestroyNotifyEvent:
			if e.Window == c.win {
				// Close destroyed the owner window: every request the X
				// server sent it came before this event and was answered.
				return
			}
		case xproto.SelectionRequestEvent:
			c.serve(e)
		case xproto.SelectionClearEvent:
			// A local application copied something, unless Set took the
			// clipboard back since (the event is older than that).
			if r, err := xproto.GetSelectionOwner(c.conn, c.clip).Reply(); err == nil && r.Owner != c.win {
				c.mu.Lock()
				c.owned, c.offer = false, ""
				c.mu.Unlock()
			}
		case xproto.SelectionNotifyEvent:
			select {
			case c.replies <- e:
			default:
			}
		case xproto.PropertyNotifyEvent:
			if e.Window == c.win {
				select {
				case c.props <- e:
				default:
				}
			} else if e.State == propDeleteEv {
				c.incrNext(e)
			}
		}
	}
}

// watch polls the clipboard and offers on Changes the text a local
// application copies. It polls because xgb's XFIXES support registers its
// event decoder in a package-global table without a lock, racing with every
// other X connection's reader in the process (capture, input lock). The
// owner's TIMESTAMP catches a copy by an application that already owned
// the clipboard.
func (c *x11Clipboard) watch() {
	defer c.wg.Done()
	defer close(c.changes)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-c.done
		cancel()
	}()
	t := time.NewTicker(clipPoll)
	defer t.Stop()
	lastOwner, lastStamp := xproto.Window(xproto.WindowNone), ""
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		r, err := xproto.GetSelectionOwner(c.conn, c.clip).Reply()
		if err != nil {
			continue
		}
		w := r.Owner
		if w == xproto.WindowNone || w == c.win || c.isSession(w) {
			lastOwner, lastStamp = w, ""
			continue
		}
		stamp := c.stamp(ctx)
		if w == lastOwner && stamp == lastStamp {
			continue
		}
		lastOwner, lastStamp = w, stamp
		text, err := c.Get(ctx)
		if err != nil {
			c.log.Debug("clipboard: reading the local clipboard failed", "err", err)
			continue
		}
		select {
		case <-c.changes: // only the newest text matters
		default:
		}
		c.changes <- text
	}
}

// stamp is the owner's TIMESTAMP of the clipboard ("" if it has none).
func (c *x11Clipboard) stamp(ctx context.Context) string {
	c.getMu.Lock()
	defer c.getMu.Unlock()
	b, err := c.convert(ctx, c.timestamp)
	if err != nil {
		return ""
	}
	return string(b)
}

// serve answers another client's request for the text this session offers.
func (c *x11Clipboard) serve(e xproto.SelectionRequestEvent) {
	prop := e.Property
	if prop == xproto.AtomNone {
		prop = e.Target // obsolete clients
	}
	c.mu.Lock()
	owned, text := c.owned, c.offer
	c.mu.Unlock()
	ok := owned && e.Selection == c.clip
	if ok {
		switch e.Target {
		case c.targets:
			var b []byte
			for _, a := range []xproto.Atom{c.targets, c.utf8, c.str, c.text} {
				b = binary.LittleEndian.AppendUint32(b, uint32(a))
			}
			xproto.ChangeProperty(c.conn, xproto.PropModeReplace, e.Requestor, prop, c.atom, 32, 4, b)
		case c.utf8, c.text:
			c.put(e.Requestor, prop, c.utf8, []byte(text))
		case c.str:
			c.put(e.Requestor, prop, c.str, utf8ToLatin1(text))
		default:
			ok = false
		}
	}
	reply := xproto.SelectionNotifyEvent{Time: e.Time, Requestor: e.Requestor, Selection: e.Selection, Target: e.Target, Property: prop}
	if !ok {
		reply.Property = xproto.AtomNone
	}
	xproto.SendEvent(c.conn, false, e.Requestor, 0, string(reply.Bytes()))
}

func (c *x11Clipboard) put(w xproto.Window, prop, typ xproto.Atom, data []byte) {
	if len(data) <= clipChunk {
		xproto.ChangeProperty(c.conn, xproto.PropModeReplace, w, prop, typ, 8, uint32(len(data)), data)
		return
	}
	// INCR: announce the size; the requestor deletes the property to ask
	// for each chunk (incrNext).
	c.mu.Lock()
	c.sends[incrKey{w, prop}] = &incrSend{typ: typ, data: data}
	c.mu.Unlock()
	xproto.ChangeWindowAttributes(c.conn, w, xproto.CwEventMask, []uint32{xproto.EventMaskPropertyChange})
	xproto.ChangeProperty(c.conn, xproto.PropModeReplace, w, prop, c.incr, 32, 1, binary.LittleEndian.AppendUint32(nil, uint32(len(data))))
}

func (c *x11Clipboard) incrNext(e xproto.PropertyNotifyEvent) {
	k := incrKey{e.Window, e.Atom}
	c.mu.Lock()
	s := c.sends[k]
	var chunk []byte
	if s != nil {
		n := min(len(s.data), clipChunk)
		chunk, s.data = s.data[:n], s.data[n:]
		if n == 0 {
			delete(c.sends, k) // the zero-length write below ends the transfer
		}
	}
	c.mu.Unlock()
	if s != nil {
		xproto.ChangeProperty(c.conn, xproto.PropModeReplace, e.Window, e.Atom, s.typ, 8, uint32(len(chunk)), chunk)
	}
}

// Close withdraws this session's text: destroying the owner window makes
// the X server reset the selection owner.
//
// A local application may have asked for the text just before: its request
// is queued for the event loop, and closing the connection under it would
// leave that application waiting forever (xclip has no timeout). So the
// loop refuses what is still queued and stops at the window's DestroyNotify;
// only then is the connection closed.
func (c *x11Clipboard) Close() error {
	c.once.Do(func() {
		c.mu.Lock()
		c.owned, c.offer = false, ""
		c.mu.Unlock()
		close(c.done)
		xproto.DestroyWindow(c.conn, c.win)
		_, _ = xproto.GetInputFocus(c.conn).Reply() // the destroy is done before Close returns
		tandemOwners.Delete(c.ownerKey(c.win))
		drained := make(chan struct{})
		go func() { c.wg.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(5 * time.Second): // a broken connection sends no DestroyNotify
		}
		c.conn.Close()
		<-drained
	})
	return nil
}

func utf8ToLatin1(s string) []byte {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			r = '?'
		}
		b = append(b, byte(r))
	}
	return b
}

func latin1ToUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		out = utf8.AppendRune(out, rune(c))
	}
	return out
}

// x11Locker blocks local input with an active keyboard and pointer grab on
// the root window: the server then delivers every key and button event to
// this connection, which drops them. A grab does not stop the cursor, so a
// local motion puts it back where the technician left it. XTest events are
// delivered like real ones, so the session's own injections run with the
// grab lifted (Around).
type x11Locker struct {
	conn *xgb.Conn
	root xproto.Window
	log  *slog.Logger

	mu     sync.Mutex
	locked bool
	closed bool
	// pin is where the pointer stays while locked: x<<16|y, -1 when
	// unlocked. Atomic: the event reader must never wait for mu, or the
	// replies Around waits for would queue behind it.
	pin atomic.Int64
}

// OpenInputLocker opens an X11 connection that can lock local input.
func OpenInputLocker(o LocalOptions) (InputLocker, error) {
	conn, _, log, err := openX(o)
	if err != nil {
		return nil, err
	}
	l := &x11Locker{conn: conn, root: xproto.Setup(conn).DefaultScreen(conn).Root, log: log}
	l.pin.Store(-1)
	go l.events()
	return l, nil
}

// events drops the grabbed events (they would pile up otherwise) and puts
// a locally moved pointer back.
func (l *x11Locker) events() {
	for {
		ev, err := l.conn.WaitForEvent()
		if ev == nil && err == nil {
			return
		}
		m, ok := ev.(xproto.MotionNotifyEvent)
		pin := l.pin.Load()
		if !ok || pin < 0 {
			continue
		}
		x, y := int16(pin>>16), int16(pin&0xffff)
		if m.RootX != x || m.RootY != y {
			xproto.WarpPointer(l.conn, xproto.WindowNone, l.root, 0, 0, 0, 0, x, y)
		}
	}
}

// pinPointer records where the pointer is, to keep it there.
func (l *x11Locker) pinPointer() {
	r, err := xproto.QueryPointer(l.conn, l.root).Reply()
	if err != nil {
		l.pin.Store(-1)
		return
	}
	l.pin.Store(int64(uint16(r.RootX))<<16 | int64(uint16(r.RootY)))
}

func (l *x11Locker) grab() error {
	k, err := xproto.GrabKeyboard(l.conn, false, l.root, xproto.TimeCurrentTime, xproto.GrabModeAsync, xproto.GrabModeAsync).Reply()
	if err != nil {
		return fmt.Errorf("agent: lock input: %w", err)
	}
	if k.Status != xproto.GrabStatusSuccess {
		return fmt.Errorf("agent: lock input: the keyboard is grabbed by another application (status %d); try again", k.Status)
	}
	p, err := xproto.GrabPointer(l.conn, false, l.root,
		xproto.EventMaskButtonPress|xproto.EventMaskButtonRelease|xproto.EventMaskPointerMotion,
		xproto.GrabModeAsync, xproto.GrabModeAsync, xproto.WindowNone, xproto.CursorNone, xproto.TimeCurrentTime).Reply()
	if err == nil && p.Status != xproto.GrabStatusSuccess {
		err = fmt.Errorf("the pointer is grabbed by another application (status %d); try again", p.Status)
	}
	if err != nil {
		xproto.UngrabKeyboard(l.conn, xproto.TimeCurrentTime)
		return fmt.Errorf("agent: lock input: %w", err)
	}
	l.pinPointer()
	return nil
}

// ungrab releases both grabs and waits until the server has done so.
func (l *x11Locker) ungrab() error {
	l.pin.Store(-1)
	xproto.UngrabPointer(l.conn, xproto.TimeCurrentTime)
	xproto.UngrabKeyboard(l.conn, xproto.TimeCurrentTime)
	if _, err := xproto.GetInputFocus(l.conn).Reply(); err != nil {
		return fmt.Errorf("agent: unlock input: %w", err)
	}
	return nil
}

func (l *x11Locker) Lock() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("agent: input locker closed")
	}
	if l.locked {
		return nil
	}
	if err := l.grab(); err != nil {
		return err
	}
	l.locked = true
	return nil
}

func (l *x11Locker) Unlock() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.locked {
		return nil
	}
	l.locked = false
	return l.ungrab()
}

// Around lifts the grab for the injection. The injector syncs with the
// server before it returns, so its events are delivered before the grab is
// taken again; local input in that window of a few round trips gets through.
func (l *x11Locker) Around(inject func() error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.locked {
		return inject()
	}
	if err := l.ungrab(); err != nil {
		return err
	}
	err := inject()
	if gerr := l.grab(); gerr != nil {
		l.locked = false
		l.log.Warn("local input could not be locked again after an injection", "err", gerr)
		if err == nil {
			err = gerr
		}
	}
	return err
}

func (l *x11Locker) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.locked {
		l.locked = false
		_ = l.ungrab()
	}
	l.conn.Close() // the server drops any grab with the connection anyway
	return nil
}

// x11Blanker turns the monitor off with DPMS: the framebuffer (and so the
// capture) keeps the desktop while the physical screen is dark.
type x11Blanker struct {
	conn *xgb.Conn

	mu      sync.Mutex
	blanked bool
	wasOn   bool // DPMS was enabled before the session blanked
	closed  bool
}

// OpenScreenBlanker opens DPMS on the display; it fails with
// errors.ErrUnsupported where the server has no DPMS or no DPMS-capable
// monitor.
func OpenScreenBlanker(o LocalOptions) (ScreenBlanker, error) {
	conn, name, _, err := openX(o)
	if err != nil {
		return nil, err
	}
	fail := func(why string) (ScreenBlanker, error) {
		conn.Close()
		return nil, fmt.Errorf("agent: X display %s cannot blank its screen (%s): %w", name, why, errors.ErrUnsupported)
	}
	if err := xext.Init(conn, "DPMS", dpms.Init); err != nil {
		return fail("no DPMS extension")
	}
	if _, err := dpms.GetVersion(conn, 1, 1).Reply(); err != nil {
		return fail("DPMS version: " + err.Error())
	}
	r, err := dpms.Capable(conn).Reply()
	if err != nil || !r.Capable {
		return fail("the monitor is not DPMS capable")
	}
	return &x11Blanker{conn: conn}, nil
}

func (b *x11Blanker) Blank(on bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("agent: screen blanker closed")
	}
	if on == b.blanked {
		return nil
	}
	if on {
		info, err := dpms.Info(b.conn).Reply()
		if err != nil {
			return fmt.Errorf("agent: blank screen: %w", err)
		}
		b.wasOn = info.State
		if !info.State {
			if err := dpms.EnableChecked(b.conn).Check(); err != nil {
				return fmt.Errorf("agent: blank screen: enable DPMS: %w", err)
			}
		}
		if err := dpms.ForceLevelChecked(b.conn, dpms.DPMSModeOff).Check(); err != nil {
			return fmt.Errorf("agent: blank screen: %w", err)
		}
		b.blanked = true
		return nil
	}
	b.blanked = false
	return b.restore()
}

func (b *x11Blanker) restore() error {
	if err := dpms.ForceLevelChecked(b.conn, dpms.DPMSModeOn).Check(); err != nil {
		return fmt.Errorf("agent: restore screen: %w", err)
	}
	if !b.wasOn {
		dpms.Disable(b.conn)
	}
	_, err := xproto.GetInputFocus(b.conn).Reply()
	return err
}

func (b *x11Blanker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	var err error
	if b.blanked {
		b.blanked = false
		err = b.restore()
	}
	b.conn.Close()
	return err
}
