package mail

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"os"
	"strings"
	"testing"
	"time"
)

func testMessage() Message {
	return Message{
		To:      []string{"alice@example.org", "bob@example.net"},
		Subject: "Einladung für Zoë — ¿listo? ✓",
		Text:    "Hello Alice,\nplain text body.\n",
		HTML:    "<p>Hello <b>Alice</b></p>",
	}
}

// parsed checks raw is a well-formed message and returns its headers and
// the decoded text and HTML parts.
func parsed(t *testing.T, raw []byte) (netmail.Header, string, string) {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not an RFC 5322 message: %v\n%s", err, raw)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	if mt == "text/plain" {
		b, _ := io.ReadAll(decodePart(t, msg.Header.Get("Content-Transfer-Encoding"), msg.Body))
		return msg.Header, string(b), ""
	}
	if mt != "multipart/alternative" {
		t.Fatalf("content type %q, want multipart/alternative", mt)
	}
	var text, html string
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable itself
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			text = string(b)
		case "text/html":
			html = string(b)
		default:
			t.Fatalf("unexpected part %q", ct)
		}
	}
	return msg.Header, text, html
}

func decodePart(t *testing.T, cte string, r io.Reader) io.Reader {
	t.Helper()
	switch strings.ToLower(cte) {
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	case "", "7bit", "8bit":
		return r
	}
	t.Fatalf("unexpected transfer encoding %q", cte)
	return nil
}

// sameBody compares a decoded part with what was sent: MIME turns line
// ends into CRLF and ends the part with one.
func sameBody(got, want string) bool {
	norm := func(s string) string { return strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n") }
	return norm(got) == norm(want)
}

// checkHeaders asserts the headers every rendered message carries.
func checkHeaders(t *testing.T, h netmail.Header, m Message) {
	t.Helper()
	dec := new(mime.WordDecoder)
	subj, err := dec.DecodeHeader(h.Get("Subject"))
	if err != nil || subj != m.Subject {
		t.Errorf("subject %q (%v), want %q", subj, err, m.Subject)
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "tandem@example.com" || from[0].Name != "Tandem Relay" {
		t.Errorf("From = %v (%v)", from, err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != len(m.To) {
		t.Fatalf("To = %v (%v), want %v", to, err, m.To)
	}
	for i := range to {
		if to[i].Address != m.To[i] {
			t.Errorf("To[%d] = %q, want %q", i, to[i].Address, m.To[i])
		}
	}
	date, err := h.Date()
	if err != nil || !date.Equal(fixedTime) {
		t.Errorf("Date = %v (%v), want %v", date, err, fixedTime)
	}
	id := h.Get("Message-Id")
	if !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") || len(id) < 20 {
		t.Errorf("Message-ID = %q", id)
	}
	if h.Get("Mime-Version") != "1.0" {
		t.Errorf("MIME-Version = %q", h.Get("Mime-Version"))
	}
}

func TestSMTPStartTLSAuthDelivers(t *testing.T) {
	ts := newTestServer(t, serverOpts{mode: modeStartTLS, user: "relay", pass: "s3cret"})
	s, err := NewSMTP(ts.config(TLSStartTLS))
	if err != nil {
		t.Fatal(err)
	}
	m := testMessage()
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := ts.received()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	e := got[0]
	if e.from != "tandem@example.com" || strings.Join(e.to, ",") != "alice@example.org,bob@example.net" {
		t.Errorf("envelope from %q to %v", e.from, e.to)
	}
	if !e.tls || e.user != "relay" {
		t.Errorf("delivered with tls=%v user=%q, want TLS and user relay", e.tls, e.user)
	}
	h, text, html := parsed(t, e.data)
	checkHeaders(t, h, m)
	if !sameBody(text, m.Text) || !sameBody(html, m.HTML) {
		t.Errorf("parts: text %q html %q", text, html)
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	ts := newTestServer(t, serverOpts{mode: modeImplicit, user: "relay", pass: "pw"})
	s, err := NewSMTP(ts.config(TLSImplicit))
	if err != nil {
		t.Fatal(err)
	}
	m := Message{To: []string{"carol@example.org"}, Subject: "plain only", Text: "just text"}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := ts.received()
	if len(got) != 1 || !got[0].tls || got[0].user != "relay" {
		t.Fatalf("received %+v", got)
	}
	h, text, html := parsed(t, got[0].data)
	checkHeaders(t, h, m)
	if !sameBody(text, "just text") || html != "" {
		t.Errorf("text %q html %q", text, html)
	}
}

func TestSMTPNoneToLoopback(t *testing.T) {
	ts := newTestServer(t, serverOpts{mode: modePlain, user: "relay", pass: "pw"})
	s, err := NewSMTP(ts.config(TLSNone))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), testMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := ts.received(); len(got) != 1 || got[0].tls || got[0].user != "relay" {
		t.Fatalf("received %+v", got)
	}
}

func TestSMTPNoneRefusedForRemoteHosts(t *testing.T) {
	for _, host := range []string{"mail.example.com", "10.0.0.5", "192.168.1.1", "::ffff:8.8.8.8"} {
		_, err := NewSMTP(SMTPConfig{Host: host, From: Address{Addr: "a@example.com"}, TLS: TLSNone})
		if err == nil || !strings.Contains(err.Error(), "clear text") {
			t.Errorf("tls=none to %s: err %v, want refusal", host, err)
		}
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1", "127.0.0.2"} {
		if _, err := NewSMTP(SMTPConfig{Host: host, From: Address{Addr: "a@example.com"}, TLS: TLSNone}); err != nil {
			t.Errorf("tls=none to %s: %v", host, err)
		}
	}
}

func TestSMTPWrongPassword(t *testing.T) {
	ts := newTestServer(t, serverOpts{mode: modeStartTLS, user: "relay", pass: "right"})
	cfg := ts.config(TLSStartTLS)
	cfg.Password = "wrong"
	s, err := NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), testMessage())
	t.Log(err)
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
	for _, other := range []error{ErrTLS, ErrUnreachable, ErrRejected, ErrRecipientRejected, ErrInvalid} {
		if errors.Is(err, other) {
			t.Errorf("auth error also matches %v", other)
		}
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error leaks the password: %v", err)
	}
	if n := len(ts.received()); n != 0 {
		t.Errorf("server received %d messages", n)
	}
}

func TestSMTPUnreachable(t *testing.T) {
	s, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: freePort(t), From: Address{Addr: "a@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), testMessage())
	t.Log(err)
	if !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrTLS) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
}

func TestSMTPUntrustedCertificate(t *testing.T) {
	for _, mode := range []TLSMode{TLSStartTLS, TLSImplicit} {
		t.Run(string(mode), func(t *testing.T) {
			sm := modeStartTLS
			if mode == TLSImplicit {
				sm = modeImplicit
			}
			ts := newTestServer(t, serverOpts{mode: sm})
			cfg := ts.config(mode)
			cfg.RootCAs = nil // system roots do not know our self-signed CA
			s, err := NewSMTP(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(context.Background(), testMessage())
			t.Log(err)
			if !errors.Is(err, ErrTLS) || errors.Is(err, ErrUnreachable) {
				t.Fatalf("err = %v, want ErrTLS", err)
			}
			if n := len(ts.received()); n != 0 {
				t.Errorf("server received %d messages", n)
			}
		})
	}
}

func TestSMTPWrongHostName(t *testing.T) {
	// A client that expects another name must refuse the certificate even
	// though its CA is trusted.
	ts := newTestServer(t, serverOpts{mode: modeImplicit})
	cfg := ts.config(TLSImplicit)
	cfg.Host = "localhost" // the certificate names only 127.0.0.1
	s, err := NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), testMessage())
	t.Log(err)
	if !errors.Is(err, ErrTLS) {
		t.Fatalf("err = %v, want ErrTLS", err)
	}
}

func TestSMTPStartTLSNotOffered(t *testing.T) {
	ts := newTestServer(t, serverOpts{mode: modePlain})
	s, err := NewSMTP(ts.config(TLSStartTLS))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), testMessage())
	t.Log(err)
	if !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("err = %v, want ErrTLS about STARTTLS", err)
	}
	if n := len(ts.received()); n != 0 {
		t.Errorf("server received %d messages: nothing may go out in clear text", n)
	}
}

func TestSMTPRecipientRejected(t *testing.T) {
	ts := newTestServer(t, serverOpts{mode: modeStartTLS, reject: "bob@example.net"})
	s, err := NewSMTP(ts.config(TLSStartTLS))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), testMessage())
	var re *RecipientError
	t.Log(err)
	if !errors.Is(err, ErrRecipientRejected) || !errors.As(err, &re) {
		t.Fatalf("err = %v, want ErrRecipientRejected", err)
	}
	if strings.Join(re.Rejected, ",") != "bob@example.net" || !strings.Contains(err.Error(), "550") {
		t.Errorf("rejected %v, err %v", re.Rejected, err)
	}
	if n := len(ts.received()); n != 0 {
		t.Errorf("server received %d messages: a partial delivery", n)
	}
}

func TestSMTPBadInputMakesNoConnection(t *testing.T) {
	ts := newTestServer(t, serverOpts{mode: modeStartTLS})
	s, err := NewSMTP(ts.config(TLSStartTLS))
	if err != nil {
		t.Fatal(err)
	}
	good := testMessage()
	cases := map[string]func(*Message){
		"no recipient":         func(m *Message) { m.To = nil },
		"subject injection":    func(m *Message) { m.Subject = "hi\r\nBcc: evil@example.com" },
		"subject LF":           func(m *Message) { m.Subject = "hi\nX: y" },
		"recipient injection":  func(m *Message) { m.To = []string{"a@example.com\r\nBcc: evil@example.com"} },
		"display name":         func(m *Message) { m.To = []string{"Alice <alice@example.org>"} },
		"not an address":       func(m *Message) { m.To = []string{"alice"} },
		"two in one":           func(m *Message) { m.To = []string{"a@example.com, b@example.com"} },
		"empty address":        func(m *Message) { m.To = []string{""} },
		"subject too long":     func(m *Message) { m.Subject = strings.Repeat("x", MaxSubjectBytes+1) },
		"empty subject":        func(m *Message) { m.Subject = " " },
		"no text":              func(m *Message) { m.Text = "" },
		"too large":            func(m *Message) { m.Text = strings.Repeat("a", MaxMessageBytes) },
		"too large after MIME": func(m *Message) { m.Text = strings.Repeat("=", MaxMessageBytes/2) },
		"NUL in subject":       func(m *Message) { m.Subject = "a\x00b" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			m := good
			m.To = append([]string(nil), good.To...)
			mutate(&m)
			err := s.Send(context.Background(), m)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	if n := ts.conns.Load(); n != 0 {
		t.Errorf("bad messages opened %d connections, want 0", n)
	}
	// The same server does accept the good message, so the zero count
	// above is not an artefact of a dead server.
	if err := s.Send(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	if n := ts.conns.Load(); n != 1 {
		t.Errorf("connections = %d, want 1", n)
	}
}

func TestSMTPCanceledContext(t *testing.T) {
	ts := newTestServer(t, serverOpts{mode: modeStartTLS})
	s, err := NewSMTP(ts.config(TLSStartTLS))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Send(ctx, testMessage()); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := len(ts.received()); n != 0 {
		t.Errorf("received %d", n)
	}
}

func TestNewSMTPConfigErrors(t *testing.T) {
	from := Address{Addr: "a@example.com"}
	cases := map[string]SMTPConfig{
		"no host":      {From: from},
		"bad mode":     {Host: "h", From: from, TLS: "ssl"},
		"bad port":     {Host: "h", From: from, Port: 70000},
		"no from":      {Host: "h"},
		"bad from":     {Host: "h", From: Address{Addr: "nope"}},
		"from inject":  {Host: "h", From: Address{Name: "x\r\nBcc: y@z.com", Addr: "a@example.com"}},
		"pass no user": {Host: "h", From: from, Password: "p"},
		"bad ca":       {Host: "h", From: from, RootCAs: []byte("not pem")},
		"bad helo":     {Host: "h", From: from, HELO: "a b"},
	}
	for name, cfg := range cases {
		if _, err := NewSMTP(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestSMTPAuthLogin(t *testing.T) {
	ts := newTestServer(t, serverOpts{mode: modeStartTLS, user: "relay", pass: "s3cret", login: true})
	s, err := NewSMTP(ts.config(TLSStartTLS))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), testMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := ts.received(); len(got) != 1 || got[0].user != "relay" {
		t.Fatalf("received %+v", got)
	}
	cfg := ts.config(TLSStartTLS)
	cfg.Password = "wrong"
	s, err = NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), testMessage()); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong password over LOGIN: %v, want ErrAuth", err)
	}
}

func TestSMTPServerNeverGreets(t *testing.T) {
	// A server that accepts and then says nothing: Timeout ends the
	// attempt with ErrUnreachable instead of hanging the caller.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	s, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port,
		From: Address{Addr: "a@example.com"}, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), testMessage())
	t.Log(err)
	if !errors.Is(err, ErrUnreachable) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err = %v, want ErrUnreachable after the timeout", err)
	}
	(<-accepted).Close()
}
