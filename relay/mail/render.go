package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Address is a sender: a bare address plus an optional display name.
type Address struct {
	Name string // "Tandem"; may be non-ASCII
	Addr string // tandem@example.com
}

func (a Address) validate() error {
	if err := checkHeaderText("sender name", a.Name); err != nil {
		return err
	}
	if err := checkAddr(a.Addr); err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	return nil
}

// ParseAddress reads "Name <addr>" or a bare address.
func ParseAddress(s string) (Address, error) {
	if err := checkHeaderText("address", s); err != nil {
		return Address{}, err
	}
	p, err := netmail.ParseAddress(s)
	if err != nil {
		return Address{}, fmt.Errorf("%w: %q is not an email address: %v", ErrInvalid, s, err)
	}
	return Address{Name: p.Name, Addr: p.Address}, nil
}

// rendered is a message ready to hand over: the envelope and the RFC 5322
// bytes, identical for SMTP and the outbox.
type rendered struct {
	from  string
	to    []string
	id    string // Message-ID without angle brackets
	bytes []byte
}

// render validates m and builds its MIME form: text/plain, plus a
// multipart/alternative HTML part when m.HTML is set. It does no I/O.
func render(m Message, from Address, now time.Time) (*rendered, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if err := from.validate(); err != nil {
		return nil, err
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.FromFormat(from.Name, from.Addr); err != nil {
		return nil, fmt.Errorf("%w: sender: %v", ErrInvalid, err)
	}
	if err := msg.To(m.To...); err != nil {
		return nil, fmt.Errorf("%w: recipients: %v", ErrInvalid, err)
	}
	msg.Subject(m.Subject)
	msg.SetDateWithValue(now)
	id, err := messageID(from.Addr)
	if err != nil {
		return nil, err
	}
	msg.SetMessageIDWithValue(id)
	msg.SetUserAgent("Tandem")
	// Automated mail: ask auto-responders (out-of-office) not to reply.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("%w: rendering: %v", ErrInvalid, err)
	}
	if buf.Len() > MaxMessageBytes {
		return nil, fmt.Errorf("%w: message is %d bytes, the limit is %d", ErrInvalid, buf.Len(), MaxMessageBytes)
	}
	return &rendered{from: from.Addr, to: append([]string(nil), m.To...), id: id, bytes: buf.Bytes()}, nil
}

// messageID is 128 random bits at the sender's domain, so replies and
// bounces can be matched without revealing the relay's host name.
func messageID(from string) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("mail: message id: %w", err)
	}
	domain := from[strings.LastIndexByte(from, '@')+1:]
	return hex.EncodeToString(b[:]) + "@" + domain, nil
}
