package relay

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// Editing and testing an account's LDAP methods (spec 5.2.1).

const EvLDAPUpdated = "ldap.updated"

// maxTestGroups bounds the group names a test answers with.
const maxTestGroups = 200

func (s *Server) ldapEditRoutes() []route {
	return []route{
		{"PUT", "/api/v1/accounts/{account}/ldap/{id}", s.api(s.handleUpdateLDAPMethod)},
		{"POST", "/api/v1/accounts/{account}/ldap/{id}/test", s.api(s.handleTestLDAPMethod)},
	}
}

// ldapMethod resolves {id} among the account's methods.
func (s *Server) ldapMethod(r *http.Request, accountID string) (store.LDAPMethod, error) {
	ms, err := s.st.LDAPMethods(r.Context(), accountID)
	if err != nil {
		return store.LDAPMethod{}, err
	}
	i := slices.IndexFunc(ms, func(x store.LDAPMethod) bool { return x.ID == r.PathValue("id") })
	if i < 0 {
		return store.LDAPMethod{}, errf(http.StatusNotFound, api.CodeNotFound, "no LDAP method %q in this account", r.PathValue("id"))
	}
	return ms[i], nil
}

// handleUpdateLDAPMethod is PUT /api/v1/accounts/{account}/ldap/{id}: the
// whole method; an empty bind_password keeps the stored one.
func (s *Server) handleUpdateLDAPMethod(w http.ResponseWriter, r *http.Request) error {
	a, m, err := s.accountAdmin(r, "manage authentication")
	if err != nil {
		return err
	}
	old, err := s.ldapMethod(r, m.AccountID)
	if err != nil {
		return err
	}
	var req wire.LDAPMethod
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.ID != "" && req.ID != old.ID {
		return badf("id is set by the relay")
	}
	if req.BindPassword == "" {
		if req.BindPassword, err = s.unseal(old.Secret); err != nil {
			return err
		}
	}
	lm, err := s.ldapToStore(m.AccountID, req)
	if err != nil {
		return err
	}
	lm.ID = old.ID
	err = s.commit(r.Context(), func(tx *store.Store) error { return tx.UpdateLDAPMethod(r.Context(), lm) }, func() auditRec {
		return s.recAs(r, a, m.AccountID, EvLDAPUpdated, map[string]any{"ldap": lm.ID, "domain": strings.ToLower(lm.Domain), "url": req.URL, "enabled": lm.Enabled})
	})
	if errors.Is(err, store.ErrConflict) {
		return errf(http.StatusConflict, api.CodeConflict, "the domain %q is taken on this relay", req.Domain)
	} else if err != nil {
		return err
	}
	req.ID, req.BindPassword = lm.ID, ""
	writeJSON(w, http.StatusOK, req)
	return nil
}

// handleTestLDAPMethod is POST /api/v1/accounts/{account}/ldap/{id}/test:
// connect, bind as the service account and list the directory's groups
// (the names one may import). A failure is a 503 with the directory's
// reason, for the administrator who set it up.
func (s *Server) handleTestLDAPMethod(w http.ResponseWriter, r *http.Request) error {
	_, m, err := s.accountAdmin(r, "manage authentication")
	if err != nil {
		return err
	}
	lm, err := s.ldapMethod(r, m.AccountID)
	if err != nil {
		return err
	}
	auth, _, err := s.authenticator(lm)
	if err != nil {
		return badf("the stored configuration is not usable: %s", strings.TrimPrefix(err.Error(), "ldapauth: "))
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	gs, err := auth.ListGroups(ctx)
	if err != nil {
		return errf(http.StatusServiceUnavailable, api.CodeUnavailable, "the test failed: %s", strings.TrimPrefix(err.Error(), "ldapauth: "))
	}
	out := wire.LDAPTest{Groups: []string{}, Total: len(gs)}
	for _, g := range gs[:min(len(gs), maxTestGroups)] {
		out.Groups = append(out.Groups, g.Name)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
