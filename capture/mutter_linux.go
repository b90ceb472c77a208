//go:build linux && cgo

package capture

// The GNOME back end: Mutter's ScreenCast API records each monitor into a
// PipeWire stream (internal/mutter starts the session; pipewire_linux.go
// receives the frames). Mutter sends a frame only when the screen changed
// and says where (video damage metadata); the pointer travels apart as
// cursor metadata, so frames hold no pointer, as on X11.

import (
	"context"
	"fmt"
	"image"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tandem-rc/tandem/internal/mutter"
)

// firstFrameWait bounds the wait for a stream's first frame.
const firstFrameWait = 10 * time.Second

type mutterCapturer struct {
	log   *slog.Logger
	sess  *mutter.Session
	wake  *os.File // read end of the streams' shared wake-up pipe
	wakeW *os.File
	ready chan struct{} // a stream event arrived (capacity 1)

	mu      sync.Mutex
	streams []*gnomeStream
	closed  bool
	cur     Cursor // the last reported pointer
	curKnow bool
	scratch []byte
}

type gnomeStream struct {
	mutter.Stream
	conn    net.Conn
	pw      *pwStream
	lastSeq uint64
}

func (g *gnomeStream) rect() image.Rectangle {
	return image.Rect(g.X, g.Y, g.X+g.Width, g.Y+g.Height)
}

func openMutter(opts Options) (Capturer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sess, err := mutter.Acquire(ctx, opts.SessionBus, "", opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoDisplay, err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		sess.Release()
		return nil, fmt.Errorf("capture: %w", err)
	}
	c := &mutterCapturer{log: opts.Logger, sess: sess, wake: r, wakeW: w, ready: make(chan struct{}, 1)}
	// The C side writes to the pipe from PipeWire's threads: non-blocking,
	// so a full pipe (Go behind) never stalls them.
	if err := unix.SetNonblock(int(w.Fd()), true); err != nil {
		c.Close()
		return nil, fmt.Errorf("capture: %w", err)
	}
	for _, st := range sess.Streams {
		conn, err := mutter.DialAs(ctx, sess.PipeWirePath, sess.UID)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("%w: pipewire: %w", ErrNoDisplay, err)
		}
		pw, err := openPipeWire(conn, st.Node, int(w.Fd()))
		if err != nil {
			conn.Close()
			c.Close()
			return nil, err
		}
		c.streams = append(c.streams, &gnomeStream{Stream: st, conn: conn, pw: pw})
	}
	go c.readWake()
	opts.Logger.Debug("capture: opened GNOME screen cast", "bus", opts.SessionBus, "monitors", len(c.streams))
	return c, nil
}

// readWake turns the pipe's bytes into a ready signal; it ends when the
// write end is closed.
func (c *mutterCapturer) readWake() {
	buf := make([]byte, 64)
	for {
		if _, err := c.wake.Read(buf); err != nil {
			return
		}
		select {
		case c.ready <- struct{}{}:
		default:
		}
	}
}

func (c *mutterCapturer) Bounds() image.Rectangle {
	var b image.Rectangle
	for _, g := range c.streams { // fixed at open
		b = b.Union(g.rect())
	}
	return b
}

func (c *mutterCapturer) Monitors() ([]Monitor, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	var ms []Monitor
	for _, g := range c.streams {
		ms = append(ms, Monitor{Name: g.Connector, X: g.X, Y: g.Y, Width: g.Width, Height: g.Height, Primary: g.Primary})
	}
	return primaryFallback(ms), nil
}

// waitFrames waits until every stream in need has delivered a frame.
//
// Mutter records a frame when it repaints, and opening a stream on a still
// screen does not always repaint the monitor (seen on headless Mutter 43):
// after nudgeAfter without a first frame, the pointer moves one pixel
// and back, which repaints the monitor under it.
func (c *mutterCapturer) waitFrames(need []*gnomeStream) error {
	t := time.NewTimer(firstFrameWait)
	defer t.Stop()
	nudge := time.NewTimer(nudgeAfter)
	defer nudge.Stop()
	for {
		missing := false
		var states []int
		for _, g := range need {
			in, err := g.pw.info(false)
			if err != nil {
				return err
			}
			if in.State == pwStateError {
				return fmt.Errorf("capture: pipewire stream of %s: %s", g.Connector, in.Err)
			}
			missing = missing || in.Seq == 0
			states = append(states, in.State)
		}
		if !missing {
			return nil
		}
		select {
		case <-c.ready:
		case <-nudge.C:
			c.nudge()
			nudge.Reset(nudgeAfter)
		case <-c.sess.Closed():
			return fmt.Errorf("capture: %w: the GNOME remote desktop session ended", ErrNoDisplay)
		case <-t.C:
			return fmt.Errorf("capture: no frame from GNOME's screen cast within %v (stream states %v)", firstFrameWait, states)
		}
	}
}

// nudgeAfter is how long a stream may stay without a first frame before
// the pointer nudge.
const nudgeAfter = 300 * time.Millisecond

// nudge moves the pointer one pixel and back (relative motion: where the
// pointer is need not be known).
func (c *mutterCapturer) nudge() {
	c.log.Debug("capture: no first frame from GNOME yet; nudging the pointer")
	if err := c.sess.Call("NotifyPointerMotionRelative", 1.0, 0.0); err == nil {
		_ = c.sess.Call("NotifyPointerMotionRelative", -1.0, 0.0)
	}
}

func (c *mutterCapturer) Grab(r image.Rectangle, dst *Frame) (*Frame, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	r, err := clipToScreen(r, c.Bounds())
	if err != nil {
		return nil, err
	}
	var need []*gnomeStream
	for _, g := range c.streams {
		if r.Overlaps(g.rect()) {
			need = append(need, g)
		}
	}
	if err := c.waitFrames(need); err != nil {
		return nil, err
	}
	dst = prepare(dst, r.Dx(), r.Dy())
	covered := 0
	for _, g := range need {
		part := r.Intersect(g.rect())
		in, err := g.pw.info(false)
		if err != nil {
			return nil, err
		}
		if err := c.copyOut(g, in, part, r.Min, dst); err != nil {
			return nil, err
		}
		covered += part.Dx() * part.Dy()
	}
	if covered < r.Dx()*r.Dy() {
		clearGaps(dst, r, func(p image.Point) bool {
			for _, g := range c.streams {
				if p.In(g.rect()) {
					return true
				}
			}
			return false
		})
	}
	return dst, nil
}

// copyOut copies part (layout coordinates) of g's newest frame into dst
// (origin org). A frame of another size than the monitor's logical one (a
// scaled monitor) is sampled at the nearest pixel.
func (c *mutterCapturer) copyOut(g *gnomeStream, in pwInfo, part image.Rectangle, org image.Point, dst *Frame) error {
	off := (part.Min.Y-org.Y)*dst.Stride + (part.Min.X-org.X)*4
	if in.W == g.Width && in.H == g.Height {
		if !g.pw.copyRect(dst.Pix[off:], dst.Stride, part.Min.X-g.X, part.Min.Y-g.Y, part.Dx(), part.Dy()) {
			return fmt.Errorf("capture: the screen cast of %s changed size", g.Connector)
		}
		return nil
	}
	n := in.W * in.H * 4
	if cap(c.scratch) < n {
		c.scratch = make([]byte, n)
	}
	buf := c.scratch[:n]
	if !g.pw.copyRect(buf, in.W*4, 0, 0, in.W, in.H) {
		return fmt.Errorf("capture: the screen cast of %s changed size", g.Connector)
	}
	for y := part.Min.Y; y < part.Max.Y; y++ {
		sy := (y - g.Y) * in.H / g.Height
		d := dst.Pix[(y-org.Y)*dst.Stride:]
		for x := part.Min.X; x < part.Max.X; x++ {
			sx := (x - g.X) * in.W / g.Width
			copy(d[(x-org.X)*4:(x-org.X)*4+4], buf[(sy*in.W+sx)*4:])
		}
	}
	return nil
}

// Damage implements Damager: Mutter's frames come with the rectangles
// that changed.
func (c *mutterCapturer) Damage(ctx context.Context, timeout time.Duration) ([]image.Rectangle, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		rects, err := c.collect()
		if err != nil || len(rects) > 0 {
			return rects, err
		}
		select {
		case <-c.ready:
		case <-c.sess.Closed():
			return nil, fmt.Errorf("capture: %w: the GNOME remote desktop session ended", ErrNoDisplay)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
			return []image.Rectangle{c.Bounds()}, nil
		}
	}
}

func (c *mutterCapturer) collect() ([]image.Rectangle, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	var rects []image.Rectangle
	for _, g := range c.streams {
		in, err := g.pw.info(true)
		if err != nil {
			return nil, err
		}
		if in.State == pwStateError {
			return nil, fmt.Errorf("capture: pipewire stream of %s: %s", g.Connector, in.Err)
		}
		if in.Seq == g.lastSeq {
			continue
		}
		g.lastSeq = in.Seq
		if in.Full || len(in.Damage) == 0 || in.W <= 0 || in.H <= 0 {
			rects = append(rects, g.rect())
			continue
		}
		for _, d := range in.Damage {
			r := image.Rect(d.X, d.Y, d.X+d.W, d.Y+d.H)
			if in.W != g.Width || in.H != g.Height { // frame pixels to layout pixels, outwards
				r = image.Rect(r.Min.X*g.Width/in.W, r.Min.Y*g.Height/in.H,
					(r.Max.X*g.Width+in.W-1)/in.W, (r.Max.Y*g.Height+in.H-1)/in.H)
			}
			if r = r.Add(image.Pt(g.X, g.Y)).Intersect(g.rect()); !r.Empty() {
				rects = append(rects, r)
			}
		}
	}
	return rects, nil
}

// Cursor implements CursorReader from the streams' cursor metadata: the
// monitor showing the pointer reports it.
func (c *mutterCapturer) Cursor() (Cursor, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return Cursor{}, ErrClosed
	}
	for i, g := range c.streams {
		in, err := g.pw.info(false)
		if err != nil {
			return Cursor{}, err
		}
		if !in.CursorValid || !in.CursorVisible {
			continue
		}
		x, y := in.CursorX, in.CursorY
		if in.W > 0 && in.H > 0 && (in.W != g.Width || in.H != g.Height) {
			x, y = x*g.Width/in.W, y*g.Height/in.H
		}
		serial := uint32(i)<<24 | in.CursorSerial&0xffffff
		cur := Cursor{X: g.X + x, Y: g.Y + y, Serial: serial}
		if !c.curKnow || c.cur.Serial != serial {
			if pix := g.pw.cursorImage(in.CursorW, in.CursorH, in.CursorSerial); pix != nil {
				cur.Shape = &CursorImage{Serial: serial, HotX: in.HotX, HotY: in.HotY, Width: in.CursorW, Height: in.CursorH, Pix: pix}
			} else if in.CursorW > 0 {
				return c.cur, nil // changed under us: the next call has it
			}
		}
		c.cur, c.curKnow = cur, true
		return cur, nil
	}
	// Nothing reported yet (the pointer has not moved since the stream
	// began): no shape; a later call has it.
	out := c.cur
	out.Shape = nil
	return out, nil
}

func (c *mutterCapturer) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	streams := c.streams
	c.mu.Unlock()
	for _, g := range streams {
		g.pw.close()
		g.conn.Close()
	}
	c.wakeW.Close() // ends readWake
	c.sess.Release()
	return nil
}
