// Package nginxtest runs Debian's nginx as a reverse proxy in front of a
// test's relay: a private instance (no daemon, no master process) on free
// 127.0.0.1 ports, with its configuration, pid file, logs and temp paths
// in the test's temporary directory. Its server blocks are the README's:
// X-Forwarded-For/-Proto/-Host set by nginx, WebSocket upgrades passed on,
// TLS terminated with a certificate from a CA made for the test, and a
// default server that drops requests for any other name.
package nginxtest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/tandem-rc/tandem/internal/slapdtest"
)

// Proxy is a running nginx.
type Proxy struct {
	Name     string // the server_name: requests must carry it as Host
	URL      string // http://Name:PORT (dial 127.0.0.1:PORT)
	TLSURL   string // https://Name:TLSPORT
	Addr     string // 127.0.0.1:PORT
	TLSAddr  string // 127.0.0.1:TLSPORT
	RootCAs  *x509.CertPool
	ErrorLog string // path of nginx's error log
}

// Client is an HTTP client that reaches the proxy's name at 127.0.0.1,
// trusts its certificate and connects from the loopback address src
// ("" for any), so one test plays several clients.
func (p *Proxy) Client(src string) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: p.RootCAs},
		// The name resolves to the proxy: no DNS in tests.
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, port, err := net.SplitHostPort(addr); err == nil && host == p.Name {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			return d.DialContext(ctx, network, addr)
		},
	}
	return &http.Client{Transport: tr, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var conf = template.Must(template.New("nginx.conf").Parse(`daemon off;
master_process off;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path {{.Dir}}/client_body;
    proxy_temp_path {{.Dir}}/proxy;
    fastcgi_temp_path {{.Dir}}/fastcgi;
    uwsgi_temp_path {{.Dir}}/uwsgi;
    scgi_temp_path {{.Dir}}/scgi;

    # The relay nodes: no sticky sessions; a node that refuses
    # connections is skipped (proxy_next_upstream's default).
    upstream tandem_relays {
{{range .Upstreams}}        server {{.}} max_fails=1 fail_timeout=2s;
{{end}}    }

    map $http_upgrade $connection_upgrade {
        default upgrade;
        ''      close;
    }

    # Any other name: drop the connection (a Host nobody configured).
    server {
        listen 127.0.0.1:{{.Port}} default_server;
        listen 127.0.0.1:{{.TLSPort}} ssl default_server;
        ssl_certificate     {{.Dir}}/cert.pem;
        ssl_certificate_key {{.Dir}}/key.pem;
        return 444;
    }

    server {
        listen 127.0.0.1:{{.Port}};
        listen 127.0.0.1:{{.TLSPort}} ssl;
        server_name {{.Name}};
        ssl_certificate     {{.Dir}}/cert.pem;
        ssl_certificate_key {{.Dir}}/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        client_max_body_size 1m;

        location / {
            proxy_pass http://tandem_relays;
            proxy_bind 127.0.0.1;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host:$server_port;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            proxy_buffering off;
        }
    }
}
`))

// Start runs nginx in front of upstream (host:port) until the test ends.
// It skips the test when nginx is not installed (scripts/deps.sh test).
func Start(tb testing.TB, upstream, name string) *Proxy {
	tb.Helper()
	return StartNodes(tb, []string{upstream}, name)
}

// StartNodes is Start in front of several relay nodes (host:port each),
// balanced round-robin.
func StartNodes(tb testing.TB, upstreams []string, name string) *Proxy {
	tb.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, err = os.Stat("/usr/sbin/nginx"); err != nil {
			tb.Skip("nginx is not installed: scripts/deps.sh test installs it")
		}
		bin = "/usr/sbin/nginx"
	}
	dir := tb.TempDir()
	pool := writeCert(tb, dir, name)
	for attempt := 0; ; attempt++ {
		port, tlsPort := freePort(tb), freePort(tb)
		var b bytes.Buffer
		if err := conf.Execute(&b, map[string]any{"Dir": dir, "Name": name, "Upstreams": upstreams,
			"Port": strconv.Itoa(port), "TLSPort": strconv.Itoa(tlsPort)}); err != nil {
			tb.Fatal(err)
		}
		cfg := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(cfg, b.Bytes(), 0o600); err != nil {
			tb.Fatal(err)
		}
		cmd := exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", cfg)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			tb.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		p := &Proxy{Name: name, Addr: fmt.Sprintf("127.0.0.1:%d", port), TLSAddr: fmt.Sprintf("127.0.0.1:%d", tlsPort),
			URL: fmt.Sprintf("http://%s:%d", name, port), TLSURL: fmt.Sprintf("https://%s:%d", name, tlsPort),
			RootCAs: pool, ErrorLog: filepath.Join(dir, "error.log")}
		if err := waitListening(p, done); err != nil {
			cmd.Process.Kill()
			<-done
			log, _ := os.ReadFile(p.ErrorLog)
			if attempt < 3 && strings.Contains(string(log)+out.String(), "Address already in use") {
				continue // another program took a port we picked
			}
			tb.Fatalf("nginx: %v\n%s%s", err, out.String(), log)
		}
		tb.Cleanup(func() {
			cmd.Process.Signal(os.Interrupt)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		})
		return p
	}
}

// waitListening waits until both ports accept, or nginx exits.
func waitListening(p *Proxy, done chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for _, addr := range []string{p.Addr, p.TLSAddr} {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case err := <-done:
				done <- err
				return fmt.Errorf("exited: %v", err)
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s not listening after 30 s", addr)
			}
		}
	}
	return nil
}

func freePort(tb testing.TB) int {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// writeCert makes a CA and a certificate for name signed by it, writes the
// certificate and key for nginx and returns a pool trusting the CA.
func writeCert(tb testing.TB, dir, name string) *x509.CertPool {
	tb.Helper()
	caCert, caKey, _, err := slapdtest.NewCA("nginxtest CA")
	if err != nil {
		tb.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	leaf := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if ip := net.ParseIP(name); ip != nil {
		leaf.IPAddresses = []net.IP{ip}
	} else {
		leaf.DNSNames = []string{name}
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool
}
