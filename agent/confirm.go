package agent

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Confirm access (spec 4.4.10): a grant that says ConfirmLocal starts
// nothing until the local user allows it; a denial, no answer within
// ConfirmTimeout, or a host without a way to ask all refuse the session.

// ConfirmTimeout is how long the local user has to answer (default deny).
const ConfirmTimeout = 30 * time.Second

// ConfirmRequest is what the local user is asked.
type ConfirmRequest struct {
	SessionID   string
	Technician  string
	Permissions []string
}

// ConfirmUI asks the local user. Ask blocks until they answer or ctx ends
// (then it must return ctx's error, never true).
type ConfirmUI interface {
	Ask(ctx context.Context, r ConfirmRequest) (bool, error)
}

// confirmText is the question every platform's prompt asks.
func confirmText(r ConfirmRequest) (title, text string) {
	return "Tandem: allow remote access for " + r.Technician + "?",
		r.Technician + " asks to connect to this computer with: " + strings.Join(r.Permissions, ", ") +
			".\n\nAllow it? Without an answer it is denied."
}

var (
	errConfirmDenied  = errors.New("agent: the local user denied access")
	errConfirmTimeout = errors.New("agent: the local user did not answer in time (denied)")
	errConfirmNoUI    = errors.New("agent: this host cannot ask its local user to confirm access (denied)")
)

// EmailConfirmWait bounds the wait for an emailed answer when the local
// prompt is waived (the relay's confirmation lifetime).
const EmailConfirmWait = 15 * time.Minute

var errConfirmEmailTimeout = errors.New("agent: nobody answered the emailed confirmation in time (denied)")

// waived says which of the grant's exceptions holds in the host's state,
// "" for none.
func waived(exceptLocked, exceptNoUser, locked, noUser bool) string {
	switch {
	case exceptNoUser && noUser:
		return "no user is logged in"
	case exceptLocked && locked:
		return "the computer is locked"
	}
	return ""
}

func (s *Session) awaitEmail(ctx context.Context) error {
	wait := time.NewTimer(EmailConfirmWait)
	defer wait.Stop()
	select {
	case ok := <-s.confirmed:
		if !ok {
			s.h.event(Event{Kind: "confirm_denied", SessionID: s.g.SessionID, Technician: technician(s.g), Detail: "by email"})
			return errConfirmDenied
		}
		s.h.event(Event{Kind: "confirm_allowed", SessionID: s.g.SessionID, Technician: technician(s.g), Detail: "by email"})
		return nil
	case <-wait.C:
		s.h.event(Event{Kind: "confirm_timeout", SessionID: s.g.SessionID, Technician: technician(s.g), Detail: "by email"})
		return errConfirmEmailTimeout
	case <-ctx.Done():
		return ctx.Err()
	}
}

// remoteConfirm hands the session an emailed answer; only the first counts,
// and only if the signed grant asks for email confirmation: otherwise the
// local user alone decides, whatever the relay connection carries.
func (s *Session) remoteConfirm(ok bool) {
	if !s.g.ConfirmEmail {
		s.log.Warn("ignoring an emailed confirmation answer: this session's grant does not ask for one", "allowed", ok)
		s.h.event(Event{Kind: "confirm_email_ignored", SessionID: s.g.SessionID, Technician: technician(s.g)})
		return
	}
	select {
	case s.confirmed <- ok:
	default:
	}
}

// confirm runs the prompt for a session's grant.
func (s *Session) confirm(ctx context.Context) error {
	if !s.g.ConfirmLocal {
		return nil
	}
	if why := waived(s.g.ConfirmExceptLocked, s.g.ConfirmExceptNoUser, s.locked, s.noUser); why != "" {
		s.h.event(Event{Kind: "confirm_waived", SessionID: s.g.SessionID, Technician: technician(s.g), Detail: why})
		if !s.g.ConfirmEmail {
			return nil
		}
		// Nobody here to ask; the emailed answer still decides.
		return s.awaitEmail(ctx)
	}
	ui := s.h.o.Confirm
	if ui == nil {
		s.h.event(Event{Kind: "refused", SessionID: s.g.SessionID, Technician: technician(s.g), Detail: "confirm access: no way to ask"})
		return errConfirmNoUI
	}
	timeout := s.h.o.ConfirmTimeout
	if timeout <= 0 {
		timeout = ConfirmTimeout
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type answer struct {
		ok  bool
		err error
	}
	local := make(chan answer, 1)
	go func() {
		ok, err := ui.Ask(actx, ConfirmRequest{SessionID: s.g.SessionID, Technician: technician(s.g), Permissions: s.g.Permissions})
		local <- answer{ok, err}
	}()
	var ok bool
	var err error
	select {
	case a := <-local:
		ok, err = a.ok, a.err
	case ok = <-s.confirmed:
		// Someone answered the emailed request first (spec 4.4.10): the
		// prompt goes away.
		cancel()
		<-local
		if !ok {
			s.h.event(Event{Kind: "confirm_denied", SessionID: s.g.SessionID, Technician: technician(s.g), Detail: "by email"})
			return errConfirmDenied
		}
		s.h.event(Event{Kind: "confirm_allowed", SessionID: s.g.SessionID, Technician: technician(s.g), Detail: "by email"})
		return nil
	}
	switch {
	case err != nil && actx.Err() != nil && ctx.Err() == nil:
		s.h.event(Event{Kind: "confirm_timeout", SessionID: s.g.SessionID, Technician: technician(s.g)})
		return errConfirmTimeout
	case err != nil:
		return err
	case !ok:
		s.h.event(Event{Kind: "confirm_denied", SessionID: s.g.SessionID, Technician: technician(s.g)})
		return errConfirmDenied
	}
	s.h.event(Event{Kind: "confirm_allowed", SessionID: s.g.SessionID, Technician: technician(s.g)})
	return nil
}
