package installer

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

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
	if hc == nil {
		hc = http.DefaultClient
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
	body, _ := json.Marshal(wire.EnrollRequest{
		Key:       key,
		PublicKey: base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)),
		Inventory: inv,
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, relayURL+"/api/v1/enroll", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("installer: cannot reach relay %s: %w", relayURL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var e wire.APIError
		if json.Unmarshal(raw, &e) == nil && e.Error.Message != "" {
			return nil, fmt.Errorf("%w: %s (%s)", ErrEnrollmentRefused, e.Error.Message, e.Error.Code)
		}
		return nil, fmt.Errorf("%w: relay answered %s", ErrEnrollmentRefused, resp.Status)
	}
	var er wire.EnrollResponse
	if err := json.Unmarshal(raw, &er); err != nil {
		return nil, fmt.Errorf("installer: bad enrollment answer: %w", err)
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
