// Package ssoapi is the relay's single sign-on API: the OpenID Connect
// and SAML 2.0 methods of an account and the sign-in routes (start, the
// IdP's answer). The protocols are relay/sso and relay/saml; the methods
// share LDAP's table. It builds on relay/api; the relay wires it in with
// New and Routes, and keeps the login itself (Config.SignIn).
package ssoapi

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/safetext"
	"github.com/tandem-rc/tandem/relay/sso"
	"github.com/tandem-rc/tandem/relay/store"
)

// Config is what the endpoints need of the relay beyond the kit.
type Config struct {
	// PublicBase is the relay's URL as r reached it (redirect and ACS URLs).
	PublicBase func(r *http.Request) string
	// Seal and Unseal keep a client secret sealed in the database.
	Seal, Unseal func(string) (string, error)
	// The address throttles, by source (guard.Source): Blocked says whether
	// a source has too many failed logins, Failed counts one, TakeStart
	// spends one of its sign-in starts (StartBurst, then one per StartEvery).
	Blocked, TakeStart func(src string) (bool, time.Duration)
	Failed             func(src string)
	// EvLoginFailed is the event audited for a refused sign-in.
	EvLoginFailed string
	// DeleteMethod and ImportGroup are the endpoints the methods share with
	// LDAP's (kind is store.AuthOIDC or store.AuthSAML).
	DeleteMethod func(w http.ResponseWriter, r *http.Request, kind, event string) error
	ImportGroup  func(w http.ResponseWriter, r *http.Request, kind string, check func(store.LDAPMethod, string) error) error
	// SignIn ends a sign-in the IdP vouched for: the user found or created,
	// its groups synced, then the login's second step; fail refuses it.
	SignIn func(w http.ResponseWriter, r *http.Request, m store.LDAPMethod, login, username, email, name string,
		groups []string, defaultGroup string, fail func(store.User, string) error) error
}

// API serves the endpoints.
type API struct {
	k     *api.Kit
	cfg   Config
	flows *sso.Flows // OIDC sign-ins under way, kept in the database
}

// New is the API on kit k.
func New(k *api.Kit, cfg Config) *API {
	s := &API{k: k, cfg: cfg, flows: sso.NewFlows(maxFlows, flowTTL, k.Now, nil)}
	s.flows.UseStore(pending{k.Store})
	return s
}

// Routes lists the endpoints (the relay's authorization tests walk them).
func (s *API) Routes() []api.Route { return append(s.oidcRoutes(), s.samlRoutes()...) }

// checkDomainButton checks (and trims) a new method's domain and the label
// of its sign-in button.
func checkDomainButton(domain *string, button string) error {
	*domain = strings.TrimSpace(*domain)
	if err := safetext.Name(*domain, api.MaxShortText); err != nil || strings.ContainsAny(*domain, `\@/ `) {
		return api.Badf("domain: a short name without spaces, \\, @ or /")
	}
	if err := safetext.Text(button, api.MaxShortText); err != nil {
		return api.Badf("button: %v", err)
	}
	return nil
}

// checkDefaultGroup checks a method's default group, if set: a user group
// of the account.
func (s *API) checkDefaultGroup(r *http.Request, account, group string) error {
	if group == "" {
		return nil
	}
	g, err := s.k.Store.Group(r.Context(), account, group)
	if errors.Is(err, store.ErrNotFound) || (err == nil && g.Kind != "user") {
		return api.Badf("default_group: no user group %q in this account", group)
	}
	return err
}

// signIn ends a sign-in the IdP of m vouched for: the name it gives is
// checked like any typed in, then the relay logs the user in (refusals
// audited as the method's kind).
func (s *API) signIn(w http.ResponseWriter, r *http.Request, m store.LDAPMethod, subject, username, email, display string,
	groups []string, defaultGroup string) error {
	name := display
	if name == "" {
		name, _, _ = strings.Cut(email, "@")
	}
	if name == "" {
		name = m.Domain + " user"
	}
	if err := safetext.Text(name, api.MaxShortText); err != nil {
		return s.ssoRefuse(r, m.Kind, m.AccountID, "", "unsafe_directory_name", map[string]any{"error": err.Error()})
	}
	login := m.Domain + `\` + api.Clip(username, 64)
	fail := func(u store.User, reason string) error {
		return s.ssoRefuse(r, m.Kind, m.AccountID, u.ID, reason, map[string]any{"login": login})
	}
	return s.cfg.SignIn(w, r, m, login, subject, email, name, groups, defaultGroup, fail)
}
