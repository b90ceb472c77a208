package agent

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/gob"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/input"
)

// A Windows service runs in session 0, which has no desktop: it starts a
// desktop helper (`tandem-host desktop-helper`) in the console session as
// the logged-on user (helper_windows.go), and the helper captures and
// injects there for it. They talk over loopback TCP; the helper proves
// itself with a per-run secret the service hands it on its standard input,
// so no other local process can pose as the helper. The protocol is plain
// Go (gob), so it is tested on Linux with a real X capture behind it.

// HelperSecretSize is the secret's length in bytes.
const HelperSecretSize = 32

// helperWait bounds the wait for a (new) helper to connect.
const helperWait = 20 * time.Second

type bridgeReq struct {
	Op         string
	Rect       image.Rectangle
	X, Y       int
	Button     input.Button
	Down       bool
	Code, Text string
	Mods       input.Modifiers
}

type bridgeResp struct {
	Err      string
	EmptyErr bool // capture.ErrEmptyRect
	Bounds   image.Rectangle
	Monitors []capture.Monitor
	Frame    *capture.Frame
}

// HelperBridge is the service's end.
type HelperBridge struct {
	log    *slog.Logger
	ln     net.Listener
	secret []byte // the current helper's, renewed at each spawn (under mu)
	// Spawn starts a helper that connects to addr and reads secret; called
	// when a session needs the desktop and no helper is connected.
	spawn func(addr string, secret []byte) error

	mu      sync.Mutex
	conn    *bridgeConn
	arrived chan struct{} // closed and replaced when a helper authenticates
	closed  bool
}

type bridgeConn struct {
	mu  sync.Mutex // one request at a time
	c   net.Conn
	enc *gob.Encoder
	dec *gob.Decoder
	bw  *bufio.Writer
}

// NewHelperBridge listens on 127.0.0.1 with a fresh secret; spawn starts
// helpers.
func NewHelperBridge(log *slog.Logger, spawn func(addr string, secret []byte) error) (*HelperBridge, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("agent: desktop helper listener: %w", err)
	}
	secret := make([]byte, HelperSecretSize)
	if _, err := rand.Read(secret); err != nil {
		ln.Close()
		return nil, err
	}
	return &HelperBridge{log: log, ln: ln, secret: secret, spawn: spawn, arrived: make(chan struct{})}, nil
}

// Addr is where helpers connect.
func (b *HelperBridge) Addr() string { return b.ln.Addr().String() }

// Run accepts helpers until ctx ends or Close. A connection that does not
// present the secret within a few seconds is dropped.
func (b *HelperBridge) Run(ctx context.Context) error {
	go func() { <-ctx.Done(); b.Close() }()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			if ctx.Err() != nil || b.isClosed() {
				return nil
			}
			return err
		}
		go b.admit(c)
	}
}

func (b *HelperBridge) isClosed() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.closed }

func (b *HelperBridge) admit(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, HelperSecretSize)
	_, err := io.ReadFull(c, got)
	b.mu.Lock()
	secret := b.secret
	b.mu.Unlock()
	if err != nil || subtle.ConstantTimeCompare(got, secret) != 1 {
		b.log.Warn("desktop helper connection refused: wrong secret", "remote", c.RemoteAddr())
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	bw := bufio.NewWriter(c)
	bc := &bridgeConn{c: c, enc: gob.NewEncoder(bw), dec: gob.NewDecoder(bufio.NewReader(c)), bw: bw}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		c.Close()
		return
	}
	if b.conn != nil {
		b.conn.c.Close() // a new session's helper replaces the old one
	}
	b.conn = bc
	close(b.arrived)
	b.arrived = make(chan struct{})
	b.log.Info("desktop helper connected")
}

// helper returns the connected helper, spawning one if needed.
func (b *HelperBridge) helper() (*bridgeConn, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, errors.New("agent: desktop helper bridge closed")
	}
	if c := b.conn; c != nil {
		b.mu.Unlock()
		return c, nil
	}
	arrived := b.arrived
	var secret []byte
	if b.spawn != nil {
		// Every helper started gets a secret of its own: one started
		// before (for another user, or a macOS session agent holding an
		// old ticket) can no longer pose as the new one.
		secret = make([]byte, HelperSecretSize)
		if _, err := rand.Read(secret); err != nil {
			b.mu.Unlock()
			return nil, err
		}
		b.secret = secret
	}
	b.mu.Unlock()
	if b.spawn != nil {
		if err := b.spawn(b.Addr(), secret); err != nil {
			return nil, fmt.Errorf("agent: starting the desktop helper: %w", err)
		}
	}
	select {
	case <-arrived:
	case <-time.After(helperWait):
		return nil, errors.New("agent: the desktop helper did not connect")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn == nil {
		return nil, errors.New("agent: the desktop helper went away")
	}
	return b.conn, nil
}

// call runs one request; a broken connection is dropped so the next
// session starts a new helper (the user may have logged out).
func (b *HelperBridge) call(req bridgeReq) (*bridgeResp, error) {
	c, err := b.helper()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var resp bridgeResp
	err = c.enc.Encode(&req)
	if err == nil {
		err = c.bw.Flush()
	}
	if err == nil {
		err = c.dec.Decode(&resp)
	}
	if err != nil {
		b.mu.Lock()
		if b.conn == c {
			b.conn = nil
		}
		b.mu.Unlock()
		c.c.Close()
		return nil, fmt.Errorf("agent: desktop helper: %w", err)
	}
	switch {
	case resp.EmptyErr:
		return nil, capture.ErrEmptyRect
	case resp.Err != "":
		return nil, errors.New(resp.Err)
	}
	return &resp, nil
}

// Drop hangs up on the current helper (it exits); the next request starts
// a new one. For when the console's user changed under a live helper.
func (b *HelperBridge) Drop() {
	b.mu.Lock()
	c := b.conn
	b.conn = nil
	b.mu.Unlock()
	if c != nil {
		c.c.Close()
	}
}

// Close stops listening and drops the helper (which then exits).
func (b *HelperBridge) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	c := b.conn
	b.conn = nil
	b.mu.Unlock()
	if c != nil {
		c.c.Close()
	}
	return b.ln.Close()
}

// OpenCapture opens the console desktop's screen through the helper.
func (b *HelperBridge) OpenCapture() (capture.Capturer, error) {
	r, err := b.call(bridgeReq{Op: "bounds"})
	if err != nil {
		return nil, err
	}
	return &bridgeCapturer{b: b, bounds: r.Bounds}, nil
}

// OpenInput injects on the console desktop through the helper.
func (b *HelperBridge) OpenInput() (input.Injector, error) {
	if _, err := b.call(bridgeReq{Op: "open-input"}); err != nil {
		return nil, err
	}
	return &bridgeInjector{b: b}, nil
}

type bridgeCapturer struct {
	b      *HelperBridge
	bounds image.Rectangle
	mu     sync.Mutex
	closed bool
}

func (c *bridgeCapturer) Bounds() image.Rectangle { return c.bounds }

func (c *bridgeCapturer) Monitors() ([]capture.Monitor, error) {
	r, err := c.b.call(bridgeReq{Op: "monitors"})
	if err != nil {
		return nil, err
	}
	return r.Monitors, nil
}

func (c *bridgeCapturer) Grab(rect image.Rectangle, dst *capture.Frame) (*capture.Frame, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, capture.ErrClosed
	}
	r, err := c.b.call(bridgeReq{Op: "grab", Rect: rect})
	if err != nil {
		return nil, err
	}
	if r.Frame == nil || len(r.Frame.Pix) < r.Frame.Stride*r.Frame.Height || r.Frame.Stride != r.Frame.Width*4 {
		return nil, errors.New("agent: desktop helper sent a malformed frame")
	}
	if dst != nil && cap(dst.Pix) >= len(r.Frame.Pix) {
		dst.Pix = append(dst.Pix[:0], r.Frame.Pix...)
		dst.Width, dst.Height, dst.Stride = r.Frame.Width, r.Frame.Height, r.Frame.Stride
		return dst, nil
	}
	return r.Frame, nil
}

func (c *bridgeCapturer) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

type bridgeInjector struct{ b *HelperBridge }

func (i *bridgeInjector) do(r bridgeReq) error { _, err := i.b.call(r); return err }
func (i *bridgeInjector) MoveMouse(x, y int) error {
	return i.do(bridgeReq{Op: "move", X: x, Y: y})
}
func (i *bridgeInjector) MouseButton(btn input.Button, down bool) error {
	return i.do(bridgeReq{Op: "button", Button: btn, Down: down})
}
func (i *bridgeInjector) Wheel(dx, dy int) error { return i.do(bridgeReq{Op: "wheel", X: dx, Y: dy}) }
func (i *bridgeInjector) Key(code string, down bool) error {
	return i.do(bridgeReq{Op: "key", Code: code, Down: down})
}
func (i *bridgeInjector) Tap(code string, mods input.Modifiers) error {
	return i.do(bridgeReq{Op: "tap", Code: code, Mods: mods})
}
func (i *bridgeInjector) Type(text string) error { return i.do(bridgeReq{Op: "type", Text: text}) }
func (i *bridgeInjector) ReleaseAll() error      { return i.do(bridgeReq{Op: "release-all"}) }

// Close releases the helper's injector; with no helper there is nothing
// to release (and none is started for it).
func (i *bridgeInjector) Close() error {
	i.b.mu.Lock()
	c := i.b.conn
	i.b.mu.Unlock()
	if c == nil {
		return nil
	}
	return i.do(bridgeReq{Op: "close-input"})
}

// RunDesktopHelper is the helper's side: it connects to the service at
// addr, presents secret and serves capture and input on this desktop until
// the service hangs up or ctx ends.
func RunDesktopHelper(ctx context.Context, addr string, secret []byte, openCapture func() (capture.Capturer, error),
	openInput func() (input.Injector, error), log *slog.Logger) error {
	if len(secret) != HelperSecretSize {
		return errors.New("agent: desktop helper: bad secret")
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("agent: desktop helper: %w", err)
	}
	defer c.Close()
	go func() { <-ctx.Done(); c.Close() }()
	if _, err := c.Write(secret); err != nil {
		return err
	}
	bw := bufio.NewWriter(c)
	enc, dec := gob.NewEncoder(bw), gob.NewDecoder(bufio.NewReader(c))
	var capt capture.Capturer
	var inj input.Injector
	defer func() {
		if capt != nil {
			capt.Close()
		}
		if inj != nil {
			inj.Close()
		}
	}()
	var frame *capture.Frame
	for {
		var req bridgeReq
		if err := dec.Decode(&req); err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		var resp bridgeResp
		err := func() error {
			var err error
			switch req.Op {
			case "bounds", "monitors", "grab":
				if capt == nil {
					if capt, err = openCapture(); err != nil {
						return err
					}
				}
			case "close-input":
				if inj != nil {
					err, inj = inj.Close(), nil
				}
				return err
			default:
				if inj == nil {
					if inj, err = openInput(); err != nil {
						return err
					}
				}
			}
			switch req.Op {
			case "bounds":
				resp.Bounds = capt.Bounds()
			case "monitors":
				resp.Monitors, err = capt.Monitors()
			case "grab":
				frame, err = capt.Grab(req.Rect, frame)
				resp.Frame = frame
			case "open-input":
			case "move":
				err = inj.MoveMouse(req.X, req.Y)
			case "button":
				err = inj.MouseButton(req.Button, req.Down)
			case "wheel":
				err = inj.Wheel(req.X, req.Y)
			case "key":
				err = inj.Key(req.Code, req.Down)
			case "tap":
				err = inj.Tap(req.Code, req.Mods)
			case "type":
				err = inj.Type(req.Text)
			case "release-all":
				err = inj.ReleaseAll()
			default:
				err = fmt.Errorf("unknown request %q", req.Op)
			}
			return err
		}()
		if err != nil {
			resp.Err, resp.EmptyErr = err.Error(), errors.Is(err, capture.ErrEmptyRect)
			resp.Frame = nil
		}
		if err := enc.Encode(&resp); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
	}
}
