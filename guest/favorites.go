package guest

import (
	"context"
	"net/http"
	"net/url"

	"github.com/tandem-rc/tandem/transport/wire"
)

// Me returns the logged-in user with the accounts they are active in.
func (c *Client) Me(ctx context.Context) (*wire.User, error) {
	var out wire.User
	if err := c.call(ctx, http.MethodGet, "/api/v1/me", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetFavorite marks device (id or hostname) as one of the user's
// favorites, or unmarks it.
func (c *Client) SetFavorite(ctx context.Context, device string, favorite bool) error {
	method := http.MethodDelete
	if favorite {
		method = http.MethodPut
	}
	return c.call(ctx, method, "/api/v1/me/favorites/"+url.PathEscape(device), nil, nil)
}
