package relay

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/mfa"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// Second factors beyond the emailed code (issue 17): TOTP enrolment and
// sign-in, the accounts' allowed factors, and the choice at sign-in. The
// decisions live in relay/mfa; this file stores, audits and answers.

// CodeMFAUnusable: a second factor is required but the user has none of
// the ones their accounts allow.
const CodeMFAUnusable = "mfa_unusable"

// factorRoutes are the second-factor routes (walked by the user routes'
// authorization matrix).
func (s *Server) factorRoutes() []route {
	return []route{
		{"POST", "/api/v1/login/mfa/email", s.api(s.handleLoginMFAEmail)},
		{"GET", "/api/v1/me/mfa", s.api(s.handleMFAStatus)},
		{"POST", "/api/v1/me/totp", s.api(s.handleEnrolTOTP)},
		{"POST", "/api/v1/me/totp/confirm", s.api(s.handleConfirmTOTP)},
		{"DELETE", "/api/v1/me/totp", s.api(s.handleRemoveTOTP)},
	}
}

// accountFactors is what account allows: every factor unless it chose.
func (s *Server) accountFactors(ctx context.Context, account string) ([]mfa.Factor, error) {
	names, err := s.st.AccountFactors(ctx, account)
	if err != nil || names == nil {
		return mfa.Configurable, err
	}
	fs, err := mfa.ParseFactors(names)
	if err != nil {
		// Written by a newer build? Allow nothing rather than guess.
		s.log.Error("stored MFA factors unreadable", "account", account, "err", err)
		return nil, nil
	}
	return fs, nil
}

// mfaPolicies reads the policy of each of u's enabled memberships.
func (s *Server) mfaPolicies(ctx context.Context, active []store.Membership) ([]mfa.Membership, error) {
	var out []mfa.Membership
	for _, m := range active {
		if m.Disabled {
			continue
		}
		fs, err := s.accountFactors(ctx, m.AccountID)
		if err != nil {
			return nil, err
		}
		out = append(out, mfa.Membership{Required: m.MFARequired(), Allowed: fs})
	}
	return out, nil
}

// enrolledFactors lists the factors u set up (confirmed).
func (s *Server) enrolledFactors(ctx context.Context, userID string) ([]mfa.Factor, error) {
	var out []mfa.Factor
	t, err := s.st.UserTOTP(ctx, userID)
	if err == nil && !t.ConfirmedAt.IsZero() {
		out = append(out, mfa.TOTP)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if ps, err := s.st.Passkeys(ctx, userID); err != nil {
		return nil, err
	} else if len(ps) > 0 {
		out = append(out, mfa.WebAuthn)
	}
	if s.cfg.SMS != nil {
		if _, err := s.st.UserPhone(ctx, userID); err == nil {
			out = append(out, mfa.SMS)
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	return out, nil
}

// mfaDecision decides u's second step from its enabled memberships, and
// says what they allow.
func (s *Server) mfaDecision(ctx context.Context, u store.User, active []store.Membership) (mfa.Decision, []mfa.Factor, error) {
	ps, err := s.mfaPolicies(ctx, active)
	if err != nil {
		return mfa.Decision{}, nil, err
	}
	enrolled, err := s.enrolledFactors(ctx, u.ID)
	if err != nil {
		return mfa.Decision{}, nil, err
	}
	return mfa.Decide(ps, enrolled, s.cfg.Mail != nil), mfa.Allowed(ps), nil
}

func activeMemberships(ms []store.Membership) []store.Membership {
	var out []store.Membership
	for _, m := range ms {
		if !m.Disabled {
			out = append(out, m)
		}
	}
	return out
}

// secondStep follows a correct password (or directory bind): a token, or
// an MFA challenge listing the factors u may choose from, or a refusal
// when a second factor is required and none can be used.
func (s *Server) secondStep(w http.ResponseWriter, r *http.Request, u store.User, active []store.Membership) error {
	ctx := r.Context()
	d, allowed, err := s.mfaDecision(ctx, u, active)
	if err != nil {
		return err
	}
	if !d.Required {
		return s.issueToken(w, r, u, nil)
	}
	if d.Unusable {
		// After a correct password only: bounded by the login throttles.
		s.audit(auditRec{Event: EvLoginMFAUnusable, User: u.ID, Remote: remoteIP(r), Detail: map[string]any{"allowed": factorNames(allowed)}})
		return errf(http.StatusForbidden, CodeMFAUnusable,
			"your account requires a second factor you have not set up (allowed: %s); ask an administrator", strings.Join(factorNames(allowed), ", "))
	}
	names := factorNames(d.Factors)
	if left, err := s.st.RecoveryCodesLeft(ctx, u.ID); err != nil {
		return err
	} else if left > 0 {
		names = append(names, string(mfa.Recovery))
	}
	return s.startMFA(w, r, u, names)
}

func factorNames(fs []mfa.Factor) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, string(f))
	}
	return out
}

// loginTOTP checks a TOTP code for u's sign-in: TOTP allowed by all of
// u's accounts, a confirmed secret, a code of now ±1 step newer than the
// last one accepted. The step is recorded before the answer, so a code
// (or an older one) never signs in twice, on any node.
func (s *Server) loginTOTP(ctx context.Context, u store.User, code string) (bool, error) {
	ms, err := s.st.Memberships(ctx, u.ID)
	if err != nil {
		return false, err
	}
	ps, err := s.mfaPolicies(ctx, activeMemberships(ms))
	if err != nil {
		return false, err
	}
	allowed := false
	for _, f := range mfa.Allowed(ps) {
		allowed = allowed || f == mfa.TOTP
	}
	t, err := s.st.UserTOTP(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (t.ConfirmedAt.IsZero() || !allowed)) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	plain, err := s.unseal(t.Secret)
	if err != nil {
		return false, fmt.Errorf("unsealing a TOTP secret (was the relay key replaced?): %w", err)
	}
	step, ok, err := mfa.Verify(plain, code, s.now(), t.LastStep)
	if err != nil || !ok {
		return false, err
	}
	return s.st.UseTOTPStep(ctx, u.ID, step, false, s.now())
}

// handleLoginMFAEmail is POST /api/v1/login/mfa/email: mail the code of
// a challenge that offered email among other factors. Once per challenge.
func (s *Server) handleLoginMFAEmail(w http.ResponseWriter, r *http.Request) error {
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
	dead := errf(http.StatusUnauthorized, api.CodeMFAFailed, "this login challenge expired or was used up; log in again")
	hash := secret.Hash(req.Challenge)
	unlock, err := s.serialize(ctx, "mfa\x00"+hash, "codes for this login")
	if err != nil {
		return err
	}
	defer unlock()
	t, err := s.st.UserToken(ctx, hash, store.PurposeMFA)
	if errors.Is(err, store.ErrNotFound) {
		s.loginIPLimit.fail(source(ip))
		return dead
	} else if err != nil {
		return err
	}
	if !s.now().Before(t.ExpiresAt) || t.Tries >= mfaMaxTries {
		return dead
	}
	if t.CodeHash != "" {
		return errf(http.StatusConflict, api.CodeConflict, "the code for this login was emailed already")
	}
	u, err := s.st.User(ctx, t.UserID)
	if err != nil {
		return err
	}
	ms, err := s.st.Memberships(ctx, u.ID)
	if err != nil {
		return err
	}
	d, _, err := s.mfaDecision(ctx, u, activeMemberships(ms))
	if err != nil {
		return err
	}
	emailOK := false
	for _, f := range d.Factors {
		emailOK = emailOK || f == mfa.Email
	}
	if !emailOK || u.Disabled {
		return errf(http.StatusForbidden, api.CodeForbidden, "your account does not allow codes by email")
	}
	if err := s.mailMFACode(r, u, req.Challenge); errors.Is(err, store.ErrConflict) {
		return errf(http.StatusConflict, api.CodeConflict, "the code for this login was emailed already")
	} else if errors.Is(err, store.ErrNotFound) {
		return dead
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleMFAStatus is GET /api/v1/me/mfa.
func (s *Server) handleMFAStatus(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if err := requireLogin(a); err != nil {
		return err
	}
	ctx := r.Context()
	ms, err := s.st.Memberships(ctx, a.User.ID)
	if err != nil {
		return err
	}
	active := activeMemberships(ms)
	d, allowed, err := s.mfaDecision(ctx, a.User, active)
	if err != nil {
		return err
	}
	out := wire.MFAStatus{Required: d.Required, Allowed: factorNames(allowed)}
	if t, err := s.st.UserTOTP(ctx, a.User.ID); err == nil {
		out.TOTP, out.TOTPPending = !t.ConfirmedAt.IsZero(), t.ConfirmedAt.IsZero()
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if out.RecoveryCodesLeft, err = s.st.RecoveryCodesLeft(ctx, a.User.ID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// totpAllowed refuses enrolment when one of the caller's accounts forbids
// TOTP: a factor one account forbids opens none of them.
func (s *Server) totpAllowed(ctx context.Context, u store.User) error {
	ms, err := s.st.Memberships(ctx, u.ID)
	if err != nil {
		return err
	}
	ps, err := s.mfaPolicies(ctx, activeMemberships(ms))
	if err != nil {
		return err
	}
	for _, f := range mfa.Allowed(ps) {
		if f == mfa.TOTP {
			return nil
		}
	}
	return errf(http.StatusForbidden, api.CodeForbidden, "an account of yours does not allow authenticator apps")
}

// handleEnrolTOTP is POST /api/v1/me/totp: a new secret, pending until a
// code from it is confirmed. The secret is answered this once and stored
// sealed; an enrolment already confirmed must be removed first.
func (s *Server) handleEnrolTOTP(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if err := requireLogin(a); err != nil {
		return err
	}
	ctx := r.Context()
	if err := s.totpAllowed(ctx, a.User); err != nil {
		return err
	}
	issuer := "Tandem"
	// The relay's name in the app, so one person's several relays differ.
	if u, err := url.Parse(s.front.Base(r)); err == nil && u.Host != "" {
		issuer += " (" + u.Host + ")"
	}
	e, err := mfa.NewTOTP(issuer, a.User.Email)
	if err != nil {
		return err
	}
	sealed, err := s.seal(e.Secret)
	if err != nil {
		return fmt.Errorf("sealing a TOTP secret: %w", err)
	}
	if err := s.st.PutPendingTOTP(ctx, a.User.ID, sealed, s.now()); errors.Is(err, store.ErrConflict) {
		return errf(http.StatusConflict, api.CodeConflict, "an authenticator app is set up already; remove it first (DELETE /api/v1/me/totp)")
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wire.TOTPEnrolment{Secret: e.Secret, URI: e.URI,
		QRPNG: base64.StdEncoding.EncodeToString(e.QRPNG), Period: mfa.Period, Digits: mfa.Digits})
	return nil
}

// handleConfirmTOTP is POST /api/v1/me/totp/confirm: the first code from
// the app proves it holds the secret; from then on sign-in asks for it.
func (s *Server) handleConfirmTOTP(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if err := requireLogin(a); err != nil {
		return err
	}
	var req wire.TOTPCode
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	code := strings.TrimSpace(req.Code)
	if !mfa.ValidCode(code) {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "code is the 6 digits the app shows")
	}
	ctx := r.Context()
	key := source(remoteIP(r)) + "\x00totp\x00" + a.User.ID
	if blocked, retry := s.loginLimit.blocked(key); blocked {
		return &apiError{Status: http.StatusTooManyRequests, Code: api.CodeThrottled,
			Msg: "too many wrong codes; wait and try again", RetryAfter: retry}
	}
	t, err := s.st.UserTOTP(ctx, a.User.ID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !t.ConfirmedAt.IsZero()) {
		return errf(http.StatusConflict, api.CodeConflict, "no authenticator app enrolment is pending; start one with POST /api/v1/me/totp")
	} else if err != nil {
		return err
	}
	plain, err := s.unseal(t.Secret)
	if err != nil {
		return fmt.Errorf("unsealing a TOTP secret: %w", err)
	}
	step, ok, err := mfa.Verify(plain, code, s.now(), t.LastStep)
	if err != nil {
		return err
	}
	wrong := errf(http.StatusUnprocessableEntity, api.CodeMFAFailed, "wrong code: check the app's clock and type the code it shows now")
	if !ok {
		s.loginLimit.fail(key)
		return wrong
	}
	if err := s.atomically(ctx, func(tx *store.Store, audit func(auditRec)) error {
		used, err := tx.UseTOTPStep(ctx, a.User.ID, step, true, s.now())
		if err != nil {
			return err
		}
		if !used {
			return store.ErrConflict
		}
		audit(auditRec{Event: EvTOTPEnrolled, User: a.User.ID, Remote: remoteIP(r)})
		return nil
	}); errors.Is(err, store.ErrConflict) {
		return wrong
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// reauthRequest authenticates a logged-in user and reads a Reauth body:
// a current code (6 digits, trimmed) or the password, never both.
func (s *Server) reauthRequest(w http.ResponseWriter, r *http.Request) (authed, wire.Reauth, error) {
	var req wire.Reauth
	a, err := s.authenticate(r)
	if err != nil {
		return a, req, err
	}
	if err := requireLogin(a); err != nil {
		return a, req, err
	}
	if err := decodeJSON(w, r, &req); err != nil {
		return a, req, err
	}
	req.Code = strings.TrimSpace(req.Code)
	if (req.Code == "") == (req.Password == "") || len(req.Password) > secret.MaxPasswordLen || (req.Code != "" && !mfa.ValidCode(req.Code)) {
		return a, req, errf(http.StatusBadRequest, api.CodeBadRequest, "send code (6 digits from the app) or password")
	}
	return a, req, nil
}

// handleRemoveTOTP is DELETE /api/v1/me/totp, with a current code from
// the app or the password: a stolen token alone cannot drop the factor.
func (s *Server) handleRemoveTOTP(w http.ResponseWriter, r *http.Request) error {
	a, req, err := s.reauthRequest(w, r)
	if err != nil {
		return err
	}
	code := req.Code
	ctx := r.Context()
	if _, err := s.st.UserTOTP(ctx, a.User.ID); errors.Is(err, store.ErrNotFound) {
		return errf(http.StatusNotFound, api.CodeNotFound, "no authenticator app is set up")
	} else if err != nil {
		return err
	}
	if err := s.reauth(r, a, code, req.Password); err != nil {
		return err
	}
	if err := s.atomically(ctx, func(tx *store.Store, audit func(auditRec)) error {
		audit(auditRec{Event: EvReauthd, User: a.User.ID, Remote: remoteIP(r)})
		return tx.DeleteTOTP(ctx, a.User.ID)
	}); errors.Is(err, store.ErrNotFound) {
		return errf(http.StatusNotFound, api.CodeNotFound, "no authenticator app is set up")
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// reauth checks that the caller of a factor's removal is the user: a
// current TOTP code (confirmed app) or the password (internal users),
// throttled like logins per (source, user).
func (s *Server) reauth(r *http.Request, a authed, code, password string) error {
	ctx := r.Context()
	key := source(remoteIP(r)) + "\x00" + a.User.Email
	if blocked, retry := s.loginLimit.blocked(key); blocked {
		return &apiError{Status: http.StatusTooManyRequests, Code: api.CodeThrottled,
			Msg: "too many wrong attempts; wait and try again", RetryAfter: retry}
	}
	ok := false
	var err error
	if code != "" {
		if ok, err = s.loginTOTP(ctx, a.User, code); err != nil {
			return err
		}
	} else if a.User.Auth == store.AuthInternal {
		ok, err = s.checkPassword(ctx, a.User.PasswordHash, password)
		if errors.Is(err, errHashBusy) {
			return err
		}
		ok = ok && err == nil
	}
	if !ok {
		s.loginLimit.fail(key)
		return errf(http.StatusForbidden, api.CodeBadCredentials, "wrong code or password")
	}
	return nil
}
