// Package mail sends the relay's email: invitations, MFA codes, password
// resets and confirm-access requests.
//
// Two senders exist: SMTP hands messages to a mail server, Outbox (the
// embedded default) writes each one as an .eml file. Both render the same
// MIME message and refuse bad input before touching the network or disk.
// Queue wraps SMTP so a mail server outage loses nothing; Open builds a
// sender from the relay's --mail flag; Invite, MFACode, PasswordReset,
// ConfirmAccess and PackageLink build the messages from embedded templates.
package mail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"net/textproto"
	"strings"
)

// Message is one plain-text email, optionally with an HTML alternative.
type Message struct {
	To      []string // bare addresses (name@example.com)
	Subject string
	Text    string
	HTML    string // optional
}

// Sender delivers messages. Send returns only when the message is handed
// over (to the SMTP server, or written to the outbox), so a nil error means
// nothing is lost.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Errors callers branch on; every error Send returns wraps exactly one.
var (
	// ErrInvalid: the message itself is wrong (no recipient, bad address,
	// header injection, too large). Retrying will not help.
	ErrInvalid = errors.New("mail: invalid message")
	// ErrUnreachable: the SMTP server could not be reached or did not greet.
	ErrUnreachable = errors.New("mail: smtp server unreachable")
	// ErrTLS: the TLS handshake failed (untrusted certificate, wrong host
	// name) or the server does not offer STARTTLS.
	ErrTLS = errors.New("mail: tls failed")
	// ErrAuth: the server refused the credentials or offers no usable
	// mechanism (PLAIN or LOGIN).
	ErrAuth = errors.New("mail: smtp authentication failed")
	// ErrRecipientRejected: the server refused one or more recipients; see
	// RecipientError for which.
	ErrRecipientRejected = errors.New("mail: recipient rejected")
	// ErrRejected: the server refused the sender or the message data.
	ErrRejected = errors.New("mail: message rejected by server")
	// ErrOutbox: the outbox directory cannot be written.
	ErrOutbox = errors.New("mail: outbox not writable")
)

// Limits enforced before anything is sent or written.
const (
	// MaxSubjectBytes is RFC 5322's line limit; a longer subject would
	// have to be folded, and no mail we send needs that.
	MaxSubjectBytes = 998
	// MaxMessageBytes caps the rendered message: our mails are short, so
	// anything larger is a bug or abuse.
	MaxMessageBytes = 1 << 20
)

// RecipientError lists the recipients the server refused. It matches
// ErrRecipientRejected with errors.Is.
type RecipientError struct {
	Rejected []string
	Err      error // the server's reply for the first rejected address
}

func (e *RecipientError) Error() string {
	return fmt.Sprintf("mail: server rejected recipient(s) %s: %v", strings.Join(e.Rejected, ", "), e.Err)
}

func (e *RecipientError) Is(target error) bool { return target == ErrRecipientRejected }

func (e *RecipientError) Unwrap() error { return e.Err }

// Validate checks m without sending it: at least one recipient, every
// address a bare addr-spec, no control characters in the subject (header
// injection), subject at most MaxSubjectBytes and some body text.
func (m Message) Validate() error {
	if len(m.To) == 0 {
		return fmt.Errorf("%w: no recipient", ErrInvalid)
	}
	for _, a := range m.To {
		if err := checkAddr(a); err != nil {
			return err
		}
	}
	if len(m.Subject) > MaxSubjectBytes {
		return fmt.Errorf("%w: subject is %d bytes, the limit is %d", ErrInvalid, len(m.Subject), MaxSubjectBytes)
	}
	if strings.TrimSpace(m.Subject) == "" {
		return fmt.Errorf("%w: empty subject", ErrInvalid)
	}
	if err := checkHeaderText("subject", m.Subject); err != nil {
		return err
	}
	if m.Text == "" {
		return fmt.Errorf("%w: empty text body", ErrInvalid)
	}
	if len(m.Text)+len(m.HTML) > MaxMessageBytes {
		return fmt.Errorf("%w: body is larger than %d bytes", ErrInvalid, MaxMessageBytes)
	}
	return nil
}

// checkAddr accepts only a bare addr-spec ("a@b.example"): no display
// name, no angle brackets, no whitespace or control characters.
func checkAddr(a string) error {
	if err := checkHeaderText("address", a); err != nil {
		return err
	}
	p, err := mail.ParseAddress(a)
	if err != nil || p.Name != "" || p.Address != a {
		return fmt.Errorf("%w: %q is not a bare email address (want name@example.com)", ErrInvalid, a)
	}
	return nil
}

// checkHeaderText refuses CR, LF and other control characters, which
// would let a value start a new header line (header injection).
func checkHeaderText(what, s string) error {
	for _, r := range s {
		if r == '\t' {
			continue
		}
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %s contains a control character (CR/LF header injection is refused)", ErrInvalid, what)
		}
	}
	return nil
}

// Permanent reports whether retrying err cannot succeed: the message is
// invalid, or the server refused it with a 5xx reply. Unreachable servers,
// TLS and authentication failures and 4xx replies may heal (a restarted
// server, a fixed password), so they are not permanent.
func Permanent(err error) bool {
	if errors.Is(err, ErrInvalid) {
		return true
	}
	if !errors.Is(err, ErrRejected) && !errors.Is(err, ErrRecipientRejected) {
		return false
	}
	var te *textproto.Error
	return errors.As(err, &te) && te.Code >= 500
}
