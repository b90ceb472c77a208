// Package tlsconf gives the relay its TLS: a certificate and key from PEM
// files, re-read when they change (a renewal by certbot or an operator
// needs no restart), or certificates obtained and renewed automatically
// through ACME (Let's Encrypt or any RFC 8555 server) with the TLS-ALPN-01
// and HTTP-01 challenges. It also holds what serving TLS implies over
// HTTP: TLS 1.2 at least, HSTS on every answer, and a plain-HTTP handler
// that only redirects to https (and answers HTTP-01 challenges).
package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// Config chooses where certificates come from: CertFile and KeyFile, or
// ACMEDomains — not both.
type Config struct {
	CertFile, KeyFile string
	// ReloadEvery is how often, at most, a handshake checks whether the
	// files changed (mtime and size); default 5 s.
	ReloadEvery time.Duration

	ACMEDomains   []string
	ACMEEmail     string         // contact for the CA's expiry notices (optional)
	ACMEDirectory string         // the CA's directory URL; default Let's Encrypt
	ACMERoots     *x509.CertPool // trusted for the ACME server's own HTTPS; nil: the system's
	CacheDir      string         // ACME account key and certificates (required with ACME), created 0700

	// HSTSMaxAge is the Strict-Transport-Security max-age; default 365 days.
	HSTSMaxAge time.Duration
	Logger     *slog.Logger     // default discard
	Clock      func() time.Time // default time.Now
}

// TLS is the relay's TLS. A nil *TLS means plain HTTP.
type TLS struct {
	cfg   Config
	files *certFiles
	acme  *autocert.Manager
}

// Enabled says whether c asks for TLS at all.
func (c Config) Enabled() bool {
	return c.CertFile != "" || c.KeyFile != "" || len(c.ACMEDomains) > 0
}

// New checks c and loads the certificate files (an unreadable or invalid
// pair is an error at start; later, a bad replacement keeps the old one).
func New(c Config) (*TLS, error) {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.ReloadEvery <= 0 {
		c.ReloadEvery = 5 * time.Second
	}
	if c.HSTSMaxAge <= 0 {
		c.HSTSMaxAge = 365 * 24 * time.Hour
	}
	files := c.CertFile != "" || c.KeyFile != ""
	switch {
	case files && len(c.ACMEDomains) > 0:
		return nil, errors.New("tls: certificate files and ACME exclude each other")
	case files && (c.CertFile == "" || c.KeyFile == ""):
		return nil, errors.New("tls: a certificate file needs its key file and the other way round")
	case files:
		f := &certFiles{cert: c.CertFile, key: c.KeyFile, every: c.ReloadEvery, now: c.Clock, log: c.Logger}
		if err := f.load(); err != nil {
			return nil, err
		}
		return &TLS{cfg: c, files: f}, nil
	case len(c.ACMEDomains) > 0:
		return newACME(c)
	}
	return nil, errors.New("tls: no certificate files and no ACME domain")
}

func newACME(c Config) (*TLS, error) {
	var domains []string
	for _, d := range c.ACMEDomains {
		d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
		if d == "" || net.ParseIP(d) != nil || !strings.Contains(d, ".") || strings.ContainsAny(d, "/:*@ ") {
			return nil, fmt.Errorf("tls: ACME domain %q: want a DNS name such as relay.example.com", d)
		}
		if !slices.Contains(domains, d) {
			domains = append(domains, d)
		}
	}
	if c.CacheDir == "" {
		return nil, errors.New("tls: ACME needs a cache directory")
	}
	if err := os.MkdirAll(c.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("tls: ACME cache: %w", err)
	}
	client := &acme.Client{DirectoryURL: c.ACMEDirectory, UserAgent: "tandem-relay"}
	if c.ACMERoots != nil {
		client.HTTPClient = &http.Client{Timeout: time.Minute, Transport: &http.Transport{
			Proxy:           http.ProxyFromEnvironment,
			TLSClientConfig: &tls.Config{RootCAs: c.ACMERoots, MinVersion: tls.VersionTLS12},
		}}
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(c.CacheDir),
		HostPolicy: autocert.HostWhitelist(domains...), // nobody makes us ask for other names
		Email:      c.ACMEEmail,
		Client:     client,
	}
	c.ACMEDomains = domains
	return &TLS{cfg: c, acme: m}, nil
}

// Config is the tls.Config of the relay's HTTPS listener (and of TURN
// over TLS): TLS 1.2 at least, the certificate of the moment.
func (t *TLS) Config() *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	if t.files != nil {
		c.GetCertificate = t.files.get
		return c
	}
	c.NextProtos = append(c.NextProtos, acme.ALPNProto) // TLS-ALPN-01 on the same port
	first := t.cfg.ACMEDomains[0]
	c.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if hello.ServerName == "" {
			// A client that dialled an IP sends no name: offer the first
			// domain's certificate rather than failing the handshake.
			h := *hello
			h.ServerName = first
			hello = &h
		}
		return t.acme.GetCertificate(hello)
	}
	return c
}

// Domain is the name clients should use: the first ACME domain, or "".
func (t *TLS) Domain() string {
	if t.acme != nil {
		return t.cfg.ACMEDomains[0]
	}
	return ""
}

// HSTS adds Strict-Transport-Security to every answer given over TLS.
func (t *TLS) HSTS(h http.Handler) http.Handler {
	v := "max-age=" + strconv.FormatInt(int64(t.cfg.HSTSMaxAge/time.Second), 10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", v)
		}
		h.ServeHTTP(w, r)
	})
}

// RedirectHandler serves the plain-HTTP listener while TLS is on: ACME's
// HTTP-01 challenges, and otherwise a redirect to https. The target is
// publicURL when set (never a Host header an attacker chose), else the
// request's host on httpsPort. Requests other than GET and HEAD are
// refused, not redirected: their body already went out in clear.
func (t *TLS) RedirectHandler(publicURL, httpsPort string) http.Handler {
	publicURL = strings.TrimSuffix(publicURL, "/")
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "this relay answers over https only", http.StatusBadRequest)
			return
		}
		target := publicURL
		if target == "" {
			host := r.Host
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			if !validHost(host) {
				http.Error(w, "this relay answers over https only", http.StatusBadRequest)
				return
			}
			if strings.Contains(host, ":") {
				host = "[" + host + "]"
			}
			target = "https://" + host
			if httpsPort != "" && httpsPort != "443" {
				target += ":" + httpsPort
			}
		}
		http.Redirect(w, r, target+r.URL.RequestURI(), http.StatusMovedPermanently)
	})
	if t.acme == nil {
		return redirect
	}
	acmeHTTP := t.acme.HTTPHandler(redirect)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// autocert matches Host against the domains as is: a listener on
		// another port than 80 (behind a port forward) sends host:port.
		if h, _, err := net.SplitHostPort(r.Host); err == nil && strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
			r = r.Clone(r.Context())
			r.Host = h
		}
		acmeHTTP.ServeHTTP(w, r)
	})
}

// validHost accepts DNS names and IP literals only.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Warm asks for the ACME certificates now rather than at the first
// handshake (which would then wait for the CA); errors are logged. A no-op
// for certificate files.
func (t *TLS) Warm(ctx context.Context) {
	if t.acme == nil {
		return
	}
	for _, d := range t.cfg.ACMEDomains {
		if ctx.Err() != nil {
			return
		}
		hello := &tls.ClientHelloInfo{ServerName: d, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
			SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256}, SupportedCurves: []tls.CurveID{tls.CurveP256},
			SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12}}
		if _, err := t.acme.GetCertificate(hello); err != nil {
			t.cfg.Logger.Warn("ACME certificate not obtained yet; retried at the next handshake", "domain", d, "err", err)
		} else {
			t.cfg.Logger.Info("ACME certificate ready", "domain", d)
		}
	}
}

// certFiles is a certificate and key re-read when either file changes.
type certFiles struct {
	cert, key string
	every     time.Duration
	now       func() time.Time
	log       *slog.Logger

	mu      sync.Mutex
	current *tls.Certificate
	checked time.Time
	seen    [2]fileStamp // of the pair last loaded, or last refused
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func stamp(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.ModTime(), fi.Size()}, nil
}

// load reads the pair at start.
func (f *certFiles) load() error {
	s0, err0 := stamp(f.cert)
	s1, err1 := stamp(f.key)
	if err := errors.Join(err0, err1); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	c, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return fmt.Errorf("tls: %s and %s: %w", f.cert, f.key, err)
	}
	f.current, f.seen, f.checked = &c, [2]fileStamp{s0, s1}, f.now()
	return nil
}

// get is tls.Config.GetCertificate: the current pair, re-read first when
// the files changed since the last check (at most every f.every).
func (f *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if now.Sub(f.checked) < f.every {
		return f.current, nil
	}
	f.checked = now
	s0, err0 := stamp(f.cert)
	s1, err1 := stamp(f.key)
	if err0 != nil || err1 != nil {
		return f.current, nil // mid-replacement: keep serving the old pair
	}
	st := [2]fileStamp{s0, s1}
	if st == f.seen {
		return f.current, nil
	}
	f.seen = st // warn once per change, not once per handshake
	c, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		f.log.Warn("new TLS certificate files refused; still serving the previous certificate",
			"cert", f.cert, "key", f.key, "err", err)
		return f.current, nil
	}
	f.current = &c
	attrs := []any{"cert", f.cert}
	if leaf, err := x509.ParseCertificate(c.Certificate[0]); err == nil {
		attrs = append(attrs, "names", strings.Join(leaf.DNSNames, ","), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	f.log.Info("TLS certificate reloaded", attrs...)
	return f.current, nil
}
