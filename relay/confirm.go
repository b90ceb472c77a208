package relay

import (
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/mail"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// Confirm access via email (spec 4.4.10): when a technician's role
// assignments ask for it, the session waits until a member of the
// confirming user groups allows it through the link they were emailed.
// Each recipient gets their own single-use link, so the audit log says who
// decided; the link's page changes nothing on GET (mail scanners open
// links), only its form's POST answers; the first answer wins.

const (
	EvConfirmRequested = "confirm.requested"
	EvConfirmAllowed   = "confirm.allowed"
	EvConfirmDenied    = "confirm.denied"
)

// ConfirmTTL is how long an emailed confirmation can be answered.
const ConfirmTTL = 15 * time.Minute

func wireConfirmation(c store.Confirmation, now time.Time) *wire.Confirmation {
	st := c.Status
	if st == "pending" && !now.Before(c.ExpiresAt) {
		st = "expired"
	}
	return &wire.Confirmation{ID: c.ID, Status: st, ExpiresAt: c.ExpiresAt.Unix()}
}

// requestConfirmation emails the confirming groups' members (not the
// technician asking) their links and records the request.
func (s *Server) requestConfirmation(r *http.Request, u store.User, d store.Device, action string, dec decision, sessionID string) (*wire.Confirmation, error) {
	ctx := r.Context()
	base := s.publicBase(r)
	if s.cfg.Mail == nil || base == "" {
		return nil, errf(http.StatusForbidden, api.CodeForbidden, "your role assignments require confirmation by email, but this relay has no mail sender or public URL configured")
	}
	users, err := s.st.GroupMemberUsers(ctx, d.AccountID, dec.ConfirmEmail)
	if err != nil {
		return nil, err
	}
	now := s.now()
	c := store.Confirmation{AccountID: d.AccountID, UserID: u.ID, DeviceID: d.ID, Action: action, SessionID: sessionID,
		CreatedAt: now, ExpiresAt: now.Add(ConfirmTTL)}
	var links []store.ConfirmLink
	var msgs []mail.Message
	for _, to := range users {
		if to.ID == u.ID {
			continue // nobody confirms their own access
		}
		tok := secret.NewToken()
		link := base + "/c/" + tok
		m, err := mail.ConfirmAccess(to.Email, technicianName(u), d.Name(), dec.Permissions.Strings(), link, link, c.ExpiresAt)
		if err != nil {
			s.log.Warn("confirm access mail not built", "to", to.ID, "err", err)
			continue
		}
		links = append(links, store.ConfirmLink{Hash: secret.Hash(tok), UserID: to.ID})
		msgs = append(msgs, m)
	}
	if len(links) == 0 {
		return nil, errf(http.StatusForbidden, api.CodeForbidden, "your session needs confirmation by email, but the confirming groups have nobody else to ask")
	}
	if c, err = s.st.CreateConfirmation(ctx, c, links); err != nil {
		return nil, err
	}
	sent := 0
	for _, m := range msgs {
		if err := s.sendMail(ctx, m); err != nil {
			s.log.Error("sending a confirm access request", "confirmation", c.ID, "err", err)
			continue
		}
		sent++
	}
	if sent == 0 {
		return nil, errf(http.StatusServiceUnavailable, api.CodeUnavailable, "the confirmation request could not be emailed; try again later")
	}
	s.audit(auditRec{Event: EvConfirmRequested, Account: d.AccountID, User: u.ID, Device: d.ID, Remote: remoteIP(r),
		Detail: map[string]any{"confirmation": c.ID, "action": action, "recipients": sent}})
	out := wireConfirmation(c, now)
	out.Message = "waiting for a member of the confirming group to allow this session (emailed)"
	return out, nil
}

func technicianName(u store.User) string {
	if u.Name != "" {
		return u.Name + " (" + u.Email + ")"
	}
	return u.Email
}

// handleConfirmationStatus is GET /api/v1/confirmations/{id}, for the
// technician who asked.
func (s *Server) handleConfirmationStatus(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	c, err := s.st.Confirmation(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.UserID != a.User.ID) {
		return errf(http.StatusNotFound, api.CodeNotFound, "no confirmation %q of yours", r.PathValue("id"))
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wireConfirmation(c, s.now()))
	return nil
}

type confirmView struct {
	Error, Done        string
	Technician, Device string
	Action, Requested  string
	Permissions        []string
	Token              string
}

// handleConfirmPage is GET and POST /c/{token}: the page the emailed link
// opens (details, Allow and Deny), and its answer.
func (s *Server) handleConfirmPage(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	ctx := r.Context()
	tok := r.PathValue("token")
	ip := remoteIP(r)
	show := func(status int, v confirmView) {
		w.WriteHeader(status)
		confirmPage.Execute(w, v)
	}
	if blocked, _ := s.enrollLimit.blocked(source(ip)); blocked {
		show(http.StatusTooManyRequests, confirmView{Error: "Too many invalid links from this address; wait and try again."})
		return
	}
	c, recipient, err := s.st.ConfirmationByLink(ctx, secret.Hash(tok))
	if errors.Is(err, store.ErrNotFound) || len(tok) > 128 {
		s.enrollLimit.fail(source(ip))
		show(http.StatusNotFound, confirmView{Error: "This confirmation link is not valid."})
		return
	} else if err != nil {
		s.log.Error("confirmation lookup", "err", err)
		show(http.StatusServiceUnavailable, confirmView{Error: "The relay cannot look this up right now; try again."})
		return
	}
	now := s.now()
	v := confirmView{Token: tok, Action: c.Action, Requested: c.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC")}
	if tu, err := s.st.User(ctx, c.UserID); err == nil {
		v.Technician = technicianName(tu)
	}
	if d, err := s.st.Device(ctx, c.DeviceID); err == nil {
		v.Device = d.Name()
	}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 4096)
		allow := r.PostFormValue("decision") == "allow"
		if d := r.PostFormValue("decision"); d != "allow" && d != "deny" {
			show(http.StatusBadRequest, confirmView{Error: "Choose Allow or Deny."})
			return
		}
		ev, done := EvConfirmDenied, "Denied: the session will not start."
		if allow {
			ev, done = EvConfirmAllowed, "Allowed: the technician's session can start now."
		}
		// The answer and its event commit together; the Host hears after.
		err := s.commit(ctx, func(tx *store.Store) error { return tx.DecideConfirmation(ctx, c.ID, recipient, allow, now) }, func() auditRec {
			return auditRec{Event: ev, Account: c.AccountID, User: recipient, Device: c.DeviceID, Remote: ip,
				Detail: map[string]any{"confirmation": c.ID, "technician": c.UserID, "action": c.Action}}
		})
		if errors.Is(err, store.ErrDecided) {
			c, _ = s.st.Confirmation(ctx, c.ID)
			show(http.StatusConflict, confirmView{Error: "This request was answered already or has expired (" + wireConfirmation(c, now).Status + ")."})
			return
		} else if err != nil {
			s.log.Error("deciding a confirmation", "err", err)
			show(http.StatusServiceUnavailable, confirmView{Error: "The relay cannot record your answer right now; try again."})
			return
		}
		if c.SessionID != "" {
			// The Host is asking its local user for this session too: the
			// first answer wins there.
			code := "denied"
			if allow {
				code = "allowed"
			}
			if a := s.hub.agent(c.DeviceID); a != nil {
				a.send(&wire.Signal{Type: wire.SigConfirm, Session: c.SessionID, Code: code})
			}
		}
		v.Done = done
		show(http.StatusOK, v)
		return
	}
	if st := wireConfirmation(c, now).Status; st != "pending" {
		show(http.StatusConflict, confirmView{Error: "This request was answered already or has expired (" + st + ")."})
		return
	}
	show(http.StatusOK, v)
}

var confirmPage = template.Must(template.New("c").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>Confirm access</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#222}
.err{border-left:4px solid #b00;background:#fdecec;padding:.5rem 1rem} td{padding:.2rem .8rem .2rem 0}
button{font-size:1rem;padding:.5rem 1.4rem;margin-right:1rem;border-radius:4px;cursor:pointer}
.allow{border:2px solid #0b5cad;background:#fff}.deny{border:2px solid #b00;background:#fff}</style></head><body>
<h1>Confirm access</h1>
{{if .Error}}<p class="err">{{.Error}}</p>{{else if .Done}}<p>{{.Done}}</p>{{else}}
<p>You are seeing this page because you belong to a group that confirms remote access by email. Do you allow this connection?</p>
<table><tr><td>Technician</td><td><b>{{.Technician}}</b></td></tr><tr><td>Device</td><td><b>{{.Device}}</b></td></tr>
<tr><td>Action</td><td>{{.Action}}</td></tr><tr><td>Requested</td><td>{{.Requested}}</td></tr></table>
<form method="post"><button class="allow" name="decision" value="allow">Allow</button><button class="deny" name="decision" value="deny">Deny</button></form>
{{end}}</body></html>`))
