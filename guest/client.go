// Package guest is the technician's side of Tandem without UI: log in to a
// relay, list devices, open a session and drive it. The command-line guest
// and the Fyne console are thin layers over it.
package guest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/internal/apiclient"
	"github.com/tandem-rc/tandem/internal/relayurl"
	"github.com/tandem-rc/tandem/transport/wire"
)

// ErrUnauthorized means the token is missing, expired or revoked: log in again.
var ErrUnauthorized = errors.New("guest: not logged in or session expired (run: tandem-guest login)")

// APIError is an error answer from the relay.
type APIError = apiclient.Error

// Client talks to one relay's API.
type Client struct {
	Relay  string // base URL, e.g. https://relay.example.com
	Token  string // bearer token from Login
	HTTP   *http.Client
	Logger *slog.Logger

	factors []string // the second factors the last Login offered
}

// NewClient normalises the relay URL.
func NewClient(relay, token string) (*Client, error) {
	return NewClientWith(relay, token, false)
}

// NewClientWith is NewClient where insecureHTTP accepts a plain-http relay
// off this machine (the --insecure-http choice; callers warn).
func NewClientWith(relay, token string, insecureHTTP bool) (*Client, error) {
	relay = strings.TrimRight(strings.TrimSpace(relay), "/")
	u, err := url.Parse(relay)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("guest: relay URL %q must look like https://relay.example.com", relay)
	}
	if err := relayurl.Check(relay, insecureHTTP); err != nil {
		return nil, fmt.Errorf("guest: %w", err)
	}
	return &Client{Relay: relay, Token: token, HTTP: http.DefaultClient, Logger: slog.Default()}, nil
}

// Login exchanges a password for a bearer token, stored in c.Token.
func (c *Client) Login(ctx context.Context, email, password string) (*wire.LoginResponse, error) {
	var out wire.LoginResponse
	if err := c.call(ctx, http.MethodPost, "/api/v1/login", wire.LoginRequest{Email: email, Password: password}, &out); err != nil {
		return nil, err
	}
	c.Token = out.Token // "" when out.MFARequired: finish with LoginMFA
	c.factors = out.Factors
	return &out, nil
}

// LoginMFA finishes a login that answered MFARequired, with the emailed
// code, the authenticator app's code (when the login offered totp: no
// code is mailed then), or one of the user's recovery codes.
func (c *Client) LoginMFA(ctx context.Context, challenge, code string) (*wire.LoginResponse, error) {
	req := wire.LoginMFA{Challenge: challenge, Code: code}
	if slices.Contains(c.factors, "totp") {
		req.Factor = "totp"
	}
	if len(strings.TrimSpace(code)) > 6 { // recovery codes are longer than the emailed six digits
		req = wire.LoginMFA{Challenge: challenge, RecoveryCode: code}
	}
	var out wire.LoginResponse
	if err := c.call(ctx, http.MethodPost, "/api/v1/login/mfa", req, &out); err != nil {
		return nil, err
	}
	c.Token = out.Token
	return &out, nil
}

// Devices lists the devices the user may see.
func (c *Client) Devices(ctx context.Context) ([]wire.Device, error) {
	var out []wire.Device
	err := c.call(ctx, http.MethodGet, "/api/v1/devices", nil, &out)
	return out, err
}

// RequestSession asks the relay for a session on device (id or hostname).
// When the relay answers that someone must confirm it by email first, the
// answer has only Confirmation set: see WaitConfirmation.
func (c *Client) RequestSession(ctx context.Context, device, action string) (*wire.SessionResponse, error) {
	return c.requestSession(ctx, wire.SessionRequest{Device: device, Action: action})
}

func (c *Client) requestSession(ctx context.Context, req wire.SessionRequest) (*wire.SessionResponse, error) {
	var out wire.SessionResponse
	err := c.call(ctx, http.MethodPost, "/api/v1/sessions", req, &out)
	return &out, err
}

// ErrNotConfirmed: the confirming group denied the session, or nobody
// answered in time.
var ErrNotConfirmed = errors.New("guest: the session was not confirmed")

// WaitConfirmation polls a confirm-access request every interval until it
// is decided; it returns nil once allowed.
func (c *Client) WaitConfirmation(ctx context.Context, id string, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		var st wire.Confirmation
		if err := c.call(ctx, http.MethodGet, "/api/v1/confirmations/"+url.PathEscape(id), nil, &st); err != nil {
			return err
		}
		switch st.Status {
		case "allowed":
			return nil
		case "pending":
		default:
			return fmt.Errorf("%w (%s)", ErrNotConfirmed, st.Status)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	err := apiclient.Call(ctx, c.HTTP, method, c.Relay, path, c.Token, in, out)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized && path != "/api/v1/login" {
		return fmt.Errorf("%w: %v", ErrUnauthorized, ae)
	}
	if err != nil && !errors.As(err, &ae) {
		return fmt.Errorf("guest: %w", err)
	}
	return err
}
