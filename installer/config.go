// Package installer enrolls a Host with a relay and keeps its identity and
// configuration on disk. Service installation (kardianos/service) builds on it.
package installer

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tandem-rc/tandem/internal/fsutil"
)

// File names inside the config directory.
const (
	ConfigFile = "host.json"
	KeyFile    = "device.key" // Ed25519 seed, base64; never leaves the machine
)

// ErrNotEnrolled means the config directory holds no enrollment yet.
var ErrNotEnrolled = errors.New("installer: this host is not enrolled (run: tandem-host enroll --relay URL --key KEY)")

// Config is a host's enrollment: which relay, who it is there, and the relay
// key it pinned (grants signed by any other key are refused).
type Config struct {
	RelayURL       string `json:"relay_url"`
	DeviceID       string `json:"device_id"`
	AccountID      string `json:"account_id"`
	State          string `json:"state"` // state at enrollment: enrolled or pending
	RelayPublicKey string `json:"relay_public_key"`
	// FilesRoot is the only folder technicians may transfer files in and
	// out of; empty means the home directory of the user the host runs as.
	FilesRoot string `json:"files_root,omitempty"`
	// MaxFileSize bounds each transferred file in bytes; 0 means 4 GiB.
	MaxFileSize int64 `json:"max_file_size,omitempty"`
	// EnrollmentKey is the deployment package's key this device enrolled
	// with, kept (this file is 0600 in a 0700 directory) so that a device
	// an administrator removed enrolls again at its next start while the
	// package still accepts enrollments (spec 4.3).
	EnrollmentKey string `json:"enrollment_key,omitempty"`
	// InsecureHTTP records the operator's --insecure-http: the relay is
	// plain http off this machine and every start says so (relayurl).
	InsecureHTTP bool `json:"insecure_http,omitempty"`

	Key ed25519.PrivateKey `json:"-"`
}

// RelayKey decodes the pinned relay key.
func (c *Config) RelayKey() (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(c.RelayPublicKey)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("installer: pinned relay key is invalid; re-enroll")
	}
	return ed25519.PublicKey(b), nil
}

// Load reads the config and the device key from dir.
func Load(dir string) (*Config, error) {
	b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotEnrolled
	}
	if err != nil {
		return nil, fmt.Errorf("installer: read config: %w", err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("installer: %s is corrupt: %w", ConfigFile, err)
	}
	if c.RelayURL == "" || c.DeviceID == "" {
		return nil, fmt.Errorf("installer: %s lacks relay_url or device_id; re-enroll", ConfigFile)
	}
	if _, err := c.RelayKey(); err != nil {
		return nil, err
	}
	key, err := loadKey(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, err
	}
	c.Key = key
	return &c, nil
}

// Save writes the config and key atomically, readable only by the owner.
func Save(dir string, c *Config) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("installer: %w", err)
	}
	if len(c.Key) != ed25519.PrivateKeySize {
		return errors.New("installer: missing device key")
	}
	if err := fsutil.WriteAtomic(filepath.Join(dir, KeyFile), []byte(base64.StdEncoding.EncodeToString(c.Key.Seed())+"\n")); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteAtomic(filepath.Join(dir, ConfigFile), append(b, '\n'))
}

func loadKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("installer: read device key: %w", err)
	}
	seed, err := base64.StdEncoding.DecodeString(string(trimSpace(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("installer: device key %s is corrupt; re-enroll", path)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// RePinner saves a new pinned relay key in dir's config: the agent calls
// it once the relay proved a signed hand-over from the pinned key
// (agent.Options.OnRelayKeyRotated).
func RePinner(dir string) func(ed25519.PublicKey) error {
	return func(k ed25519.PublicKey) error {
		if len(k) != ed25519.PublicKeySize {
			return errors.New("installer: invalid relay key")
		}
		c, err := Load(dir)
		if err != nil {
			return err
		}
		c.RelayPublicKey = base64.StdEncoding.EncodeToString(k)
		return Save(dir, c)
	}
}
