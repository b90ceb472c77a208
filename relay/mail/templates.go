package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"strings"
	texttemplate "text/template"
	"time"
)

//go:embed templates
var templateFS embed.FS

// InviteValidity is how long an invitation link works (Connect guide:
// an invitation is valid for 7 days).
const InviteValidity = 7 * 24 * time.Hour

// mailTemplate is one kind of email: a subject format, a plain-text body
// (text/template: values are inserted as they are, which is right for
// text/plain) and an HTML body (html/template: values are escaped).
type mailTemplate struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

type buttonData struct{ Link, Label, Color string }

var htmlFuncs = htmltemplate.FuncMap{
	"button": func(link, label, color string) buttonData { return buttonData{link, label, color} },
}

func loadTemplate(name string) mailTemplate {
	return mailTemplate{
		text: texttemplate.Must(texttemplate.ParseFS(templateFS, "templates/"+name+".txt")),
		html: htmltemplate.Must(htmltemplate.New("layout.html").Funcs(htmlFuncs).
			ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")),
	}
}

var (
	inviteTmpl  = loadTemplate("invite")
	mfaTmpl     = loadTemplate("mfa")
	resetTmpl   = loadTemplate("reset")
	confirmTmpl = loadTemplate("confirm")
	packageTmpl = loadTemplate("package")
	odTmpl      = loadTemplate("ondemand")
)

func (t mailTemplate) message(to, subject string, data any) (Message, error) {
	var text, html bytes.Buffer
	if err := t.text.Execute(&text, data); err != nil {
		return Message{}, fmt.Errorf("mail: template: %w", err)
	}
	if err := t.html.ExecuteTemplate(&html, "layout", data); err != nil {
		return Message{}, fmt.Errorf("mail: template: %w", err)
	}
	m := Message{To: []string{to}, Subject: subject, Text: text.String(), HTML: html.String()}
	if err := m.Validate(); err != nil {
		return Message{}, err
	}
	return m, nil
}

// checkValue refuses empty values and control characters: a newline in a
// name would let it forge lines in the text body or the subject.
func checkValue(what, v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %s contains a control character", ErrInvalid, what)
		}
	}
	return nil
}

// checkLink accepts only absolute http(s) URLs: anything else (javascript:,
// relative paths) would be broken or dangerous in an email.
func checkLink(what, link string) error {
	if err := checkValue(what, link); err != nil {
		return err
	}
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%w: %s %q is not an absolute http(s) URL", ErrInvalid, what, link)
	}
	return nil
}

func checkAll(checks ...error) error {
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	return nil
}

// formatTime is unambiguous for readers in any time zone.
func formatTime(t time.Time) string { return t.UTC().Format("Mon, 2 Jan 2006 15:04 UTC") }

// formatDuration says "10 minutes", "1 hour", "90 seconds".
func formatDuration(d time.Duration) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return unit(int64(d/time.Minute), "minute")
	default:
		return unit(int64((d+time.Second-1)/time.Second), "second")
	}
}

// Invite invites to to the account; link accepts the invitation and
// expires (normally now + InviteValidity) is when it stops working.
func Invite(to, inviter, account, link string, expires time.Time) (Message, error) {
	if err := checkAll(checkAddr(to), checkValue("inviter", inviter), checkValue("account", account),
		checkLink("invitation link", link)); err != nil {
		return Message{}, err
	}
	data := struct{ Inviter, Account, Link, Expires string }{inviter, account, link, formatTime(expires)}
	return inviteTmpl.message(to, fmt.Sprintf("%s invited you to %s on Tandem", inviter, account), data)
}

// MFACode sends a sign-in code. The code is not in the subject, so it
// does not show on a lock screen or end up in mail server logs.
func MFACode(to, code string, validFor time.Duration) (Message, error) {
	if err := checkAll(checkAddr(to), checkValue("code", code)); err != nil {
		return Message{}, err
	}
	if validFor <= 0 {
		return Message{}, fmt.Errorf("%w: code validity %v", ErrInvalid, validFor)
	}
	data := struct{ Code, ValidFor string }{code, formatDuration(validFor)}
	return mfaTmpl.message(to, "Your Tandem sign-in code", data)
}

// PasswordReset sends a link that lets to choose a new password.
func PasswordReset(to, link string, expires time.Time) (Message, error) {
	if err := checkAll(checkAddr(to), checkLink("reset link", link)); err != nil {
		return Message{}, err
	}
	data := struct{ Link, Expires string }{link, formatTime(expires)}
	return resetTmpl.message(to, "Reset your Tandem password", data)
}

// ConfirmAccess asks to (a member of a confirm-access-by-email group) to
// allow or deny technician's session on device.
func ConfirmAccess(to, technician, device string, permissions []string, approveLink, denyLink string, expires time.Time) (Message, error) {
	if err := checkAll(checkAddr(to), checkValue("technician", technician), checkValue("device", device),
		checkLink("approve link", approveLink), checkLink("deny link", denyLink)); err != nil {
		return Message{}, err
	}
	for _, p := range permissions {
		if err := checkValue("permission", p); err != nil {
			return Message{}, err
		}
	}
	data := struct {
		Technician, Device, ApproveLink, DenyLink, Expires string
		Permissions                                        []string
	}{technician, device, approveLink, denyLink, formatTime(expires), permissions}
	return confirmTmpl.message(to, fmt.Sprintf("Confirm access: %s wants to connect to %s", technician, device), data)
}

// PackageLink sends the installer link of a deployment package.
func PackageLink(to, packageName, link string) (Message, error) {
	if err := checkAll(checkAddr(to), checkValue("package name", packageName), checkLink("installer link", link)); err != nil {
		return Message{}, err
	}
	data := struct{ Package, Link string }{packageName, link}
	return packageTmpl.message(to, fmt.Sprintf("Install Tandem: %s", packageName), data)
}

// OnDemandLink sends an OnDemand session's link (spec 3.2.1) to the end
// user who needs help; expires is when the key stops working.
func OnDemandLink(to, technician, account, link string, expires time.Time) (Message, error) {
	if err := checkAll(checkAddr(to), checkValue("technician", technician), checkValue("account", account),
		checkLink("session link", link)); err != nil {
		return Message{}, err
	}
	data := struct{ Technician, Account, Link, Expires string }{technician, account, link, formatTime(expires)}
	return odTmpl.message(to, fmt.Sprintf("Remote help from %s: your session link", account), data)
}
