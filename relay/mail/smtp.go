package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	gosmtp "github.com/wneessen/go-mail/smtp"
)

// TLSMode says how the SMTP connection is protected.
type TLSMode string

const (
	// TLSStartTLS upgrades a plain connection with STARTTLS and refuses to
	// continue if the server does not offer it (port 587). The default.
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit speaks TLS from the first byte (port 465).
	TLSImplicit TLSMode = "tls"
	// TLSNone sends in clear text. Only allowed to a loopback host: a
	// password and MFA codes would otherwise cross the network readable
	// by anyone on the path. Meant for a local relay such as Postfix on
	// the same machine.
	TLSNone TLSMode = "none"
)

// DefaultTimeout bounds one whole delivery (connect to QUIT).
const DefaultTimeout = 30 * time.Second

// SMTPConfig configures an SMTP sender.
type SMTPConfig struct {
	Host     string
	Port     int     // default 587, or 465 for TLSImplicit
	From     Address // envelope sender and From header
	Username string  // AUTH PLAIN (or LOGIN) when set
	Password string
	TLS      TLSMode // default TLSStartTLS
	RootCAs  []byte  // optional PEM bundle for a private CA; default: system roots
	Timeout  time.Duration
	HELO     string // name sent in EHLO; default "localhost"

	// Now is the clock for the Date header; nil means time.Now.
	Now func() time.Time
}

// SMTP delivers messages to a mail server, one connection per message.
type SMTP struct {
	cfg   SMTPConfig
	addr  string
	roots *x509.CertPool // nil: system roots
	now   func() time.Time
}

// NewSMTP checks cfg and returns a sender. It does no network I/O.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" {
		return nil, errors.New("mail: smtp: no host")
	}
	if strings.ContainsAny(cfg.Host, " \t\r\n/") {
		return nil, fmt.Errorf("mail: smtp: bad host %q", cfg.Host)
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	switch cfg.TLS {
	case TLSStartTLS, TLSImplicit:
	case TLSNone:
		if !isLoopback(cfg.Host) {
			return nil, fmt.Errorf("mail: smtp: tls=none is only allowed to localhost or a loopback address (got %q): credentials and codes would cross the network in clear text", cfg.Host)
		}
	default:
		return nil, fmt.Errorf("mail: smtp: unknown tls mode %q (want starttls, tls or none)", cfg.TLS)
	}
	if cfg.Port == 0 {
		cfg.Port = 587
		if cfg.TLS == TLSImplicit {
			cfg.Port = 465
		}
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("mail: smtp: bad port %d", cfg.Port)
	}
	if err := cfg.From.validate(); err != nil {
		return nil, fmt.Errorf("mail: smtp: from: %w", err)
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, errors.New("mail: smtp: a password without a username")
	}
	if strings.ContainsAny(cfg.Username+cfg.Password, "\r\n") {
		return nil, errors.New("mail: smtp: username or password contains CR/LF")
	}
	if cfg.HELO == "" {
		cfg.HELO = "localhost"
	}
	if strings.ContainsAny(cfg.HELO, " \t\r\n") {
		return nil, fmt.Errorf("mail: smtp: bad helo name %q", cfg.HELO)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	s := &SMTP{cfg: cfg, addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)), now: cfg.Now}
	if s.now == nil {
		s.now = time.Now
	}
	if len(cfg.RootCAs) > 0 {
		s.roots = x509.NewCertPool()
		if !s.roots.AppendCertsFromPEM(cfg.RootCAs) {
			return nil, errors.New("mail: smtp: root CAs: no PEM certificate found")
		}
	}
	return s, nil
}

// isLoopback is true for "localhost" and loopback IP literals; other names
// are not resolved, since DNS could point them anywhere later.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *SMTP) tlsConfig() *tls.Config {
	return &tls.Config{ServerName: s.cfg.Host, RootCAs: s.roots, MinVersion: tls.VersionTLS12}
}

// Send validates and renders m, then delivers it in one SMTP session.
// Errors wrap ErrInvalid (nothing was sent), ErrUnreachable, ErrTLS,
// ErrAuth, ErrRecipientRejected or ErrRejected.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	r, err := render(m, s.cfg.From, s.now())
	if err != nil {
		return err
	}
	return s.deliver(ctx, r)
}

func (s *SMTP) deliver(ctx context.Context, r *rendered) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()

	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, s.addr, err)
	}
	defer raw.Close()
	// One deadline for the whole session, and cancellation aborts any
	// blocked read or write.
	deadline, _ := ctx.Deadline()
	raw.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	conn := raw
	// Say why an i/o error happened when we caused it: the caller's
	// cancellation or our own session deadline.
	defer func() {
		switch {
		case err == nil:
		case ctx.Err() != nil && !errors.Is(err, ctx.Err()):
			err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
		case errors.Is(err, os.ErrDeadlineExceeded):
			err = fmt.Errorf("%w (timed out; the limit is %v or the caller's deadline)", err, s.cfg.Timeout)
		}
	}()

	if s.cfg.TLS == TLSImplicit {
		tc := tls.Client(conn, s.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrTLS, s.addr, err)
		}
		conn = tc
	}
	c, err := gosmtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		return fmt.Errorf("%w: %s: no greeting: %w", ErrUnreachable, s.addr, err)
	}
	if err := c.Hello(s.cfg.HELO); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, s.addr, err)
	}
	// Noop forces the EHLO exchange now, so its failure is not mistaken
	// for a missing STARTTLS or AUTH below.
	if err := c.Noop(); err != nil {
		return fmt.Errorf("%w: %s: EHLO: %w", ErrUnreachable, s.addr, err)
	}
	if s.cfg.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("%w: %s does not offer STARTTLS (use tls=tls for port 465)", ErrTLS, s.addr)
		}
		if err := c.StartTLS(s.tlsConfig()); err != nil {
			return fmt.Errorf("%w: %s: STARTTLS: %w", ErrTLS, s.addr, err)
		}
	}
	if s.cfg.Username != "" {
		if err := s.auth(c); err != nil {
			return err
		}
	}
	if err := c.Mail(r.from); err != nil {
		return fmt.Errorf("%w: MAIL FROM %s: %w", ErrRejected, r.from, err)
	}
	rerr := &RecipientError{}
	for _, to := range r.to {
		if err := c.Rcpt(to); err != nil {
			rerr.Rejected = append(rerr.Rejected, to)
			if rerr.Err == nil {
				rerr.Err = err
			}
		}
	}
	if len(rerr.Rejected) > 0 {
		// All or nothing: a partial delivery would leave the caller not
		// knowing whom to retry.
		_ = c.Reset()
		_ = c.Quit()
		return rerr
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("%w: DATA: %w", ErrRejected, err)
	}
	if _, err := w.Write(r.bytes); err != nil {
		return fmt.Errorf("%w: %s: writing data: %w", ErrUnreachable, s.addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("%w: end of data: %w", ErrRejected, err)
	}
	// The server has taken the message; a failed QUIT loses nothing.
	_ = c.Quit()
	return nil
}

// auth uses PLAIN, or LOGIN when the server offers only that. Clear-text
// auth is allowed only in TLSNone, which NewSMTP limits to loopback.
func (s *SMTP) auth(c *gosmtp.Client) error {
	ok, mechs := c.Extension("AUTH")
	if !ok {
		return fmt.Errorf("%w: %s does not offer AUTH", ErrAuth, s.addr)
	}
	plain := s.cfg.TLS == TLSNone
	var a gosmtp.Auth
	switch offered := strings.Fields(strings.ToUpper(mechs)); {
	case slices.Contains(offered, "PLAIN"):
		a = gosmtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host, plain)
	case slices.Contains(offered, "LOGIN"):
		a = gosmtp.LoginAuth(s.cfg.Username, s.cfg.Password, s.cfg.Host, plain)
	default:
		return fmt.Errorf("%w: %s offers %q, not PLAIN or LOGIN", ErrAuth, s.addr, mechs)
	}
	if err := c.Auth(a); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrAuth, s.addr, err)
	}
	return nil
}

// readRootCAs loads a PEM bundle for SMTPConfig.RootCAs.
func readRootCAs(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mail: smtp: root CAs: %w", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("mail: smtp: root CAs: no PEM certificate found in %s", path)
	}
	return b, nil
}
