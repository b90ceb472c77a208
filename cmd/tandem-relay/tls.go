package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/tandem-rc/tandem/relay/tlsconf"
	"github.com/tandem-rc/tandem/relay/turnguard"
)

// tlsOptions are serve's TLS and TURN-restriction flags.
type tlsOptions struct {
	cert, key      string
	acmeDomains    []string
	acmeEmail      string
	acmeDirectory  string
	acmeCA         string
	httpListen     string
	turnTLSListen  string
	turnAllowPeers []string
}

func (o *tlsOptions) register(f *pflag.FlagSet) {
	f.StringVar(&o.cert, "tls-cert", "", "TLS certificate (PEM, full chain): --listen serves HTTPS; re-read when the file changes")
	f.StringVar(&o.key, "tls-key", "", "TLS private key (PEM) of --tls-cert")
	f.StringArrayVar(&o.acmeDomains, "acme-domain", nil, "get and renew a certificate for this name through ACME (repeatable; the first is the public name); --listen serves HTTPS")
	f.StringVar(&o.acmeEmail, "acme-email", "", "contact address given to the ACME CA")
	f.StringVar(&o.acmeDirectory, "acme-directory", "", "ACME directory URL (default Let's Encrypt's)")
	f.StringVar(&o.acmeCA, "acme-ca-cert", "", "PEM roots trusted for the ACME server's own HTTPS (a private CA such as step-ca); default the system's")
	f.StringVar(&o.httpListen, "http-listen", "", "with TLS: plain HTTP listen address that only redirects to https and answers ACME HTTP-01 (e.g. 0.0.0.0:80)")
	f.StringVar(&o.turnTLSListen, "turn-tls-listen", "", "with TLS: TURN over TLS listen address, advertised as turns: (e.g. 0.0.0.0:5349, or :443 on another IP)")
	f.StringArrayVar(&o.turnAllowPeers, "turn-allow-peer", nil, "CIDR TURN may relay to although internal (loopback, private, link-local, ...; refused by default) (repeatable)")
}

// open builds the relay's TLS, or nil for plain HTTP.
func (o *tlsOptions) open(data string, log *slog.Logger) (*tlsconf.TLS, error) {
	c := tlsconf.Config{CertFile: o.cert, KeyFile: o.key, ACMEDomains: o.acmeDomains, ACMEEmail: o.acmeEmail,
		ACMEDirectory: o.acmeDirectory, CacheDir: filepath.Join(data, "acme"), Logger: log.With("component", "tls")}
	if !c.Enabled() {
		if o.httpListen != "" || o.turnTLSListen != "" || o.acmeCA != "" || o.acmeEmail != "" || o.acmeDirectory != "" {
			return nil, errors.New("--http-listen, --turn-tls-listen and --acme-* need TLS: --tls-cert/--tls-key or --acme-domain")
		}
		return nil, nil
	}
	if o.acmeCA != "" {
		b, err := os.ReadFile(o.acmeCA)
		if err != nil {
			return nil, fmt.Errorf("--acme-ca-cert: %w", err)
		}
		c.ACMERoots = x509.NewCertPool()
		if !c.ACMERoots.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("--acme-ca-cert %s: no PEM certificate", o.acmeCA)
		}
	}
	tl, err := tlsconf.New(c)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--acme-domain: %w", err)
	}
	return tl, nil
}

// publicURL is the default public URL with TLS: the ACME name, else the
// listen address, over https.
func publicHTTPS(tl *tlsconf.TLS, ln net.Listener) string {
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if d := tl.Domain(); d != "" {
		host = d
	} else if ip := ln.Addr().(*net.TCPAddr).IP; ip.IsUnspecified() {
		return "" // every address: links use the one each visitor reached
	}
	if port == "443" {
		return "https://" + host
	}
	return "https://" + net.JoinHostPort(host, port)
}

// serveRedirects runs --http-listen until ctx ends.
func (o *tlsOptions) serveRedirects(tl *tlsconf.TLS, public string, httpsLn net.Listener, log *slog.Logger) (func(), error) {
	if o.httpListen == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", o.httpListen)
	if err != nil {
		return nil, fmt.Errorf("--http-listen: %w", err)
	}
	_, port, _ := net.SplitHostPort(httpsLn.Addr().String())
	srv := &http.Server{Handler: tl.RedirectHandler(public, port), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	go func() { _ = srv.Serve(ln) }()
	log.Info("plain HTTP redirects to https", "on", ln.Addr().String())
	return func() { srv.Close() }, nil
}

// turn adds TURN over TLS and the peer allow-list to t.
func (o *tlsOptions) turn(t *turnSetup, tl *tlsconf.TLS, public string) error {
	allow, err := turnguard.ParsePrefixes(o.turnAllowPeers)
	if err != nil {
		return fmt.Errorf("--turn-allow-peer: %w", err)
	}
	t.cfg.AllowPeers = allow
	if o.turnTLSListen == "" {
		return nil
	}
	if t.udp == nil {
		return errors.New("--turn-tls-listen needs TURN on (not --turn-listen off)")
	}
	ln, err := net.Listen("tcp", o.turnTLSListen)
	if err != nil {
		return fmt.Errorf("--turn-tls-listen: %w", err)
	}
	c := tl.Config()
	c.NextProtos = nil // TURN clients negotiate no ALPN
	t.tls = tls.NewListener(ln, c)
	t.cfg.TLSPort = ln.Addr().(*net.TCPAddr).Port
	// turns: is verified against the certificate: advertise its name.
	switch u, _ := url.Parse(public); {
	case tl.Domain() != "":
		t.cfg.TLSHost = tl.Domain()
	case public != "" && u != nil && u.Hostname() != "":
		t.cfg.TLSHost = u.Hostname()
	}
	return nil
}
