//go:build linux

package wl

import (
	"context"
	"errors"
	"slices"
	"sync"
)

// Output is one compositor output in layout (logical) coordinates, as
// xdg-output reports them.
type Output struct {
	Global        uint32 // registry name
	ID            uint32 // wl_output object
	Name          string // "HEADLESS-1", "DP-1", ...
	X, Y          int
	Width, Height int
	ModeW, ModeH  int // the current mode: the buffer's size at scale 1
	// Transform is wl_output's: 0 normal, 1-3 rotated 90/180/270 degrees
	// counter-clockwise, 4-7 the same after a horizontal flip. A
	// screencopy buffer comes in the mode's orientation.
	Transform int
}

// Outputs follows the compositor's outputs (hot-plug included).
type Outputs struct {
	c   *Conn
	mgr uint32 // zxdg_output_manager_v1

	mu  sync.Mutex
	m   map[uint32]*Output // by registry name
	gen uint64             // bumped on any change
}

// ErrNoXDGOutput: without xdg-output the layout positions are unknown.
var ErrNoXDGOutput = errors.New("wl: the compositor offers no zxdg_output_manager_v1")

// TrackOutputs binds every wl_output and its xdg-output, and keeps them
// up to date.
func TrackOutputs(ctx context.Context, c *Conn) (*Outputs, error) {
	g, ok := c.Global("zxdg_output_manager_v1")
	if !ok {
		return nil, ErrNoXDGOutput
	}
	o := &Outputs{c: c, m: map[uint32]*Output{}}
	var err error
	if o.mgr, err = c.Bind(g, 3, nil); err != nil {
		return nil, err
	}
	c.OnGlobal(func(g Global, added bool) {
		if g.Interface != "wl_output" {
			return
		}
		if added {
			o.add(g)
			return
		}
		o.mu.Lock()
		if out := o.m[g.Name]; out != nil {
			_ = c.Send(out.ID, 0) // wl_output.release (v3)
			c.Destroyed(out.ID)
		}
		delete(o.m, g.Name)
		o.gen++
		o.mu.Unlock()
	})
	for _, g := range c.Globals() {
		if g.Interface == "wl_output" {
			o.add(g)
		}
	}
	// The first round trip binds; the second brings the xdg-output events
	// the bound objects send.
	for range 2 {
		if err := c.Roundtrip(ctx); err != nil {
			return nil, err
		}
	}
	return o, nil
}

func (o *Outputs) add(g Global) {
	o.mu.Lock()
	_, dup := o.m[g.Name]
	o.mu.Unlock()
	if dup {
		return
	}
	out := &Output{Global: g.Name}
	id, err := o.c.Bind(g, 3, func(op uint16, m *Msg) {
		if op == 0 { // geometry(x, y, mm_w, mm_h, subpixel, make, model, transform)
			m.Int()
			m.Int()
			m.Int()
			m.Int()
			m.Int()
			_ = m.String()
			_ = m.String()
			if t := m.Int(); m.Err() == nil && t >= 0 && t <= 7 {
				o.mu.Lock()
				out.Transform = int(t)
				o.gen++
				o.mu.Unlock()
			}
		}
		if op == 1 { // mode(flags, width, height, refresh)
			flags, w, h := m.Uint(), m.Int(), m.Int()
			if flags&1 != 0 && m.Err() == nil { // current
				o.mu.Lock()
				out.ModeW, out.ModeH = int(w), int(h)
				o.gen++
				o.mu.Unlock()
			}
		}
	})
	if err != nil {
		return
	}
	out.ID = id
	xid := o.c.NewID(func(op uint16, m *Msg) {
		o.mu.Lock()
		defer o.mu.Unlock()
		switch op {
		case 0: // logical_position(x, y)
			out.X, out.Y = int(m.Int()), int(m.Int())
		case 1: // logical_size(width, height)
			out.Width, out.Height = int(m.Int()), int(m.Int())
		case 3: // name
			out.Name = m.String()
		}
		o.gen++
	})
	if o.c.Send(o.mgr, 1, xid, id) != nil { // get_xdg_output(id, output)
		return
	}
	o.mu.Lock()
	o.m[g.Name] = out
	o.gen++
	o.mu.Unlock()
}

// maxExtent bounds an output's size and position: a hostile compositor
// (the service connects to a user's socket) must not make a grab
// allocate gigabytes.
const maxExtent = 1 << 14

// List returns the outputs that have a plausible size, by position (left to right,
// top to bottom), and a generation that changes whenever they do.
func (o *Outputs) List() ([]Output, uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]Output, 0, len(o.m))
	for _, v := range o.m {
		if v.Width > 0 && v.Height > 0 && v.Width <= maxExtent && v.Height <= maxExtent &&
			abs(v.X) <= 4*maxExtent && abs(v.Y) <= 4*maxExtent {
			out = append(out, *v)
		}
	}
	slices.SortFunc(out, func(a, b Output) int {
		if a.Y != b.Y && (a.X == b.X) {
			return a.Y - b.Y
		}
		if a.X != b.X {
			return a.X - b.X
		}
		return a.Y - b.Y
	})
	return out, o.gen
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
