// Package manage is the relay's account-administration API: the
// applications catalog, Portal logos, the Dashboard's counts and activity,
// remembered columns, the account's configuration, API keys and the
// levels members hold on device groups (relay/scope). It builds
// on relay/api; the relay wires it in with New and Routes.
package manage

import (
	"context"

	"github.com/tandem-rc/tandem/relay/api"
)

// Config is what the endpoints need beyond the kit.
type Config struct {
	// Online counts an account's connected devices (on every node).
	Online func(ctx context.Context, accountID string) (int, error)
	// APIKeyDays is an API key's default life; APIKeyMaxDays its longest.
	APIKeyDays, APIKeyMaxDays int
}

// API serves the endpoints.
type API struct {
	k   *api.Kit
	cfg Config
}

// New is the API on kit k.
func New(k *api.Kit, cfg Config) *API { return &API{k: k, cfg: cfg} }

// Routes lists the endpoints (the relay's authorization tests walk them).
func (s *API) Routes() []api.Route {
	return append([]api.Route{
		{Method: "GET", Path: "/api/v1/accounts/{account}/applications", H: s.handleApps},
		{Method: "POST", Path: "/api/v1/accounts/{account}/applications", H: s.handleCreateApp},
		{Method: "PUT", Path: "/api/v1/accounts/{account}/applications/{id}", H: s.handleUpdateApp},
		{Method: "DELETE", Path: "/api/v1/accounts/{account}/applications/{id}", H: s.handleDeleteApp},
		{Method: "GET", Path: "/api/v1/accounts/{account}/counts", H: s.handleAccountCounts},
		{Method: "GET", Path: "/api/v1/accounts/{account}/config", H: s.handleAccountConfig},
		{Method: "PUT", Path: "/api/v1/accounts/{account}/config", H: s.handleSetAccountConfig},
		{Method: "GET", Path: "/api/v1/accounts/{account}/activity", H: s.handleActivity},
		{Method: "GET", Path: "/api/v1/me/columns", H: s.handleColumns},
		{Method: "PUT", Path: "/api/v1/me/columns/{list}", H: s.handleSetColumns},
		{Method: "GET", Path: "/api/v1/me/api-keys", H: s.handleListAPIKeys},
		{Method: "POST", Path: "/api/v1/me/api-keys", H: s.handleCreateAPIKey},
		{Method: "DELETE", Path: "/api/v1/me/api-keys/{id}", H: s.handleDeleteAPIKey},
		{Method: "GET", Path: "/api/v1/accounts/{account}/logos", H: s.handleLogos},
		{Method: "GET", Path: "/api/v1/accounts/{account}/logos/{shape}", H: s.handleGetLogo},
		{Method: "PUT", Path: "/api/v1/accounts/{account}/logos/{shape}", H: s.handlePutLogo},
		{Method: "DELETE", Path: "/api/v1/accounts/{account}/logos/{shape}", H: s.handleDeleteLogo},
	}, s.scopeRoutes()...)
}
