package ssoapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/guard"
	"github.com/tandem-rc/tandem/relay/sso"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// OpenID Connect sign-in (issue 17): the methods' API and the sign-in
// routes. The flow itself is relay/sso; methods share LDAP's table (one
// namespace of domains, identities by the IdP's subject, imported groups).

const (
	EvOIDCCreated = "oidc.created"
	EvOIDCDeleted = "oidc.deleted"

	OIDCCallbackPath      = "/api/v1/sso/oidc/callback"
	portalSSOCallbackPath = "/sso/callback" // the Portal's (relay/portal/sso.go)
	maxFlows              = 4096
	flowTTL               = 10 * time.Minute
	// One address starts at most StartBurst sign-ins, then one every
	// StartEvery: it cannot fill the flows others need.
	StartBurst = 20
	StartEvery = 30 * time.Second
)

func (s *API) oidcRoutes() []api.Route {
	return []api.Route{
		{Method: "GET", Path: "/api/v1/accounts/{account}/oidc", H: s.handleOIDCMethods},
		{Method: "POST", Path: "/api/v1/accounts/{account}/oidc", H: s.handleCreateOIDCMethod},
		{Method: "DELETE", Path: "/api/v1/accounts/{account}/oidc/{id}", H: s.handleDeleteOIDCMethod},
		{Method: "POST", Path: "/api/v1/accounts/{account}/oidc/{id}/groups", H: s.handleImportOIDCGroup},
		{Method: "GET", Path: "/api/v1/sso/oidc/buttons", H: s.handleSSOButtons},
		{Method: "POST", Path: "/api/v1/sso/oidc/start", H: s.handleSSOStart},
		{Method: "GET", Path: OIDCCallbackPath, H: s.handleSSOCallback},
		{Method: "POST", Path: "/api/v1/sso/oidc/finish", H: s.handleSSOFinish},
	}
}

// oidcMethod reads a stored method: its wire form (no secret) and its
// provider settings (secret unsealed).
func (s *API) oidcMethod(m store.LDAPMethod) (wire.OIDCMethod, sso.Config, error) {
	var w wire.OIDCMethod
	if err := json.Unmarshal([]byte(m.Config), &w); err != nil {
		return w, sso.Config{}, err
	}
	sec, err := s.cfg.Unseal(m.Secret)
	w.ID, w.Enabled, w.ClientSecret = m.ID, m.Enabled, ""
	return w, sso.Config{Domain: w.Domain, Issuer: w.Issuer, ClientID: w.ClientID, ClientSecret: sec, GroupsClaim: w.GroupsClaim, Scopes: w.Scopes}, err
}

func (s *API) redirectURIs(r *http.Request) []string {
	b := s.cfg.PublicBase(r)
	return []string{b + OIDCCallbackPath, b + portalSSOCallbackPath}
}

// handleOIDCMethods is GET /api/v1/accounts/{account}/oidc.
func (s *API) handleOIDCMethods(w http.ResponseWriter, r *http.Request) error {
	_, m, err := s.k.Admin(r, "manage authentication")
	if err != nil {
		return err
	}
	ms, err := s.k.Store.OIDCMethods(r.Context(), m.AccountID)
	if err != nil {
		return err
	}
	out := []wire.OIDCMethod{}
	for _, om := range ms {
		wm, _, err := s.oidcMethod(om)
		if err != nil {
			return err
		}
		wm.RedirectURIs = s.redirectURIs(r)
		out = append(out, wm)
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// handleCreateOIDCMethod is POST /api/v1/accounts/{account}/oidc: the
// settings are checked, not the issuer's reachability.
func (s *API) handleCreateOIDCMethod(w http.ResponseWriter, r *http.Request) error {
	a, m, err := s.k.Admin(r, "manage authentication")
	if err != nil {
		return err
	}
	var req wire.OIDCMethod
	if err := api.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.ID != "" {
		return api.Badf("id is set by the relay")
	}
	if err := checkDomainButton(&req.Domain, req.Button); err != nil {
		return err
	}
	cfg := sso.Config{Domain: req.Domain, Issuer: req.Issuer, ClientID: req.ClientID, ClientSecret: req.ClientSecret, GroupsClaim: req.GroupsClaim, Scopes: req.Scopes}
	if err := cfg.Check(); err != nil {
		return api.Badf("%v", err)
	}
	if err := s.checkDefaultGroup(r, m.AccountID, req.DefaultGroup); err != nil {
		return err
	}
	sealed, err := s.cfg.Seal(req.ClientSecret)
	if err != nil {
		return err
	}
	enabled := req.Enabled
	req.ClientSecret, req.Enabled, req.RedirectURIs = "", false, nil
	raw, _ := json.Marshal(req)
	lm := store.LDAPMethod{AccountID: m.AccountID, Domain: req.Domain, Enabled: enabled, Config: string(raw), Secret: sealed, Kind: store.AuthOIDC}
	err = s.k.Commit(r.Context(), func(tx *store.Store) (err error) {
		lm, err = tx.CreateLDAPMethod(r.Context(), lm)
		return err
	}, func() api.Audit {
		return s.k.Rec(r, a, m.AccountID, EvOIDCCreated, map[string]any{"oidc": lm.ID, "domain": lm.Domain, "issuer": req.Issuer})
	})
	if errors.Is(err, store.ErrConflict) {
		return api.Errf(http.StatusConflict, api.CodeConflict, "the domain %q is taken on this relay", req.Domain)
	} else if err != nil {
		return err
	}
	req.ID, req.Enabled, req.RedirectURIs = lm.ID, enabled, s.redirectURIs(r)
	api.WriteJSON(w, http.StatusCreated, req)
	return nil
}

// handleDeleteOIDCMethod is DELETE /api/v1/accounts/{account}/oidc/{id}.
func (s *API) handleDeleteOIDCMethod(w http.ResponseWriter, r *http.Request) error {
	return s.cfg.DeleteMethod(w, r, store.AuthOIDC, EvOIDCDeleted)
}

// handleImportOIDCGroup is POST /api/v1/accounts/{account}/oidc/{id}/groups:
// a group named as the IdP's groups claim names it (an IdP has no group
// list to check against).
func (s *API) handleImportOIDCGroup(w http.ResponseWriter, r *http.Request) error {
	return s.cfg.ImportGroup(w, r, store.AuthOIDC, nil)
}

// handleSSOButtons is GET /api/v1/sso/oidc/buttons: the "Sign in with …"
// buttons of the sign-in page, of the enabled methods an administrator
// gave a label (a domain without one stays unlisted).
func (s *API) handleSSOButtons(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.k.Store.OIDCButtonMethods(r.Context(), 200)
	if err != nil {
		return err
	}
	out := []wire.SSOButton{}
	for _, m := range ms {
		var wm wire.OIDCMethod
		if json.Unmarshal([]byte(m.Config), &wm) == nil && wm.Button != "" && len(out) < 20 {
			out = append(out, wire.SSOButton{Domain: m.Domain, Label: wm.Button})
		}
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// ssoStartRequest opens a sign-in start of kind (OIDC or SAML): the
// address's budgets, the request (DOMAIN\user, a local next) and the
// domain's enabled method of that kind (404 otherwise, a failure of the
// address).
func (s *API) ssoStartRequest(w http.ResponseWriter, r *http.Request, kind string) (wire.SSOStart, store.LDAPMethod, error) {
	var req wire.SSOStart
	if err := s.ssoBlocked(r); err != nil {
		return req, store.LDAPMethod{}, err
	}
	if ok, retry := s.cfg.TakeStart(guard.Source(api.RemoteIP(r))); !ok {
		return req, store.LDAPMethod{}, &api.Error{Status: http.StatusTooManyRequests, Code: api.CodeThrottled,
			Msg: "too many sign-ins started from this address; wait and try again", RetryAfter: retry}
	}
	if err := api.DecodeJSON(w, r, &req); err != nil {
		return req, store.LDAPMethod{}, err
	}
	if len(req.Login) > api.MaxShortText || len(req.Next) > 1024 {
		return req, store.LDAPMethod{}, api.Badf("login or next too long")
	}
	if req.Next != "" && (!strings.HasPrefix(req.Next, "/") || strings.HasPrefix(req.Next, "//") || strings.ContainsAny(req.Next, "\\\r\n")) {
		return req, store.LDAPMethod{}, api.Badf("next: a path on this relay")
	}
	domain, _, _ := strings.Cut(req.Login, `\`)
	m, err := s.k.Store.LDAPMethodByDomain(r.Context(), strings.TrimSpace(domain))
	if errors.Is(err, store.ErrNotFound) || (err == nil && (!m.Enabled || m.Kind != kind)) {
		s.cfg.Failed(guard.Source(api.RemoteIP(r)))
		return req, m, api.Errf(http.StatusNotFound, api.CodeNotFound, "no single sign-on for the domain %q", domain)
	}
	return req, m, err
}

// ssoBlocked refuses an address with too many failed sign-ins: the
// refusals before it were audited, these are not (no audit flood).
func (s *API) ssoBlocked(r *http.Request) error {
	if blocked, retry := s.cfg.Blocked(guard.Source(api.RemoteIP(r))); blocked {
		return &api.Error{Status: http.StatusTooManyRequests, Code: api.CodeThrottled,
			Msg: "too many failed logins from this address; wait and try again", RetryAfter: retry}
	}
	return nil
}

// handleSSOStart is POST /api/v1/sso/oidc/start: DOMAIN\user (or DOMAIN)
// to the URL of the domain's IdP. The flow held is bounded (sso.Flows).
func (s *API) handleSSOStart(w http.ResponseWriter, r *http.Request) error {
	req, m, err := s.ssoStartRequest(w, r, store.AuthOIDC)
	if err != nil {
		return err
	}
	_, cfg, err := s.oidcMethod(m)
	if err != nil {
		return err
	}
	redirect := s.redirectURIs(r)[0]
	if req.Portal {
		redirect = s.redirectURIs(r)[1]
	}
	u, err := s.flows.Begin(r.Context(), m.ID, cfg, redirect, req.Next)
	if errors.Is(err, sso.ErrFull) {
		return api.Errf(http.StatusServiceUnavailable, api.CodeUnavailable, "too many sign-ins under way; try again in a minute")
	} else if err != nil {
		s.k.Log.Warn("OIDC discovery", "oidc", m.ID, "err", err)
		return api.Errf(http.StatusServiceUnavailable, api.CodeUnavailable, "the identity provider of %s can't be reached; try again later", m.Domain)
	}
	api.WriteJSON(w, http.StatusOK, wire.SSORedirect{URL: u})
	return nil
}

// handleSSOCallback is GET /api/v1/sso/oidc/callback, where the IdP sends
// the browser of an API sign-in: the answer is a login's (JSON).
func (s *API) handleSSOCallback(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	return s.ssoFinish(w, r, q.Get("state"), q.Get("code"), q.Get("error"), OIDCCallbackPath)
}

// handleSSOFinish is POST /api/v1/sso/oidc/finish: the Portal's callback
// hands on the IdP's answer.
func (s *API) handleSSOFinish(w http.ResponseWriter, r *http.Request) error {
	var req wire.SSOFinish
	if err := api.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	return s.ssoFinish(w, r, req.State, req.Code, req.Error, portalSSOCallbackPath)
}

// ssoFinish checks the IdP's answer: the state (once, unexpired, started
// for this callback), then the code and ID token (sso.Flows.Finish); a
// refusal is audited and counts as a failed login of the address.
func (s *API) ssoFinish(w http.ResponseWriter, r *http.Request, state, code, idpErr, via string) error {
	if err := s.ssoBlocked(r); err != nil {
		return err
	}
	ctx := r.Context()
	refuse := func(account, user, reason string, detail map[string]any) error {
		return s.ssoRefuse(r, store.AuthOIDC, account, user, reason, detail)
	}
	if len(state) > 256 || len(code) > 4096 {
		return refuse("", "", "oversized_answer", nil)
	}
	fl, err := s.flows.Take(ctx, state)
	if u, perr := url.Parse(fl.Redirect); err != nil || perr != nil || u.Path != via {
		return refuse("", "", "unknown_state", nil) // a Portal flow ends at the Portal, an API one at the API
	}
	if via == portalSSOCallbackPath {
		w.Header().Set(wire.HeaderSSONext, fl.Next)
	}
	m, err := s.k.Store.LDAPMethodByDomain(ctx, fl.Domain)
	if err == nil && (m.ID != fl.Method || !m.Enabled || m.Kind != store.AuthOIDC) {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		return refuse("", "", "method_gone", nil)
	} else if err != nil {
		return err
	}
	if idpErr != "" {
		return refuse(m.AccountID, "", "idp_error", map[string]any{"error": api.Clip(idpErr, 128)})
	}
	wm, cfg, err := s.oidcMethod(m)
	if err != nil {
		return err
	}
	id, err := s.flows.Finish(ctx, fl, cfg, code)
	switch {
	case errors.Is(err, sso.ErrToken):
		return refuse(m.AccountID, "", "id_token_refused", map[string]any{"error": api.Clip(err.Error(), 256)})
	case errors.Is(err, sso.ErrRefused):
		return refuse(m.AccountID, "", "code_refused", map[string]any{"error": api.Clip(err.Error(), 256)})
	case err != nil:
		s.k.Log.Warn("OIDC provider", "oidc", m.ID, "err", err)
		return api.Errf(http.StatusServiceUnavailable, api.CodeUnavailable, "the identity provider of %s can't be reached; try again later", m.Domain)
	}
	return s.signIn(w, r, m, id.Subject, id.Username, id.Email, id.DisplayName, id.Groups, wm.DefaultGroup)
}
