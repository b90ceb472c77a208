package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"

	"github.com/tandem-rc/tandem/internal/tlstest"
)

// pebble is a real ACME server (Let's Encrypt's test CA, in-process) whose
// validation authority checks challenges on 127.0.0.1: its DNS resolver
// answers every A query with 127.0.0.1, and it dials tlsPort (TLS-ALPN-01)
// and httpPort (HTTP-01) there.
type pebble struct {
	dir   string         // ACME directory URL
	trust *x509.CertPool // for the ACME server's own HTTPS
	roots *x509.CertPool // the root pebble issues under
}

func startPebble(t *testing.T, tlsPort, httpPort int) *pebble {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1") // no random pause before validating

	// A DNS server: A records are 127.0.0.1, everything else is empty.
	// Pebble's VA asks over TCP.
	dnsLn := listen(t)
	dnsSrv := &dns.Server{Listener: dnsLn, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, qq := range q.Question {
			if qq.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1},
					A: net.IPv4(127, 0, 0, 1)})
			}
		}
		w.WriteMsg(m)
	})}
	go dnsSrv.ActivateAndServe()
	t.Cleanup(func() { dnsSrv.Shutdown() })

	logger := log.New(io.Discard, "pebble ", 0)
	if os.Getenv("TLSCONF_TEST_LOG") != "" {
		logger = log.New(os.Stderr, "pebble ", log.Lmicroseconds)
	}
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	vauth := va.New(logger, httpPort, tlsPort, false, dnsLn.Addr().String(), store)
	front := wfe.New(logger, store, vauth, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)

	serverCA, err := tlstest.NewCA("pebble's HTTPS CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := serverCA.TLSCert("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(front.Handler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	roots := x509.NewCertPool()
	roots.AddCert(authority.GetRootCert(0).Cert)
	return &pebble{dir: srv.URL + wfe.DirectoryPath, trust: serverCA.Pool(), roots: roots}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func port(ln net.Listener) int { return ln.Addr().(*net.TCPAddr).Port }

// The relay gets a certificate from a real ACME server and serves it: by
// TLS-ALPN-01 on its HTTPS port alone, or, when that port cannot be
// reached, by HTTP-01 on its plain-HTTP listener (which otherwise only
// redirects).
func TestACMEWithPebble(t *testing.T) {
	const domain = "relay.tandem.test"
	for _, challenge := range []string{"tls-alpn-01", "http-01"} {
		t.Run(challenge, func(t *testing.T) {
			httpsLn, httpLn := listen(t), listen(t)
			vaTLSPort := port(httpsLn)
			if challenge == "http-01" {
				closed := listen(t)
				vaTLSPort = port(closed)
				closed.Close() // the VA finds nothing there: TLS-ALPN-01 fails
			}
			p := startPebble(t, vaTLSPort, port(httpLn))
			logs := &syncBuffer{}
			cacheDir := filepath.Join(t.TempDir(), "acme")
			tl, err := New(Config{ACMEDomains: []string{domain}, ACMEEmail: "ops@example.test", ACMEDirectory: p.dir,
				ACMERoots: p.trust, CacheDir: cacheDir, Logger: slog.New(slog.NewTextHandler(logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			httpsSrv := &http.Server{Handler: tl.HSTS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "relay")
			})), ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
			go httpsSrv.Serve(tls.NewListener(httpsLn, tl.Config()))
			t.Cleanup(func() { httpsSrv.Close() })
			var challenged atomic.Int32
			if challenge == "http-01" {
				redirect := tl.RedirectHandler("", strings.TrimPrefix(httpsLn.Addr().String(), "127.0.0.1:"))
				plain := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
						challenged.Add(1)
					}
					redirect.ServeHTTP(w, r)
				}), ReadHeaderTimeout: 10 * time.Second}
				go plain.Serve(httpLn)
				t.Cleanup(func() { plain.Close() })
			}

			// The first handshake waits for the issuance.
			client := &http.Client{Timeout: 3 * time.Minute, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{ServerName: domain, RootCAs: p.roots}}}
			resp, err := client.Get("https://" + httpsLn.Addr().String() + "/")
			if err != nil {
				t.Fatalf("HTTPS with the ACME certificate: %v\n%s", err, logs.String())
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			leaf := resp.TLS.PeerCertificates[0]
			if string(body) != "relay" || len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != domain ||
				resp.Header.Get("Strict-Transport-Security") == "" {
				t.Fatalf("answer %q, certificate for %v, HSTS %q", body, leaf.DNSNames, resp.Header.Get("Strict-Transport-Security"))
			}
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: domain, Roots: p.roots,
				Intermediates: intermediates(resp.TLS.PeerCertificates)}); err != nil {
				t.Fatalf("the certificate does not chain to pebble's root: %v", err)
			}
			if challenge == "http-01" && challenged.Load() == 0 {
				t.Fatal("issued without the HTTP-01 challenge")
			}
			// Kept in the cache for the next start.
			if _, err := os.Stat(filepath.Join(cacheDir, domain)); err != nil {
				t.Fatalf("certificate not cached: %v", err)
			}
			// A name the relay does not serve gets no certificate (and
			// makes no request to the CA).
			if c, err := tls.Dial("tcp", httpsLn.Addr().String(), &tls.Config{ServerName: "other.tandem.test", RootCAs: p.roots}); err == nil {
				c.Close()
				t.Fatal("a handshake for another name succeeded")
			}
		})
	}
}

func intermediates(chain []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range chain[1:] {
		p.AddCert(c)
	}
	return p
}
