package relay

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/ldapauth"
	"github.com/tandem-rc/tandem/relay/safetext"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// LDAP authentication (spec 5.2.1, 4.1.2, 4.2.4): an account's methods,
// logins as DOMAIN\user checked against the directory on every login (no
// password stored), users created at first login as type User, and LDAP
// user groups synced at each login.

const (
	EvLDAPCreated = "ldap.created"
	EvLDAPDeleted = "ldap.deleted"
)

// sealKey is the AES-256 key that seals LDAP bind passwords in the
// database: derived from the relay's private key, which lives outside it.
func (s *Server) sealKey() []byte {
	h := sha256.Sum256(append([]byte("tandem ldap bind password\x00"), s.key.Seed()...))
	return h[:]
}

func (s *Server) seal(plain string) (string, error) {
	if plain == "" {
		return "", nil
	}
	block, err := aes.NewCipher(s.sealKey())
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, gcm.NonceSize())
	rand.Read(nonce)
	return base64.StdEncoding.EncodeToString(gcm.Seal(nonce, nonce, []byte(plain), nil)), nil
}

func (s *Server) unseal(sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	b, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return "", err
	}
	block, err := aes.NewCipher(s.sealKey())
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	if len(b) < gcm.NonceSize() {
		return "", errors.New("sealed secret too short")
	}
	p, err := gcm.Open(nil, b[:gcm.NonceSize()], b[gcm.NonceSize():], nil)
	return string(p), err
}

func ldapConfig(w wire.LDAPMethod) ldapauth.Config {
	return ldapauth.Config{Domain: w.Domain, URL: w.URL, StartTLS: w.StartTLS, RootCAs: []byte(w.RootCAs), ServerName: w.ServerName,
		BindDN: w.BindDN, BindPassword: w.BindPassword, BaseDN: w.BaseDN, UserFilter: w.UserFilter, UsernameAttr: w.UsernameAttr,
		EmailAttr: w.EmailAttr, DisplayNameAttr: w.DisplayNameAttr, GroupMode: ldapauth.GroupMode(w.GroupMode),
		GroupBaseDN: w.GroupBaseDN, GroupFilter: w.GroupFilter, GroupNameAttr: w.GroupNameAttr}
}

// authenticator rebuilds a stored method's Authenticator.
func (s *Server) authenticator(m store.LDAPMethod) (*ldapauth.Authenticator, wire.LDAPMethod, error) {
	var w wire.LDAPMethod
	if err := json.Unmarshal([]byte(m.Config), &w); err != nil {
		return nil, w, err
	}
	pw, err := s.unseal(m.Secret)
	if err != nil {
		return nil, w, err
	}
	w.BindPassword = pw
	a, err := ldapauth.New(ldapConfig(w), s.log)
	w.ID, w.Enabled, w.BindPassword = m.ID, m.Enabled, ""
	return a, w, err
}

// handleLDAPMethods is GET /api/v1/accounts/{account}/ldap.
func (s *Server) handleLDAPMethods(w http.ResponseWriter, r *http.Request) error {
	_, m, err := s.accountAdmin(r, "manage authentication")
	if err != nil {
		return err
	}
	ms, err := s.st.LDAPMethods(r.Context(), m.AccountID)
	if err != nil {
		return err
	}
	out := []wire.LDAPMethod{}
	for _, lm := range ms {
		var wm wire.LDAPMethod
		if err := json.Unmarshal([]byte(lm.Config), &wm); err != nil {
			return err
		}
		wm.ID, wm.Enabled, wm.BindPassword = lm.ID, lm.Enabled, ""
		out = append(out, wm)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// ldapToStore validates a method's configuration (not the directory's
// reachability: it may be set up before the network path exists) and
// makes the stored form: the configuration as JSON without the bind
// password, which is sealed apart.
func (s *Server) ldapToStore(accountID string, req wire.LDAPMethod) (store.LDAPMethod, error) {
	if _, err := ldapauth.New(ldapConfig(req), nil); err != nil {
		return store.LDAPMethod{}, badf("%s", strings.TrimPrefix(err.Error(), "ldapauth: "))
	}
	sealed, err := s.seal(req.BindPassword)
	if err != nil {
		return store.LDAPMethod{}, err
	}
	enabled := req.Enabled
	req.ID, req.BindPassword, req.Enabled = "", "", false
	cfg, _ := json.Marshal(req)
	return store.LDAPMethod{AccountID: accountID, Domain: req.Domain, Enabled: enabled, Config: string(cfg), Secret: sealed}, nil
}

// handleCreateLDAPMethod is POST /api/v1/accounts/{account}/ldap: the
// configuration is validated (not the directory's reachability: it may be
// set up before the network path exists).
func (s *Server) handleCreateLDAPMethod(w http.ResponseWriter, r *http.Request) error {
	a, m, err := s.accountAdmin(r, "manage authentication")
	if err != nil {
		return err
	}
	var req wire.LDAPMethod
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.ID != "" {
		return badf("id is set by the relay")
	}
	lm, err := s.ldapToStore(m.AccountID, req)
	if err != nil {
		return err
	}
	err = s.commit(r.Context(), func(tx *store.Store) (err error) {
		lm, err = tx.CreateLDAPMethod(r.Context(), lm)
		return err
	}, func() auditRec {
		return s.recAs(r, a, m.AccountID, EvLDAPCreated, map[string]any{"ldap": lm.ID, "domain": lm.Domain, "url": req.URL})
	})
	if errors.Is(err, store.ErrConflict) {
		return errf(http.StatusConflict, api.CodeConflict, "the domain %q is taken on this relay", req.Domain)
	} else if err != nil {
		return err
	}
	req.ID, req.BindPassword = lm.ID, ""
	writeJSON(w, http.StatusCreated, req)
	return nil
}

// handleDeleteLDAPMethod is DELETE /api/v1/accounts/{account}/ldap/{id}.
func (s *Server) handleDeleteLDAPMethod(w http.ResponseWriter, r *http.Request) error {
	return s.deleteMethod(w, r, store.AuthLDAP, EvLDAPDeleted)
}

// deleteMethod removes the sign-in method {id} of that kind; its users
// stay (and can no longer sign in through it).
func (s *Server) deleteMethod(w http.ResponseWriter, r *http.Request, kind, event string) error {
	a, m, err := s.accountAdmin(r, "manage authentication")
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := s.commit(r.Context(), func(tx *store.Store) error { return tx.DeleteMethod(r.Context(), m.AccountID, id, kind) }, func() auditRec {
		return s.recAs(r, a, m.AccountID, event, map[string]any{kind: id})
	}); errors.Is(err, store.ErrNotFound) {
		return errf(http.StatusNotFound, api.CodeNotFound, "no %s method %q in this account", strings.ToUpper(kind), id)
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleImportLDAPGroup is POST /api/v1/accounts/{account}/ldap/{id}/groups:
// an LDAP user group named as in the directory, which must have it.
func (s *Server) handleImportLDAPGroup(w http.ResponseWriter, r *http.Request) error {
	return s.importMethodGroup(w, r, store.AuthLDAP, func(lm store.LDAPMethod, name string) error {
		auth, _, err := s.authenticator(lm)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		dir, err := auth.ListGroups(ctx)
		if err != nil {
			s.log.Warn("LDAP group list", "ldap", lm.ID, "err", err)
			return errf(http.StatusServiceUnavailable, api.CodeUnavailable, "the directory can't be reached to check the group; try again")
		}
		if !slices.ContainsFunc(dir, func(g ldapauth.Group) bool { return strings.EqualFold(g.Name, name) }) {
			return badf("the directory has no group %q", name)
		}
		return nil
	})
}

// importMethodGroup imports a group of the method {id} of that kind (LDAP
// or OIDC): its members come from sign-ins only. check, if set, asks the
// directory whether it has the group.
func (s *Server) importMethodGroup(w http.ResponseWriter, r *http.Request, kind string, check func(store.LDAPMethod, string) error) error {
	a, m, err := s.accessAdmin(r)
	if err != nil {
		return err
	}
	var req wire.LDAPGroupImport
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := checkName(req.Name); err != nil {
		return badf("name: %v", err)
	}
	if err := checkDescription(req.Description); err != nil {
		return err
	}
	ms, err := s.st.LDAPMethods(r.Context(), m.AccountID)
	switch kind {
	case store.AuthOIDC:
		ms, err = s.st.OIDCMethods(r.Context(), m.AccountID)
	case store.AuthSAML:
		ms, err = s.st.SAMLMethods(r.Context(), m.AccountID)
	}
	if err != nil {
		return err
	}
	i := slices.IndexFunc(ms, func(x store.LDAPMethod) bool { return x.ID == r.PathValue("id") })
	if i < 0 {
		return errf(http.StatusNotFound, api.CodeNotFound, "no %s method %q in this account", strings.ToUpper(kind), r.PathValue("id"))
	}
	if check != nil {
		if err := check(ms[i], req.Name); err != nil {
			return err
		}
	}
	var g store.Group
	err = s.commit(r.Context(), func(tx *store.Store) (err error) {
		g, err = tx.CreateLDAPGroup(r.Context(), store.Group{AccountID: m.AccountID, Name: req.Name, Description: req.Description, Active: true}, ms[i].ID)
		return err
	}, func() auditRec {
		return s.recAs(r, a, m.AccountID, EvGroupCreated, map[string]any{"group": g.ID, "name": g.Name, "kind": "ldap_user", kind: ms[i].ID})
	})
	if errors.Is(err, store.ErrConflict) {
		return errf(http.StatusConflict, api.CodeConflict, "the %s group %q is imported already", strings.ToUpper(kind), req.Name)
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wireGroup(g))
	return nil
}

// ldapLogin is the login of DOMAIN\user: the directory checks the
// password; the relay keeps the user, its membership and its LDAP groups
// in step, then goes on like any login (lockout, MFA, token).
func (s *Server) ldapLogin(w http.ResponseWriter, r *http.Request, login, password, throttleKey string) error {
	ctx := r.Context()
	ip := remoteIP(r)
	fail := func(u store.User, reason string) error {
		s.loginLimit.fail(throttleKey)
		s.loginIPLimit.fail(source(ip))
		if err := s.loginFailed(ctx, u, u.ID != "" && !s.now().Before(u.LockedUntil), auditRec{Event: EvLoginFailed, User: u.ID, Remote: ip,
			Detail: map[string]any{"login": login, "reason": reason}}, nil); err != nil {
			return err
		}
		return s.errBadLogin()
	}
	domain, _, _ := ldapauth.SplitLogin(login)
	m, err := s.st.LDAPMethodByDomain(ctx, domain)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (!m.Enabled || m.Kind != store.AuthLDAP)) {
		return fail(store.User{}, "unknown_domain") // an OIDC domain signs in at its IdP only
	} else if err != nil {
		return err
	}
	auth, _, err := s.authenticator(m)
	if err != nil {
		s.log.Error("LDAP method unusable", "ldap", m.ID, "err", err)
		return errf(http.StatusServiceUnavailable, api.CodeUnavailable, "the directory for %s is misconfigured; tell an administrator", domain)
	}
	id, err := auth.Authenticate(ctx, login, password)
	switch {
	case errors.Is(err, ldapauth.ErrUnavailable):
		s.log.Warn("LDAP directory unreachable", "ldap", m.ID, "err", err)
		s.audit(auditRec{Event: EvLoginFailed, Account: m.AccountID, Remote: ip, Detail: map[string]any{"login": login, "reason": "directory_unavailable"}})
		return errf(http.StatusServiceUnavailable, api.CodeUnavailable, "the directory for %s can't be reached; try again later", domain)
	case err != nil:
		return fail(store.User{}, "directory_refused")
	}
	// The directory's names end up in the Portal, consoles and emails like
	// any name typed here, and pass the same check: a user the directory
	// names with a direction override or an invisible character is not
	// created (nor renamed) until the directory is fixed.
	if field, err := unsafeDirectoryName(id); err != nil {
		s.audit(auditRec{Event: EvLoginFailed, Account: m.AccountID, Remote: ip,
			Detail: map[string]any{"login": login, "reason": "unsafe_directory_name", "field": field, "error": err.Error()}})
		return errf(http.StatusForbidden, api.CodeForbidden, "the directory's %s for this user is refused (%v); ask an administrator to correct it in the directory", field, err)
	}
	var groups []string
	for _, g := range id.Groups {
		groups = append(groups, g.Name)
	}
	return s.directorySignIn(w, r, m, login, id.Username, id.Email, id.DisplayName, groups, "", fail)
}

// directorySignIn is the end of a sign-in vouched for by a directory or
// an IdP (method m): the user is found or created (joining defaultGroup
// then, if set), its groups of m synced, then it goes on like any login
// (disabled or locked users refused by fail, MFA, token).
func (s *Server) directorySignIn(w http.ResponseWriter, r *http.Request, m store.LDAPMethod, login, username, email, name string,
	groups []string, defaultGroup string, fail func(store.User, string) error) error {
	ctx := r.Context()
	ip := remoteIP(r)
	// A user created here commits with its event.
	var u store.User
	err := s.atomically(ctx, func(tx *store.Store, audit func(auditRec)) error {
		var created bool
		var err error
		u, created, err = tx.LDAPLogin(ctx, m, username, email, name, groups)
		if err != nil {
			return err
		}
		if created {
			// The default group, if it is still a user group of m's account.
			if g, err := tx.Group(ctx, m.AccountID, defaultGroup); err == nil && defaultGroup != "" && g.Kind == "user" {
				if err := tx.AddGroupMember(ctx, g.ID, u.ID); err != nil {
					return err
				}
			} else if err != nil && defaultGroup != "" && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			audit(auditRec{Event: EvUserCreated, Account: m.AccountID, User: u.ID, Remote: ip,
				Detail: map[string]any{"login": login, "type": "user", "auth": m.Kind}})
		}
		return nil
	})
	if err != nil {
		return err
	}
	if u.Disabled || s.now().Before(u.LockedUntil) {
		return fail(u, "disabled_or_locked")
	}
	ms, err := s.st.Memberships(ctx, u.ID)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(ms, func(x store.Membership) bool { return x.AccountID == m.AccountID })
	if i < 0 || ms[i].Disabled {
		return fail(u, "disabled_in_account")
	}
	return s.secondStep(w, r, u, ms[i:i+1])
}

// unsafeDirectoryName checks the names a directory gives a user as the
// relay checks names typed into it; it returns the field refused.
func unsafeDirectoryName(id ldapauth.Identity) (string, error) {
	if err := safetext.Name(id.Username, maxShortText); err != nil {
		return "user name", err
	}
	if err := safetext.Text(id.DisplayName, maxShortText); err != nil {
		return "display name", err
	}
	return "", nil
}
