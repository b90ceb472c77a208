package mail

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// ErrSpec marks a malformed --mail value.
var ErrSpec = errors.New("mail: bad --mail value")

// Open builds the sender a --mail flag value names:
//
//	outbox:/var/lib/tandem/outbox
//	smtp://user:pass@mail.example.com:587?from=tandem@example.com
//	smtps://user@mail.example.com?from=Tandem%20<tandem@example.com>&password_env=SMTP_PASSWORD
//
// smtp:// uses STARTTLS unless tls=none (loopback only); smtps:// is
// implicit TLS (default port 465). Query parameters: from (required for
// SMTP), tls, password_env (read the password from that environment
// variable, so it is not visible in the process list), ca (PEM file of a
// private CA), timeout (Go duration), helo. For outbox, from may be given
// the same way: outbox:/dir?from=....
func Open(spec string, log *slog.Logger) (Sender, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	scheme, rest, ok := strings.Cut(spec, ":")
	if !ok || rest == "" {
		return nil, fmt.Errorf("%w %q: want outbox:/dir or smtp://host?from=addr", ErrSpec, spec)
	}
	switch strings.ToLower(scheme) {
	case "outbox":
		return openOutbox(rest, log)
	case "smtp", "smtps":
		return openSMTP(spec)
	default:
		return nil, fmt.Errorf("%w: unknown scheme %q (want outbox, smtp or smtps)", ErrSpec, scheme)
	}
}

func openOutbox(rest string, log *slog.Logger) (Sender, error) {
	dir, query, _ := strings.Cut(rest, "?")
	if dir == "" {
		return nil, fmt.Errorf("%w: outbox needs a directory (outbox:/path/dir)", ErrSpec)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("%w: outbox: %v", ErrSpec, err)
	}
	cfg := OutboxConfig{Dir: dir}
	for k := range q {
		if k != "from" {
			return nil, fmt.Errorf("%w: outbox: unknown parameter %q (only from)", ErrSpec, k)
		}
	}
	if f := q.Get("from"); f != "" {
		if cfg.From, err = ParseAddress(f); err != nil {
			return nil, fmt.Errorf("%w: from: %w", ErrSpec, err)
		}
	}
	return NewOutbox(cfg, log)
}

func openSMTP(spec string) (Sender, error) {
	u, err := url.Parse(spec)
	if err != nil {
		// url's message repeats the spec, which may hold a password.
		return nil, fmt.Errorf("%w: not a valid smtp URL", ErrSpec)
	}
	if u.Opaque != "" || u.Host == "" {
		return nil, fmt.Errorf("%w: want %s://[user[:pass]@]host[:port]?from=addr", ErrSpec, u.Scheme)
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("%w: smtp URL has a path %q", ErrSpec, u.Path)
	}
	cfg := SMTPConfig{Host: u.Hostname(), TLS: TLSStartTLS}
	if strings.EqualFold(u.Scheme, "smtps") {
		cfg.TLS = TLSImplicit
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%w: bad port %q", ErrSpec, p)
		}
		cfg.Port = n
	}
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("%w: query: %v", ErrSpec, err)
	}
	for k, v := range q {
		if len(v) != 1 {
			return nil, fmt.Errorf("%w: parameter %q given %d times", ErrSpec, k, len(v))
		}
		val := v[0]
		switch k {
		case "from":
			if cfg.From, err = ParseAddress(val); err != nil {
				return nil, fmt.Errorf("%w: from: %w", ErrSpec, err)
			}
		case "tls":
			mode := TLSMode(strings.ToLower(val))
			if cfg.TLS == TLSImplicit && mode != TLSImplicit {
				return nil, fmt.Errorf("%w: smtps:// is implicit TLS; tls=%s needs smtp://", ErrSpec, val)
			}
			cfg.TLS = mode
		case "password_env":
			if _, has := u.User.Password(); has {
				return nil, fmt.Errorf("%w: password given both in the URL and by password_env", ErrSpec)
			}
			pw, ok := os.LookupEnv(val)
			if !ok || pw == "" {
				return nil, fmt.Errorf("%w: password_env: environment variable %s is not set", ErrSpec, val)
			}
			cfg.Password = pw
		case "ca":
			if cfg.RootCAs, err = readRootCAs(val); err != nil {
				return nil, fmt.Errorf("%w: ca: %w", ErrSpec, err)
			}
		case "timeout":
			d, err := time.ParseDuration(val)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("%w: timeout %q: want a positive duration such as 30s", ErrSpec, val)
			}
			cfg.Timeout = d
		case "helo":
			cfg.HELO = val
		default:
			return nil, fmt.Errorf("%w: unknown parameter %q (from, tls, password_env, ca, timeout, helo)", ErrSpec, k)
		}
	}
	if cfg.From.Addr == "" {
		return nil, fmt.Errorf("%w: smtp needs from=address", ErrSpec)
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, fmt.Errorf("%w: a password needs a user name (smtp://user@host)", ErrSpec)
	}
	s, err := NewSMTP(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSpec, err)
	}
	return s, nil
}
