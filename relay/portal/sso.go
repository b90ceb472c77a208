package portal

import (
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/transport/wire"
)

// OpenID Connect sign-in in the Portal (issue 17): DOMAIN\user of an OIDC
// method goes to its IdP, which comes back to /sso/callback; the relay's
// API checks the answer (state, code, ID token) and the Portal sets its
// cookie like after a password.

const ssoCallback = "/sso/callback"

// trySSO sends the browser to the IdP when the username's domain signs in
// through OIDC; false when it does not (an LDAP domain: ask the password).
func (p *Portal) trySSO(w http.ResponseWriter, r *http.Request, d signInData) bool {
	if !strings.Contains(d.Username, `\`) {
		return false
	}
	var sr wire.SSORedirect
	start := wire.SSOStart{Login: d.Username, Portal: true, Next: d.Next}
	_, err := p.call(r, "", "POST", "/api/v1/sso/oidc/start", start, &sr)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		// Not OIDC: SAML (ADFS, Azure AD)?
		_, err = p.call(r, "", "POST", "/api/v1/sso/saml/start", start, &sr)
	}
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return false
	} else if err != nil {
		d.Step = "user"
		p.signInFailed(w, r, d, err)
		return true
	}
	// Not a redirect: the CSP's form-action 'self' stops a form's redirect
	// to another site; a page that navigates on is not a form action.
	continueTo(w, sr.URL)
	return true
}

func continueTo(w http.ResponseWriter, u string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	continuePage.Execute(w, u)
}

// ssoButtons are the sign-in page's "Sign in with …" buttons (none when
// the API can't tell).
func (p *Portal) ssoButtons(r *http.Request) []wire.SSOButton {
	var bs []wire.SSOButton
	if _, err := p.call(r, "", "GET", "/api/v1/sso/oidc/buttons", nil, &bs); err != nil {
		p.log.Warn("portal: sign-in buttons", "err", err)
		return nil
	}
	return bs
}

// continuePage navigates on: to the IdP (see trySSO), and from the IdP's
// redirect with a same-site navigation (the SameSite=Strict cookie set
// there is not sent on a redirect chain that began at another site).
var continuePage = template.Must(template.New("continue").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url={{.}}"><title>Signing in</title></head>
<body><p><a href="{{.}}">Continue</a></p></body></html>`))

func (p *Portal) handleSSOCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := signInData{Step: "user"}
	var lr wire.LoginResponse
	h, err := p.call(r, "", "POST", "/api/v1/sso/oidc/finish", wire.SSOFinish{State: q.Get("state"), Code: q.Get("code"), Error: q.Get("error")}, &lr)
	if err != nil {
		p.signInFailed(w, r, d, err)
		return
	}
	p.signedInBySSO(w, r, d, h, lr)
}

// signedInBySSO ends an IdP's sign-in (OIDC or SAML): the MFA step, or the
// cookie and on to the page the sign-in started from.
func (p *Portal) signedInBySSO(w http.ResponseWriter, r *http.Request, d signInData, h http.Header, lr wire.LoginResponse) {
	next := localNext(h.Get(wire.HeaderSSONext))
	if lr.MFARequired {
		d.Step, d.Challenge, d.Next = "mfa", lr.Challenge, next
		d.setFactors(lr.Factors, "")
		p.render(w, r, http.StatusOK, "signin", "Sign in", nil, d)
		return
	}
	ttl := time.Until(time.Unix(lr.ExpiresAt, 0))
	if ttl <= 0 {
		ttl = time.Hour
	}
	setCookie(w, sessionCookie, lr.Token, ttl)
	continueTo(w, next)
}
