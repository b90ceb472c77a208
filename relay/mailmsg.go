package relay

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/tandem-rc/tandem/relay/mail"
)

// sendMail hands m to the configured Sender; without one it only logs that
// a message was due (never its text: it carries tokens and codes).
func (s *Server) sendMail(ctx context.Context, m mail.Message) error {
	if s.cfg.Mail == nil {
		s.log.Warn("email not sent: no mail sender configured", "to", m.To, "subject", m.Subject)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return s.cfg.Mail.Send(ctx, m)
}

// link is base/path#token=... (base from publicBase), or "" without a
// base. The token rides in the fragment so it stays out of server logs and
// Referer headers.
func link(base, path, token string) string {
	if base == "" {
		return ""
	}
	return base + path + "#token=" + url.QueryEscape(token)
}

// The messages use relay/mail's templates (text and HTML) when there is a
// link to send; without a public URL the relay can only send the code.

func inviteMessage(to, account, inviter, token, link string, expires time.Time) mail.Message {
	if link != "" {
		if m, err := mail.Invite(to, inviter, account, link, expires); err == nil {
			return m
		}
	}
	text := fmt.Sprintf("Hello,\n\n%s invited you to the Tandem account %q.\n\n", inviter, account)
	if link != "" {
		text += "Accept the invitation here:\n\n  " + link + "\n\n"
	}
	text += fmt.Sprintf("or with this invitation code:\n\n  %s\n\nThe invitation is valid until %s.\n"+
		"If you did not expect it, ignore this email.\n", token, expires.UTC().Format("2006-01-02 15:04 MST"))
	return mail.Message{To: []string{to}, Subject: "You are invited to " + account + " on Tandem", Text: text}
}

func resetMessage(to, token, link string, expires time.Time) mail.Message {
	if link != "" {
		if m, err := mail.PasswordReset(to, link, expires); err == nil {
			return m
		}
	}
	text := "Hello,\n\nsomeone (hopefully you) asked to reset your Tandem password.\n\n"
	if link != "" {
		text += "Choose a new password here:\n\n  " + link + "\n\n"
	}
	text += fmt.Sprintf("or with this reset code:\n\n  %s\n\nThe code works once, until %s.\n"+
		"If you did not ask for it, ignore this email: your password stays as it is.\n",
		token, expires.UTC().Format("2006-01-02 15:04 MST"))
	return mail.Message{To: []string{to}, Subject: "Reset your Tandem password", Text: text}
}

// mfaMessage keeps the code out of the subject: lock screens show subjects.
func mfaMessage(to, code string, valid time.Duration) (mail.Message, error) {
	return mail.MFACode(to, code, valid)
}
