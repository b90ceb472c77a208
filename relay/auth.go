package relay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/guard"
	"github.com/tandem-rc/tandem/relay/ldapauth"
	"github.com/tandem-rc/tandem/relay/safetext"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

const maxEmail = 254

// NormalizeEmail lower-cases and checks an email address (a bare
// addr-spec, no display name).
func NormalizeEmail(s string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(s))
	if e == "" || len(e) > maxEmail {
		return "", errors.New("an email address of at most 254 characters is required")
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return "", errors.New("not a valid email address (like name@example.com)")
	}
	if safetext.Text(e, maxEmail) != nil {
		return "", errors.New("not a valid email address: it holds a control, bidirectional or invisible character")
	}
	_, domain, _ := strings.Cut(e, "@")
	if domain == "" || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", errors.New("not a valid email address (like name@example.com)")
	}
	return e, nil
}

// authed is the caller of an authenticated request.
// authed is who sent an authenticated request (relay/api's Caller).
type authed = api.Caller

var errUnauthorized = errf(http.StatusUnauthorized, api.CodeUnauthorized, "log in first and send the token as Authorization: Bearer TOKEN")

const apiKeyPrefix = api.APIKeyPrefix

// authenticate resolves the bearer token (login token or API key) of r.
func (s *Server) authenticate(r *http.Request) (authed, error) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || len(tok) > 256 {
		return authed{}, errUnauthorized
	}
	hash := secret.Hash(tok)
	if strings.HasPrefix(tok, apiKeyPrefix) {
		return s.authenticateKey(r, hash)
	}
	t, err := s.st.LoginToken(r.Context(), hash)
	if errors.Is(err, store.ErrNotFound) {
		return authed{}, errUnauthorized
	} else if err != nil {
		return authed{}, err
	}
	if !s.now().Before(t.ExpiresAt) {
		return authed{}, errf(http.StatusUnauthorized, api.CodeUnauthorized, "your login expired; log in again")
	}
	u, err := s.st.User(r.Context(), t.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return authed{}, errUnauthorized
	} else if err != nil {
		return authed{}, err
	}
	if u.Disabled {
		return authed{}, errf(http.StatusUnauthorized, api.CodeUnauthorized, "this user is disabled")
	}
	return authed{User: u, TokenHash: hash}, nil
}

// authenticateKey resolves an API key: it acts as its member in its one
// account, and only while that member is enabled and has the API role.
func (s *Server) authenticateKey(r *http.Request, hash string) (authed, error) {
	ctx := r.Context()
	k, err := s.st.APIKeyByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return authed{}, errUnauthorized
	} else if err != nil {
		return authed{}, err
	}
	if !s.now().Before(k.ExpiresAt) {
		return authed{}, errf(http.StatusUnauthorized, api.CodeUnauthorized, "this API key expired; make a new one")
	}
	au, err := s.st.AccountUser(ctx, k.AccountID, k.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return authed{}, errUnauthorized
	} else if err != nil {
		return authed{}, err
	}
	if au.Disabled || !au.API || au.User.Disabled {
		return authed{}, errf(http.StatusUnauthorized, api.CodeUnauthorized, "this API key's user is disabled or lost the API role")
	}
	// One write a minute at most per key, not one per request.
	if now := s.now(); now.Sub(k.LastUsed) >= time.Minute {
		if err := s.st.TouchAPIKey(ctx, k.ID, now); err != nil {
			s.log.Warn("recording API key use", "key", k.ID, "err", err)
		}
	}
	return authed{User: au.User, APIKey: &k}, nil
}

func requireLogin(a authed) error { return api.RequireLogin(a) }

// activeAccounts lists the accounts the caller may act in: enabled
// memberships, and with an API key only the key's account.
func (s *Server) activeAccounts(ctx context.Context, a authed) ([]string, error) {
	ms, err := s.st.Memberships(ctx, a.User.ID)
	if err != nil {
		return nil, err
	}
	accounts := []string{}
	for _, m := range ms {
		if !m.Disabled && (a.APIKey == nil || a.APIKey.AccountID == m.AccountID) {
			accounts = append(accounts, m.AccountID)
		}
	}
	return accounts, nil
}

// wireUser describes u and its accounts.
func (s *Server) wireUser(r *http.Request, u store.User) (wire.User, error) {
	ms, err := s.st.Memberships(r.Context(), u.ID)
	if err != nil {
		return wire.User{}, err
	}
	out := wire.User{ID: u.ID, Email: u.Email, Name: u.Name}
	for _, m := range ms {
		if m.Disabled {
			continue
		}
		name := m.AccountName
		if m.Alias != "" {
			name = m.Alias
		}
		out.Accounts = append(out.Accounts, wire.Ref{ID: m.AccountID, Name: name})
	}
	return out, nil
}

// errBadLogin is every failed login's answer: unknown user, wrong
// password, disabled or locked user look the same from outside.
func (s *Server) errBadLogin() error {
	return errf(http.StatusUnauthorized, api.CodeBadCredentials,
		"wrong email or password (after %d failed attempts in a row a user is locked for %d minutes)",
		s.cfg.Limits.LockAfter, int(s.cfg.Limits.LockFor.Minutes()))
}

// handleLogin is POST /api/v1/login: email and password for a bearer
// token, or for an MFA challenge when email MFA applies to the user.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	var req wire.LoginRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	email := strings.ToLower(strings.TrimSpace(req.Email))
	if email == "" || len(email) > maxEmail || !validText(email, maxEmail) {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "email is required (or DOMAIN\\user for a directory login)")
	}
	if req.Password == "" || len(req.Password) > secret.MaxPasswordLen {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "password is required")
	}
	ip := remoteIP(r)
	src := source(ip)
	ctx := r.Context()
	// One attempt at a time per user: the budget check, the password check
	// and the count happen together, so N concurrent wrong passwords are
	// N attempts in a row, not N checks against a stale count.
	unlock, err := s.serialize(ctx, email, "logins for this user")
	if err != nil {
		return err
	}
	defer unlock()
	if _, _, isLDAP := ldapauth.SplitLogin(strings.TrimSpace(req.Email)); isLDAP {
		key := src + "\x00" + email
		if blocked, retry := s.loginLimit.blocked(key); blocked {
			return &apiError{Status: http.StatusTooManyRequests, Code: api.CodeThrottled,
				Msg: "too many failed logins; wait and try again", RetryAfter: retry}
		}
		if err := s.sourceBlocked(src, "logins"); err != nil {
			return err
		}
		return s.ldapLogin(w, r, strings.TrimSpace(req.Email), req.Password, key)
	}
	// The address's budget is taken up front (and given back unless the
	// attempt was evaluated and wrong), so concurrent attempts cannot all
	// pass a budget that has fewer tries left.
	if ok, retry := s.loginIPLimit.take(src); !ok {
		return &apiError{Status: http.StatusTooManyRequests, Code: api.CodeThrottled,
			Msg: "too many failed logins from this address; wait and try again", RetryAfter: retry}
	}
	charged := false
	defer func() {
		if !charged {
			s.loginIPLimit.refund(src)
		}
	}()
	u, err := s.st.UserByEmail(ctx, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	pair := guard.Pair{User: email, Source: src}
	if blocked, retry, err := s.loginBlocked(ctx, pair, u.ID); err != nil {
		return err
	} else if blocked {
		return &apiError{Status: http.StatusTooManyRequests, Code: api.CodeThrottled,
			Msg: "too many failed logins; wait and try again", RetryAfter: retry}
	}
	// A lock set by failures from anywhere holds strangers off, not the
	// sources this user logged in from before: a guesser cannot lock the
	// user (the owner included) out of their own places.
	locked := u.ID != "" && s.now().Before(u.LockedUntil)
	known := false
	if locked {
		known = s.knownSource(ctx, u, src)
		locked = !known
	} else {
		known = u.ID != "" && s.gd.known.Has(email, src)
	}
	ok := false
	var hash string // "": a check against nothing, for the same time
	if u.ID != "" && u.Auth != store.AuthLDAP && !locked {
		// Directory users log in as DOMAIN\user only: no password here.
		hash = u.PasswordHash
	}
	ok, err = s.checkPassword(ctx, hash, req.Password)
	if err != nil && !errors.Is(err, secret.ErrBadHash) {
		return err // busy (503) or the caller went away: not an attempt
	} else if err != nil {
		s.log.Error("stored password hash is malformed", "user", u.ID, "err", err)
		ok = false
	}
	ok = ok && hash != "" && !u.Disabled
	var active []store.Membership
	if ok {
		ms, err := s.st.Memberships(ctx, u.ID)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if !m.Disabled {
				active = append(active, m)
			}
		}
		// Disabled in every account it belongs to: cannot log in.
		ok = len(ms) == 0 || len(active) > 0
	}
	if !ok {
		charged = true
		s.gd.backoff.Fail(pair)
		if err := s.loginFailed(ctx, u, u.ID != "" && !locked && !known, auditRec{Event: EvLoginFailed, User: u.ID, Remote: ip,
			Detail: map[string]any{"email": email, "locked": locked}}, nil); err != nil {
			return err
		}
		return s.errBadLogin()
	}
	return s.secondStep(w, r, u, active)
}

// knownSource reports whether u logged in from src before: remembered in
// memory, or (after a restart, or on another node) found among u's
// recent logins in the audit log. Asked only while u is locked.
func (s *Server) knownSource(ctx context.Context, u store.User, src string) bool {
	if s.gd.known.Has(u.Email, src) {
		return true
	}
	evs, err := s.st.Audit(ctx, store.AuditFilter{Event: EvLogin, UserID: u.ID, From: s.now().Add(-knownTTL), Limit: knownPerUser * 4})
	if err != nil {
		s.log.Warn("looking up a user's past logins", "user", u.ID, "err", err)
		return false
	}
	for _, ev := range evs {
		if source(ev.RemoteAddr) == src {
			s.gd.known.Add(u.Email, src)
			return true
		}
	}
	return false
}

// loginBlocked reports whether pair must wait before its next attempt,
// after dropping delays an administrator lifted (maybe from another
// process: the admin command, another node).
func (s *Server) loginBlocked(ctx context.Context, pair guard.Pair, userID string) (bool, time.Duration, error) {
	blocked, retry := s.gd.backoff.Blocked(pair)
	if !blocked || userID == "" {
		return blocked, retry, nil
	}
	at, err := s.st.LastUnlock(ctx, userID)
	if err != nil || at.IsZero() {
		return blocked, retry, err
	}
	s.gd.backoff.ForgetUserBefore(pair.User, at)
	blocked, retry = s.gd.backoff.Blocked(pair)
	return blocked, retry, nil
}

// loginFailed records a failed login (password, directory or MFA code) in
// one transaction: its event ev, when count its step towards the lockout
// (and the lock's own event when this one set it), and what more writes
// (nil: nothing). It outlives the caller going away, so hanging up does
// not dodge the count.
func (s *Server) loginFailed(ctx context.Context, u store.User, count bool, ev auditRec, more func(tx *store.Store) error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	lim := s.cfg.Limits
	err := s.atomically(ctx, func(tx *store.Store, audit func(auditRec)) error {
		if count {
			locked, err := tx.LoginFailed(ctx, u.ID, s.now(), lim.LockAfter, lim.LockFor)
			if err != nil {
				return fmt.Errorf("counting a failed login: %w", err)
			}
			if locked {
				s.log.Warn("user locked after failed logins", "user", u.ID, "remote", ev.Remote)
				audit(auditRec{Event: EvLoginLocked, User: u.ID, Remote: ev.Remote,
					Detail: map[string]any{"email": u.Email, "failures": lim.LockAfter, "minutes": int(lim.LockFor.Minutes())}})
			}
		}
		if more != nil {
			if err := more(tx); err != nil {
				return err
			}
		}
		audit(ev)
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording a failed login: %w", err)
	}
	return nil
}

// issueToken ends a successful login: a bearer token, the failure count
// cleared, the source remembered. A lock in force stays: a login from a
// known source does not reopen the door to strangers.
//
// The token, the cleared count, the event and what pre writes (nil:
// nothing) commit together; the source is remembered only once they did.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request, u store.User, pre func(tx *store.Store, audit func(auditRec)) error) error {
	ctx := r.Context()
	src := source(remoteIP(r))
	wu, err := s.wireUser(r, u)
	if err != nil {
		return err
	}
	tok := secret.NewToken()
	now := s.now()
	exp := now.Add(s.cfg.TokenTTL)
	err = s.atomically(ctx, func(tx *store.Store, audit func(auditRec)) error {
		if pre != nil {
			if err := pre(tx, audit); err != nil {
				return err
			}
		}
		if u.FailedLogins > 0 || (!u.LockedUntil.IsZero() && !s.now().Before(u.LockedUntil)) {
			if err := tx.ResetLoginFailures(ctx, u.ID); err != nil {
				return err
			}
		}
		if err := tx.CreateLoginToken(ctx, store.LoginToken{
			Hash: secret.Hash(tok), UserID: u.ID, CreatedAt: now, ExpiresAt: exp,
		}); err != nil {
			return err
		}
		audit(auditRec{Event: EvLogin, User: u.ID, Remote: remoteIP(r)})
		return nil
	})
	if err != nil {
		return err
	}
	s.gd.backoff.Succeeded(guard.Pair{User: u.Email, Source: src})
	s.gd.known.Add(u.Email, src)
	writeJSON(w, http.StatusOK, wire.LoginResponse{Token: tok, ExpiresAt: exp.Unix(), User: wu})
	return nil
}

// handleLogout is POST /api/v1/logout: the token stops working.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if err := s.commit(r.Context(), func(tx *store.Store) error { return tx.DeleteLoginToken(r.Context(), a.TokenHash) },
		func() auditRec { return auditRec{Event: EvLogout, User: a.User.ID, Remote: remoteIP(r)} }); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleMe is GET /api/v1/me.
func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	wu, err := s.wireUser(r, a.User)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wu)
	return nil
}

// The caller's role in {account}: relay/api decides.

func (s *Server) accountMember(r *http.Request, a authed) (store.Membership, error) {
	return s.kit.Member(r, a)
}

func (s *Server) authedMember(r *http.Request) (authed, store.Membership, error) {
	return s.kit.AuthedMember(r)
}

func isAdmin(t store.MemberType) bool { return api.IsAdmin(t) }

func isManager(t store.MemberType) bool { return api.IsManager(t) }

func (s *Server) accountManager(r *http.Request, what string) (authed, store.Membership, error) {
	return s.kit.Manager(r, what)
}

func (s *Server) accountAdmin(r *http.Request, what string) (authed, store.Membership, error) {
	return s.kit.Admin(r, what)
}
