// Package mail sends the relay's email: invitations, MFA codes, password
// resets and confirm-access requests.
package mail

import "context"

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
