package portal

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/transport/wire"
)

// Bounds on what a signed-out form may send (the API checks again).
const (
	maxFormBytes = 64 << 10
	maxField     = 1024
)

// signInData is the sign-in page (spec 2.1): step "user" asks the
// username, "password" the password, "mfa" the emailed or recovery code.
type signInData struct {
	Step      string
	Username  string
	Challenge string
	Next      string
	Error     string // next to the field of this step
	Notice    string
	Factors   []string         // the second factors the user may choose (mfa step)
	Factor    string           // the one the code field is for: totp or email
	Buttons   []wire.SSOButton // "Sign in with …" (user step)
}

// formValue reads a bounded field of a parsed form.
func formValue(r *http.Request, name string) string {
	v := r.PostFormValue(name)
	if len(v) > maxField {
		return ""
	}
	return v
}

func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	return r.ParseForm()
}

// apiMessage is what the user reads for an API refusal; throttling says
// when to try again.
func apiMessage(err error) (string, bool) {
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status >= 500 && ae.Status != http.StatusServiceUnavailable {
		return "", false
	}
	msg := ae.Message
	if msg != "" {
		msg = strings.ToUpper(msg[:1]) + msg[1:]
	}
	if ae.RetryAfter > 0 {
		msg += fmt.Sprintf(" (try again in %s).", ae.RetryAfter.Round(time.Second))
	} else if !strings.HasSuffix(msg, ".") && !strings.HasSuffix(msg, ")") {
		msg += "."
	}
	return msg, true
}

func (p *Portal) handleSignIn(w http.ResponseWriter, r *http.Request) {
	d := signInData{Step: "user", Next: localNext(r.URL.Query().Get("next"))}
	if r.Method == http.MethodGet {
		// Already signed in: on to where they were going.
		if s, err := p.loadSession(r); err == nil && s != nil {
			http.Redirect(w, r, d.Next, http.StatusSeeOther)
			return
		}
		d.Buttons = p.ssoButtons(r)
		p.render(w, r, http.StatusOK, "signin", "Sign in", nil, d)
		return
	}
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	d.Next = localNext(formValue(r, "next"))
	d.Username = strings.TrimSpace(formValue(r, "username"))
	if dom := formValue(r, "sso"); dom != "" && len(dom) <= 255 { // a "Sign in with …" button
		d.Username = dom + `\`
	}
	password := formValue(r, "password")
	if d.Username == "" {
		d.Error = "Enter your email address, or DOMAIN\\user for a directory account."
		p.render(w, r, http.StatusBadRequest, "signin", "Sign in", nil, d)
		return
	}
	d.Step = "password"
	if r.PostFormValue("step") == "user" && p.trySSO(w, r, d) {
		return
	}
	if r.PostFormValue("step") == "user" {
		p.render(w, r, http.StatusOK, "signin", "Sign in", nil, d)
		return
	}
	if password == "" {
		d.Error = "Enter your password."
		p.render(w, r, http.StatusBadRequest, "signin", "Sign in", nil, d)
		return
	}
	var lr wire.LoginResponse
	if _, err := p.call(r, "", "POST", "/api/v1/login", wire.LoginRequest{Email: d.Username, Password: password}, &lr); err != nil {
		p.signInFailed(w, r, d, err)
		return
	}
	if lr.MFARequired {
		d.Step, d.Challenge = "mfa", lr.Challenge
		d.setFactors(lr.Factors, "")
		p.render(w, r, http.StatusOK, "signin", "Sign in", nil, d)
		return
	}
	p.signedIn(w, r, lr, d.Next)
}

func (p *Portal) signInFailed(w http.ResponseWriter, r *http.Request, d signInData, err error) {
	msg, ok := apiMessage(err)
	if !ok {
		p.fail(w, r, err)
		return
	}
	d.Error = msg
	var ae *apiError
	errors.As(err, &ae)
	p.render(w, r, ae.Status, "signin", "Sign in", nil, d)
}

func (p *Portal) handleSignInMFA(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	d := signInData{Step: "mfa", Next: localNext(formValue(r, "next")), Username: strings.TrimSpace(formValue(r, "username")),
		Challenge: formValue(r, "challenge")}
	d.setFactors(strings.Split(formValue(r, "factors"), ","), formValue(r, "factor"))
	req := wire.LoginMFA{Challenge: d.Challenge}
	code := strings.TrimSpace(formValue(r, "code"))
	if a := r.PostFormValue("assertion"); a != "" && len(a) <= maxFormBytes {
		// The passkey's answer, put into the form by mfa.js.
		req.Factor, req.Assertion, code = "webauthn", json.RawMessage(a), "passkey"
	} else if strings.Contains(code, "-") || len(code) > 6 {
		req.RecoveryCode = code // recovery codes look like XXXXX-XXXXX
	} else {
		req.Code, req.Factor = code, d.Factor
	}
	if code == "" {
		d.Error = "Enter the code from the email, or one of your recovery codes."
		p.render(w, r, http.StatusBadRequest, "signin", "Sign in", nil, d)
		return
	}
	var lr wire.LoginResponse
	if _, err := p.call(r, "", "POST", "/api/v1/login/mfa", req, &lr); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Code == "mfa_failed" && strings.Contains(ae.Message, "log in again") {
			// The challenge is dead: start over at the password.
			d.Step, d.Challenge = "password", ""
		}
		p.signInFailed(w, r, d, err)
		return
	}
	p.signedIn(w, r, lr, d.Next)
}

// signedIn sets the session cookie (until the token expires) and goes on.
func (p *Portal) signedIn(w http.ResponseWriter, r *http.Request, lr wire.LoginResponse, next string) {
	ttl := time.Until(time.Unix(lr.ExpiresAt, 0))
	if ttl <= 0 {
		ttl = time.Hour
	}
	setCookie(w, sessionCookie, lr.Token, ttl)
	http.Redirect(w, r, localNext(next), http.StatusSeeOther)
}

func (p *Portal) handleLogOff(w http.ResponseWriter, r *http.Request) {
	if tok := cookie(r, sessionCookie); tok != "" && len(tok) <= 256 {
		if _, err := p.call(r, tok, "POST", "/api/v1/logout", nil, nil); err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
				p.log.Warn("portal: log off", "err", err)
			}
		}
	}
	clearCookie(w, sessionCookie)
	flash(w, "You are logged off.")
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// forgotData is the Recover password page (spec 2.1.1).
type forgotData struct {
	Email, Error, Sent string
}

func (p *Portal) handleForgot(w http.ResponseWriter, r *http.Request) {
	d := forgotData{Email: r.URL.Query().Get("email")}
	if len(d.Email) > 254 {
		d.Email = ""
	}
	if r.Method == http.MethodGet {
		p.render(w, r, http.StatusOK, "forgot", "Recover password", nil, d)
		return
	}
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	d.Email = strings.TrimSpace(formValue(r, "email"))
	var ans map[string]string
	if _, err := p.call(r, "", "POST", "/api/v1/password/forgot", wire.PasswordForgot{Email: d.Email}, &ans); err != nil {
		msg, ok := apiMessage(err)
		if !ok {
			p.fail(w, r, err)
			return
		}
		d.Error = msg
		p.render(w, r, http.StatusBadRequest, "forgot", "Recover password", nil, d)
		return
	}
	d.Sent = "If this email belongs to a user with a password here, a reset link is on its way. Check your inbox."
	p.render(w, r, http.StatusOK, "forgot", "Recover password", nil, d)
}

// tokenData is the reset and invitation pages: the token comes from the
// link's fragment (never sent to the server in a URL, so never in a log)
// and the page's script puts it into the form.
type tokenData struct {
	Token         string // echoed after a refused attempt (the fragment is gone by then)
	Name          string
	FieldError    map[string]string
	Error         string // about the link itself
	Invite        bool
	PasswordRules []string
}

var passwordRules = []string{"at least 8 characters", "an uppercase letter", "a lowercase letter", "a number"}

func (p *Portal) handleReset(w http.ResponseWriter, r *http.Request) {
	p.tokenPage(w, r, false)
}

func (p *Portal) handleInvite(w http.ResponseWriter, r *http.Request) {
	p.tokenPage(w, r, true)
}

func (p *Portal) tokenPage(w http.ResponseWriter, r *http.Request, invite bool) {
	page, title := "reset", "Choose a new password"
	if invite {
		page, title = "invite", "Accept the invitation"
	}
	d := tokenData{Invite: invite, FieldError: map[string]string{}, PasswordRules: passwordRules}
	if r.Method == http.MethodGet {
		p.render(w, r, http.StatusOK, page, title, nil, d)
		return
	}
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	token := strings.TrimSpace(formValue(r, "token"))
	d.Token = token
	password, confirm := formValue(r, "password"), formValue(r, "confirm")
	d.Name = strings.TrimSpace(formValue(r, "name"))
	switch {
	case token == "":
		d.Error = "This page needs the link from your email: open the link again, or copy all of it into the address bar."
	case password == "":
		d.FieldError["password"] = "Choose a password."
	case password != confirm:
		d.FieldError["confirm"] = "The two passwords differ."
	}
	if d.Error != "" || len(d.FieldError) > 0 {
		p.render(w, r, http.StatusBadRequest, page, title, nil, d)
		return
	}
	var err error
	if invite {
		_, err = p.call(r, "", "POST", "/api/v1/invites/accept", wire.InviteAccept{Token: token, Password: password, Name: d.Name}, nil)
	} else {
		_, err = p.call(r, "", "POST", "/api/v1/password/reset", wire.PasswordReset{Token: token, Password: password}, nil)
	}
	if err != nil {
		msg, ok := apiMessage(err)
		if !ok {
			p.fail(w, r, err)
			return
		}
		var ae *apiError
		errors.As(err, &ae)
		switch {
		case ae.Code == "weak_password" || strings.Contains(ae.Message, "password"):
			d.FieldError["password"] = msg
		case strings.HasPrefix(ae.Message, "name"):
			d.FieldError["name"] = msg
		default:
			d.Error = msg
		}
		p.render(w, r, ae.Status, page, title, nil, d)
		return
	}
	if invite {
		flash(w, "Welcome! Your invitation is accepted: sign in with your email and the password you chose.")
	} else {
		flash(w, "Your password is changed: sign in with the new one.")
	}
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}
