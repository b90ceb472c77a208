//go:build linux

package muttertest

import (
	"context"
	"errors"
	"fmt"
	"image"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/tandem-rc/tandem/internal/wl"
)

// Window is a full-screen Wayland window the test draws into, so a
// capture can be compared with pixels known in advance (plain Mutter has
// no screenshot API of its own; gnome-shell's is not part of it).
type Window struct {
	conn          *wl.Conn
	surface, shm  uint32
	Width, Height int

	mu      sync.Mutex
	bufs    []func() // the buffers' cleanups
	ptr     Pointer
	changed chan struct{} // the pointer state changed (capacity 1)
}

// Pointer is what the window heard from the seat's pointer.
type Pointer struct {
	In       bool    // the pointer is over the window
	X, Y     float64 // surface-local position
	Pressed  []uint32
	Released []uint32
	Wheel    float64 // vertical axis sum
}

// WaitPointer waits until ok holds for the window's pointer state.
func (w *Window) WaitPointer(ctx context.Context, ok func(Pointer) bool) (Pointer, error) {
	for {
		w.mu.Lock()
		p := w.ptr
		p.Pressed, p.Released = append([]uint32(nil), p.Pressed...), append([]uint32(nil), p.Released...)
		w.mu.Unlock()
		if ok(p) {
			return p, nil
		}
		select {
		case <-w.changed:
		case <-ctx.Done():
			return p, fmt.Errorf("muttertest: pointer state %+v: %w", p, ctx.Err())
		}
	}
}

func (w *Window) pointerEvent(op uint16, m *wl.Msg) {
	w.mu.Lock()
	switch op {
	case 0: // enter(serial, surface, x, y)
		m.Uint()
		m.Uint()
		w.ptr.In, w.ptr.X, w.ptr.Y = true, m.Fixed(), m.Fixed()
	case 1: // leave
		w.ptr.In = false
	case 2: // motion(time, x, y)
		m.Uint()
		w.ptr.X, w.ptr.Y = m.Fixed(), m.Fixed()
	case 3: // button(serial, time, button, state)
		m.Uint()
		m.Uint()
		b, st := m.Uint(), m.Uint()
		if st == 1 {
			w.ptr.Pressed = append(w.ptr.Pressed, b)
		} else {
			w.ptr.Released = append(w.ptr.Released, b)
		}
	case 4: // axis(time, axis, value)
		m.Uint()
		if m.Uint() == 0 {
			w.ptr.Wheel += m.Fixed()
		}
	}
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// ShowWindow opens a full-screen window on the compositor.
func (m *Mutter) ShowWindow(ctx context.Context) (*Window, error) {
	c, err := wl.Dial(ctx, m.SocketPath())
	if err != nil {
		return nil, err
	}
	w := &Window{conn: c, changed: make(chan struct{}, 1)}
	fail := func(err error) (*Window, error) {
		c.Close()
		return nil, fmt.Errorf("muttertest: window: %w", err)
	}
	if seat, ok := c.Global("wl_seat"); ok {
		var seatID uint32
		var once sync.Once
		var idMu sync.Mutex // the id is set after Bind sends, maybe after the event
		idMu.Lock()
		seatID, err = c.Bind(seat, 5, func(op uint16, m *wl.Msg) {
			if op == 0 && m.Uint()&1 != 0 { // capabilities: pointer
				idMu.Lock()
				id := seatID
				idMu.Unlock()
				once.Do(func() { _ = c.Send(id, 0, c.NewID(w.pointerEvent)) }) // get_pointer
			}
		})
		idMu.Unlock()
		if err != nil {
			return fail(err)
		}
	}
	comp, ok1 := c.Global("wl_compositor")
	shm, ok2 := c.Global("wl_shm")
	wmg, ok3 := c.Global("xdg_wm_base")
	if !ok1 || !ok2 || !ok3 {
		return fail(errors.New("no wl_compositor, wl_shm or xdg_wm_base"))
	}
	var wm uint32
	compID, err := c.Bind(comp, 4, nil)
	if err == nil {
		w.shm, err = c.Bind(shm, 1, nil)
	}
	if err == nil {
		wm, err = c.Bind(wmg, 1, func(op uint16, msg *wl.Msg) {
			if op == 0 { // ping(serial)
				_ = c.Send(wm, 3, msg.Uint()) // pong
			}
		})
	}
	if err != nil {
		return fail(err)
	}
	type cfg struct{ w, h int }
	configured := make(chan uint32, 4)
	var size cfg
	var mu sync.Mutex
	w.surface = c.NewID(nil)
	xs := c.NewID(func(op uint16, msg *wl.Msg) {
		if op == 0 { // xdg_surface.configure(serial)
			configured <- msg.Uint()
		}
	})
	top := c.NewID(func(op uint16, msg *wl.Msg) {
		if op == 0 { // xdg_toplevel.configure(width, height, states)
			mu.Lock()
			size = cfg{int(msg.Int()), int(msg.Int())}
			mu.Unlock()
		}
	})
	steps := []struct {
		id   uint32
		op   uint16
		args []any
	}{
		{compID, 0, []any{w.surface}},  // create_surface
		{wm, 2, []any{xs, w.surface}},  // get_xdg_surface
		{xs, 1, []any{top}},            // get_toplevel
		{top, 2, []any{"tandem-test"}}, // set_title
		{top, 11, []any{uint32(0)}},    // set_fullscreen(any output)
		{w.surface, 6, nil},            // commit
	}
	for _, s := range steps {
		if err := c.Send(s.id, s.op, s.args...); err != nil {
			return fail(err)
		}
	}
	// Full screen is granted in a configure with the output's size.
	for {
		var serial uint32
		select {
		case serial = <-configured:
		case <-c.Done():
			return fail(c.Err())
		case <-ctx.Done():
			return fail(ctx.Err())
		}
		if err := c.Send(xs, 4, serial); err != nil { // ack_configure
			return fail(err)
		}
		mu.Lock()
		s := size
		mu.Unlock()
		if s.w > 0 && s.h > 0 {
			w.Width, w.Height = s.w, s.h
			return w, nil
		}
		if err := c.Send(w.surface, 6); err != nil {
			return fail(err)
		}
	}
}

// Draw shows img (its top-left Width×Height) in the window, telling the
// compositor that only the damage rectangles changed (none: all of it).
func (w *Window) Draw(ctx context.Context, img *image.RGBA, damage ...image.Rectangle) error {
	if len(damage) == 0 {
		damage = []image.Rectangle{image.Rect(0, 0, w.Width, w.Height)}
	}
	stride := w.Width * 4
	size := stride * w.Height
	fd, mem, err := wl.Memfd("muttertest-window", size)
	if err != nil {
		return err
	}
	for y := 0; y < w.Height; y++ {
		for x := 0; x < w.Width; x++ {
			s := img.Pix[img.PixOffset(x, y):]
			d := mem[y*stride+x*4:]
			d[0], d[1], d[2], d[3] = s[2], s[1], s[0], 0xff // XRGB8888, little endian
		}
	}
	pool, buf := w.conn.NewID(nil), w.conn.NewID(nil)
	w.mu.Lock()
	w.bufs = append(w.bufs, func() { unix.Munmap(mem); unix.Close(fd) })
	w.mu.Unlock()
	for _, s := range []struct {
		id   uint32
		op   uint16
		args []any
	}{
		{w.shm, 0, []any{pool, wl.FD(fd), uint32(size)}},                                           // create_pool
		{pool, 0, []any{buf, int32(0), int32(w.Width), int32(w.Height), int32(stride), uint32(1)}}, // create_buffer XRGB8888
		{w.surface, 1, []any{buf, int32(0), int32(0)}},                                             // attach
	} {
		if err := w.conn.Send(s.id, s.op, s.args...); err != nil {
			return err
		}
	}
	for _, r := range damage {
		if err := w.conn.Send(w.surface, 9, int32(r.Min.X), int32(r.Min.Y), int32(r.Dx()), int32(r.Dy())); err != nil { // damage_buffer
			return err
		}
	}
	if err := w.conn.Send(w.surface, 6); err != nil { // commit
		return err
	}
	return w.conn.Roundtrip(ctx)
}

// Close closes the window.
func (w *Window) Close() error {
	err := w.conn.Close()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range w.bufs {
		f()
	}
	w.bufs = nil
	return err
}
