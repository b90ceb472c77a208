package mail

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestOpenOutbox(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "box")
	s, err := Open("outbox:"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := s.(*Outbox)
	if !ok || o.Dir() != dir || o.from != DefaultFrom {
		t.Fatalf("Open gave %#v", s)
	}
	s, err = Open("outbox:"+dir+"?from=Help%20Desk%20%3Chelp@example.com%3E", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.(*Outbox).from; got != (Address{Name: "Help Desk", Addr: "help@example.com"}) {
		t.Errorf("from = %+v", got)
	}
}

func TestOpenSMTP(t *testing.T) {
	t.Setenv("TANDEM_TEST_SMTP_PW", "from-env")
	ca := filepath.Join(t.TempDir(), "ca.pem")
	_, caPEM := selfSigned(t)
	if err := os.WriteFile(ca, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		spec string
		want SMTPConfig
	}{
		{"smtp://mail.example.com?from=tandem@example.com",
			SMTPConfig{Host: "mail.example.com", Port: 587, TLS: TLSStartTLS, From: Address{Addr: "tandem@example.com"}}},
		{"smtp://user:p%40ss@mail.example.com:2525?from=tandem@example.com&tls=starttls&helo=relay.example.com&timeout=5s",
			SMTPConfig{Host: "mail.example.com", Port: 2525, TLS: TLSStartTLS, Username: "user", Password: "p@ss",
				HELO: "relay.example.com", Timeout: 5 * time.Second, From: Address{Addr: "tandem@example.com"}}},
		{"smtps://user@mail.example.com?from=Tandem%20%3Ctandem@example.com%3E&password_env=TANDEM_TEST_SMTP_PW",
			SMTPConfig{Host: "mail.example.com", Port: 465, TLS: TLSImplicit, Username: "user", Password: "from-env",
				From: Address{Name: "Tandem", Addr: "tandem@example.com"}}},
		{"smtp://127.0.0.1:25?from=tandem@example.com&tls=none",
			SMTPConfig{Host: "127.0.0.1", Port: 25, TLS: TLSNone, From: Address{Addr: "tandem@example.com"}}},
		{"smtp://[::1]:25?from=tandem@example.com&tls=none",
			SMTPConfig{Host: "::1", Port: 25, TLS: TLSNone, From: Address{Addr: "tandem@example.com"}}},
		{"smtp://mail.example.com:587?from=tandem@example.com&tls=tls",
			SMTPConfig{Host: "mail.example.com", Port: 587, TLS: TLSImplicit, From: Address{Addr: "tandem@example.com"}}},
		{"SMTPS://mail.example.com?from=tandem@example.com&ca=" + ca,
			SMTPConfig{Host: "mail.example.com", Port: 465, TLS: TLSImplicit, From: Address{Addr: "tandem@example.com"}}},
	}
	for _, c := range cases {
		t.Run(c.spec, func(t *testing.T) {
			s, err := Open(c.spec, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := s.(*SMTP).cfg
			if c.want.HELO == "" {
				c.want.HELO = "localhost"
			}
			if c.want.Timeout == 0 {
				c.want.Timeout = DefaultTimeout
			}
			hasCA := len(got.RootCAs) > 0
			if hasCA != strings.Contains(c.spec, "ca=") {
				t.Errorf("root CAs loaded: %v", hasCA)
			}
			got.RootCAs, got.Now = nil, nil
			if got.Host != c.want.Host || got.Port != c.want.Port || got.TLS != c.want.TLS || got.From != c.want.From ||
				got.Username != c.want.Username || got.Password != c.want.Password || got.HELO != c.want.HELO ||
				got.Timeout != c.want.Timeout {
				t.Errorf("config\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	t.Setenv("TANDEM_TEST_EMPTY", "")
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"":                                 "want outbox",
		"outbox":                           "want outbox",
		"outbox:":                          "want outbox",
		"outbox:?from=a@b.com":             "needs a directory",
		"outbox:/tmp/x?bogus=1":            "unknown parameter",
		"outbox:/tmp/x?from=bad":           "not an email address",
		"outbox:" + file:                   "not a directory",
		"imap://host":                      "unknown scheme",
		"/var/outbox":                      "want outbox",
		"smtp://host":                      "needs from=",
		"smtp:host?from=a@b.com":           "want smtp://",
		"smtp://?from=a@b.com":             "want smtp://",
		"smtp://host/path?from=a@b.com":    "has a path",
		"smtp://host:0?from=a@b.com":       "bad port",
		"smtp://host:99999?from=a@b.com":   "bad port",
		"smtp://host?from=a@b.com&tls=ssl": "unknown tls mode",
		"smtp://mail.example.com?from=a@b.com&tls=none":              "only allowed to localhost",
		"smtp://10.1.2.3?from=a@b.com&tls=none":                      "only allowed to localhost",
		"smtps://host?from=a@b.com&tls=starttls":                     "implicit TLS",
		"smtp://host?from=a@b.com&from=c@d.com":                      "given 2 times",
		"smtp://host?from=not-an-address":                            "not an email address",
		"smtp://host?from=a@b.com&password_env=TANDEM_TEST_UNSET_XY": "is not set",
		"smtp://u@host?from=a@b.com&password_env=TANDEM_TEST_EMPTY":  "is not set",
		"smtp://u:pw@host?from=a@b.com&password_env=HOME":            "both in the URL and by password_env",
		"smtp://:pw@host?from=a@b.com":                               "needs a user name",
		"smtp://host?from=a@b.com&timeout=soon":                      "timeout",
		"smtp://host?from=a@b.com&timeout=-1s":                       "timeout",
		"smtp://host?from=a@b.com&ca=/nonexistent/ca.pem":            "ca:",
		"smtp://host?from=a@b.com&ca=" + file:                        "no PEM certificate",
		"smtp://host?from=a@b.com&port=25":                           "unknown parameter",
		"smtp://host?from=a@b.com&helo=a%20b":                        "bad helo",
		"smtp://host?from=a@b.com;x":                                 "query",
	}
	for spec, want := range cases {
		s, err := Open(spec, nil)
		if err == nil {
			t.Errorf("%q: no error, got %T", spec, s)
			continue
		}
		if !errors.Is(err, ErrSpec) && !errors.Is(err, ErrOutbox) {
			t.Errorf("%q: %v does not wrap ErrSpec", spec, err)
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %q does not mention %q", spec, err, want)
		}
	}
}

func TestOpenPasswordNotInErrors(t *testing.T) {
	for _, spec := range []string{
		"smtp://user:hunter2@host:bad?from=a@b.com",
		"smtp://user:hunter2@host?from=a@b.com&tls=ssl",
		"smtp://user:hunter2@mail.example.com?from=a@b.com&tls=none",
		"smtp://user:hunter2@host\x7f?from=a@b.com",
	} {
		_, err := Open(spec, nil)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: error %v leaks the password", spec, err)
		}
	}
}

// An smtp:// spec really works end to end against a server.
func TestOpenSMTPDelivers(t *testing.T) {
	ts := newTestServer(t, serverOpts{mode: modeImplicit, user: "relay", pass: "pw"})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, ts.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TANDEM_TEST_SMTP_PW", "pw")
	spec := "smtps://relay@127.0.0.1:" + strconv.Itoa(ts.port) + "?from=tandem@example.com&password_env=TANDEM_TEST_SMTP_PW&ca=" + ca
	s, err := Open(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	if got := ts.received(); len(got) != 1 || got[0].user != "relay" {
		t.Fatalf("received %+v", got)
	}
}
