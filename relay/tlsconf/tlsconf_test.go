package tlsconf

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/internal/tlstest"
)

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newCA(t *testing.T) *tlstest.CA {
	t.Helper()
	ca, err := tlstest.NewCA("tlsconf test CA")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// fileTLS is a TLS from certificate files for relay.example.test.
func fileTLS(t *testing.T) (*TLS, *tlstest.CA) {
	t.Helper()
	ca := newCA(t)
	certFile, keyFile, err := ca.WriteFiles(t.TempDir(), "relay", "relay.example.test")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := New(Config{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	return tl, ca
}

// serveHTTPS serves h over TLS with t's config on 127.0.0.1 and returns
// the address.
func serveHTTPS(tb testing.TB, tl *TLS, h http.Handler) string {
	tb.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: tl.HSTS(h), ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	go srv.Serve(tls.NewListener(ln, tl.Config()))
	tb.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// leafSerial completes a handshake and returns the server's leaf serial.
func leafSerial(t *testing.T, addr, name string, roots *x509.CertPool) string {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, &tls.Config{ServerName: name, RootCAs: roots})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// writeAtomically replaces path as certbot and cert-manager do.
func writeAtomically(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestCertFilesReload(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	certFile, keyFile, err := ca.WriteFiles(dir, "relay", "relay.example.test", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	clk := &testClock{t: time.Unix(1_800_000_000, 0)}
	logs := &syncBuffer{}
	tl, err := New(Config{CertFile: certFile, KeyFile: keyFile, Clock: clk.Now,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveHTTPS(t, tl, http.NotFoundHandler())
	first := leafSerial(t, addr, "relay.example.test", ca.Pool())

	// A renewal lands: not looked at before the check interval, then served.
	c2, k2, err := ca.Issue("relay.example.test", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	writeAtomically(t, certFile, c2)
	writeAtomically(t, keyFile, k2)
	if got := leafSerial(t, addr, "relay.example.test", ca.Pool()); got != first {
		t.Fatal("files re-read before the check interval")
	}
	clk.Advance(5 * time.Second)
	second := leafSerial(t, addr, "relay.example.test", ca.Pool())
	if second == first {
		t.Fatal("a new handshake still sees the old certificate after the files changed")
	}
	if !strings.Contains(logs.String(), "TLS certificate reloaded") {
		t.Fatalf("reload not logged:\n%s", logs.String())
	}

	// A broken replacement (garbage, then a key of another certificate)
	// keeps the previous certificate and warns, once per change.
	writeAtomically(t, certFile, []byte("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n"))
	for range 3 {
		clk.Advance(5 * time.Second)
		if got := leafSerial(t, addr, "relay.example.test", ca.Pool()); got != second {
			t.Fatal("a broken certificate file replaced the good one")
		}
	}
	if n := strings.Count(logs.String(), "new TLS certificate files refused"); n != 1 {
		t.Fatalf("%d warnings for one bad change:\n%s", n, logs.String())
	}
	_, k3, _ := ca.Issue("relay.example.test")
	writeAtomically(t, certFile, c2)
	writeAtomically(t, keyFile, k3)
	clk.Advance(5 * time.Second)
	if got := leafSerial(t, addr, "relay.example.test", ca.Pool()); got != second {
		t.Fatal("a mismatched key replaced the good pair")
	}
	// The missing key file mid-replacement does not break handshakes.
	os.Remove(keyFile)
	clk.Advance(5 * time.Second)
	if got := leafSerial(t, addr, "relay.example.test", ca.Pool()); got != second {
		t.Fatal("a missing key file changed the certificate")
	}
}

func TestNewRefusesBadSetups(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	certFile, keyFile, err := ca.WriteFiles(dir, "relay", "relay.example.test")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]Config{
		"cert without key":  {CertFile: certFile},
		"files and ACME":    {CertFile: certFile, KeyFile: keyFile, ACMEDomains: []string{"a.example.test"}, CacheDir: dir},
		"missing file":      {CertFile: certFile, KeyFile: filepath.Join(dir, "nope")},
		"swapped files":     {CertFile: keyFile, KeyFile: certFile},
		"ACME without dir":  {ACMEDomains: []string{"a.example.test"}},
		"ACME IP":           {ACMEDomains: []string{"127.0.0.1"}, CacheDir: dir},
		"ACME single label": {ACMEDomains: []string{"localhost"}, CacheDir: dir},
		"ACME wildcard":     {ACMEDomains: []string{"*.example.test"}, CacheDir: dir},
		"nothing":           {},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestTLSMinimumAndHSTS(t *testing.T) {
	tl, ca := fileTLS(t)
	addr := serveHTTPS(t, tl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusNotFound)
	}))
	old := &tls.Config{ServerName: "relay.example.test", RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS11}
	if c, err := tls.Dial("tcp", addr, old); err == nil {
		c.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{ServerName: "relay.example.test", RootCAs: ca.Pool()}}}
	resp, err := client.Get("https://" + addr + "/anything")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.TLS.Version < tls.VersionTLS12 || resp.Header.Get("Strict-Transport-Security") != "max-age=31536000" {
		t.Fatalf("TLS %x, HSTS %q (even on errors HSTS must be there)", resp.TLS.Version, resp.Header.Get("Strict-Transport-Security"))
	}
}

func TestRedirectHandler(t *testing.T) {
	tl, _ := fileTLS(t)
	start := func(h http.Handler) string {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		return ln.Addr().String()
	}
	addr := start(tl.RedirectHandler("", "8443"))
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, host, path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader("x"))
		req.Host = host
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if r := do("GET", "relay.example.test", "/d/KEY?x=1"); r.StatusCode != http.StatusMovedPermanently ||
		r.Header.Get("Location") != "https://relay.example.test:8443/d/KEY?x=1" {
		t.Fatalf("GET: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := do("GET", "[::1]:80", "/"); r.Header.Get("Location") != "https://[::1]:8443/" {
		t.Fatalf("IPv6 host: %q", r.Header.Get("Location"))
	}
	if r := do("POST", "relay.example.test", "/api/v1/login"); r.StatusCode != http.StatusBadRequest || r.Header.Get("Location") != "" {
		t.Fatalf("POST over http: %d %q, want 400 and no redirect", r.StatusCode, r.Header.Get("Location"))
	}
	if r := do("GET", "evil.example/x?", "/"); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("a malformed Host: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	// With a public URL the Host header is never used.
	addr = start(tl.RedirectHandler("https://relay.example.test/", "443"))
	if r := do("GET", "evil.example", "/s/123"); r.Header.Get("Location") != "https://relay.example.test/s/123" {
		t.Fatalf("with a public URL: %q", r.Header.Get("Location"))
	}
}
