package relay

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/mfa"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/sms"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// SMS codes as a second factor (seed 000): a user verifies a phone number
// with a texted code, then a sign-in may ask for a code texted to it. The
// codes and their budgets are relay/sms's (in the database).

const (
	EvPhoneVerified = "user.phone_verified"
	EvPhoneRemoved  = "user.phone_removed"
)

func (s *Server) smsRoutes() []route {
	return []route{
		{"POST", "/api/v1/login/mfa/sms", s.api(s.handleLoginMFASMS)},
		{"POST", "/api/v1/me/phone", s.api(s.handleStartPhone)},
		{"POST", "/api/v1/me/phone/confirm", s.api(s.handleConfirmPhone)},
		{"DELETE", "/api/v1/me/phone", s.api(s.handleRemovePhone)},
	}
}

// smsKey is the key the codes' hashes are made with: derived from the
// relay's private key, which lives outside the database.
func (s *Server) smsKey() []byte {
	h := sha256.Sum256(append([]byte("tandem sms codes\x00"), s.key.Seed()...))
	return h[:]
}

func smsError(err error) error {
	switch {
	case errors.Is(err, sms.ErrLimited):
		return errf(http.StatusTooManyRequests, api.CodeThrottled, "%v", err)
	case errors.Is(err, sms.ErrWrong):
		return errf(http.StatusUnauthorized, api.CodeMFAFailed, "wrong code")
	case errors.Is(err, sms.ErrNoCode):
		return errf(http.StatusUnauthorized, api.CodeMFAFailed, "%v", err)
	}
	return err
}

func (s *Server) smsProvider() (sms.Provider, error) {
	if s.cfg.SMS == nil {
		return nil, errf(http.StatusConflict, api.CodeConflict, "this relay sends no SMS (no --sms-gateway-url or --sms-email-address)")
	}
	return s.cfg.SMS, nil
}

// handleStartPhone is POST /api/v1/me/phone: a code to the number, which
// becomes the user's once the code comes back.
func (s *Server) handleStartPhone(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if err := requireLogin(a); err != nil {
		return err
	}
	var req wire.SMSPhone
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	p, err := s.smsProvider()
	if err != nil {
		return err
	}
	phone, err := sms.NormalizePhone(req.Phone)
	if err != nil {
		return badf("%v", err)
	}
	if err := s.smsCodes.Send(r.Context(), p, "enrol:"+a.User.ID, phone, "Tandem: your code to confirm this phone is {code}"); err != nil {
		if !errors.Is(err, sms.ErrLimited) {
			s.log.Warn("SMS gateway", "err", err)
			return errf(http.StatusServiceUnavailable, api.CodeUnavailable, "the code could not be texted; try again later")
		}
		return smsError(err)
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// handleConfirmPhone is POST /api/v1/me/phone/confirm.
func (s *Server) handleConfirmPhone(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if err := requireLogin(a); err != nil {
		return err
	}
	var req wire.SMSCode
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if !mfa.ValidCode(strings.TrimSpace(req.Code)) {
		return badf("code is the 6 digits of the text")
	}
	phone, err := s.smsCodes.Check(r.Context(), "enrol:"+a.User.ID, req.Code)
	if err != nil {
		return smsError(err)
	}
	if err := s.atomically(r.Context(), func(tx *store.Store, audit func(auditRec)) error {
		audit(auditRec{Event: EvPhoneVerified, User: a.User.ID, Remote: remoteIP(r), Detail: map[string]any{"phone": maskPhone(phone)}})
		return tx.SetUserPhone(r.Context(), a.User.ID, phone)
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleRemovePhone is DELETE /api/v1/me/phone, with a current app code
// or the password (as for the other factors).
func (s *Server) handleRemovePhone(w http.ResponseWriter, r *http.Request) error {
	a, req, err := s.reauthRequest(w, r)
	if err != nil {
		return err
	}
	if _, err := s.st.UserPhone(r.Context(), a.User.ID); errors.Is(err, store.ErrNotFound) {
		return errf(http.StatusNotFound, api.CodeNotFound, "no phone number is set up")
	} else if err != nil {
		return err
	}
	if err := s.reauth(r, a, req.Code, req.Password); err != nil {
		return err
	}
	if err := s.atomically(r.Context(), func(tx *store.Store, audit func(auditRec)) error {
		audit(auditRec{Event: EvPhoneRemoved, User: a.User.ID, Remote: remoteIP(r)})
		return tx.DeleteUserPhone(r.Context(), a.User.ID)
	}); errors.Is(err, store.ErrNotFound) {
		return errf(http.StatusNotFound, api.CodeNotFound, "no phone number is set up")
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// maskPhone keeps a number's last digits for the audit log.
func maskPhone(p string) string {
	if len(p) <= 4 {
		return "****"
	}
	return "****" + p[len(p)-4:]
}

// handleLoginMFASMS is POST /api/v1/login/mfa/sms: text the code of a
// challenge that offered sms (the budget of relay/sms bounds the texts).
func (s *Server) handleLoginMFASMS(w http.ResponseWriter, r *http.Request) error {
	var req wire.LoginMFAEmail
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := challengeRequired(req.Challenge); err != nil {
		return err
	}
	ip := remoteIP(r)
	if err := s.sourceBlocked(source(ip), "logins"); err != nil {
		return err
	}
	ctx := r.Context()
	t, err := s.st.UserToken(ctx, secret.Hash(req.Challenge), store.PurposeMFA)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (!s.now().Before(t.ExpiresAt) || t.Tries >= mfaMaxTries)) {
		s.loginIPLimit.fail(source(ip))
		return errf(http.StatusUnauthorized, api.CodeMFAFailed, "this login challenge expired or was used up; log in again")
	} else if err != nil {
		return err
	}
	u, err := s.st.User(ctx, t.UserID)
	if err != nil {
		return err
	}
	phone, ok, err := s.smsFactor(ctx, u)
	if err != nil {
		return err
	}
	if !ok || u.Disabled {
		return errf(http.StatusForbidden, api.CodeForbidden, "your account does not allow codes by SMS, or no phone is set up")
	}
	if err := s.smsCodes.Send(ctx, s.cfg.SMS, "login:"+u.ID, phone, "Tandem: your sign-in code is {code}"); err != nil {
		if !errors.Is(err, sms.ErrLimited) {
			s.log.Warn("SMS gateway", "err", err)
			return errf(http.StatusServiceUnavailable, api.CodeUnavailable, "the code could not be texted; try again later or use another factor")
		}
		return smsError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// smsFactor says whether u may sign in with an SMS code (SMS allowed by
// all of u's accounts, a verified phone, a provider), and to which phone.
func (s *Server) smsFactor(ctx context.Context, u store.User) (string, bool, error) {
	if s.cfg.SMS == nil {
		return "", false, nil
	}
	ms, err := s.st.Memberships(ctx, u.ID)
	if err != nil {
		return "", false, err
	}
	d, _, err := s.mfaDecision(ctx, u, activeMemberships(ms))
	if err != nil {
		return "", false, err
	}
	allowed := false
	for _, f := range d.Factors {
		allowed = allowed || f == mfa.SMS
	}
	phone, err := s.st.UserPhone(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return "", false, nil
	}
	return phone, allowed && err == nil, err
}

// loginSMS checks an SMS code of u's sign-in; a wrong one costs one of the
// code's tries (and the challenge's, in handleLoginMFA).
func (s *Server) loginSMS(ctx context.Context, u store.User, code string) (bool, error) {
	if _, ok, err := s.smsFactor(ctx, u); err != nil || !ok {
		return false, err
	}
	_, err := s.smsCodes.Check(ctx, "login:"+u.ID, code)
	if errors.Is(err, sms.ErrWrong) || errors.Is(err, sms.ErrNoCode) {
		return false, nil
	}
	return err == nil, err
}
