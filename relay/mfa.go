package relay

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/guard"
	"github.com/tandem-rc/tandem/relay/mail"
	"github.com/tandem-rc/tandem/relay/mfa"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// Email MFA (spec 2.1, 5.1) and recovery codes (spec 2.3.3).
const (
	mfaCodeTTL        = 10 * time.Minute
	mfaMaxTries       = 5
	recoveryCodeCount = 10
)

// mfaCodeHash binds the emailed code to its challenge: the stored hash
// is useless without the challenge, which the store keeps only hashed.
func mfaCodeHash(challenge, code string) string { return secret.Hash("mfa:" + challenge + ":" + code) }

// startMFA answers a correct password when a second factor applies: a
// challenge for the caller and the factors it may answer with. The
// 6-digit email code is mailed at once when email is the only factor
// besides recovery codes; otherwise on request (POST /api/v1/login/mfa/email).
func (s *Server) startMFA(w http.ResponseWriter, r *http.Request, u store.User, factors []string) error {
	challenge := secret.NewToken()
	now := s.now()
	ctx := r.Context()
	emailNow := len(factors) > 0 && factors[0] == string(mfa.Email) &&
		(len(factors) == 1 || (len(factors) == 2 && factors[1] == string(mfa.Recovery)))
	var msg mail.Message
	codeHash := ""
	if emailNow {
		code, m, err := newMFACode(u)
		if err != nil {
			return err
		}
		msg, codeHash = m, mfaCodeHash(challenge, code)
	}
	// The challenge (with its code) and its events commit together; the
	// code is mailed after.
	if err := s.atomically(ctx, func(tx *store.Store, audit func(auditRec)) error {
		audit(auditRec{Event: EvLoginMFAChallenge, User: u.ID, Remote: remoteIP(r), Detail: map[string]any{"factors": factors}})
		if emailNow {
			audit(auditRec{Event: EvLoginMFASent, User: u.ID, Remote: remoteIP(r)})
		}
		return tx.CreateUserToken(ctx, store.UserToken{Hash: secret.Hash(challenge), UserID: u.ID, Purpose: store.PurposeMFA,
			CodeHash: codeHash, CreatedAt: now, ExpiresAt: now.Add(mfaCodeTTL)})
	}); err != nil {
		return err
	}
	if emailNow {
		if err := s.sendMFACode(ctx, u, challenge, msg); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, wire.LoginResponse{MFARequired: true, Challenge: challenge, Factors: factors})
	return nil
}

// newMFACode is a random 6-digit code and its email to u.
func newMFACode(u store.User) (string, mail.Message, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", mail.Message{}, err
	}
	code := fmt.Sprintf("%06d", n.Int64())
	msg, err := mfaMessage(u.Email, code, mfaCodeTTL)
	return code, msg, err
}

// mailMFACode gives a challenge created without one its 6-digit code and
// mails it; the code and its event commit first. Once per challenge:
// ErrConflict after.
func (s *Server) mailMFACode(r *http.Request, u store.User, challenge string) error {
	code, msg, err := newMFACode(u)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if err := s.commit(ctx, func(tx *store.Store) error {
		return tx.SetUserTokenCode(ctx, secret.Hash(challenge), store.PurposeMFA, mfaCodeHash(challenge, code))
	}, func() auditRec { return auditRec{Event: EvLoginMFASent, User: u.ID, Remote: remoteIP(r)} }); err != nil {
		return err
	}
	return s.sendMFACode(ctx, u, challenge, msg)
}

// sendMFACode mails a committed code; a code that cannot be sent kills
// its challenge.
func (s *Server) sendMFACode(ctx context.Context, u store.User, challenge string, msg mail.Message) error {
	if err := s.sendMail(ctx, msg); err != nil {
		s.log.Error("sending the MFA code", "user", u.ID, "err", err)
		// The code never arrived: its challenge is of no use to anyone.
		if _, err := s.st.ConsumeUserToken(context.WithoutCancel(ctx), secret.Hash(challenge), store.PurposeMFA); err != nil {
			s.log.Error("dropping the unsent MFA challenge", "user", u.ID, "err", err)
		}
		return errf(http.StatusServiceUnavailable, api.CodeMailUnavailable, "the login code could not be emailed; try again later or use a recovery code")
	}
	return nil
}

// handleLoginMFA is POST /api/v1/login/mfa: the challenge with the emailed
// code or a recovery code, for a bearer token.
func (s *Server) handleLoginMFA(w http.ResponseWriter, r *http.Request) error {
	var req wire.LoginMFA
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := challengeRequired(req.Challenge); err != nil {
		return err
	}
	code := strings.TrimSpace(req.Code)
	recovery, recOK := normalizeRecoveryCode(req.RecoveryCode)
	factor := mfa.Factor(req.Factor)
	if factor == "" {
		factor = mfa.Email
	}
	passkey := factor == mfa.WebAuthn
	switch {
	case factor != mfa.Email && factor != mfa.TOTP && factor != mfa.SMS && !passkey:
		return errf(http.StatusBadRequest, api.CodeBadRequest, "factor is email, totp, sms or webauthn")
	case passkey && (code != "" || req.RecoveryCode != "" || len(req.Assertion) == 0 || len(req.Assertion) > maxPasskeyAnswer):
		return errf(http.StatusBadRequest, api.CodeBadRequest, "webauthn answers with assertion (the browser's PublicKeyCredential JSON) alone")
	case !passkey && len(req.Assertion) > 0:
		return errf(http.StatusBadRequest, api.CodeBadRequest, "assertion goes with factor webauthn")
	case !passkey && (code == "") == (req.RecoveryCode == ""):
		return errf(http.StatusBadRequest, api.CodeBadRequest, "send either code (from the email or the app) or recovery_code")
	case code != "" && !mfa.ValidCode(code):
		return errf(http.StatusBadRequest, api.CodeBadRequest, "code is the 6 digits from the email or the app")
	case req.RecoveryCode != "" && !recOK:
		return errf(http.StatusBadRequest, api.CodeBadRequest, "recovery_code looks like XXXXX-XXXXX")
	}
	ip := remoteIP(r)
	if err := s.sourceBlocked(source(ip), "logins"); err != nil {
		return err
	}
	ctx := r.Context()
	dead := errf(http.StatusUnauthorized, api.CodeMFAFailed, "this login challenge expired or was used up; log in again")
	hash := secret.Hash(req.Challenge)
	// One code at a time per challenge: its tries cannot be raced.
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
	now := s.now()
	if !now.Before(t.ExpiresAt) || t.Tries >= mfaMaxTries {
		s.st.ConsumeUserToken(ctx, hash, store.PurposeMFA)
		return dead
	}
	u, err := s.st.User(ctx, t.UserID)
	if err != nil {
		return err
	}
	src := source(ip)
	pair := guard.Pair{User: u.Email, Source: src}
	if blocked, retry := s.gd.backoff.Blocked(pair); blocked {
		return &apiError{Status: http.StatusTooManyRequests, Code: api.CodeThrottled,
			Msg: "too many failed logins; wait and try again", RetryAfter: retry}
	}
	if u.Disabled || (now.Before(u.LockedUntil) && !s.gd.known.Has(u.Email, src)) {
		s.st.ConsumeUserToken(ctx, hash, store.PurposeMFA)
		return dead
	}
	ok := false
	if passkey {
		if ok, err = s.loginPasskey(r, u, req.Challenge, req.Assertion); err != nil {
			return err
		}
	} else if code != "" && factor == mfa.TOTP {
		if ok, err = s.loginTOTP(ctx, u, code); err != nil {
			return err
		}
	} else if code != "" && factor == mfa.SMS {
		if ok, err = s.loginSMS(ctx, u, code); err != nil {
			return err
		}
	} else if code != "" {
		// A challenge whose code was never mailed has no hash: nothing matches.
		ok = t.CodeHash != "" && subtle.ConstantTimeCompare([]byte(mfaCodeHash(req.Challenge, code)), []byte(t.CodeHash)) == 1
	} else if ok, err = s.st.UseRecoveryCode(ctx, u.ID, recoveryCodeHash(recovery), now); err != nil {
		return err
	}
	if !ok {
		s.loginIPLimit.fail(src)
		s.gd.backoff.Fail(pair)
		var tries int
		if err := s.loginFailed(ctx, u, true, auditRec{Event: EvLoginFailed, User: u.ID, Remote: ip,
			Detail: map[string]any{"email": u.Email, "mfa": true, "factor": string(factor), "recovery": code == "" && !passkey}}, func(tx *store.Store) (err error) {
			tries, err = tx.UserTokenFailed(ctx, hash)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			} else if err == nil && tries >= mfaMaxTries {
				_, err = tx.ConsumeUserToken(ctx, hash, store.PurposeMFA)
			}
			return err
		}); err != nil {
			return err
		}
		if tries >= mfaMaxTries {
			return errf(http.StatusUnauthorized, api.CodeMFAFailed, "wrong code %d times; log in again for a new one", mfaMaxTries)
		}
		return errf(http.StatusUnauthorized, api.CodeMFAFailed, "wrong code; %d tries left", mfaMaxTries-tries)
	}
	// Exactly one of concurrent correct answers gets the token; the
	// challenge used up, the token and their events commit together.
	err = s.issueToken(w, r, u, func(tx *store.Store, audit func(auditRec)) error {
		if _, err := tx.ConsumeUserToken(ctx, hash, store.PurposeMFA); err != nil {
			return err
		}
		if code == "" && !passkey {
			left, _ := tx.RecoveryCodesLeft(ctx, u.ID)
			audit(auditRec{Event: EvRecoveryUsed, User: u.ID, Remote: ip, Detail: map[string]any{"left": left}})
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return dead
	}
	return err
}

// Recovery codes: 50 random bits as 10 base32 characters, shown as
// XXXXX-XXXXX; read case-insensitively without dashes and spaces.
var recoveryB32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func newRecoveryCode() string {
	b := make([]byte, 7)
	rand.Read(b)
	c := recoveryB32.EncodeToString(b)[:10]
	return c[:5] + "-" + c[5:]
}

func normalizeRecoveryCode(c string) (string, bool) {
	if len(c) > 32 {
		return "", false
	}
	c = strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(c))
	if len(c) != 10 || strings.Trim(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
		return "", false
	}
	return c, true
}

func recoveryCodeHash(normalized string) string { return secret.Hash("recovery:" + normalized) }

// handleRecoveryCodes is POST /api/v1/me/recovery-codes: a new set of 10,
// shown once; the previous set stops working.
func (s *Server) handleRecoveryCodes(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if err := requireLogin(a); err != nil {
		return err
	}
	codes := make([]string, recoveryCodeCount)
	hashes := make([]string, recoveryCodeCount)
	for i := range codes {
		codes[i] = newRecoveryCode()
		n, _ := normalizeRecoveryCode(codes[i])
		hashes[i] = recoveryCodeHash(n)
	}
	if err := s.atomically(r.Context(), func(tx *store.Store, audit func(auditRec)) error {
		audit(auditRec{Event: EvRecoveryGenerated, User: a.User.ID, Remote: remoteIP(r), Detail: map[string]any{"count": len(codes)}})
		return tx.ReplaceRecoveryCodes(r.Context(), a.User.ID, hashes, s.now())
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wire.RecoveryCodes{Codes: codes})
	return nil
}

// handleGetSecurity is GET /api/v1/accounts/{account}/security.
func (s *Server) handleGetSecurity(w http.ResponseWriter, r *http.Request) error {
	_, me, err := s.accountCaller(r, store.Admin)
	if err != nil {
		return err
	}
	fs, err := s.accountFactors(r.Context(), me.AccountID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.Security{MFA: string(me.AccountMFA), Factors: factorNames(fs)})
	return nil
}

// handlePutSecurity is PUT /api/v1/accounts/{account}/security: whether
// MFA is asked for (disabled, per user, enforced; spec 5.1) and which
// factors the account allows (administrators and the owner).
func (s *Server) handlePutSecurity(w http.ResponseWriter, r *http.Request) error {
	a, me, err := s.accountCaller(r, store.Admin)
	if err != nil {
		return err
	}
	var req wire.Security
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	mode := store.MFAMode(req.MFA)
	if !mode.Valid() {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "mfa is one of disabled, enabled, enforced")
	}
	ctx := r.Context()
	before, err := s.accountFactors(ctx, me.AccountID)
	if err != nil {
		return err
	}
	factors := before
	if req.Factors != nil {
		if len(req.Factors) > len(mfa.Configurable) {
			return errf(http.StatusBadRequest, api.CodeBadRequest, "factors lists at most %d factors", len(mfa.Configurable))
		}
		if factors, err = mfa.ParseFactors(req.Factors); err != nil {
			return errf(http.StatusBadRequest, api.CodeBadRequest, "factors: %v", err)
		}
	}
	if mode != store.MFADisabled && len(factors) == 0 {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "MFA on with no factor allowed would lock everyone out: allow at least one")
	}
	if mode != store.MFADisabled && s.cfg.Mail == nil && slices.Contains(factors, mfa.Email) {
		return errf(http.StatusConflict, api.CodeMailUnavailable, "email MFA needs the relay to send email: configure a mail sender first, or allow only other factors")
	}
	if mode != store.MFADisabled && s.cfg.SMS == nil && slices.Equal(factors, []mfa.Factor{mfa.SMS}) {
		return errf(http.StatusConflict, api.CodeConflict, "SMS as the only factor needs the relay to send SMS (--sms-gateway-url or --sms-email-address)")
	}
	if err := s.atomically(ctx, func(tx *store.Store, audit func(auditRec)) error {
		if mode != me.AccountMFA || !slices.Equal(factors, before) {
			audit(auditRec{Event: EvAccountMFAChanged, Account: me.AccountID, User: a.User.ID, Remote: remoteIP(r),
				Detail: map[string]any{"from": string(me.AccountMFA), "to": string(mode),
					"factors_from": factorNames(before), "factors_to": factorNames(factors)}})
		}
		if req.Factors != nil {
			if err := tx.SetAccountFactors(ctx, me.AccountID, factorNames(factors)); err != nil {
				return err
			}
		}
		return tx.SetAccountMFA(ctx, me.AccountID, mode)
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.Security{MFA: string(mode), Factors: factorNames(factors)})
	return nil
}
