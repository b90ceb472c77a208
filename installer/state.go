package installer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tandem-rc/tandem/internal/fsutil"
)

// StateFile is the small file the service writes so that `tandem-host
// status` can tell what the service last did (a stopped service cannot say
// why it stopped otherwise).
const StateFile = "state.json"

// Service states recorded in StateFile.
const (
	StateRunning = "running"
	StateStopped = "stopped"
	StateRevoked = "revoked" // the relay refused this identity; re-enroll with a new key
	StateFailed  = "failed"  // the service stopped on an error (see Detail and the log)
	// StateRelayKeyChanged: enrolling again was answered with a relay key
	// other than the pinned one; the service stopped with its identity
	// intact and is not restarted by the service manager.
	StateRelayKeyChanged = "relay_key_changed"
)

// State is what the service last recorded.
type State struct {
	State    string    `json:"state"`
	Detail   string    `json:"detail,omitempty"`
	DeviceID string    `json:"device_id,omitempty"`
	PID      int       `json:"pid,omitempty"`
	Time     time.Time `json:"time"`
}

// WriteState records s in dir (atomically).
func WriteState(dir string, s State) error {
	if s.Time.IsZero() {
		s.Time = time.Now().UTC()
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := fsutil.WriteAtomic(filepath.Join(dir, StateFile), append(b, '\n')); err != nil {
		return fmt.Errorf("installer: write state: %w", err)
	}
	return nil
}

// ReadState returns the recorded state; a missing file is the zero State
// and no error.
func ReadState(dir string) (State, error) {
	var s State
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("installer: read state: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("installer: %s is corrupt: %w", StateFile, err)
	}
	return s, nil
}

// ClearState forgets the recorded state (after a new enrollment).
func ClearState(dir string) error {
	if err := os.Remove(filepath.Join(dir, StateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("installer: %w", err)
	}
	return nil
}

// Revoked reports whether the service recorded that the relay revoked
// this identity.
func (s State) Revoked() bool { return s.State == StateRevoked }
