package transport

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/coder/websocket"

	"github.com/tandem-rc/tandem/transport/wire"
)

// sigQueue is how many decoded signals wait for Recv before the read loop
// stops reading (and TCP pushes back on the relay).
const sigQueue = 16

// SignalConn is the WebSocket to the relay that carries wire.Signals. Send
// may be called from several goroutines; Recv is meant for one reader.
// A background loop reads the socket (WebSocket control frames need a
// reader), so a Recv whose context ends does not break the connection.
type SignalConn struct {
	c *websocket.Conn

	in       chan sigResult
	readDone chan struct{} // closed when the read loop ended; readErr is set
	readErr  error

	closeOnce sync.Once
	closed    chan struct{}
}

type sigResult struct {
	s   *wire.Signal
	err error
}

// Dial opens the signaling WebSocket. http:// and https:// URLs are taken
// as ws:// and wss://. header carries the credentials (for example
// Authorization: Bearer ...).
func Dial(ctx context.Context, rawURL string, header http.Header) (*SignalConn, error) {
	u, err := wsURL(rawURL)
	if err != nil {
		return nil, err
	}
	c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("transport: the relay refused the signaling connection (%s): %w", resp.Status, err)
		}
		return nil, fmt.Errorf("transport: connect to the relay at %s: %w", u, err)
	}
	c.SetReadLimit(wire.MaxSignalSize)
	sc := &SignalConn{
		c:        c,
		in:       make(chan sigResult, sigQueue),
		readDone: make(chan struct{}),
		closed:   make(chan struct{}),
	}
	go sc.readLoop()
	return sc, nil
}

func wsURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("transport: relay URL: %w", err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	default:
		return "", fmt.Errorf("transport: relay URL %q: scheme must be http, https, ws or wss", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("transport: relay URL %q has no host", raw)
	}
	return u.String(), nil
}

func (sc *SignalConn) readLoop() {
	defer close(sc.readDone)
	for {
		_, b, err := sc.c.Read(context.Background())
		if err != nil {
			sc.readErr = sc.readError(err)
			return
		}
		s, err := wire.DecodeSignal(b)
		select {
		case sc.in <- sigResult{s, err}:
		case <-sc.closed:
			sc.readErr = ErrClosed
			return
		}
	}
}

func (sc *SignalConn) readError(err error) error {
	select {
	case <-sc.closed:
		return ErrClosed
	default:
	}
	switch {
	case errors.Is(err, websocket.ErrMessageTooBig):
		return fmt.Errorf("transport: the relay sent a signal over %d bytes: %w: %w", wire.MaxSignalSize, wire.ErrMalformed, err)
	case websocket.CloseStatus(err) == websocket.StatusNormalClosure || websocket.CloseStatus(err) == websocket.StatusGoingAway:
		return fmt.Errorf("%w: the relay closed the signaling connection", ErrRemoteClosed)
	}
	return fmt.Errorf("transport: signaling connection: %w", err)
}

// Send encodes s and writes it. Signals over wire.MaxSignalSize are refused
// (wire.ErrMalformed) before anything is written. If ctx ends during the
// write the connection is closed (a half-written message cannot be taken back).
func (sc *SignalConn) Send(ctx context.Context, s *wire.Signal) error {
	b, err := wire.EncodeSignal(s)
	if err != nil {
		return err
	}
	select {
	case <-sc.closed:
		return ErrClosed
	default:
	}
	if err := sc.c.Write(ctx, websocket.MessageText, b); err != nil {
		select {
		case <-sc.closed:
			return ErrClosed
		default:
		}
		return fmt.Errorf("transport: send %s signal: %w", s.Type, err)
	}
	return nil
}

// Recv returns the next signal. A signal that does not decode gives an
// error wrapping wire.ErrMalformed and the connection goes on; after the
// connection ends, queued signals are delivered, then the reason.
func (sc *SignalConn) Recv(ctx context.Context) (*wire.Signal, error) {
	select {
	case r := <-sc.in:
		return r.s, r.err
	default:
	}
	select {
	case r := <-sc.in:
		return r.s, r.err
	case <-sc.readDone:
		select {
		case r := <-sc.in:
			return r.s, r.err
		default:
			return nil, sc.readErr
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close closes the connection with a normal closure and waits for the read
// loop. It is idempotent.
func (sc *SignalConn) Close() error {
	sc.closeOnce.Do(func() {
		close(sc.closed)
		// An error here means the connection was already gone (the relay
		// closed it or the handshake timed out): closed either way.
		_ = sc.c.Close(websocket.StatusNormalClosure, "")
	})
	<-sc.readDone
	return nil
}
