package mail

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// envelope is one message the test server accepted.
type envelope struct {
	from string
	to   []string
	data []byte
	user string // authenticated user, "" if none
	tls  bool   // delivered over TLS
}

type serverMode int

const (
	modeStartTLS serverMode = iota // plain listener offering STARTTLS
	modeImplicit                   // TLS from the first byte
	modePlain                      // no TLS at all
)

// testServer is a real SMTP server (emersion/go-smtp) on 127.0.0.1 that
// records what it receives and counts accepted connections.
type testServer struct {
	host   string
	port   int
	caPEM  []byte // trust this to verify the server
	user   string // AUTH PLAIN credentials; empty: AUTH not offered
	pass   string
	reject string // RCPT TO this address is refused with 550
	login  bool   // offer AUTH LOGIN instead of PLAIN
	conns  atomic.Int32
	down   atomic.Bool // while set, connections are closed before the greeting
	mu     sync.Mutex
	mails  []envelope
	srv    *smtp.Server
}

type serverOpts struct {
	mode       serverMode
	user, pass string
	reject     string
	login      bool
}

func newTestServer(t *testing.T, o serverOpts) *testServer {
	t.Helper()
	cert, caPEM := selfSigned(t)
	ts := &testServer{host: "127.0.0.1", caPEM: caPEM, user: o.user, pass: o.pass, reject: o.reject, login: o.login}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &testSession{ts: ts, tls: isTLS}, nil
	}))
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.MaxMessageBytes = 4 << 20
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.port = ln.Addr().(*net.TCPAddr).Port
	var l net.Listener = &countingListener{Listener: ln, n: &ts.conns, down: &ts.down}
	switch o.mode {
	case modeStartTLS:
		srv.TLSConfig = tlsCfg
	case modeImplicit:
		l = tls.NewListener(l, tlsCfg)
	case modePlain:
		srv.AllowInsecureAuth = true
	}
	ts.srv = srv
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Close()
		// Serve registers its listener only once it runs; if Close came
		// first, closing the listener here is what ends Serve.
		ln.Close()
		<-done
	})
	return ts
}

func (ts *testServer) received() []envelope {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]envelope(nil), ts.mails...)
}

// config is an SMTPConfig for this server that trusts its certificate.
func (ts *testServer) config(mode TLSMode) SMTPConfig {
	return SMTPConfig{
		Host:     ts.host,
		Port:     ts.port,
		From:     Address{Name: "Tandem Relay", Addr: "tandem@example.com"},
		Username: ts.user,
		Password: ts.pass,
		TLS:      mode,
		RootCAs:  ts.caPEM,
		HELO:     "relay.test",
		Now:      fixedClock,
	}
}

type countingListener struct {
	net.Listener
	n    *atomic.Int32
	down *atomic.Bool
}

func (l *countingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.n.Add(1)
		if !l.down.Load() {
			return c, nil
		}
		c.Close() // an outage: the client sees no greeting
	}
}

type testSession struct {
	ts   *testServer
	tls  bool
	user string
	from string
	to   []string
}

func (s *testSession) AuthMechanisms() []string {
	if s.ts.user == "" {
		return nil
	}
	if s.ts.login {
		return []string{sasl.Login}
	}
	return []string{sasl.Plain}
}

func (s *testSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != s.ts.user || pass != s.ts.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.user = user
		return nil
	}
	if mech == sasl.Login {
		return &loginServer{check: check}, nil
	}
	return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
}

// loginServer is the server side of AUTH LOGIN, which go-sasl lacks:
// prompt for the user name, then the password.
type loginServer struct {
	step  int
	user  string
	check func(user, pass string) error
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(resp)
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.user, string(resp))
	}
}

func (s *testSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.ts.user != "" && s.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}
	}
	s.from = from
	return nil
}

func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == s.ts.reject {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.ts.mu.Lock()
	s.ts.mails = append(s.ts.mails, envelope{from: s.from, to: s.to, data: b, user: s.user, tls: s.tls})
	s.ts.mu.Unlock()
	return nil
}

func (s *testSession) Reset()        { s.from, s.to = "", nil }
func (s *testSession) Logout() error { return nil }

// selfSigned makes a self-signed certificate for 127.0.0.1 only and
// returns it with its PEM, which a client can trust as a root.
func selfSigned(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tandem test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert, certPEM
}

var fixedTime = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func fixedClock() time.Time { return fixedTime }

// freePort returns a loopback port nothing listens on (it was bound and
// released), for the unreachable case.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return p
}
