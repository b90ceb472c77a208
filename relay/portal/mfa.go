package portal

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/tandem-rc/tandem/transport/wire"
)

// Second factors in the Portal (issue 17): the sign-in step's choice of
// factor, asking for the email code when it is one of several, and My
// profile's "Sign-in factors" page (authenticator app, passkeys).

func (p *Portal) routesMFA(mux *http.ServeMux) {
	mux.HandleFunc("POST /signin/mfa/email", p.handleSignInEmail)
	mux.Handle("GET /profile/mfa", p.page(p.handleMFAPage))
	mux.Handle("POST /profile/mfa/{form}", p.page(p.handleMFAPost))
}

// setFactors keeps the factors the API offered (known names only) and
// picks the one the code field is for: the one asked, else the first
// that takes a typed code.
func (d *signInData) setFactors(offered []string, asked string) {
	d.Factors = nil
	for _, f := range offered {
		if slices.Contains([]string{"totp", "webauthn", "email", "recovery"}, f) && !slices.Contains(d.Factors, f) {
			d.Factors = append(d.Factors, f)
		}
	}
	d.Factor = ""
	for _, f := range d.Factors {
		if (f == "totp" || f == "email") && (asked == "" || asked == f) {
			d.Factor = f
			break
		}
	}
	switch {
	case d.Factor == "email" && !slices.Contains(d.Factors, "totp") && !slices.Contains(d.Factors, "webauthn"):
		d.Notice = "We emailed you a 6-digit code. Enter it to finish signing in."
	case d.Factor == "totp":
		d.Notice = "Enter the 6-digit code your authenticator app shows."
	case slices.Contains(d.Factors, "webauthn"):
		d.Notice = "Use your passkey to finish signing in."
	}
}

// FactorList is the factors as the form's hidden field carries them.
func (d signInData) FactorList() string { return strings.Join(d.Factors, ",") }

// Has reports whether factor f is offered.
func (d signInData) Has(f string) bool { return slices.Contains(d.Factors, f) }

// handleSignInEmail asks the API to email the challenge's code, then
// shows the code field for it.
func (p *Portal) handleSignInEmail(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	d := signInData{Step: "mfa", Next: localNext(formValue(r, "next")), Username: strings.TrimSpace(formValue(r, "username")),
		Challenge: formValue(r, "challenge")}
	d.setFactors(strings.Split(formValue(r, "factors"), ","), "email")
	if _, err := p.call(r, "", "POST", "/api/v1/login/mfa/email", wire.LoginMFAEmail{Challenge: d.Challenge}, nil); err != nil {
		p.signInFailed(w, r, d, err)
		return
	}
	d.Notice = "We emailed you a 6-digit code. Enter it to finish signing in."
	p.render(w, r, http.StatusOK, "signin", "Sign in", nil, d)
}

// mfaData is the Sign-in factors page.
type mfaData struct {
	Status   wire.MFAStatus
	Passkeys []wire.Passkey
	LDAP     bool
	Enrol    *wire.TOTPEnrolment // shown once, right after starting
	Errors   map[string]string
}

func (p *Portal) mfaData(r *http.Request, s *session) (*mfaData, error) {
	d := &mfaData{LDAP: s.Member.Auth == "ldap" || s.Member.Auth == "oidc", Errors: map[string]string{}}
	if _, err := p.call(r, s.Token, "GET", "/api/v1/me/mfa", nil, &d.Status); err != nil {
		return nil, err
	}
	if _, err := p.call(r, s.Token, "GET", "/api/v1/me/passkeys", nil, &d.Passkeys); err != nil {
		return nil, err
	}
	return d, nil
}

// QR is the enrolment's QR code as an image URL (base64 from the API).
func (d *mfaData) QR() template.URL {
	if d.Enrol == nil || strings.Trim(d.Enrol.QRPNG, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != "" {
		return ""
	}
	return template.URL("data:image/png;base64," + d.Enrol.QRPNG)
}

// Allows reports whether the caller's accounts allow factor f.
func (d *mfaData) Allows(f string) bool { return slices.Contains(d.Status.Allowed, f) }

func (p *Portal) handleMFAPage(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := p.mfaData(r, s)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "mfa", "Sign-in factors", s, d)
}

// handleMFAPost handles the page's forms; "passkey-options" answers JSON
// for mfa.js (the browser's WebAuthn call needs the options first).
func (p *Portal) handleMFAPost(w http.ResponseWriter, r *http.Request, s *session) {
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	form := r.PathValue("form")
	if form == "passkey-options" {
		var c wire.PasskeyCeremony
		if _, err := p.call(r, s.Token, "POST", "/api/v1/me/passkey-ceremonies", nil, &c); err != nil {
			msg, _ := apiMessage(err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusConflict)
			json.NewEncoder(w).Encode(map[string]string{"error": msg})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(c)
		return
	}
	d, err := p.mfaData(r, s)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	refused := func(field string, err error) { p.refused(w, r, s, "mfa", "Sign-in factors", d, d.Errors, field, err) }
	reauth := wire.Reauth{Code: strings.TrimSpace(formValue(r, "code")), Password: formValue(r, "password")}
	switch form {
	case "totp-start":
		var e wire.TOTPEnrolment
		if _, err := p.call(r, s.Token, "POST", "/api/v1/me/totp", nil, &e); err != nil {
			refused("totp", err)
			return
		}
		d.Enrol = &e // the secret is shown now, never again
		d.Status.TOTPPending = true
		p.render(w, r, http.StatusOK, "mfa", "Sign-in factors", s, d)
		return
	case "totp-confirm":
		if _, err := p.call(r, s.Token, "POST", "/api/v1/me/totp/confirm", wire.TOTPCode{Code: strings.TrimSpace(formValue(r, "code"))}, nil); err != nil {
			refused("totp", err)
			return
		}
		flash(w, "Your authenticator app is set up: sign-in will ask for its code.")
	case "totp-remove":
		if _, err := p.call(r, s.Token, "DELETE", "/api/v1/me/totp", reauth, nil); err != nil {
			refused("totp", err)
			return
		}
		flash(w, "Your authenticator app is removed.")
	case "passkey-add":
		req := wire.PasskeyFinish{Ceremony: formValue(r, "ceremony"), Name: strings.TrimSpace(formValue(r, "name"))}
		if c := r.PostFormValue("credential"); c != "" && len(c) <= maxFormBytes {
			req.Credential = json.RawMessage(c)
		}
		if _, err := p.call(r, s.Token, "POST", "/api/v1/me/passkeys", req, nil); err != nil {
			refused("passkeys", err)
			return
		}
		flash(w, "Your passkey is added: sign-in can use it.")
	case "passkey-remove":
		if _, err := p.call(r, s.Token, "DELETE", "/api/v1/me/passkeys/"+url.PathEscape(formValue(r, "id")), reauth, nil); err != nil {
			refused("passkeys", err)
			return
		}
		flash(w, "The passkey is removed.")
	default:
		p.renderError(w, r, http.StatusNotFound, "Not found", "There is no such form.")
		return
	}
	http.Redirect(w, r, "/profile/mfa", http.StatusSeeOther)
}
