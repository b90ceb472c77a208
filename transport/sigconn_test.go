package transport

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tandem-rc/tandem/transport/wire"
)

// echoRelay is a WebSocket server on 127.0.0.1 that echoes every message.
// A signal of type "send-big" makes it send one message over MaxSignalSize,
// "send-junk" a non-JSON message, "close-me" closes with a normal closure.
type echoRelay struct {
	srv     *httptest.Server
	closeCh chan websocket.StatusCode // how the client closed
}

func newEchoRelay(t *testing.T) *echoRelay {
	r := &echoRelay{closeCh: make(chan websocket.StatusCode, 4)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Authorization") != "Bearer t0ken" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		c, err := websocket.Accept(w, req, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		ctx := req.Context()
		for {
			typ, b, err := c.Read(ctx)
			if err != nil {
				r.closeCh <- websocket.CloseStatus(err)
				return
			}
			switch {
			case strings.Contains(string(b), `"send-big"`):
				big := `{"type":"offer","sdp":"` + strings.Repeat("a", wire.MaxSignalSize) + `"}`
				err = c.Write(ctx, websocket.MessageText, []byte(big))
			case strings.Contains(string(b), `"send-junk"`):
				err = c.Write(ctx, websocket.MessageText, []byte("not json"))
			case strings.Contains(string(b), `"close-me"`):
				c.Close(websocket.StatusNormalClosure, "bye")
				return
			default:
				err = c.Write(ctx, typ, b)
			}
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func authHeader() http.Header {
	h := http.Header{}
	h.Set("Authorization", "Bearer t0ken")
	return h
}

func TestSignalConnRoundTrip(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	r := newEchoRelay(t)
	if !strings.HasPrefix(r.srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server not on loopback: %s", r.srv.URL)
	}
	sc, err := Dial(ctx, r.srv.URL+"/api/v1/signal", authHeader()) // http:// becomes ws://
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()

	want := &wire.Signal{Type: wire.SigOffer, Session: "s1", SDP: "v=0\r\n"}
	if err := sc.Send(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := sc.Recv(ctx)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Recv = %#v, %v", got, err)
	}

	// Send is safe from many goroutines; every signal comes back whole.
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sc.Send(ctx, &wire.Signal{Type: wire.SigCandidate, Session: "s1", Version: i + 1}); err != nil {
				t.Error(err)
			}
		}()
	}
	seen := map[int]bool{}
	for range n {
		s, err := sc.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		seen[s.Version] = true
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("got %d distinct signals, want %d", len(seen), n)
	}

	// A Recv that gives up does not break the connection.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := sc.Recv(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Recv with nothing to read = %v", err)
	}
	if err := sc.Send(ctx, want); err != nil {
		t.Fatal(err)
	}
	if got, err := sc.Recv(ctx); err != nil || got.Type != wire.SigOffer {
		t.Fatalf("after a timed-out Recv: %#v, %v", got, err)
	}

	// A malformed signal from the relay is reported; the connection goes on.
	if err := sc.Send(ctx, &wire.Signal{Type: "send-junk"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Recv(ctx); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("junk from the relay: %v", err)
	}
	if err := sc.Send(ctx, want); err != nil {
		t.Fatal(err)
	}
	if got, err := sc.Recv(ctx); err != nil || got.Type != wire.SigOffer {
		t.Fatalf("after junk: %#v, %v", got, err)
	}

	// Close is normal, idempotent, and later calls say so.
	if err := sc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sc.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-r.closeCh:
		if code != websocket.StatusNormalClosure {
			t.Fatalf("server saw close status %v", code)
		}
	case <-ctx.Done():
		t.Fatal("server never saw the close")
	}
	if err := sc.Send(ctx, want); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close = %v", err)
	}
	if _, err := sc.Recv(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Recv after Close = %v", err)
	}
}

func TestSignalConnOversized(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	r := newEchoRelay(t)
	sc, err := Dial(ctx, r.srv.URL, authHeader())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()

	// Outgoing: refused before anything is written; the connection is fine.
	big := &wire.Signal{Type: wire.SigOffer, SDP: strings.Repeat("a", wire.MaxSignalSize)}
	if err := sc.Send(ctx, big); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("Send of an oversized signal = %v", err)
	}
	if err := sc.Send(ctx, &wire.Signal{Type: wire.SigReady}); err != nil {
		t.Fatal(err)
	}
	if got, err := sc.Recv(ctx); err != nil || got.Type != wire.SigReady {
		t.Fatalf("after a refused Send: %#v, %v", got, err)
	}

	// Incoming: the read limit ends the connection with a clear error.
	if err := sc.Send(ctx, &wire.Signal{Type: "send-big"}); err != nil {
		t.Fatal(err)
	}
	_, err = sc.Recv(ctx)
	if !errors.Is(err, wire.ErrMalformed) || !errors.Is(err, websocket.ErrMessageTooBig) {
		t.Fatalf("Recv of an oversized signal = %v", err)
	}
	if _, err := sc.Recv(ctx); err == nil {
		t.Fatal("the connection survived an oversized message")
	}
	select {
	case code := <-r.closeCh:
		if code != websocket.StatusMessageTooBig {
			t.Fatalf("server saw close status %v", code)
		}
	case <-ctx.Done():
		t.Fatal("server never saw the close")
	}
}

func TestSignalConnRemoteClose(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	r := newEchoRelay(t)
	sc, err := Dial(ctx, strings.Replace(r.srv.URL, "http://", "ws://", 1), authHeader())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := sc.Send(ctx, &wire.Signal{Type: "close-me"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Recv(ctx); !errors.Is(err, ErrRemoteClosed) {
		t.Fatalf("Recv after the relay closed = %v", err)
	}
}

func TestSignalConnDialErrors(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	r := newEchoRelay(t)
	_, err := Dial(ctx, r.srv.URL, nil)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("Dial without credentials = %v", err)
	}
	for _, u := range []string{"ftp://127.0.0.1/x", "127.0.0.1:80", "http://", "::bad"} {
		if _, err := Dial(ctx, u, nil); err == nil {
			t.Errorf("Dial(%q) succeeded", u)
		}
	}
}

func TestWSURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080/api/v1/signal": "ws://127.0.0.1:8080/api/v1/signal",
		"https://relay.example/s?x=1":         "wss://relay.example/s?x=1",
		"ws://h/p":                            "ws://h/p",
		"wss://h/p":                           "wss://h/p",
	} {
		if got, err := wsURL(in); err != nil || got != want {
			t.Errorf("wsURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
