package relay

import (
	"errors"
	"net/http"
	"strings"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// handleChangePassword is POST /api/v1/me/password: the current password
// and a new one that follows the rules. The caller's other logins end.
func (s *Server) handleChangePassword(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if err := requireLogin(a); err != nil {
		return err
	}
	var req wire.PasswordChange
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Current == "" || len(req.Current) > secret.MaxPasswordLen {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "current (your password now) is required")
	}
	if err := secret.ValidatePassword(req.New); err != nil {
		return errf(http.StatusBadRequest, api.CodeWeakPassword, "new: %v", err)
	}
	u := a.User
	if u.Auth != store.AuthInternal {
		return errf(http.StatusForbidden, api.CodeForbidden, "your password is managed by your directory (%s), not here", u.Auth)
	}
	ip := remoteIP(r)
	key := source(ip) + "\x00" + u.Email
	if blocked, retry := s.loginLimit.blocked(key); blocked {
		return &apiError{Status: http.StatusTooManyRequests, Code: api.CodeThrottled,
			Msg: "too many wrong passwords; wait and try again", RetryAfter: retry}
	}
	ok, err := s.checkPassword(r.Context(), u.PasswordHash, req.Current)
	if errors.Is(err, errHashBusy) {
		return err
	} else if err != nil || !ok {
		s.loginLimit.fail(key)
		return errf(http.StatusForbidden, api.CodeBadCredentials, "the current password is wrong")
	}
	hash, err := s.hashPassword(r.Context(), req.New)
	if err != nil {
		return err
	}
	if err := s.atomically(r.Context(), func(tx *store.Store, audit func(auditRec)) error {
		audit(auditRec{Event: EvPasswordChanged, User: u.ID, Remote: ip})
		return tx.ChangePassword(r.Context(), u.ID, hash, a.TokenHash)
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleForgotPassword is POST /api/v1/password/forgot. It always answers
// 202 at once, whether the email is a user or not; the reset email (for
// enabled internal users only, spec 2.1.1) is sent in the background so
// the answer's timing does not tell either.
func (s *Server) handleForgotPassword(w http.ResponseWriter, r *http.Request) error {
	var req wire.PasswordForgot
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "email: %v", err)
	}
	ip := remoteIP(r)
	// Every request costs a token, per remote IP (20, then one per 30 s)
	// and per email (3 mails, then one per 20 min), so nobody floods a
	// mailbox with links. The per-email limit is silent (still
	// 202): an error there would tell that the email is a user.
	if blocked, retry := s.resetIPLimit.blocked(source(ip)); blocked {
		return &apiError{Status: http.StatusTooManyRequests, Code: api.CodeThrottled,
			Msg: "too many requests from this address; wait and try again", RetryAfter: retry}
	}
	s.resetIPLimit.fail(source(ip))
	blocked, _ := s.resetLimit.blocked(email)
	s.resetLimit.fail(email)
	if base := s.publicBase(r); !blocked && s.begin() {
		go func() {
			defer s.wg.Done()
			s.sendReset(email, ip, base)
		}()
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "if this email belongs to a user with a password here, a reset link is on its way"})
	return nil
}

func (s *Server) sendReset(email, ip, base string) {
	ctx, cancel := s.dbctx()
	defer cancel()
	u, err := s.st.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return
	} else if err != nil {
		s.log.Error("password reset: user lookup", "err", err)
		return
	}
	if u.Disabled || u.Auth != store.AuthInternal {
		return
	}
	token := secret.NewToken()
	now := s.now()
	exp := now.Add(resetTTL)
	// The code and its event commit together; the mail goes out after.
	if err := s.commit(ctx, func(tx *store.Store) error {
		return tx.CreateUserToken(ctx, store.UserToken{Hash: secret.Hash(token), UserID: u.ID, Purpose: store.PurposeReset,
			CreatedAt: now, ExpiresAt: exp})
	}, func() auditRec { return auditRec{Event: EvPasswordResetSent, User: u.ID, Remote: ip} }); err != nil {
		s.log.Error("password reset: storing the token", "user", u.ID, "err", err)
		return
	}
	if err := s.sendMail(ctx, resetMessage(u.Email, token, link(base, "/reset", token), exp)); err != nil {
		s.log.Error("password reset: sending the email", "user", u.ID, "err", err)
	}
}

// handleResetPassword is POST /api/v1/password/reset: the emailed token
// (once, within the hour) and a new password. Every login of the user ends.
func (s *Server) handleResetPassword(w http.ResponseWriter, r *http.Request) error {
	var req wire.PasswordReset
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	req.Token = strings.TrimSpace(req.Token)
	if req.Token == "" || len(req.Token) > 256 {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "token (from the reset email) is required")
	}
	if err := secret.ValidatePassword(req.Password); err != nil {
		return errf(http.StatusBadRequest, api.CodeWeakPassword, "password: %v", err)
	}
	ip := remoteIP(r)
	ctx := r.Context()
	invalid := errf(http.StatusBadRequest, api.CodeInvalidToken, "this reset code is not valid: it was used or replaced by a newer one; ask again")
	hash := secret.Hash(req.Token)
	// A valid code (256 random bits: nothing to learn from "valid") works
	// even from a source throttled for someone else's guesses; only wrong
	// codes are charged and refused.
	t, err := s.st.UserToken(ctx, hash, store.PurposeReset)
	if errors.Is(err, store.ErrNotFound) {
		if err := s.sourceBlocked(source(ip), "attempts"); err != nil {
			return err
		}
		s.loginIPLimit.fail(source(ip))
		return invalid
	} else if err != nil {
		return err
	}
	if !s.now().Before(t.ExpiresAt) {
		s.st.ConsumeUserToken(ctx, hash, store.PurposeReset)
		return errf(http.StatusGone, api.CodeTokenExpired, "this reset code expired; ask for a new one")
	}
	ph, err := s.hashPassword(ctx, req.Password)
	if err != nil {
		return err
	}
	err = s.atomically(ctx, func(tx *store.Store, audit func(auditRec)) error {
		if _, err := tx.ConsumeUserToken(ctx, hash, store.PurposeReset); err != nil {
			return err
		}
		audit(auditRec{Event: EvPasswordReset, User: t.UserID, Remote: ip})
		return tx.ChangePassword(ctx, t.UserID, ph, "")
	})
	if errors.Is(err, store.ErrNotFound) {
		return invalid
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handlePatchMe is PATCH /api/v1/me: the caller's profile (spec 2.3.1).
func (s *Server) handlePatchMe(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if err := requireLogin(a); err != nil {
		return err
	}
	var req wire.ProfileUpdate
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Name == nil {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "nothing to change: send name")
	}
	if err := checkText("name", *req.Name, maxShortText); err != nil {
		return err
	}
	if a.User.Auth != store.AuthInternal {
		return errf(http.StatusForbidden, api.CodeForbidden, "your profile is managed by your directory (%s)", a.User.Auth)
	}
	if err := s.atomically(r.Context(), func(tx *store.Store, audit func(auditRec)) error {
		audit(auditRec{Event: EvUserUpdated, User: a.User.ID, Remote: remoteIP(r),
			Detail: map[string]any{"user": a.User.ID, "name": *req.Name, "self": true}})
		return tx.SetUserName(r.Context(), a.User.ID, *req.Name)
	}); err != nil {
		return err
	}
	a.User.Name = *req.Name
	wu, err := s.wireUser(r, a.User)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wu)
	return nil
}

// handlePatchMyMembership is PATCH /api/v1/me/accounts/{account}: the
// caller's own settings in one account: alias, default action, MFA toggle.
func (s *Server) handlePatchMyMembership(w http.ResponseWriter, r *http.Request) error {
	a, me, err := s.accountCaller(r, store.Member)
	if err != nil {
		return err
	}
	if err := requireLogin(a); err != nil {
		return err
	}
	var req wire.MembershipUpdate
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req == (wire.MembershipUpdate{}) {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "nothing to change: send alias, rc_action or mfa")
	}
	if req.Alias != nil {
		if err := checkText("alias", *req.Alias, maxShortText); err != nil {
			return err
		}
	}
	if req.RCAction != nil && !validRCAction(*req.RCAction) {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "rc_action is guest or browser")
	}
	m := me.Membership
	detail := map[string]any{"user": a.User.ID, "self": true}
	if req.MFA != nil && *req.MFA != m.MFA {
		if m.AccountMFA == store.MFAEnforced {
			return errf(http.StatusConflict, api.CodeMFAEnforced, "the account enforces MFA for everyone")
		}
		m.MFA = *req.MFA
		detail["mfa"] = m.MFA
	}
	if req.Alias != nil {
		m.Alias = strings.TrimSpace(*req.Alias)
		detail["alias"] = m.Alias
	}
	if req.RCAction != nil {
		m.RCAction = *req.RCAction
		detail["rc_action"] = m.RCAction
	}
	m.UpdatedAt = s.now()
	ip := remoteIP(r)
	if err := s.atomically(r.Context(), func(tx *store.Store, audit func(auditRec)) error {
		audit(auditRec{Event: EvUserUpdated, Account: m.AccountID, User: a.User.ID, Remote: ip, Detail: detail})
		if v, ok := detail["mfa"].(bool); ok {
			audit(auditRec{Event: EvUserMFAChanged, Account: m.AccountID, User: a.User.ID, Remote: ip,
				Detail: map[string]any{"user": a.User.ID, "mfa": v}})
		}
		return tx.UpdateMembership(r.Context(), m)
	}); err != nil {
		return err
	}
	me.Membership = m
	writeJSON(w, http.StatusOK, s.wireMember(me))
	return nil
}
