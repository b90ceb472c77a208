package guest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// State is what the command-line guest remembers between runs.
type State struct {
	Relay     string `json:"relay"`
	Email     string `json:"email"`
	Token     string `json:"token"`
	ExpiresAt int64  `json:"expires_at"`
	// InsecureHTTP: logged in with --insecure-http to a plain-http relay
	// off this machine; later commands accept it too (and warn).
	InsecureHTTP bool `json:"insecure_http,omitempty"`
}

const stateFile = "guest.json"

// LoadState reads the login state from dir.
func LoadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrUnauthorized
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("guest: %s is corrupt (log in again): %w", filepath.Join(dir, stateFile), err)
	}
	if s.Token == "" || s.Relay == "" {
		return nil, ErrUnauthorized
	}
	if s.ExpiresAt != 0 && time.Now().Unix() >= s.ExpiresAt {
		return nil, fmt.Errorf("%w (login expired)", ErrUnauthorized)
	}
	return &s, nil
}

// LoadRemembered reads what the last login left behind, even without a
// valid token: the relay and user to offer again. No file is no error.
func LoadRemembered(dir string) (State, error) {
	var s State
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("guest: %s is corrupt (log in again): %w", filepath.Join(dir, stateFile), err)
	}
	return s, nil
}

// SaveState writes the login state, readable by the owner only (the token is
// a credential).
func SaveState(dir string, s *State) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+stateFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, stateFile))
}
