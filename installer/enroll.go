package installer

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/tandem-rc/tandem/internal/apiclient"
	"github.com/tandem-rc/tandem/transport/wire"
)

// ErrEnrollmentRefused is returned when the relay rejects the enrollment key.
var ErrEnrollmentRefused = errors.New("installer: enrollment refused")

// Enroll registers this host with the relay using a deployment package's
// enrollment key. It reuses the device key already in dir (re-enrollment
// keeps the identity) unless the service recorded that it was revoked, or
// generates a new one, saves the result and clears the recorded service
// state.
func Enroll(ctx context.Context, hc *http.Client, relayURL, key, dir string, inv *wire.Inventory) (*Config, error) {
	relayURL = strings.TrimRight(strings.TrimSpace(relayURL), "/")
	u, err := url.Parse(relayURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("installer: relay URL %q must look like https://relay.example.com", relayURL)
	}
	key = strings.TrimSpace(key)
	if key == "" {
		return nil, fmt.Errorf("%w: empty enrollment key", ErrEnrollmentRefused)
	}
	// A revoked identity is dead on the relay: enrolling again needs a new
	// one. Otherwise keep the device key (same device, new package).
	var priv ed25519.PrivateKey
	st, _ := ReadState(dir)
	if old, err := Load(dir); err == nil && !st.Revoked() {
		priv = old.Key
	} else {
		if _, priv, err = ed25519.GenerateKey(rand.Reader); err != nil {
			return nil, err
		}
	}
	var er wire.EnrollResponse
	err = apiclient.Call(ctx, hc, http.MethodPost, relayURL, "/api/v1/enroll", "", wire.EnrollRequest{
		Key:       key,
		PublicKey: base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)),
		Inventory: inv,
	}, &er)
	var ae *apiclient.Error
	switch {
	case errors.As(err, &ae) && ae.Message != "":
		return nil, fmt.Errorf("%w: %s (%s)", ErrEnrollmentRefused, ae.Message, ae.Code)
	case errors.As(err, &ae):
		return nil, fmt.Errorf("%w: %v", ErrEnrollmentRefused, ae)
	case err != nil:
		return nil, fmt.Errorf("installer: %w", err)
	}
	c := &Config{
		RelayURL:       relayURL,
		DeviceID:       er.DeviceID,
		AccountID:      er.AccountID,
		State:          er.State,
		RelayPublicKey: er.RelayPublicKey,
		EnrollmentKey:  key,
		Key:            priv,
	}
	if old, err := Load(dir); err == nil {
		// Settings of this host, not of its enrollment.
		c.FilesRoot, c.MaxFileSize = old.FilesRoot, old.MaxFileSize
		c.InsecureHTTP = old.InsecureHTTP && old.RelayURL == relayURL // re-enrolling where it was
	}
	if _, err := c.RelayKey(); err != nil || c.DeviceID == "" {
		return nil, fmt.Errorf("installer: relay sent an incomplete enrollment answer")
	}
	if err := Save(dir, c); err != nil {
		return nil, err
	}
	if err := ClearState(dir); err != nil {
		return nil, err
	}
	return c, nil
}
