//go:build linux

package capture

// The wlroots back end (sway, Hyprland, river, labwc, wayfire...): frames
// through wlr-screencopy-unstable-v1 into wl_shm buffers, one per output,
// laid out by xdg-output. The compositor draws the pointer into no frame
// (overlay_cursor 0), like X11's GetImage.
//
// Damage: a copy_with_damage request is answered only once the output
// changed, with the changed rectangles and the new pixels; Grab serves
// those pixels until the next Damage call (wlroots accumulates any later
// change per client and reports it then), and otherwise copies afresh.

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tandem-rc/tandem/internal/wl"
)

// Screencopy buffer formats (wl_shm codes; the DRM fourcc for the rest).
const (
	shmARGB8888 = 0
	shmXRGB8888 = 1
	shmXBGR8888 = 0x34324258
	shmABGR8888 = 0x34324241
)

// maxFrameDamage bounds the rectangles kept per frame; more: the whole output.
const maxFrameDamage = 64

// ErrNoScreencopy means the Wayland compositor offers no
// wlr-screencopy: it is not a wlroots compositor this back end serves.
var ErrNoScreencopy = errors.New("capture: the Wayland compositor offers no wlr-screencopy (not supported on this desktop)")

type wlrCapturer struct {
	log  *slog.Logger
	conn *wl.Conn
	outs *wl.Outputs
	shm  uint32 // wl_shm
	mgr  uint32 // zwlr_screencopy_manager_v1

	mu     sync.Mutex // serialises grabs and Damage
	state  map[uint32]*wlrOutput
	closed bool

	evmu     sync.Mutex    // frame fields written by the reader goroutine
	dmgReady chan struct{} // a damage frame finished (capacity 1)
}

type wlrOutput struct {
	out     wl.Output
	grab    *shmBuffer // pixels Grab copies out of
	dmg     *shmBuffer // the target of the pending damage frame
	current bool       // grab holds what the last Damage reported
	pending *wlrFrame  // the outstanding copy_with_damage
	yInvert bool
}

type shmBuffer struct {
	id                   uint32 // wl_buffer
	pool                 uint32
	fd                   int
	mem                  []byte
	w, h, stride, format int
}

type wlrFrame struct {
	id      uint32
	o       *wlrOutput
	damage  bool
	done    chan struct{}
	err     error
	flags   uint32
	rects   []image.Rectangle
	full    bool // too many rects: the whole output
	buf     *shmBuffer
	started bool
}

func openWayland(opts Options) (Capturer, error) {
	path, err := wl.SocketPath(opts.Wayland, opts.RuntimeDir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoDisplay, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := wl.Dial(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoDisplay, err)
	}
	c := &wlrCapturer{log: opts.Logger, conn: conn, state: map[uint32]*wlrOutput{}, dmgReady: make(chan struct{}, 1)}
	fail := func(err error) (Capturer, error) {
		conn.Close()
		return nil, err
	}
	sc, ok := conn.Global("zwlr_screencopy_manager_v1")
	if !ok {
		return fail(ErrNoScreencopy)
	}
	shm, ok := conn.Global("wl_shm")
	if !ok {
		return fail(errors.New("capture: the Wayland compositor offers no wl_shm"))
	}
	if c.mgr, err = conn.Bind(sc, 2, nil); err != nil {
		return fail(err)
	}
	if c.shm, err = conn.Bind(shm, 1, nil); err != nil {
		return fail(err)
	}
	if c.outs, err = wl.TrackOutputs(ctx, conn); err != nil {
		return fail(fmt.Errorf("capture: %w", err))
	}
	if sc.Version < 2 {
		c.log.Info("capture: wlr-screencopy v1: no damage reports; polling")
	}
	opts.Logger.Debug("capture: opened wlroots screencopy", "socket", path)
	return c, nil
}

// outputs refreshes the per-output state from the layout.
func (c *wlrCapturer) outputs() []*wlrOutput {
	list, _ := c.outs.List()
	seen := map[uint32]bool{}
	out := make([]*wlrOutput, 0, len(list))
	for _, o := range list {
		seen[o.Global] = true
		s := c.state[o.Global]
		if s == nil {
			s = &wlrOutput{}
			c.state[o.Global] = s
		}
		if s.out != o {
			s.current = false
		}
		s.out = o
		out = append(out, s)
	}
	for k, s := range c.state {
		if !seen[k] {
			c.dropFrame(s)
			c.freeBuffer(s.grab)
			c.freeBuffer(s.dmg)
			delete(c.state, k)
		}
	}
	return out
}

func (o *wlrOutput) rect() image.Rectangle {
	return image.Rect(o.out.X, o.out.Y, o.out.X+o.out.Width, o.out.Y+o.out.Height)
}

func (c *wlrCapturer) Bounds() image.Rectangle {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.boundsLocked()
}

func (c *wlrCapturer) boundsLocked() image.Rectangle {
	var b image.Rectangle
	for _, o := range c.outputs() {
		b = b.Union(o.rect())
	}
	return b
}

func (c *wlrCapturer) Monitors() ([]Monitor, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	var ms []Monitor
	for _, o := range c.outputs() {
		ms = append(ms, Monitor{Name: o.out.Name, X: o.out.X, Y: o.out.Y, Width: o.out.Width, Height: o.out.Height})
	}
	return primaryFallback(ms), nil
}

// frameEvent handles a zwlr_screencopy_frame_v1 event (reader goroutine).
func (c *wlrCapturer) frameEvent(f *wlrFrame) wl.Handler {
	return func(op uint16, m *wl.Msg) {
		c.evmu.Lock()
		defer c.evmu.Unlock()
		finish := func(err error) {
			select {
			case <-f.done:
				return
			default:
			}
			f.err = err
			close(f.done)
			if f.damage {
				select {
				case c.dmgReady <- struct{}{}:
				default:
				}
			}
		}
		switch op {
		case 0: // buffer(format, width, height, stride)
			format, w, h, stride := int(m.Uint()), int(m.Uint()), int(m.Uint()), int(m.Uint())
			if m.Err() != nil || f.started {
				return
			}
			switch format {
			case shmXRGB8888, shmARGB8888, shmXBGR8888, shmABGR8888:
			default:
				finish(fmt.Errorf("%w: wl_shm format 0x%x", ErrUnsupportedFormat, format))
				return
			}
			if w <= 0 || h <= 0 || w > 1<<15 || h > 1<<15 || stride < w*4 || stride > w*4+4096 {
				finish(fmt.Errorf("capture: screencopy offered a %dx%d buffer with stride %d", w, h, stride))
				return
			}
			slot := &f.o.grab
			if f.damage {
				slot = &f.o.dmg
			}
			b, err := c.ensureBuffer(*slot, w, h, stride, format)
			*slot = b
			if err != nil {
				finish(err)
				return
			}
			f.buf, f.started = b, true
			op := uint16(0) // copy
			if f.damage {
				op = 2 // copy_with_damage
			}
			if err := c.conn.Send(f.id, op, b.id); err != nil {
				finish(err)
			}
		case 1: // flags
			f.flags = m.Uint()
		case 2: // ready
			finish(nil)
		case 3: // failed
			finish(errors.New("capture: the compositor failed the screencopy frame"))
		case 4: // damage(x, y, width, height)
			x, y, w, h := int(m.Uint()), int(m.Uint()), int(m.Uint()), int(m.Uint())
			if m.Err() != nil {
				return
			}
			r := image.Rect(x, y, x+w, y+h)
			if len(f.rects) >= maxFrameDamage {
				f.full = true
				return
			}
			f.rects = append(f.rects, r)
		}
	}
}

// ensureBuffer returns b when it fits, else a new wl_buffer of that shape.
func (c *wlrCapturer) ensureBuffer(b *shmBuffer, w, h, stride, format int) (*shmBuffer, error) {
	if b != nil && b.w == w && b.h == h && b.stride == stride && b.format == format {
		return b, nil
	}
	c.freeBuffer(b)
	size := stride * h
	fd, mem, err := wl.Memfd("tandem-screencopy", size)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	nb := &shmBuffer{fd: fd, mem: mem, w: w, h: h, stride: stride, format: format}
	nb.pool = c.conn.NewID(nil)
	if err := c.conn.Send(c.shm, 0, nb.pool, wl.FD(fd), uint32(size)); err != nil { // create_pool
		c.freeBuffer(nb)
		return nil, err
	}
	nb.id = c.conn.NewID(nil)
	if err := c.conn.Send(nb.pool, 0, nb.id, int32(0), int32(w), int32(h), int32(stride), uint32(format)); err != nil { // create_buffer
		c.freeBuffer(nb)
		return nil, err
	}
	return nb, nil
}

func (c *wlrCapturer) freeBuffer(b *shmBuffer) {
	if b == nil {
		return
	}
	if b.id != 0 {
		_ = c.conn.Send(b.id, 0) // wl_buffer.destroy
		c.conn.Destroyed(b.id)
	}
	if b.pool != 0 {
		_ = c.conn.Send(b.pool, 1) // wl_shm_pool.destroy
		c.conn.Destroyed(b.pool)
	}
	if b.mem != nil {
		_ = unix.Munmap(b.mem)
	}
	if b.fd >= 0 {
		_ = unix.Close(b.fd)
	}
	b.id, b.pool, b.mem, b.fd = 0, 0, nil, -1
}

// startFrame asks for a frame of o.
func (c *wlrCapturer) startFrame(o *wlrOutput, damage bool) (*wlrFrame, error) {
	f := &wlrFrame{o: o, damage: damage, done: make(chan struct{})}
	f.id = c.conn.NewID(c.frameEvent(f))
	if err := c.conn.Send(c.mgr, 0, f.id, int32(0), o.out.ID); err != nil { // capture_output
		return nil, err
	}
	return f, nil
}

func (c *wlrCapturer) endFrame(f *wlrFrame) {
	_ = c.conn.Send(f.id, 1) // destroy
	c.conn.Destroyed(f.id)
}

func (c *wlrCapturer) dropFrame(o *wlrOutput) {
	if o.pending != nil {
		c.endFrame(o.pending)
		o.pending = nil
	}
}

// wait waits for f, bounded: a compositor that never answers must not hang
// the session.
func (c *wlrCapturer) wait(ctx context.Context, f *wlrFrame) error {
	select {
	case <-f.done:
		c.evmu.Lock()
		defer c.evmu.Unlock()
		return f.err
	case <-c.conn.Done():
		return fmt.Errorf("capture: %w", c.conn.Err())
	case <-ctx.Done():
		return fmt.Errorf("capture: screencopy: %w", ctx.Err())
	}
}

func (c *wlrCapturer) Grab(r image.Rectangle, dst *Frame) (*Frame, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	outs := c.outputs()
	var bounds image.Rectangle
	for _, o := range outs {
		bounds = bounds.Union(o.rect())
	}
	r = r.Intersect(bounds)
	if r.Empty() {
		return nil, ErrEmptyRect
	}
	dst = prepare(dst, r.Dx(), r.Dy())
	covered := 0
	for _, o := range outs {
		part := r.Intersect(o.rect())
		if part.Empty() {
			continue
		}
		if !o.current || o.grab == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			f, err := c.startFrame(o, false)
			if err == nil {
				err = c.wait(ctx, f)
				c.endFrame(f)
			}
			cancel()
			if err != nil {
				return nil, err
			}
			o.yInvert = f.flags&1 != 0
		}
		c.copyOut(o, part, r.Min, dst)
		covered += part.Dx() * part.Dy()
	}
	if covered < r.Dx()*r.Dy() {
		c.blackGaps(outs, r, dst)
	}
	return dst, nil
}

// copyOut copies part (layout coordinates) of o's grab buffer into dst,
// whose origin is at org. On a scaled output (HiDPI: the buffer is larger
// than the output's logical size, which input and the layout use) it
// samples the nearest buffer pixel.
func (c *wlrCapturer) copyOut(o *wlrOutput, part image.Rectangle, org image.Point, dst *Frame) {
	b := o.grab
	if b.w != o.out.Width || b.h != o.out.Height || o.out.Transform != 0 {
		c.copyScaled(o, part, org, dst)
		return
	}
	for y := part.Min.Y; y < part.Max.Y; y++ {
		by := y - o.out.Y
		if by >= b.h {
			break
		}
		if o.yInvert {
			by = b.h - 1 - by
		}
		x0, x1 := part.Min.X-o.out.X, min(part.Max.X-o.out.X, b.w)
		if x1 <= x0 {
			break
		}
		src := b.mem[by*b.stride+x0*4 : by*b.stride+x1*4]
		d := dst.Pix[(y-org.Y)*dst.Stride+(part.Min.X-org.X)*4:]
		switch b.format {
		case shmXBGR8888, shmABGR8888:
			swapRB(d[:len(src)], src)
		default:
			copy(d, src)
		}
	}
}

// copyScaled samples the nearest buffer pixel of each layout pixel: on
// a scaled output, and on a rotated or flipped one, whose buffer comes in
// the mode's orientation (turned upright here).
func (c *wlrCapturer) copyScaled(o *wlrOutput, part image.Rectangle, org image.Point, dst *Frame) {
	b := o.grab
	swap := b.format == shmXBGR8888 || b.format == shmABGR8888
	t := o.out.Transform
	W, H := o.out.Width, o.out.Height
	for y := part.Min.Y; y < part.Max.Y; y++ {
		d := dst.Pix[(y-org.Y)*dst.Stride:]
		for x := part.Min.X; x < part.Max.X; x++ {
			bx, by := bufferPoint(t, x-o.out.X, y-o.out.Y, W, H, b.w, b.h)
			if o.yInvert {
				by = b.h - 1 - by
			}
			s := b.mem[by*b.stride+bx*4 : by*b.stride+bx*4+4 : by*b.stride+bx*4+4]
			i := (x - org.X) * 4
			if swap {
				d[i], d[i+1], d[i+2], d[i+3] = s[2], s[1], s[0], 0xff
			} else {
				copy(d[i:i+4], s)
			}
		}
	}
}

// bufferPoint maps layout pixel (lx, ly) of a W×H output with wl_output
// transform t to the nearest pixel of its bw×bh buffer.
func bufferPoint(t, lx, ly, W, H, bw, bh int) (int, int) {
	if t >= 4 { // flipped: mirror first
		lx, t = W-1-lx, t-4
	}
	var bx, by int
	switch t {
	case 1: // 90
		bx, by = ly*bw/H, (W-1-lx)*bh/W
	case 2: // 180
		bx, by = (W-1-lx)*bw/W, (H-1-ly)*bh/H
	case 3: // 270
		bx, by = (H-1-ly)*bw/H, lx*bh/W
	default:
		bx, by = lx*bw/W, ly*bh/H
	}
	return min(max(bx, 0), bw-1), min(max(by, 0), bh-1)
}

// blackGaps clears the parts of r no output covers (a layout with holes).
func (c *wlrCapturer) blackGaps(outs []*wlrOutput, r image.Rectangle, dst *Frame) {
	clearGaps(dst, r, func(p image.Point) bool {
		for _, o := range outs {
			if p.In(o.rect()) {
				return true
			}
		}
		return false
	})
}

// clearGaps blacks out the pixels of r (dst's area) no monitor covers.
func clearGaps(dst *Frame, r image.Rectangle, covered func(image.Point) bool) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if !covered(image.Pt(x, y)) {
				i := (y-r.Min.Y)*dst.Stride + (x-r.Min.X)*4
				copy(dst.Pix[i:i+4], []byte{0, 0, 0, 0})
			}
		}
	}
}

// Damage implements Damager over copy_with_damage.
func (c *wlrCapturer) Damage(ctx context.Context, timeout time.Duration) ([]image.Rectangle, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	outs := c.outputs()
	for _, o := range outs {
		o.current = false
		if o.pending == nil {
			f, err := c.startFrame(o, true)
			if err != nil {
				c.mu.Unlock()
				return nil, fmt.Errorf("capture: %w", err)
			}
			o.pending = f
		}
	}
	c.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		rects, any, err := c.collectLocked()
		if err != nil {
			c.mu.Unlock()
			return nil, err
		}
		if any {
			c.mu.Unlock()
			return rects, nil
		}
		c.mu.Unlock()
		select {
		case <-c.dmgReady:
		case <-c.conn.Done():
			return nil, fmt.Errorf("capture: %w", c.conn.Err())
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
			return []image.Rectangle{c.Bounds()}, nil
		}
	}
}

// collectLocked takes the finished damage frames: their buffers become the
// outputs' current pixels, their rectangles the answer.
func (c *wlrCapturer) collectLocked() ([]image.Rectangle, bool, error) {
	var rects []image.Rectangle
	any := false
	for _, o := range c.outputs() {
		f := o.pending
		if f == nil {
			continue
		}
		select {
		case <-f.done:
		default:
			continue
		}
		c.endFrame(f)
		o.pending = nil
		c.evmu.Lock()
		err, flags, full, fr := f.err, f.flags, f.full, f.rects
		c.evmu.Unlock()
		if err != nil {
			if errors.Is(err, ErrUnsupportedFormat) {
				return nil, false, err
			}
			// The output changed under the frame (mode set, removal):
			// report it whole; Grab copies afresh.
			c.log.Debug("capture: damage frame failed", "output", o.out.Name, "err", err)
			rects = append(rects, o.rect())
			any = true
			continue
		}
		o.grab, o.dmg = o.dmg, o.grab
		o.yInvert = flags&1 != 0
		o.current = true
		any = true
		if full || len(fr) == 0 || o.out.Transform != 0 { // rotated: the whole output
			rects = append(rects, o.rect())
			continue
		}
		for _, r := range fr {
			if o.yInvert {
				r = image.Rect(r.Min.X, o.grab.h-r.Max.Y, r.Max.X, o.grab.h-r.Min.Y)
			}
			if bw, bh, w, h := o.grab.w, o.grab.h, o.out.Width, o.out.Height; bw != w || bh != h {
				// Buffer pixels to layout pixels, rounding outwards.
				r = image.Rect(r.Min.X*w/bw, r.Min.Y*h/bh, (r.Max.X*w+bw-1)/bw, (r.Max.Y*h+bh-1)/bh)
			}
			if r = r.Add(image.Pt(o.out.X, o.out.Y)).Intersect(o.rect()); !r.Empty() {
				rects = append(rects, r)
			}
		}
	}
	return rects, any, nil
}

func (c *wlrCapturer) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	err := c.conn.Close()
	for _, o := range c.state {
		for _, b := range []*shmBuffer{o.grab, o.dmg} {
			if b != nil && b.mem != nil {
				_ = unix.Munmap(b.mem)
				_ = unix.Close(b.fd)
				b.mem = nil
			}
		}
	}
	return err
}
