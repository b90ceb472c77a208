package frontdoor_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/relay"
	"github.com/tandem-rc/tandem/relay/frontdoor"
)

// served starts a relay served by frontdoor.NewServer with c, behind
// listener (nil: none).
func served(t *testing.T, c frontdoor.ServerConfig, listener func(net.Listener) net.Listener, mods ...func(*relay.Config)) *relaytest.Relay {
	t.Helper()
	return relaytest.StartServed(t, slog.New(slog.DiscardHandler), relaytest.Serving{
		Server:   func(h http.Handler) *http.Server { return frontdoor.NewServer(h, c) },
		Listener: listener,
	}, mods...)
}

func hostPort(t *testing.T, url string) string {
	t.Helper()
	return strings.TrimPrefix(url, "http://")
}

// dialFrom connects to addr from the loopback address src (127.0.0.x: the
// whole /8 is local on Linux), so one test plays several clients.
func dialFrom(src, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	return d.Dial("tcp", addr)
}

// get sends a plain GET on conn and reads the answer's status.
func get(conn net.Conn, path string) (int, error) {
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	defer conn.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: relay.test\r\n\r\n", path); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestSlowBodiesCut: 2,000 clients that send headers and then a body far
// slower than it should come do not hold the relay: the server closes every
// one of them after its read timeout, and other clients are served
// meanwhile. (Before, the relay had no read timeout and held them.)
func TestSlowBodiesCut(t *testing.T) {
	n := 2000
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(2*n+200) {
		n = int(lim.Cur-200) / 2 // both ends of each connection live in this process
		t.Logf("open-file limit %d: %d slow clients", lim.Cur, n)
	}
	r := served(t, frontdoor.ServerConfig{ReadHeaderTimeout: time.Second, ReadTimeout: time.Second}, nil)
	addr := hostPort(t, r.URL)

	conns := make([]net.Conn, 0, n+10)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n + 10 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("slow client %d: %v", i, err)
		}
		conns = append(conns, c)
		if i < n { // a slow body
			_, err = fmt.Fprintf(c, "POST /api/v1/login HTTP/1.1\r\nHost: relay.test\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"email\":")
		} else { // slow headers
			_, err = fmt.Fprintf(c, "POST /api/v1/login HTTP/1.1\r\nHost: relay.test\r\nX-Slow: ")
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// They are all open (none can finish: they owe the server bytes); a
	// normal client is served all the same.
	resp, err := http.Get(r.URL + "/api/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("health while %d slow clients wait: %d", n, resp.StatusCode)
	}
	// The server ends every one: reading to the end returns (EOF or a
	// reset) long before our own generous deadline.
	var wg sync.WaitGroup
	errs := make(chan error, len(conns))
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(2 * time.Minute))
			_, err := io.Copy(io.Discard, c)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				errs <- fmt.Errorf("slow client %d: still open after 2 minutes", i)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestDownloadOutlivesWriteTimeout: an installer download that keeps moving
// is not cut by the write timeout meant for API answers, and a download
// that stalls longer than it is.
func TestDownloadOutlivesWriteTimeout(t *testing.T) {
	dir := t.TempDir()
	const size = 12 << 20
	content := make([]byte, size)
	for i := range content {
		content[i] = byte(i * 7)
	}
	if err := os.WriteFile(filepath.Join(dir, "tandem-host_1.0_amd64.deb"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	const timeout = time.Second
	r := served(t, frontdoor.ServerConfig{WriteTimeout: timeout, ReadTimeout: timeout}, nil,
		func(c *relay.Config) { c.Downloads = dir })
	path := "/d/" + r.Key + "/tandem-host.deb?arch=amd64"

	fetch := func(pause time.Duration, pauses int) (int, time.Duration, error) {
		c, err := net.Dial("tcp", hostPort(t, r.URL))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.(*net.TCPConn).SetReadBuffer(32 << 10) // the server blocks on a full socket
		start := time.Now()
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: relay.test\r\nConnection: close\r\n\r\n", path)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return 0, 0, err
		}
		defer resp.Body.Close()
		got := 0
		buf := make([]byte, 1<<20)
		for i := 0; ; i++ {
			if i < pauses {
				<-time.After(pause) // a slow client, not synchronisation
			}
			m, err := io.ReadFull(resp.Body, buf)
			got += m
			if err != nil {
				if (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)) && got == size {
					err = nil
				}
				return got, time.Since(start), err
			}
		}
	}
	// Moving: a megabyte every 100 ms, 1.2 s in all, over the 1 s timeout.
	got, took, err := fetch(100*time.Millisecond, 12)
	if err != nil || got != size {
		t.Fatalf("moving download: %d of %d bytes after %v: %v", got, size, took, err)
	}
	if took < timeout {
		t.Logf("the download took %v only: the write timeout was not reached", took)
	}
	// Stalled for three timeouts: cut.
	got, _, err = fetch(3*timeout, 2)
	if err == nil && got == size {
		t.Fatal("a download stalled for 3 s was not cut")
	}
}

// TestWebSocketOutlivesTimeouts: the agents' WebSocket stays up long after
// the read, write and idle timeouts of ordinary requests.
func TestWebSocketOutlivesTimeouts(t *testing.T) {
	const timeout = 200 * time.Millisecond
	r := served(t, frontdoor.ServerConfig{ReadHeaderTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, IdleTimeout: timeout}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(r.URL, "http")+"/api/v1/agent/connect", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	go c.Reader(ctx) // pongs come through reads; the handshake waits for us
	for start := time.Now(); time.Since(start) < 8*timeout; {
		if err := c.Ping(ctx); err != nil {
			t.Fatalf("WebSocket ping after %v: %v", time.Since(start), err)
		}
		<-time.After(timeout / 4)
	}
}

// counter counts log records.
type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) Enabled(context.Context, slog.Level) bool { return true }
func (c *counter) Handle(context.Context, slog.Record) error {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return nil
}
func (c *counter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *counter) WithGroup(string) slog.Handler      { return c }
func (c *counter) count() int                         { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

// TestConnCap: one source gets PerSource connections, the rest are closed
// at once; another source is still served; a trusted proxy is not capped
// per source; the total cap holds; refusals log one line per period; closed
// connections give their place back.
func TestConnCap(t *testing.T) {
	logs := &counter{}
	front := frontdoor.New("", []netip.Prefix{netip.MustParsePrefix("127.0.0.4/32")})
	r := served(t, frontdoor.ServerConfig{}, func(ln net.Listener) net.Listener {
		return frontdoor.LimitListener(ln, frontdoor.ConnLimits{PerSource: 50, Total: 180, Front: front,
			Log: slog.New(logs), LogEvery: time.Hour})
	})
	addr := hostPort(t, r.URL)
	var all []net.Conn
	defer func() {
		for _, c := range all {
			c.Close()
		}
	}()
	// open dials n connections from src, all before any request, then
	// asks on each: how many were served.
	open := func(src string, n int) (served int, kept []net.Conn) {
		t.Helper()
		var conns []net.Conn
		for range n {
			c, err := dialFrom(src, addr)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			all = append(all, c)
		}
		for _, c := range conns {
			if status, err := get(c, "/api/v1/health"); err == nil && status == http.StatusOK {
				served++
				kept = append(kept, c)
			}
		}
		return served, kept
	}
	if got, _ := open("127.0.0.2", 120); got != 50 {
		t.Fatalf("one source: %d of 120 connections served, want 50", got)
	}
	if got, _ := open("127.0.0.3", 1); got != 1 {
		t.Fatal("another source refused")
	}
	if got, _ := open("127.0.0.4", 120); got != 120 {
		t.Fatalf("trusted proxy: %d of 120 connections served", got)
	}
	// 50 + 1 + 120 open: 9 more fit under the total of 180.
	if got, _ := open("127.0.0.5", 20); got != 9 {
		t.Fatalf("over the total: %d of 20 served, want 9", got)
	}
	if n := logs.count(); n != 1 {
		t.Fatalf("%d refusal log lines, want 1 per period", n)
	}
	// Closing gives the places back (the server notices asynchronously).
	for _, c := range all {
		c.Close()
	}
	all = nil
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, _ := open("127.0.0.2", 50)
		if got == 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after closing, %d of 50 served", got)
		}
		for _, c := range all {
			c.Close()
		}
		all = nil
		<-time.After(50 * time.Millisecond)
	}
}

// TestHeaderLimit: headers over MaxHeaderBytes are refused, not buffered.
func TestHeaderLimit(t *testing.T) {
	r := served(t, frontdoor.ServerConfig{}, nil)
	req, _ := http.NewRequest("GET", r.URL+"/api/v1/health", nil)
	req.Header.Set("X-Forwarded-For", strings.Repeat("203.0.113.1, ", 5000)) // 65 KB
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("65 KB of headers: %d", resp.StatusCode)
	}
}
