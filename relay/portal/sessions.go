package portal

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/transport/wire"
)

// sessionsData is My sessions (spec 3.2): the user's OnDemand session
// keys and the account's queue.
type sessionsData struct {
	Sessions []odView
	Created  *odView // the key just made, with its link
	Error    string
	Emailed  map[string]string // key → the email form's error
}

type odView struct {
	wire.OnDemandSession
	Spaced string // "613 220 463": read out on the phone
	Waited string
}

func (p *Portal) sessionsData(r *http.Request, s *session) (*sessionsData, error) {
	d := &sessionsData{Emailed: map[string]string{}}
	var list []wire.OnDemandSession
	if _, err := p.call(r, s.Token, "GET", "/api/v1/ondemand", nil, &list); err != nil {
		return nil, err
	}
	now := p.cfg.Clock()
	for _, o := range list {
		if o.AccountID != s.Account.ID {
			continue
		}
		v := odView{OnDemandSession: o, Spaced: wire.GroupKey(o.Key)}
		if o.JoinedAt > 0 {
			v.Waited = now.Sub(time.Unix(o.JoinedAt, 0)).Round(time.Minute).String()
		}
		d.Sessions = append(d.Sessions, v)
	}
	return d, nil
}

func (p *Portal) handleSessions(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := p.sessionsData(r, s)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "sessions", "My sessions", s, d)
}

// handleSessionAction creates a session key, emails its link, or rejects
// a session.
func (p *Portal) handleSessionAction(w http.ResponseWriter, r *http.Request, s *session) {
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	key := formValue(r, "key")
	var err error
	var made wire.OnDemandSession
	done := ""
	switch r.PathValue("action") {
	case "create":
		_, err = p.call(r, s.Token, "POST", "/api/v1/ondemand", wire.OnDemandCreateRequest{Account: s.Account.ID}, &made)
	case "email":
		_, err = p.call(r, s.Token, "POST", "/api/v1/ondemand/"+url.PathEscape(key)+"/email",
			wire.OnDemandEmailRequest{Email: strings.TrimSpace(formValue(r, "email"))}, nil)
		done = "The link is on its way."
	case "reject":
		_, err = p.call(r, s.Token, "POST", "/api/v1/ondemand/"+url.PathEscape(key)+"/reject", nil, nil)
		done = "The session is rejected."
	default:
		p.renderError(w, r, http.StatusNotFound, "Not found", "There is no such action.")
		return
	}
	d, derr := p.sessionsData(r, s)
	if derr != nil {
		p.fail(w, r, derr)
		return
	}
	if err != nil {
		msg, ok := apiMessage(err)
		var ae *apiError
		if !ok || !errors.As(err, &ae) {
			p.fail(w, r, err)
			return
		}
		if r.PathValue("action") == "email" {
			d.Emailed[key] = msg
		} else {
			d.Error = msg
		}
		p.render(w, r, ae.Status, "sessions", "My sessions", s, d)
		return
	}
	if made.Key != "" {
		d.Created = &odView{OnDemandSession: made, Spaced: wire.GroupKey(made.Key)}
		p.render(w, r, http.StatusCreated, "sessions", "My sessions", s, d)
		return
	}
	flash(w, done)
	http.Redirect(w, r, "/sessions", http.StatusSeeOther)
}
