//go:build linux

// Package wl is a minimal Wayland client: the wire protocol (messages,
// object ids, file descriptors over SCM_RIGHTS), the registry and
// round trips. The capture and input back ends for wlroots compositors
// speak the few protocol objects they need on top of it.
//
// Hand-written because no Go Wayland client library is fetchable here
// (github.com/rajveermalviya/go-wayland, the usual one, is refused by the
// module proxy), and the protocols used (wl_shm, wl_output, xdg-output,
// wlr-screencopy, wlr-virtual-pointer, virtual-keyboard) are small and
// frozen; each back end names its opcodes next to the protocol XML's
// names. Pure Go: no libwayland-client, so no cgo.
package wl

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// maxMessage is the protocol's bound on one message (libwayland's buffer).
const maxMessage = 4096

// ErrClosed is returned once the connection is closed or broken.
var ErrClosed = errors.New("wl: connection closed")

// Fixed is a 24.8 signed fixed-point argument.
type Fixed float64

// FD is a file descriptor argument, passed with SCM_RIGHTS; Send does not
// close it.
type FD int

// Handler receives an object's events. It runs on the connection's reader
// goroutine: it must not block nor call Roundtrip.
type Handler func(op uint16, m *Msg)

// Global is an object the compositor announces in the registry.
type Global struct {
	Name      uint32
	Interface string
	Version   uint32
}

// Conn is one client connection.
type Conn struct {
	uc *net.UnixConn

	wmu sync.Mutex // serialises writes

	mu       sync.Mutex
	next     uint32
	free     []uint32
	handlers map[uint32]Handler
	globals  map[uint32]Global
	onGlobal func(g Global, added bool)
	err      error
	done     chan struct{}
	closed   bool
}

// SocketPath resolves a WAYLAND_DISPLAY value: absolute, or relative to
// runtimeDir ("" = $XDG_RUNTIME_DIR).
func SocketPath(display, runtimeDir string) (string, error) {
	if display == "" {
		return "", errors.New("wl: no Wayland display named")
	}
	if filepath.IsAbs(display) {
		return display, nil
	}
	if runtimeDir == "" {
		runtimeDir = os.Getenv("XDG_RUNTIME_DIR")
	}
	if runtimeDir == "" {
		return "", fmt.Errorf("wl: Wayland display %q is relative and XDG_RUNTIME_DIR is unset", display)
	}
	return filepath.Join(runtimeDir, display), nil
}

// Dial connects to the compositor socket at path and reads the registry.
func Dial(ctx context.Context, path string) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("wl: %w", err)
	}
	c := &Conn{uc: nc.(*net.UnixConn), next: 2, handlers: map[uint32]Handler{}, globals: map[uint32]Global{}, done: make(chan struct{})}
	c.handlers[1] = c.displayEvent
	go c.read()
	reg := c.NewID(c.registryEvent)
	if err := c.Send(1, 1, reg); err != nil { // wl_display.get_registry
		c.Close()
		return nil, err
	}
	if err := c.Roundtrip(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Globals lists the announced globals.
func (c *Conn) Globals() []Global {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Global, 0, len(c.globals))
	for _, g := range c.globals {
		out = append(out, g)
	}
	return out
}

// Global finds the first global of an interface.
func (c *Conn) Global(iface string) (Global, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	best := Global{}
	for _, g := range c.globals {
		if g.Interface == iface && (best.Name == 0 || g.Name < best.Name) {
			best = g
		}
	}
	return best, best.Name != 0
}

// OnGlobal sets a callback for globals announced or removed from now on;
// it runs on the reader goroutine.
func (c *Conn) OnGlobal(f func(g Global, added bool)) {
	c.mu.Lock()
	c.onGlobal = f
	c.mu.Unlock()
}

// NewID allocates an object id with its event handler (nil: ignored).
func (c *Conn) NewID(h Handler) uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var id uint32
	if n := len(c.free); n > 0 {
		id, c.free = c.free[n-1], c.free[:n-1]
	} else {
		id = c.next
		c.next++
	}
	if h == nil {
		h = func(uint16, *Msg) {}
	}
	c.handlers[id] = h
	return id
}

// Bind binds global g at version v (at most what it offers).
func (c *Conn) Bind(g Global, v uint32, h Handler) (uint32, error) {
	id := c.NewID(h)
	return id, c.Send(c.registry(), 0, g.Name, g.Interface, min(v, g.Version), id)
}

func (c *Conn) registry() uint32 { return 2 }

// Send writes request op of object id. Arguments: uint32 (uint, object,
// new_id), int32, Fixed, string, []byte (array), FD.
func (c *Conn) Send(id uint32, op uint16, args ...any) error {
	b := make([]byte, 8, 64)
	var fds []int
	for _, a := range args {
		switch v := a.(type) {
		case uint32:
			b = binary.LittleEndian.AppendUint32(b, v)
		case int32:
			b = binary.LittleEndian.AppendUint32(b, uint32(v))
		case int:
			b = binary.LittleEndian.AppendUint32(b, uint32(int32(v)))
		case Fixed:
			b = binary.LittleEndian.AppendUint32(b, uint32(int32(math.Round(float64(v)*256))))
		case string:
			b = binary.LittleEndian.AppendUint32(b, uint32(len(v)+1))
			b = append(b, v...)
			b = append(b, make([]byte, pad(len(v)+1)-len(v))...)
		case []byte:
			b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
			b = append(b, v...)
			b = append(b, make([]byte, pad(len(v))-len(v))...)
		case FD:
			fds = append(fds, int(v))
		default:
			return fmt.Errorf("wl: unsupported argument type %T", a)
		}
	}
	if len(b) > maxMessage {
		return fmt.Errorf("wl: request of %d bytes exceeds the protocol's %d", len(b), maxMessage)
	}
	binary.LittleEndian.PutUint32(b, id)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b))<<16|uint32(op))
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.Err(); err != nil {
		return err
	}
	if _, _, err := c.uc.WriteMsgUnix(b, oob, nil); err != nil {
		c.fail(fmt.Errorf("wl: write: %w", err))
		return c.Err()
	}
	return nil
}

func pad(n int) int { return (n + 3) &^ 3 }

// Destroyed forgets a client-destroyed object's handler; its id is reused
// once the compositor confirms with delete_id.
func (c *Conn) Destroyed(id uint32) {
	c.mu.Lock()
	c.handlers[id] = func(uint16, *Msg) {}
	c.mu.Unlock()
}

// Roundtrip waits until the compositor has handled every request sent
// before it (wl_display.sync).
func (c *Conn) Roundtrip(ctx context.Context) error {
	ch := make(chan struct{})
	var once sync.Once
	cb := c.NewID(func(uint16, *Msg) { once.Do(func() { close(ch) }) })
	if err := c.Send(1, 0, cb); err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-c.done:
		return c.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done is closed when the connection ends.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why the connection ended; nil while it lives.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Conn) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
		close(c.done)
	}
}

// Close ends the connection. Idempotent.
func (c *Conn) Close() error {
	c.mu.Lock()
	already := c.closed
	c.closed = true
	c.mu.Unlock()
	if already {
		return nil
	}
	c.fail(ErrClosed)
	return c.uc.Close()
}

func (c *Conn) displayEvent(op uint16, m *Msg) {
	switch op {
	case 0: // error(object_id, code, message)
		obj, code, msg := m.Uint(), m.Uint(), m.String()
		c.fail(fmt.Errorf("wl: protocol error on object %d, code %d: %s", obj, code, msg))
	case 1: // delete_id
		id := m.Uint()
		c.mu.Lock()
		if _, ok := c.handlers[id]; ok {
			delete(c.handlers, id)
			c.free = append(c.free, id)
		}
		c.mu.Unlock()
	}
}

func (c *Conn) registryEvent(op uint16, m *Msg) {
	switch op {
	case 0: // global(name, interface, version)
		g := Global{Name: m.Uint(), Interface: m.String(), Version: m.Uint()}
		if m.Err() != nil {
			return
		}
		c.mu.Lock()
		c.globals[g.Name] = g
		f := c.onGlobal
		c.mu.Unlock()
		if f != nil {
			f(g, true)
		}
	case 1: // global_remove(name)
		name := m.Uint()
		c.mu.Lock()
		g, ok := c.globals[name]
		delete(c.globals, name)
		f := c.onGlobal
		c.mu.Unlock()
		if ok && f != nil {
			f(g, false)
		}
	}
}

// read dispatches events until the connection ends. File descriptors the
// compositor sends (none of the events used carry one) are closed.
func (c *Conn) read() {
	buf := make([]byte, 0, 4*maxMessage)
	chunk := make([]byte, 4*maxMessage)
	oob := make([]byte, unix.CmsgSpace(28*4))
	for {
		n, oobn, _, _, err := c.uc.ReadMsgUnix(chunk, oob)
		if oobn > 0 {
			closeRights(oob[:oobn])
		}
		if err != nil {
			c.fail(fmt.Errorf("wl: read: %w", err))
			return
		}
		if n == 0 {
			c.fail(fmt.Errorf("wl: compositor closed the connection"))
			return
		}
		buf = append(buf, chunk[:n]...)
		for len(buf) >= 8 {
			id := binary.LittleEndian.Uint32(buf)
			word := binary.LittleEndian.Uint32(buf[4:])
			size, op := int(word>>16), uint16(word)
			if size < 8 || size%4 != 0 {
				c.fail(fmt.Errorf("wl: malformed event header (size %d)", size))
				return
			}
			if len(buf) < size {
				break
			}
			c.mu.Lock()
			h := c.handlers[id]
			c.mu.Unlock()
			if h != nil {
				h(op, &Msg{b: buf[8:size:size]})
			}
			buf = buf[size:]
		}
		buf = append(buf[:0:0], buf...)
	}
}

func closeRights(oob []byte) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	for _, m := range msgs {
		if fds, err := unix.ParseUnixRights(&m); err == nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}
	}
}

// Msg reads an event's arguments in order; a short message sets Err and
// yields zero values.
type Msg struct {
	b   []byte
	err error
}

func (m *Msg) Err() error { return m.err }

func (m *Msg) take(n int) []byte {
	if m.err != nil || len(m.b) < n {
		m.err = errors.New("wl: event shorter than its arguments")
		return nil
	}
	v := m.b[:n]
	m.b = m.b[n:]
	return v
}

// Uint reads a uint, object or new_id argument.
func (m *Msg) Uint() uint32 {
	if v := m.take(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

// Int reads an int argument.
func (m *Msg) Int() int32 { return int32(m.Uint()) }

// Fixed reads a fixed argument.
func (m *Msg) Fixed() float64 { return float64(m.Int()) / 256 }

// String reads a string argument (without its NUL).
func (m *Msg) String() string {
	b := m.Array()
	if len(b) == 0 {
		return ""
	}
	return string(b[:len(b)-1])
}

// Array reads an array argument.
func (m *Msg) Array() []byte {
	n := int(m.Uint())
	if m.err != nil {
		return nil
	}
	if n < 0 || n > len(m.b) {
		m.err = errors.New("wl: event array longer than the event")
		return nil
	}
	v := m.take(pad(n))
	if v == nil {
		return nil
	}
	return v[:n]
}

// Memfd makes an anonymous shared-memory file of size bytes, mapped
// read-write, for wl_shm pools and keymaps.
func Memfd(name string, size int) (int, []byte, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return -1, nil, fmt.Errorf("wl: memfd: %w", err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("wl: memfd size: %w", err)
	}
	b, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("wl: mmap: %w", err)
	}
	return fd, b, nil
}
