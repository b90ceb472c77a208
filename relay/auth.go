package relay

import (
	"errors"
	"net/http"
	"net/mail"
	"strings"

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
	_, domain, _ := strings.Cut(e, "@")
	if domain == "" || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", errors.New("not a valid email address (like name@example.com)")
	}
	return e, nil
}

// authed is the caller of an authenticated request.
type authed struct {
	user      store.User
	tokenHash string
}

var errUnauthorized = errf(http.StatusUnauthorized, CodeUnauthorized, "log in first and send the token as Authorization: Bearer TOKEN")

// authenticate resolves the bearer token of r.
func (s *Server) authenticate(r *http.Request) (authed, error) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || len(tok) > 256 {
		return authed{}, errUnauthorized
	}
	hash := secret.Hash(tok)
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

// wireUser describes u and its accounts.
func (s *Server) wireUser(r *http.Request, u store.User) (wire.User, error) {
	ms, err := s.st.Memberships(r.Context(), u.ID)
	if err != nil {
		return wire.User{}, err
	}
	out := wire.User{ID: u.ID, Email: u.Email, Name: u.Name}
	for _, m := range ms {
		out.Accounts = append(out.Accounts, wire.Ref{ID: m.AccountID, Name: m.AccountName})
	}
	return out, nil
}

// handleLogin is POST /api/v1/login: email and password for a bearer token.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	var req wire.LoginRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	email := strings.ToLower(strings.TrimSpace(req.Email))
	if email == "" || len(email) > maxEmail || !validText(email, maxEmail) {
		return errf(http.StatusBadRequest, CodeBadRequest, "email is required")
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
	u, err := s.st.UserByEmail(r.Context(), email)
	ok := false
	switch {
	case errors.Is(err, store.ErrNotFound):
		secret.DummyCheck(req.Password)
	case err != nil:
		return err
	default:
		ok, err = secret.CheckPassword(u.PasswordHash, req.Password)
		if err != nil {
			s.log.Error("stored password hash is malformed", "user", u.ID, "err", err)
			ok = false
		}
		ok = ok && !u.Disabled
	}
	if !ok {
		s.loginLimit.fail(key)
		s.loginIPLimit.fail(ip)
		s.audit(auditRec{Event: EvLoginFailed, User: u.ID, Remote: ip, Detail: map[string]any{"email": email}})
		return errf(http.StatusUnauthorized, CodeBadCredentials, "wrong email or password")
	}
	tok := secret.NewToken()
	now := s.now()
	exp := now.Add(s.cfg.TokenTTL)
	if err := s.st.CreateLoginToken(r.Context(), store.LoginToken{
		Hash: secret.Hash(tok), UserID: u.ID, CreatedAt: now, ExpiresAt: exp,
	}); err != nil {
		return err
	}
	wu, err := s.wireUser(r, u)
	if err != nil {
		return err
	}
	s.audit(auditRec{Event: EvLogin, User: u.ID, Remote: ip})
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
