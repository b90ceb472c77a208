package console

import (
	"context"

	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/transport/wire"
)

// API is what the console asks of the relay: guest.Client's calls, behind
// an interface so the view-model is tested against a double (the OnDemand
// relay API is built in parallel; the end-to-end run covers the real one).
type API interface {
	Relay() string
	Token() string
	Login(ctx context.Context, email, password string) (*wire.LoginResponse, error)
	LoginMFA(ctx context.Context, challenge, code string) (*wire.LoginResponse, error)
	Me(ctx context.Context) (*wire.User, error)
	Devices(ctx context.Context) ([]wire.Device, error)
	SetFavorite(ctx context.Context, device string, favorite bool) error
	CreateOnDemand(ctx context.Context, account string) (*wire.OnDemandSession, error)
	OnDemandSessions(ctx context.Context) ([]wire.OnDemandSession, error)
	EmailOnDemand(ctx context.Context, key, email string) error
	RejectOnDemand(ctx context.Context, key string) error
	Connect(ctx context.Context, device string, o guest.ConnectOptions) (*guest.Session, error)
}

// clientAPI is the real API: a guest.Client.
type clientAPI struct{ *guest.Client }

func (c clientAPI) Relay() string { return c.Client.Relay }
func (c clientAPI) Token() string { return c.Client.Token }

// newClientAPI is the default API factory.
func newClientAPI(relay, token string) (API, error) { return clientAPIWith(relay, token, false) }

func clientAPIWith(relay, token string, insecureHTTP bool) (API, error) {
	c, err := guest.NewClientWith(relay, token, insecureHTTP)
	if err != nil {
		return nil, err
	}
	return clientAPI{c}, nil
}
