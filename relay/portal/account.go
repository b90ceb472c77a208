package portal

import (
	"errors"
	"net/http"
	"strings"

	"github.com/tandem-rc/tandem/transport/wire"
)

// securityData is Account security (spec 5.1 multi-factor authentication,
// 5.3.1 audit logging).
type securityData struct {
	MFA     string
	Factors []string // the second factors the account allows
	Audit   wire.AuditSettings
	Errors  map[string]string
}

func (p *Portal) securityData(r *http.Request, s *session) (*securityData, error) {
	d := &securityData{Errors: map[string]string{}}
	var sec wire.Security
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/security"), nil, &sec); err != nil {
		return nil, err
	}
	d.MFA, d.Factors = sec.MFA, sec.Factors
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/audit/settings"), nil, &d.Audit); err != nil {
		return nil, err
	}
	return d, nil
}

func (p *Portal) handleSecurity(w http.ResponseWriter, r *http.Request, s *session) {
	if !s.AtLeast("admin") {
		p.renderError(w, r, http.StatusForbidden, "Not allowed", "Only account administrators change the account's security.")
		return
	}
	d, err := p.securityData(r, s)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if r.Method == http.MethodPost {
		if err := parseForm(w, r); err != nil {
			p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
			return
		}
		var field string
		switch r.PathValue("form") {
		case "mfa":
			field = "mfa"
			d.MFA, d.Factors = formValue(r, "mfa"), r.PostForm["factors"]
			if d.Factors == nil {
				d.Factors = []string{} // none ticked: the API says why that cannot be
			}
			_, err = p.call(r, s.Token, "PUT", accountPath(s.Account.ID, "/security"), wire.Security{MFA: d.MFA, Factors: d.Factors}, nil)
		case "audit":
			field = "audit"
			d.Audit.Enabled = r.PostFormValue("enabled") == "on"
			_, err = p.call(r, s.Token, "PUT", accountPath(s.Account.ID, "/audit/settings"), wire.AuditSettings{Enabled: d.Audit.Enabled}, nil)
		default:
			p.renderError(w, r, http.StatusNotFound, "Not found", "There is no such form.")
			return
		}
		if err != nil {
			p.refused(w, r, s, "security", "Account security", d, d.Errors, field, err)
			return
		}
		flash(w, "Saved.")
		http.Redirect(w, r, "/security", http.StatusSeeOther)
		return
	}
	p.render(w, r, http.StatusOK, "security", "Account security", s, d)
}

// refused re-renders a page with the API's refusal next to field.
func (p *Portal) refused(w http.ResponseWriter, r *http.Request, s *session, page, title string, d any, errs map[string]string, field string, err error) {
	msg, ok := apiMessage(err)
	var ae *apiError
	if !ok || !errors.As(err, &ae) {
		p.fail(w, r, err)
		return
	}
	errs[field] = msg
	p.render(w, r, ae.Status, page, title, s, d)
}

// configData is Configuration (spec 6.1 account details).
type configData struct {
	Config   wire.AccountConfig
	Owner    bool
	Errors   map[string]string
	Branding *brandingData // Portal logo and Change owner (branding.go)
}

// configPage loads the Configuration page's data.
func (p *Portal) configPage(r *http.Request, s *session) (*configData, error) {
	d := &configData{Owner: s.AtLeast("owner"), Errors: map[string]string{}}
	if _, err := p.call(r, s.Token, "GET", accountPath(s.Account.ID, "/config"), nil, &d.Config); err != nil {
		return nil, err
	}
	var err error
	d.Branding, err = p.brandingData(r, s)
	return d, err
}

func (p *Portal) handleConfiguration(w http.ResponseWriter, r *http.Request, s *session) {
	if !s.AtLeast("admin") {
		p.renderError(w, r, http.StatusForbidden, "Not allowed", "Only account administrators see the account's configuration.")
		return
	}
	d, err := p.configPage(r, s)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if r.Method == http.MethodPost {
		if err := parseForm(w, r); err != nil {
			p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
			return
		}
		want := wire.AccountConfig{Name: d.Config.Name, Company: strings.TrimSpace(formValue(r, "company")),
			Contact: strings.TrimSpace(formValue(r, "contact")), TimeZone: strings.TrimSpace(formValue(r, "timezone")),
			RCAction: formValue(r, "rc_action")}
		d.Config.Company, d.Config.Contact, d.Config.TimeZone, d.Config.RCAction = want.Company, want.Contact, want.TimeZone, want.RCAction
		if _, err := p.call(r, s.Token, "PUT", accountPath(s.Account.ID, "/config"), want, nil); err != nil {
			field := "form"
			var ae *apiError
			if errors.As(err, &ae) {
				for _, f := range []string{"company", "contact", "timezone", "rc_action"} {
					if strings.Contains(ae.Message, f) {
						field = f
						break
					}
				}
			}
			p.refused(w, r, s, "configuration", "Configuration", d, d.Errors, field, err)
			return
		}
		flash(w, "The account details are saved.")
		http.Redirect(w, r, "/configuration", http.StatusSeeOther)
		return
	}
	p.render(w, r, http.StatusOK, "configuration", "Configuration", s, d)
}
