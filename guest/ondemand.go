package guest

import (
	"context"
	"net/http"
	"net/url"

	"github.com/tandem-rc/tandem/transport/wire"
)

// CreateOnDemand makes a new single-use OnDemand session key (valid 24 h)
// in account (empty: the user's only account).
func (c *Client) CreateOnDemand(ctx context.Context, account string) (*wire.OnDemandSession, error) {
	var out wire.OnDemandSession
	err := c.call(ctx, http.MethodPost, "/api/v1/ondemand", wire.OnDemandCreateRequest{Account: account}, &out)
	return &out, err
}

// OnDemandSessions lists the caller's live keys and the queue: sessions
// whose agent waits for a technician, with the permissions the caller
// would get.
func (c *Client) OnDemandSessions(ctx context.Context) ([]wire.OnDemandSession, error) {
	var out []wire.OnDemandSession
	err := c.call(ctx, http.MethodGet, "/api/v1/ondemand", nil, &out)
	return out, err
}

// EmailOnDemand sends key's link to the end user's address.
func (c *Client) EmailOnDemand(ctx context.Context, key, email string) error {
	return c.call(ctx, http.MethodPost, "/api/v1/ondemand/"+url.PathEscape(key)+"/email",
		wire.OnDemandEmailRequest{Email: email}, nil)
}

// RejectOnDemand kills key: a waiting agent is disconnected and exits.
func (c *Client) RejectOnDemand(ctx context.Context, key string) error {
	return c.call(ctx, http.MethodPost, "/api/v1/ondemand/"+url.PathEscape(key)+"/reject", nil, nil)
}
