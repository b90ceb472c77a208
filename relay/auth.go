package relay

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"time"

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
type authed struct {
	user      store.User
	tokenHash string        // login token; "" for an API key
	apiKey    *store.APIKey // set when the caller used an API key
}

var errUnauthorized = errf(http.StatusUnauthorized, CodeUnauthorized, "log in first and send the token as Authorization: Bearer TOKEN")

// apiKeyPrefix starts every API key, so authenticate can tell them from
// login tokens (which are base64url and never contain "_" at index 3).
const apiKeyPrefix = "tdk_"

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
		return authed{}, errf(http.StatusUnauthorized, CodeUnauthorized, "your login expired; log in again")
	}
	u, err := s.st.User(r.Context(), t.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return authed{}, errUnauthorized
	} else if err != nil {
		return authed{}, err
	}
	if u.Disabled {
		return authed{}, errf(http.StatusUnauthorized, CodeUnauthorized, "this user is disabled")
	}
	return authed{user: u, tokenHash: hash}, nil
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
		return authed{}, errf(http.StatusUnauthorized, CodeUnauthorized, "this API key expired; make a new one")
	}
	au, err := s.st.AccountUser(ctx, k.AccountID, k.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return authed{}, errUnauthorized
	} else if err != nil {
		return authed{}, err
	}
	if au.Disabled || !au.API || au.User.Disabled {
		return authed{}, errf(http.StatusUnauthorized, CodeUnauthorized, "this API key's user is disabled or lost the API role")
	}
	// One write a minute at most per key, not one per request.
	if now := s.now(); now.Sub(k.LastUsed) >= time.Minute {
		if err := s.st.TouchAPIKey(ctx, k.ID, now); err != nil {
			s.log.Warn("recording API key use", "key", k.ID, "err", err)
		}
	}
	return authed{user: au.User, apiKey: &k}, nil
}

// requireLogin refuses API keys on routes only a person may use (keys,
// passwords, recovery codes).
func requireLogin(a authed) error {
	if a.apiKey != nil {
		return errf(http.StatusForbidden, CodeForbidden, "an API key cannot do this; log in with your password")
	}
	return nil
}

// activeAccounts lists the accounts the caller may act in: enabled
// memberships, and with an API key only the key's account.
func (s *Server) activeAccounts(ctx context.Context, a authed) ([]string, error) {
	ms, err := s.st.Memberships(ctx, a.user.ID)
	if err != nil {
		return nil, err
	}
	accounts := []string{}
	for _, m := range ms {
		if !m.Disabled && (a.apiKey == nil || a.apiKey.AccountID == m.AccountID) {
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
	return errf(http.StatusUnauthorized, CodeBadCredentials,
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
		return errf(http.StatusBadRequest, CodeBadRequest, "email is required (or DOMAIN\\user for a directory login)")
	}
	if req.Password == "" || len(req.Password) > secret.MaxPasswordLen {
		return errf(http.StatusBadRequest, CodeBadRequest, "password is required")
	}
	ip := remoteIP(r)
	key := ip + "\x00" + email
	if blocked, retry := s.loginLimit.blocked(key); blocked {
		return &apiError{status: http.StatusTooManyRequests, code: CodeThrottled,
			msg: "too many failed logins; wait and try again", retryAfter: retry}
	}
	if blocked, retry := s.loginIPLimit.blocked(ip); blocked {
		return &apiError{status: http.StatusTooManyRequests, code: CodeThrottled,
			msg: "too many failed logins from this address; wait and try again", retryAfter: retry}
	}
	if _, _, isLDAP := ldapauth.SplitLogin(strings.TrimSpace(req.Email)); isLDAP {
		return s.ldapLogin(w, r, strings.TrimSpace(req.Email), req.Password, key)
	}
	ctx := r.Context()
	u, err := s.st.UserByEmail(ctx, email)
	ok, locked := false, false
	switch {
	case errors.Is(err, store.ErrNotFound):
		secret.DummyCheck(req.Password)
	case err != nil:
		return err
	case u.Auth == store.AuthLDAP:
		// Directory users log in as DOMAIN\user only: no password here.
		secret.DummyCheck(req.Password)
	default:
		// The password is checked even for a locked user, so a lock
		// costs the same time as a wrong password.
		ok, err = secret.CheckPassword(u.PasswordHash, req.Password)
		if err != nil {
			s.log.Error("stored password hash is malformed", "user", u.ID, "err", err)
			ok = false
		}
		locked = s.now().Before(u.LockedUntil)
		ok = ok && !u.Disabled && !locked
	}
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
		s.loginLimit.fail(key)
		s.loginIPLimit.fail(ip)
		if u.ID != "" && !locked {
			s.countFailure(ctx, u, ip)
		}
		s.audit(auditRec{Event: EvLoginFailed, User: u.ID, Remote: ip, Detail: map[string]any{"email": email, "locked": locked}})
		return s.errBadLogin()
	}
	if slices.ContainsFunc(active, store.Membership.MFARequired) {
		return s.startMFA(w, r, u)
	}
	return s.issueToken(w, r, u)
}

// countFailure counts a failed login (password or MFA code) towards the
// lockout and audits the lock when this one set it.
func (s *Server) countFailure(ctx context.Context, u store.User, ip string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	lim := s.cfg.Limits
	locked, err := s.st.LoginFailed(ctx, u.ID, s.now(), lim.LockAfter, lim.LockFor)
	if err != nil {
		s.log.Error("counting a failed login", "user", u.ID, "err", err)
		return
	}
	if locked {
		s.log.Warn("user locked after failed logins", "user", u.ID, "remote", ip)
		s.audit(auditRec{Event: EvLoginLocked, User: u.ID, Remote: ip,
			Detail: map[string]any{"email": u.Email, "failures": lim.LockAfter, "minutes": int(lim.LockFor.Minutes())}})
	}
}

// issueToken ends a successful login: a bearer token, the failure count
// cleared.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request, u store.User) error {
	ctx := r.Context()
	if u.FailedLogins > 0 || !u.LockedUntil.IsZero() {
		if err := s.st.ResetLoginFailures(ctx, u.ID); err != nil {
			return err
		}
	}
	tok := secret.NewToken()
	now := s.now()
	exp := now.Add(s.cfg.TokenTTL)
	if err := s.st.CreateLoginToken(ctx, store.LoginToken{
		Hash: secret.Hash(tok), UserID: u.ID, CreatedAt: now, ExpiresAt: exp,
	}); err != nil {
		return err
	}
	wu, err := s.wireUser(r, u)
	if err != nil {
		return err
	}
	s.audit(auditRec{Event: EvLogin, User: u.ID, Remote: remoteIP(r)})
	writeJSON(w, http.StatusOK, wire.LoginResponse{Token: tok, ExpiresAt: exp.Unix(), User: wu})
	return nil
}

// handleLogout is POST /api/v1/logout: the token stops working.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if err := s.st.DeleteLoginToken(r.Context(), a.tokenHash); err != nil {
		return err
	}
	s.audit(auditRec{Event: EvLogout, User: a.user.ID, Remote: remoteIP(r)})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleMe is GET /api/v1/me.
func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	wu, err := s.wireUser(r, a.user)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wu)
	return nil
}
