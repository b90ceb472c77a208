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
	"time"

	"github.com/tandem-rc/tandem/internal/apiclient"
	"github.com/tandem-rc/tandem/transport/wire"
)

// ErrEnrollmentRefused is returned when the relay rejects the enrollment key.
var ErrEnrollmentRefused = errors.New("installer: enrollment refused")

// RelayKeyChangedError: the enrollment answer carries a relay key other
// than the one this host pinned for the same relay URL. Nothing was saved.
type RelayKeyChangedError struct {
	RelayURL, Pinned, Got string // the keys in base64
}

func (e *RelayKeyChangedError) Error() string {
	return fmt.Sprintf("installer: %s answered with relay key %s, but this host pinned %s: refused, identity unchanged "+
		"(if that relay really has a new key, remove this host's identity first: tandem-host uninstall, then install again)",
		e.RelayURL, e.Got, e.Pinned)
}

// RelayKeyChanged marks the error for the agent (agent.Options.ReEnroll).
func (e *RelayKeyChangedError) RelayKeyChanged() bool { return true }

// Enroll registers this host with the relay using a deployment package's
// enrollment key. It reuses the device key already in dir (re-enrollment
// keeps the identity) unless the service recorded that it was revoked, or
// generates a new one, saves the result and clears the recorded service
// state. Enrolling again with the same relay URL must be answered with the
// relay key pinned before (*RelayKeyChangedError otherwise, dir untouched).
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
	got, err := c.RelayKey()
	if err != nil || c.DeviceID == "" {
		return nil, fmt.Errorf("installer: relay sent an incomplete enrollment answer")
	}
	if old, err := Load(dir); err == nil {
		// The key pinned for this relay URL stays pinned: an answer with
		// another one comes from someone else (or a relay rebuilt from
		// scratch, which the operator handles by removing this identity).
		if pinned, _ := old.RelayKey(); old.RelayURL == relayURL && !pinned.Equal(got) {
			return nil, &RelayKeyChangedError{RelayURL: relayURL, Pinned: old.RelayPublicKey, Got: er.RelayPublicKey}
		}
		// Settings of this host, not of its enrollment.
		c.FilesRoot, c.MaxFileSize = old.FilesRoot, old.MaxFileSize
		c.InsecureHTTP = old.InsecureHTTP && old.RelayURL == relayURL // re-enrolling where it was
	}
	if err := Save(dir, c); err != nil {
		return nil, err
	}
	if err := ClearState(dir); err != nil {
		return nil, err
	}
	return c, nil
}

// ReEnroller returns what agent.Options.ReEnroll needs: enrolling again,
// with the package key kept in dir's configuration, when a relay that proved
// its key says it no longer knows this device (an administrator removed
// it). nil when no key was kept (the device then stops like a revoked one).
// The answer must carry the pinned relay key (*RelayKeyChangedError).
func ReEnroller(dir string, hc *http.Client, inv func() *wire.Inventory) func(ctx context.Context) (string, ed25519.PrivateKey, error) {
	if c, err := Load(dir); err != nil || c.EnrollmentKey == "" {
		return nil
	}
	return func(ctx context.Context) (string, ed25519.PrivateKey, error) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		c, err := Load(dir)
		if err != nil {
			return "", nil, err
		}
		nc, err := Enroll(ctx, hc, c.RelayURL, c.EnrollmentKey, dir, inv())
		if err != nil {
			return "", nil, err
		}
		return nc.DeviceID, nc.Key, nil
	}
}
