package portal

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/tandem-rc/tandem/transport/wire"
)

// profileData is My profile (spec 2.3): details, password, recovery codes
// and API keys.
type profileData struct {
	Name, RCAction string
	MFA            bool
	LDAP           bool // directory users edit nothing here (spec 2.3.1)
	Errors         map[string]string
	RecoveryCodes  []string // shown once, right after generating them
	Keys           []wire.APIKey
	NewKey         string // shown once
	PasswordRules  []string
}

func (p *Portal) profileData(r *http.Request, s *session) (*profileData, error) {
	d := &profileData{Name: s.User.Name, RCAction: s.Member.RCAction, MFA: s.Member.MFA, LDAP: s.Member.Auth == "ldap",
		Errors: map[string]string{}, PasswordRules: passwordRules}
	if s.Member.API {
		if _, err := p.call(r, s.Token, "GET", "/api/v1/me/api-keys", nil, &d.Keys); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (p *Portal) handleProfile(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := p.profileData(r, s)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "profile", "My profile", s, d)
}

// profileRefused re-renders My profile with the API's message next to
// field.
func (p *Portal) profileRefused(w http.ResponseWriter, r *http.Request, s *session, d *profileData, field string, err error) {
	p.refused(w, r, s, "profile", "My profile", d, d.Errors, field, err)
}

// handleProfilePost handles the forms of My profile.
func (p *Portal) handleProfilePost(w http.ResponseWriter, r *http.Request, s *session) {
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	d, err := p.profileData(r, s)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	switch r.PathValue("form") {
	case "details":
		name := strings.TrimSpace(formValue(r, "name"))
		rc := formValue(r, "rc_action")
		mfa := r.PostFormValue("mfa") == "on"
		d.Name, d.RCAction, d.MFA = name, rc, mfa
		if name != s.User.Name {
			if _, err := p.call(r, s.Token, "PATCH", "/api/v1/me", wire.ProfileUpdate{Name: &name}, nil); err != nil {
				p.profileRefused(w, r, s, d, "name", err)
				return
			}
		}
		up := wire.MembershipUpdate{}
		if rc != s.Member.RCAction {
			up.RCAction = &rc
		}
		if mfa != s.Member.MFA {
			up.MFA = &mfa
		}
		if up.RCAction != nil || up.MFA != nil {
			if _, err := p.call(r, s.Token, "PATCH", "/api/v1/me/accounts/"+url.PathEscape(s.Account.ID), up, nil); err != nil {
				field := "rc_action"
				if up.MFA != nil && strings.Contains(strings.ToLower(err.Error()), "mfa") {
					field = "mfa"
				}
				p.profileRefused(w, r, s, d, field, err)
				return
			}
		}
		flash(w, "Your profile is saved.")
	case "password":
		cur, nw, confirm := formValue(r, "current"), formValue(r, "password"), formValue(r, "confirm")
		switch {
		case cur == "":
			d.Errors["current"] = "Enter your current password."
		case nw != confirm:
			d.Errors["confirm"] = "The two passwords differ."
		}
		if len(d.Errors) > 0 {
			p.render(w, r, http.StatusBadRequest, "profile", "My profile", s, d)
			return
		}
		if _, err := p.call(r, s.Token, "POST", "/api/v1/me/password", wire.PasswordChange{Current: cur, New: nw}, nil); err != nil {
			field := "password"
			var ae *apiError
			if errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || strings.Contains(ae.Message, "current")) {
				field = "current"
			}
			p.profileRefused(w, r, s, d, field, err)
			return
		}
		flash(w, "Your password is changed. Your other sign-ins have ended.")
	case "recovery":
		var rc wire.RecoveryCodes
		if _, err := p.call(r, s.Token, "POST", "/api/v1/me/recovery-codes", nil, &rc); err != nil {
			p.profileRefused(w, r, s, d, "recovery", err)
			return
		}
		d.RecoveryCodes = rc.Codes // shown now, never again
		p.render(w, r, http.StatusOK, "profile", "My profile", s, d)
		return
	case "apikey":
		var k wire.APIKey
		req := wire.APIKeyRequest{Account: s.Account.ID, Name: strings.TrimSpace(formValue(r, "key_name"))}
		if _, err := p.call(r, s.Token, "POST", "/api/v1/me/api-keys", req, &k); err != nil {
			p.profileRefused(w, r, s, d, "key_name", err)
			return
		}
		d, err = p.profileData(r, s)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		d.NewKey = k.Key
		p.render(w, r, http.StatusCreated, "profile", "My profile", s, d)
		return
	case "revoke":
		id := formValue(r, "id")
		if _, err := p.call(r, s.Token, "DELETE", "/api/v1/me/api-keys/"+url.PathEscape(id), nil, nil); err != nil {
			p.profileRefused(w, r, s, d, "keys", err)
			return
		}
		flash(w, "The API key is revoked.")
	default:
		p.renderError(w, r, http.StatusNotFound, "Not found", "There is no such form.")
		return
	}
	http.Redirect(w, r, "/profile", http.StatusSeeOther)
}
