package wsmem

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// A client that sends its first frame with the upgrade request, in one
// write, before seeing the 101: net/http has the frame in its buffer at the
// hijack, and the lean buffers must carry it over.
func TestLeanCarriesEarlyBytes(t *testing.T) {
	type result struct {
		msg        string
		rsize, wsz int
		err        error
	}
	got := make(chan result, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lw := &sizeSpy{ResponseWriter: Lean(w)}
		c, err := websocket.Accept(lw, r, nil)
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.CloseNow()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, b, err := c.Read(ctx)
		got <- result{msg: string(b), rsize: lw.rsize, wsz: lw.wsize, err: err}
	}))
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "GET / HTTP/1.1\r\nHost: " + srv.Listener.Addr().String() + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	// A masked text frame "Hello" (RFC 6455 §5.7).
	frame := []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}
	if _, err := conn.Write(append([]byte(req), frame...)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.msg != "Hello" {
			t.Fatalf("read %q, want the early frame's Hello", r.msg)
		}
		if r.rsize != ReadSize || r.wsz != WriteSize {
			t.Fatalf("buffers %d/%d bytes, want %d/%d", r.rsize, r.wsz, ReadSize, WriteSize)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server read nothing")
	}
}

// sizeSpy records the sizes of the buffers the hijack hands out.
type sizeSpy struct {
	http.ResponseWriter
	rsize, wsize int
}

func (s *sizeSpy) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := s.ResponseWriter.(http.Hijacker).Hijack()
	if err == nil {
		s.rsize, s.wsize = brw.Reader.Size(), brw.Writer.Size()
	}
	return c, brw, err
}
