//go:build linux

package capture

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/damage"
	"github.com/jezek/xgb/randr"
	"github.com/jezek/xgb/shm"
	"github.com/jezek/xgb/xfixes"
	"github.com/jezek/xgb/xproto"
	"golang.org/x/sys/unix"

	"github.com/tandem-rc/tandem/internal/xext"
)

// plainStripBytes bounds one plain GetImage reply: a whole-screen grab over
// the core protocol is split into pipelined strips of about this size, which
// keeps xgb's per-reply buffers small.
const plainStripBytes = 1 << 20

// xgbLog routes xgb's package-global logger (which would print an
// .Xauthority warning on stderr for every connection) to the logger of the
// most recently opened capturer, at debug level.
var (
	xgbLogOnce sync.Once
	xgbLogDst  atomic.Pointer[slog.Logger]
)

type xgbLogWriter struct{}

func (xgbLogWriter) Write(p []byte) (int, error) {
	if l := xgbLogDst.Load(); l != nil {
		l.Debug("xgb: " + strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// x11Capturer grabs the root window of one X screen over one persistent
// connection, through MIT-SHM when the server shares memory with us.
type x11Capturer struct {
	log *slog.Logger

	mu         sync.Mutex
	conn       *xgb.Conn
	root       xproto.Window
	depth      byte
	bounds     image.Rectangle
	randrMinor int // RandR 1.x minor version; -1 without RandR
	closed     bool

	useSHM bool
	seg    shm.Seg
	shmID  int
	shmBuf []byte

	// One goroutine reads X events (see events) and leaves flags here.
	evDone      chan struct{} // closed when the connection's events end
	sizeChanged atomic.Bool   // a RandR screen change arrived
	damaged     chan struct{} // a DAMAGE notify arrived (capacity 1)
	cursorMoved atomic.Bool   // an XFixes cursor notify arrived: new shape

	xfixes    bool          // XFixes 2+: cursor images and regions
	dmg       damage.Damage // 0 without DAMAGE
	dmgRegion xfixes.Region // receives the damage on each Damage call
	curSerial uint32        // the shape the last Cursor call reported
	curKnown  bool
}

func open(opts Options) (Capturer, error) {
	if opts.SessionBus != "" {
		return openMutter(opts)
	}
	if opts.Wayland != "" {
		return openWayland(opts)
	}
	xgbLogDst.Store(opts.Logger)
	xgbLogOnce.Do(func() { xgb.Logger = log.New(xgbLogWriter{}, "", 0) })

	conn, err := xext.Dial(opts.Display)
	if err != nil {
		name := opts.Display
		if name == "" {
			name = "$DISPLAY"
		}
		return nil, fmt.Errorf("%w: X display %s: %w", ErrNoDisplay, name, err)
	}
	c := &x11Capturer{log: opts.Logger, conn: conn, randrMinor: -1, shmID: -1,
		evDone: make(chan struct{}), damaged: make(chan struct{}, 1)}
	if err := c.init(opts); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func (c *x11Capturer) init(opts Options) error {
	setup := xproto.Setup(c.conn)
	screen := setup.DefaultScreen(c.conn)
	c.root = screen.Root
	c.depth = screen.RootDepth
	c.bounds = image.Rect(0, 0, int(screen.WidthInPixels), int(screen.HeightInPixels))
	if err := checkFormat(setup, screen); err != nil {
		return err
	}

	if err := xext.Init(c.conn, "RANDR", randr.Init); err != nil {
		c.log.Debug("capture: RandR unavailable; one monitor covers the screen", "err", err)
	} else if v, err := randr.QueryVersion(c.conn, 1, 5).Reply(); err != nil {
		c.log.Debug("capture: RandR version query failed", "err", err)
	} else if v.MajorVersion == 1 {
		c.randrMinor = int(v.MinorVersion)
		// Screen size changes refresh Bounds (see pollEvents).
		randr.SelectInput(c.conn, c.root, randr.NotifyMaskScreenChange)
	}

	c.initFixes()
	go c.events()

	if opts.NoSHM {
		c.log.Debug("capture: MIT-SHM disabled by option")
		return nil
	}
	if err := xext.Init(c.conn, "MIT-SHM", shm.Init); err != nil {
		c.log.Info("capture: MIT-SHM extension missing; using plain GetImage", "err", err)
		return nil
	}
	if _, err := shm.QueryVersion(c.conn).Reply(); err != nil {
		c.log.Info("capture: MIT-SHM version query failed; using plain GetImage", "err", err)
		return nil
	}
	if err := c.allocSHM(c.bounds.Dx() * c.bounds.Dy() * 4); err != nil {
		// Typical for a remote X server: it cannot attach our segment.
		c.log.Info("capture: MIT-SHM unusable; using plain GetImage", "err", err)
		return nil
	}
	c.useSHM = true
	return nil
}

// checkFormat accepts depth 24 or 32 stored in 32 bits per pixel, least
// significant byte first, with 8-bit channels red 0xff0000, green 0xff00,
// blue 0xff: exactly the BGRX layout of Frame.
func checkFormat(setup *xproto.SetupInfo, screen *xproto.ScreenInfo) error {
	if setup.ImageByteOrder != xproto.ImageOrderLSBFirst {
		return fmt.Errorf("%w: the X server stores images most significant byte first", ErrUnsupportedFormat)
	}
	depth := screen.RootDepth
	if depth != 24 && depth != 32 {
		return fmt.Errorf("%w: root depth %d (need 24 or 32)", ErrUnsupportedFormat, depth)
	}
	bpp := 0
	for _, f := range setup.PixmapFormats {
		if f.Depth == depth {
			bpp = int(f.BitsPerPixel)
		}
	}
	if bpp != 32 {
		return fmt.Errorf("%w: depth %d uses %d bits per pixel (need 32)", ErrUnsupportedFormat, depth, bpp)
	}
	for _, d := range screen.AllowedDepths {
		for _, v := range d.Visuals {
			if v.VisualId != screen.RootVisual {
				continue
			}
			if v.RedMask != 0xff0000 || v.GreenMask != 0xff00 || v.BlueMask != 0xff {
				return fmt.Errorf("%w: root visual masks red %#x green %#x blue %#x (need 0xff0000 0xff00 0xff)",
					ErrUnsupportedFormat, v.RedMask, v.GreenMask, v.BlueMask)
			}
			return nil
		}
	}
	return fmt.Errorf("%w: root visual %#x not found", ErrUnsupportedFormat, screen.RootVisual)
}

// allocSHM replaces the shared segment with one of at least size bytes. The
// segment is marked for removal as soon as both we and the X server have
// attached it, so it vanishes with the last detach even if we crash.
func (c *x11Capturer) allocSHM(size int) error {
	c.releaseSHM()
	size = (size + 0xffff) &^ 0xffff
	id, err := unix.SysvShmGet(unix.IPC_PRIVATE, size, unix.IPC_CREAT|0o600)
	if err != nil {
		return fmt.Errorf("capture: shmget %d bytes: %w", size, err)
	}
	defer func() { _, _ = unix.SysvShmCtl(id, unix.IPC_RMID, nil) }()
	buf, err := unix.SysvShmAttach(id, 0, 0)
	if err != nil {
		return fmt.Errorf("capture: shmat: %w", err)
	}
	seg, err := shm.NewSegId(c.conn)
	if err != nil {
		_ = unix.SysvShmDetach(buf)
		return fmt.Errorf("capture: allocate MIT-SHM segment id: %w", err)
	}
	if err := shm.AttachChecked(c.conn, seg, uint32(id), false).Check(); err != nil {
		_ = unix.SysvShmDetach(buf)
		return fmt.Errorf("capture: X server cannot attach shared memory: %w", err)
	}
	c.seg, c.shmID, c.shmBuf = seg, id, buf
	return nil
}

func (c *x11Capturer) releaseSHM() {
	if c.shmBuf == nil {
		return
	}
	shm.Detach(c.conn, c.seg)
	if err := unix.SysvShmDetach(c.shmBuf); err != nil {
		c.log.Debug("capture: shmdt", "err", err)
	}
	c.shmBuf, c.shmID = nil, -1
}

// initFixes sets up XFixes (cursor shapes) and DAMAGE on the root window;
// either may be missing, and then Cursor or Damage says so.
func (c *x11Capturer) initFixes() {
	if err := xext.Init(c.conn, "XFIXES", xfixes.Init); err != nil {
		c.log.Info("capture: XFixes extension missing; no cursor shapes, no damage events", "err", err)
		return
	}
	if v, err := xfixes.QueryVersion(c.conn, 5, 0).Reply(); err != nil || v.MajorVersion < 2 {
		c.log.Info("capture: XFixes 2 unavailable; no cursor shapes, no damage events", "err", err)
		return
	}
	c.xfixes = true
	xfixes.SelectCursorInput(c.conn, c.root, xfixes.CursorNotifyMaskDisplayCursor)
	if err := xext.Init(c.conn, "DAMAGE", damage.Init); err != nil {
		c.log.Info("capture: DAMAGE extension missing; the screen is polled", "err", err)
		return
	}
	if _, err := damage.QueryVersion(c.conn, 1, 1).Reply(); err != nil {
		c.log.Info("capture: DAMAGE version query failed; the screen is polled", "err", err)
		return
	}
	d, err := damage.NewDamageId(c.conn)
	if err == nil {
		err = damage.CreateChecked(c.conn, d, xproto.Drawable(c.root), damage.ReportLevelNonEmpty).Check()
	}
	var reg xfixes.Region
	if err == nil {
		if reg, err = xfixes.NewRegionId(c.conn); err == nil {
			err = xfixes.CreateRegionChecked(c.conn, reg, nil).Check()
		}
	}
	if err != nil {
		c.log.Info("capture: DAMAGE unusable; the screen is polled", "err", err)
		return
	}
	c.dmg, c.dmgRegion = d, reg
}

// events reads the connection's events until it closes. Grabs never wait
// on it: it only raises flags (and wakes Damage).
func (c *x11Capturer) events() {
	defer close(c.evDone)
	for {
		ev, xerr := c.conn.WaitForEvent()
		if ev == nil && xerr == nil {
			return // connection closed
		}
		if xerr != nil {
			c.log.Debug("capture: X error", "err", xerr)
			continue
		}
		switch ev.(type) {
		case randr.ScreenChangeNotifyEvent:
			c.sizeChanged.Store(true)
		case damage.NotifyEvent:
			select {
			case c.damaged <- struct{}{}:
			default:
			}
		case xfixes.CursorNotifyEvent:
			c.cursorMoved.Store(true)
		}
	}
}

// pollEvents applies what the event reader saw: a RandR screen change
// refreshes bounds.
func (c *x11Capturer) pollEvents() {
	if c.sizeChanged.Swap(false) {
		c.refreshBounds()
	}
}

// Damage implements Damager with the DAMAGE extension: one NonEmpty damage
// object on the root; each call moves the accumulated damage into a region
// and fetches its rectangles, so damage that arrives while the caller
// encodes or waits for the link coalesces in the server.
func (c *x11Capturer) Damage(ctx context.Context, timeout time.Duration) ([]image.Rectangle, error) {
	c.mu.Lock()
	ok, closed := c.dmg != 0, c.closed
	c.mu.Unlock()
	switch {
	case closed:
		return nil, ErrClosed
	case !ok:
		return nil, fmt.Errorf("capture: no DAMAGE extension: %w", errors.ErrUnsupported)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.evDone:
			return nil, ErrClosed
		case <-t.C:
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.closed {
				return nil, ErrClosed
			}
			c.pollEvents()
			// Clear what accumulated: the whole screen is grabbed now.
			damage.Subtract(c.conn, c.dmg, xfixes.RegionNone, xfixes.RegionNone)
			return []image.Rectangle{c.bounds}, nil
		case <-c.damaged:
		}
		rs, err := c.takeDamage()
		if err != nil || len(rs) > 0 {
			return rs, err
		}
		// A stale notify: the damage was already taken.
	}
}

func (c *x11Capturer) takeDamage() ([]image.Rectangle, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	c.pollEvents()
	damage.Subtract(c.conn, c.dmg, xfixes.RegionNone, c.dmgRegion)
	rep, err := xfixes.FetchRegion(c.conn, c.dmgRegion).Reply()
	if err != nil {
		return nil, fmt.Errorf("capture: fetch damage region: %w", err)
	}
	rs := make([]image.Rectangle, 0, len(rep.Rectangles))
	for _, r := range rep.Rectangles {
		ir := image.Rect(int(r.X), int(r.Y), int(r.X)+int(r.Width), int(r.Y)+int(r.Height)).Intersect(c.bounds)
		if !ir.Empty() {
			rs = append(rs, ir)
		}
	}
	return rs, nil
}

// Cursor implements CursorReader: the position from QueryPointer (one
// round trip), the image from XFixes only after a cursor notify said the
// shape changed.
func (c *x11Capturer) Cursor() (Cursor, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return Cursor{}, ErrClosed
	}
	if !c.xfixes {
		return Cursor{}, fmt.Errorf("capture: no XFixes extension: %w", errors.ErrUnsupported)
	}
	p, err := xproto.QueryPointer(c.conn, c.root).Reply()
	if err != nil {
		return Cursor{}, fmt.Errorf("capture: query pointer: %w", err)
	}
	cur := Cursor{X: int(p.RootX), Y: int(p.RootY), Serial: c.curSerial}
	if c.cursorMoved.Swap(false) || !c.curKnown {
		img, err := xfixes.GetCursorImage(c.conn).Reply()
		if err != nil {
			c.cursorMoved.Store(true) // try again next time
			return Cursor{}, fmt.Errorf("capture: XFixes cursor image: %w", err)
		}
		cur.Serial = img.CursorSerial
		w, h := int(img.Width), int(img.Height)
		if (img.CursorSerial != c.curSerial || !c.curKnown) && w > 0 && h > 0 && len(img.CursorImage) >= w*h {
			ci := &CursorImage{Serial: img.CursorSerial, HotX: int(img.Xhot), HotY: int(img.Yhot), Width: w, Height: h,
				Pix: make([]byte, w*h*4)}
			premulToStraight(ci.Pix, img.CursorImage[:w*h])
			cur.Shape = ci
		}
		c.curSerial, c.curKnown = img.CursorSerial, true
	}
	return cur, nil
}

// refreshBounds reads the root window's size.
func (c *x11Capturer) refreshBounds() {
	g, err := xproto.GetGeometry(c.conn, xproto.Drawable(c.root)).Reply()
	if err != nil {
		c.log.Debug("capture: root geometry", "err", err)
		return
	}
	nb := image.Rect(0, 0, int(g.Width), int(g.Height))
	if nb != c.bounds {
		c.log.Info("capture: screen size changed", "from", c.bounds, "to", nb)
		c.bounds = nb
	}
}

func (c *x11Capturer) Bounds() image.Rectangle {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.pollEvents()
	}
	return c.bounds
}

func (c *x11Capturer) Grab(r image.Rectangle, dst *Frame) (*Frame, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	c.pollEvents()
	f, err := c.grab(r, dst)
	if errors.As(err, new(xproto.MatchError)) {
		// The screen shrank before its RandR notify arrived: retry once
		// within the current size.
		c.refreshBounds()
		f, err = c.grab(r, dst)
	}
	return f, err
}

func (c *x11Capturer) grab(r image.Rectangle, dst *Frame) (*Frame, error) {
	cr := r.Intersect(c.bounds)
	if cr.Empty() {
		return nil, fmt.Errorf("%w: %v outside %v", ErrEmptyRect, r, c.bounds)
	}
	dst = prepare(dst, cr.Dx(), cr.Dy())
	if c.useSHM {
		err := c.grabSHM(cr, dst)
		if err == nil {
			return dst, nil
		}
		if errors.As(err, new(xproto.MatchError)) {
			return nil, err // a stale size, not an MIT-SHM problem
		}
		c.log.Warn("capture: MIT-SHM grab failed; switching to plain GetImage", "err", err)
		c.releaseSHM()
		c.useSHM = false
	}
	if err := c.grabPlain(cr, dst); err != nil {
		return nil, err
	}
	return dst, nil
}

func (c *x11Capturer) grabSHM(r image.Rectangle, dst *Frame) error {
	n := len(dst.Pix)
	if n > len(c.shmBuf) {
		if err := c.allocSHM(n); err != nil {
			return err
		}
	}
	rep, err := shm.GetImage(c.conn, xproto.Drawable(c.root), int16(r.Min.X), int16(r.Min.Y),
		uint16(r.Dx()), uint16(r.Dy()), 0xffffffff, xproto.ImageFormatZPixmap, c.seg, 0).Reply()
	if err != nil {
		return fmt.Errorf("capture: MIT-SHM GetImage %v: %w", r, err)
	}
	if rep.Depth != c.depth || int(rep.Size) < n {
		return fmt.Errorf("capture: MIT-SHM GetImage %v returned depth %d, %d bytes (want depth %d, %d bytes)",
			r, rep.Depth, rep.Size, c.depth, n)
	}
	copy(dst.Pix, c.shmBuf[:n])
	return nil
}

func (c *x11Capturer) grabPlain(r image.Rectangle, dst *Frame) error {
	w, h := r.Dx(), r.Dy()
	row := w * 4
	rows := max(1, plainStripBytes/row)
	cookies := make([]xproto.GetImageCookie, 0, (h+rows-1)/rows)
	for y := 0; y < h; y += rows {
		cookies = append(cookies, xproto.GetImage(c.conn, xproto.ImageFormatZPixmap, xproto.Drawable(c.root),
			int16(r.Min.X), int16(r.Min.Y+y), uint16(w), uint16(min(rows, h-y)), 0xffffffff))
	}
	var first error
	for i, ck := range cookies {
		rep, err := ck.Reply() // read every reply, even after an error
		if first != nil {
			continue
		}
		y := i * rows
		n := min(rows, h-y) * row
		switch {
		case err != nil:
			first = fmt.Errorf("capture: GetImage %v: %w", r, err)
		case rep.Depth != c.depth || len(rep.Data) < n:
			first = fmt.Errorf("capture: GetImage %v returned depth %d, %d bytes (want depth %d, %d bytes)",
				r, rep.Depth, len(rep.Data), c.depth, n)
		default:
			copy(dst.Pix[y*row:y*row+n], rep.Data[:n])
		}
	}
	return first
}

func (c *x11Capturer) Monitors() ([]Monitor, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	c.pollEvents()
	var ms []Monitor
	var err error
	if c.randrMinor >= 5 {
		ms, err = c.randrMonitors()
	}
	if err == nil && len(ms) == 0 && c.randrMinor >= 3 {
		ms, err = c.crtcMonitors()
	}
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		b := c.bounds
		ms = []Monitor{{Name: "screen", X: b.Min.X, Y: b.Min.Y, Width: b.Dx(), Height: b.Dy(), Primary: true}}
	}
	return primaryFallback(ms), nil
}

// randrMonitors uses RandR 1.5 GetMonitors (active monitors, including
// virtual ones set with xrandr --setmonitor).
func (c *x11Capturer) randrMonitors() ([]Monitor, error) {
	rep, err := randr.GetMonitors(c.conn, c.root, true).Reply()
	if err != nil {
		return nil, fmt.Errorf("capture: RandR GetMonitors: %w", err)
	}
	names := make([]xproto.GetAtomNameCookie, len(rep.Monitors))
	for i, m := range rep.Monitors {
		names[i] = xproto.GetAtomName(c.conn, m.Name)
	}
	ms := make([]Monitor, 0, len(rep.Monitors))
	for i, m := range rep.Monitors {
		name := fmt.Sprintf("monitor-%d", i)
		if n, err := names[i].Reply(); err == nil && n.Name != "" {
			name = n.Name
		}
		if m.Width == 0 || m.Height == 0 {
			continue
		}
		ms = append(ms, Monitor{Name: name, X: int(m.X), Y: int(m.Y),
			Width: int(m.Width), Height: int(m.Height), Primary: m.Primary})
	}
	return ms, nil
}

// crtcMonitors uses RandR 1.3: every enabled CRTC is a monitor, named after
// its first output.
func (c *x11Capturer) crtcMonitors() ([]Monitor, error) {
	res, err := randr.GetScreenResourcesCurrent(c.conn, c.root).Reply()
	if err != nil {
		return nil, fmt.Errorf("capture: RandR GetScreenResourcesCurrent: %w", err)
	}
	prim := randr.GetOutputPrimary(c.conn, c.root)
	crtcs := make([]randr.GetCrtcInfoCookie, len(res.Crtcs))
	for i, id := range res.Crtcs {
		crtcs[i] = randr.GetCrtcInfo(c.conn, id, res.ConfigTimestamp)
	}
	var primary randr.Output
	if p, err := prim.Reply(); err == nil {
		primary = p.Output
	}
	var ms []Monitor
	for i, ck := range crtcs {
		ci, err := ck.Reply()
		if err != nil {
			return nil, fmt.Errorf("capture: RandR GetCrtcInfo: %w", err)
		}
		if ci.Mode == 0 || ci.Width == 0 || ci.Height == 0 || len(ci.Outputs) == 0 {
			continue
		}
		m := Monitor{Name: fmt.Sprintf("crtc-%d", i), X: int(ci.X), Y: int(ci.Y),
			Width: int(ci.Width), Height: int(ci.Height)}
		for _, o := range ci.Outputs {
			m.Primary = m.Primary || (primary != 0 && o == primary)
		}
		if oi, err := randr.GetOutputInfo(c.conn, ci.Outputs[0], res.ConfigTimestamp).Reply(); err == nil && len(oi.Name) > 0 {
			m.Name = string(oi.Name)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

func (c *x11Capturer) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	c.releaseSHM()
	c.conn.Close()
	return nil
}

// usingSHM reports whether grabs go through MIT-SHM (for tests).
func (c *x11Capturer) usingSHM() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.useSHM
}
