package relay

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/mfa"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// Passkeys (WebAuthn) as a second factor: registration from a signed-in
// session, sign-in as the answer to an MFA challenge. relay/mfa drives
// the go-webauthn library; this file keeps the ceremonies and credentials
// in the store (so any relay node can finish what another began) and
// audits.

const (
	EvPasskeyAdded   = "mfa.passkey_added"
	EvPasskeyRemoved = "mfa.passkey_removed"

	passkeyCeremonyTTL = 5 * time.Minute
	maxPasskeyName     = 64
	maxPasskeyAnswer   = 64 << 10 // a browser's answer is a few KB
)

func (s *Server) passkeyRoutes() []route {
	return []route{
		{"POST", "/api/v1/login/mfa/passkey", s.api(s.handleLoginPasskey)},
		{"POST", "/api/v1/login/passkey", s.api(s.handleLoginPasskeyBegin)},
		{"POST", "/api/v1/login/passkey/finish", s.api(s.handleLoginPasskeyFinish)},
		{"GET", "/api/v1/me/passkeys", s.api(s.handleListPasskeys)},
		{"POST", "/api/v1/me/passkey-ceremonies", s.api(s.handleBeginPasskey)},
		{"POST", "/api/v1/me/passkeys", s.api(s.handleFinishPasskey)},
		{"DELETE", "/api/v1/me/passkeys/{id}", s.api(s.handleDeletePasskey)},
	}
}

// passkeyUser is u with its stored credentials.
func (s *Server) passkeyUser(r *http.Request, u store.User) (mfa.PasskeyUser, []store.Passkey, error) {
	ps, err := s.st.Passkeys(r.Context(), u.ID)
	if err != nil {
		return mfa.PasskeyUser{}, nil, err
	}
	pu := mfa.PasskeyUser{ID: u.ID, Email: u.Email, Name: u.Name}
	for _, p := range ps {
		var c webauthn.Credential
		if err := json.Unmarshal([]byte(p.Credential), &c); err != nil {
			s.log.Error("stored passkey unreadable", "user", u.ID, "passkey", p.ID, "err", err)
			continue
		}
		pu.Credentials = append(pu.Credentials, c)
	}
	return pu, ps, nil
}

// relyingParty is the WebAuthn relying party for the origin r came to.
func (s *Server) relyingParty(r *http.Request) (*webauthn.WebAuthn, error) {
	rp, err := mfa.RelyingParty(s.front.Base(r))
	if errors.Is(err, mfa.ErrNoDomain) {
		return nil, errf(http.StatusConflict, api.CodeConflict, "%v", err)
	} else if err != nil {
		return nil, errf(http.StatusBadRequest, api.CodeBadRequest, "%v", err)
	}
	return rp, nil
}

// factorAllowed refuses f when one of u's enabled accounts forbids it.
func (s *Server) factorAllowed(r *http.Request, u store.User, f mfa.Factor) error {
	ms, err := s.st.Memberships(r.Context(), u.ID)
	if err != nil {
		return err
	}
	ps, err := s.mfaPolicies(r.Context(), activeMemberships(ms))
	if err != nil {
		return err
	}
	for _, a := range mfa.Allowed(ps) {
		if a == f {
			return nil
		}
	}
	return errf(http.StatusForbidden, api.CodeForbidden, "an account of yours does not allow %s as a second factor", f)
}

func wirePasskey(p store.Passkey) wire.Passkey {
	out := wire.Passkey{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt.Unix()}
	if !p.LastUsed.IsZero() {
		out.LastUsed = p.LastUsed.Unix()
	}
	return out
}

// handleListPasskeys is GET /api/v1/me/passkeys.
func (s *Server) handleListPasskeys(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if err := requireLogin(a); err != nil {
		return err
	}
	ps, err := s.st.Passkeys(r.Context(), a.User.ID)
	if err != nil {
		return err
	}
	out := []wire.Passkey{}
	for _, p := range ps {
		out = append(out, wirePasskey(p))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleBeginPasskey is POST /api/v1/me/passkey-ceremonies: the options for the
// browser's navigator.credentials.create, and the ceremony to finish with.
func (s *Server) handleBeginPasskey(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if err := requireLogin(a); err != nil {
		return err
	}
	if err := s.factorAllowed(r, a.User, mfa.WebAuthn); err != nil {
		return err
	}
	rp, err := s.relyingParty(r)
	if err != nil {
		return err
	}
	pu, _, err := s.passkeyUser(r, a.User)
	if err != nil {
		return err
	}
	if len(pu.Credentials) >= mfa.MaxPasskeys {
		return errf(http.StatusConflict, api.CodeConflict, "you have %d passkeys, the most there can be; remove one first", mfa.MaxPasskeys)
	}
	options, state, err := mfa.BeginRegistration(rp, pu)
	if err != nil {
		return err
	}
	ceremony := secret.NewToken()
	now := s.now()
	if err := s.st.PutCeremony(r.Context(), secret.Hash(ceremony), a.User.ID, "register", string(state), now, now.Add(passkeyCeremonyTTL)); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wire.PasskeyCeremony{Ceremony: ceremony, Options: options})
	return nil
}

// handleFinishPasskey is POST /api/v1/me/passkeys: the browser's
// new credential, checked against its ceremony (once), stored.
func (s *Server) handleFinishPasskey(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if err := requireLogin(a); err != nil {
		return err
	}
	var req wire.PasskeyFinish
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	name := strings.TrimSpace(req.Name)
	if name == "" {
		name = "Passkey"
	}
	switch {
	case req.Ceremony == "" || len(req.Ceremony) > 256:
		return errf(http.StatusBadRequest, api.CodeBadRequest, "ceremony is required (from POST /api/v1/me/passkey-ceremonies)")
	case len(req.Credential) == 0 || len(req.Credential) > maxPasskeyAnswer:
		return errf(http.StatusBadRequest, api.CodeBadRequest, "credential is the browser's PublicKeyCredential as JSON")
	case !validText(name, maxPasskeyName):
		return errf(http.StatusBadRequest, api.CodeBadRequest, "name: at most %d characters, no control or invisible characters", maxPasskeyName)
	}
	ctx := r.Context()
	userID, state, err := s.st.TakeCeremony(ctx, secret.Hash(req.Ceremony), "register", s.now())
	if errors.Is(err, store.ErrNotFound) || (err == nil && userID != a.User.ID) {
		return errf(http.StatusConflict, api.CodeConflict, "this passkey registration expired or was used; start again")
	} else if err != nil {
		return err
	}
	rp, err := s.relyingParty(r)
	if err != nil {
		return err
	}
	pu, _, err := s.passkeyUser(r, a.User)
	if err != nil {
		return err
	}
	c, err := mfa.FinishRegistration(rp, pu, []byte(state), req.Credential)
	if errors.Is(err, mfa.ErrPasskey) {
		s.audit(auditRec{Event: EvLoginFailed, User: a.User.ID, Remote: remoteIP(r),
			Detail: map[string]any{"passkey_registration": true, "reason": err.Error()}})
		return errf(http.StatusUnprocessableEntity, api.CodeMFAFailed, "the browser's passkey was not valid for this registration")
	} else if err != nil {
		return err
	}
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	p := store.Passkey{ID: base64.RawURLEncoding.EncodeToString(c.ID), UserID: a.User.ID, Name: name,
		Credential: string(data), CreatedAt: s.now()}
	if err := s.atomically(ctx, func(tx *store.Store, audit func(auditRec)) error {
		audit(auditRec{Event: EvPasskeyAdded, User: a.User.ID, Remote: remoteIP(r), Detail: map[string]any{"passkey": p.ID, "name": name}})
		return tx.AddPasskey(ctx, p)
	}); errors.Is(err, store.ErrConflict) {
		return errf(http.StatusConflict, api.CodeConflict, "this passkey is registered already")
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wirePasskey(p))
	return nil
}

// handleDeletePasskey is DELETE /api/v1/me/passkeys/{id}, with a current
// TOTP code or the password.
func (s *Server) handleDeletePasskey(w http.ResponseWriter, r *http.Request) error {
	a, req, err := s.reauthRequest(w, r)
	if err != nil {
		return err
	}
	code := req.Code
	id := r.PathValue("id")
	ctx := r.Context()
	ps, err := s.st.Passkeys(ctx, a.User.ID)
	if err != nil {
		return err
	}
	notFound := errf(http.StatusNotFound, api.CodeNotFound, "no passkey %q of yours", id)
	found := false
	for _, p := range ps {
		found = found || p.ID == id
	}
	if !found {
		return notFound
	}
	if err := s.reauth(r, a, code, req.Password); err != nil {
		return err
	}
	if err := s.atomically(ctx, func(tx *store.Store, audit func(auditRec)) error {
		audit(auditRec{Event: EvPasskeyRemoved, User: a.User.ID, Remote: remoteIP(r), Detail: map[string]any{"passkey": id}})
		return tx.DeletePasskey(ctx, a.User.ID, id)
	}); errors.Is(err, store.ErrNotFound) {
		return notFound
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// passkeyCeremonyHash keys a sign-in's passkey ceremony by its MFA
// challenge.
func passkeyCeremonyHash(challenge string) string { return secret.Hash("passkey:" + challenge) }

// handleLoginPasskey is POST /api/v1/login/mfa/passkey: the options for
// navigator.credentials.get for a challenge that offers webauthn.
func (s *Server) handleLoginPasskey(w http.ResponseWriter, r *http.Request) error {
	var req wire.LoginPasskey
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
	if errors.Is(err, store.ErrNotFound) {
		s.loginIPLimit.fail(source(ip))
		return errf(http.StatusUnauthorized, api.CodeMFAFailed, "this login challenge expired or was used up; log in again")
	} else if err != nil {
		return err
	}
	now := s.now()
	if !now.Before(t.ExpiresAt) || t.Tries >= mfaMaxTries {
		return errf(http.StatusUnauthorized, api.CodeMFAFailed, "this login challenge expired or was used up; log in again")
	}
	u, err := s.st.User(ctx, t.UserID)
	if err != nil {
		return err
	}
	if err := s.factorAllowed(r, u, mfa.WebAuthn); err != nil {
		return err
	}
	rp, err := s.relyingParty(r)
	if err != nil {
		return err
	}
	pu, _, err := s.passkeyUser(r, u)
	if err != nil {
		return err
	}
	if len(pu.Credentials) == 0 {
		return errf(http.StatusConflict, api.CodeConflict, "you have no passkey; use another factor")
	}
	options, state, err := mfa.BeginLogin(rp, pu)
	if err != nil {
		return err
	}
	if err := s.st.PutCeremony(ctx, passkeyCeremonyHash(req.Challenge), u.ID, "login", string(state), now, t.ExpiresAt); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.PasskeyCeremony{Options: options})
	return nil
}

// loginPasskey checks a sign-in's passkey answer: the ceremony begun for
// this challenge (taken once), webauthn allowed, a registered credential
// of u's whose signature verifies for this relay's origin. The new
// signature counter is stored before the answer.
func (s *Server) loginPasskey(r *http.Request, u store.User, challenge string, answer []byte) (bool, error) {
	ctx := r.Context()
	userID, state, err := s.st.TakeCeremony(ctx, passkeyCeremonyHash(challenge), "login", s.now())
	if errors.Is(err, store.ErrNotFound) || (err == nil && userID != u.ID) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if err := s.factorAllowed(r, u, mfa.WebAuthn); err != nil {
		return false, nil
	}
	rp, err := s.relyingParty(r)
	if err != nil {
		return false, nil
	}
	pu, _, err := s.passkeyUser(r, u)
	if err != nil {
		return false, err
	}
	c, err := mfa.FinishLogin(rp, pu, []byte(state), answer)
	if errors.Is(err, mfa.ErrPasskey) {
		s.log.Info("passkey sign-in refused", "user", u.ID, "err", err)
		return false, nil
	} else if err != nil {
		return false, err
	}
	data, err := json.Marshal(c)
	if err != nil {
		return false, err
	}
	if err := s.st.UsePasskey(ctx, u.ID, base64.RawURLEncoding.EncodeToString(c.ID), string(data), s.now()); errors.Is(err, store.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return true, nil
}

// Passwordless sign-in with a passkey (discoverable credential, user
// verified): the ceremony's state travels sealed with the options, so
// asking for options writes nothing; the challenge is recorded as used
// only once an answer verified.

type passwordlessState struct {
	State   json.RawMessage `json:"state"`
	Expires int64           `json:"exp"` // unix seconds
}

// handleLoginPasskeyBegin is POST /api/v1/login/passkey.
func (s *Server) handleLoginPasskeyBegin(w http.ResponseWriter, r *http.Request) error {
	if err := s.sourceBlocked(source(remoteIP(r)), "logins"); err != nil {
		return err
	}
	rp, err := s.relyingParty(r)
	if err != nil {
		return err
	}
	options, state, err := mfa.BeginPasswordless(rp)
	if err != nil {
		return err
	}
	b, err := json.Marshal(passwordlessState{State: state, Expires: s.now().Add(passkeyCeremonyTTL).Unix()})
	if err != nil {
		return err
	}
	sealed, err := s.seal(string(b))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.PasskeyCeremony{Ceremony: sealed, Options: options})
	return nil
}

// handleLoginPasskeyFinish is POST /api/v1/login/passkey/finish: the
// browser's assertion for a token, without a password.
func (s *Server) handleLoginPasskeyFinish(w http.ResponseWriter, r *http.Request) error {
	var req wire.PasskeyFinish
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Ceremony == "" || len(req.Ceremony) > 4096 || len(req.Credential) == 0 || len(req.Credential) > maxPasskeyAnswer {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "send ceremony (from POST /api/v1/login/passkey) and credential (the browser's assertion)")
	}
	ip := remoteIP(r)
	src := source(ip)
	if err := s.sourceBlocked(src, "logins"); err != nil {
		return err
	}
	ctx := r.Context()
	// Every refusal counts against the source's budget (which bounds
	// what it can write to the audit log) and is audited.
	refuse := func(u store.User, reason string) error {
		s.loginIPLimit.fail(src)
		if err := s.loginFailed(ctx, u, false, auditRec{Event: EvLoginFailed, User: u.ID, Remote: ip,
			Detail: map[string]any{"factor": "webauthn", "passwordless": true, "reason": reason}}, nil); err != nil {
			return err
		}
		return errf(http.StatusUnauthorized, api.CodeBadCredentials, "this passkey did not sign you in; try again or use your password")
	}
	plain, err := s.unseal(req.Ceremony)
	var st passwordlessState
	if err != nil || json.Unmarshal([]byte(plain), &st) != nil {
		return refuse(store.User{}, "ceremony")
	}
	if !s.now().Before(time.Unix(st.Expires, 0)) {
		return refuse(store.User{}, "expired")
	}
	rp, err := s.relyingParty(r)
	if err != nil {
		return err
	}
	var u store.User
	userID, c, err := mfa.FinishPasswordless(rp, st.State, req.Credential, func(id string) (mfa.PasskeyUser, error) {
		var err error
		if u, err = s.st.User(ctx, id); err != nil {
			return mfa.PasskeyUser{}, err
		}
		pu, _, err := s.passkeyUser(r, u)
		return pu, err
	})
	if errors.Is(err, mfa.ErrPasskey) {
		return refuse(u, "assertion")
	} else if err != nil {
		return err
	}
	challenge, err := mfa.Challenge(st.State)
	if err != nil {
		return err
	}
	if first, err := s.st.UseChallengeOnce(ctx, secret.Hash("passwordless:"+challenge), userID, s.now(), time.Unix(st.Expires, 0)); err != nil {
		return err
	} else if !first {
		return refuse(u, "replayed")
	}
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := s.st.UsePasskey(ctx, u.ID, base64.RawURLEncoding.EncodeToString(c.ID), string(data), s.now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return refuse(u, "unknown credential")
		}
		return err
	}
	ms, err := s.st.Memberships(ctx, u.ID)
	if err != nil {
		return err
	}
	active := activeMemberships(ms)
	if u.Disabled || (len(ms) > 0 && len(active) == 0) || (s.now().Before(u.LockedUntil) && !s.knownSource(ctx, u, src)) {
		return refuse(u, "disabled_or_locked")
	}
	if err := s.factorAllowed(r, u, mfa.WebAuthn); err != nil {
		return refuse(u, "not allowed")
	}
	return s.issueToken(w, r, u, nil)
}
