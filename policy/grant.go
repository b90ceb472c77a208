package policy

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// A Grant is the relay's signed permission for one session: who may do what
// on which device until when. The relay signs it with its Ed25519 key; the
// host verifies it against the key it pinned at enrollment and enforces it
// itself, whatever the guest sends.
type Grant struct {
	Version     int         `json:"v"`
	SessionID   string      `json:"sid"`
	AccountID   string      `json:"acct"`
	DeviceID    string      `json:"dev"`
	User        GrantUser   `json:"user"`
	Action      string      `json:"action,omitempty"`
	Permissions []string    `json:"perms"`
	IssuedAt    int64       `json:"iat"` // unix seconds
	ExpiresAt   int64       `json:"exp"` // the session must start before this
	ICEServers  []ICEServer `json:"ice,omitempty"`
	// Whitelist, when present, limits the session to the windows of these
	// applications (spec 4.4.11): the host masks and ignores everything
	// else. Absent (nil) means no restriction; present and empty is
	// malformed, so a whitelist can never silently become "allow all". Old
	// grants carry no "wl" key and verify unchanged.
	Whitelist []GrantApp `json:"wl,omitempty"`
	// ConfirmLocal: the local user at the host must allow the session
	// before anything of it runs (spec 4.4.10); no answer within the
	// host's timeout is a denial. Absent in grants that need none.
	ConfirmLocal bool `json:"cl,omitempty"`
	// The roles' "except when the computer is locked / no user is logged
	// in" (spec 4.4.10, 4.4.11): only the host sees its state, so the
	// relay says which exceptions hold for every role that asks and the
	// host applies them. ConfirmEmail says the relay is asking by email
	// too: a host that waives its own prompt waits for that answer
	// instead. Hosts that don't know these fields ignore them and stay
	// strict.
	ConfirmExceptLocked   bool `json:"cxl,omitempty"`
	ConfirmExceptNoUser   bool `json:"cxn,omitempty"`
	ConfirmEmail          bool `json:"ce,omitempty"`
	WhitelistExceptLocked bool `json:"wxl,omitempty"`
	WhitelistExceptNoUser bool `json:"wxn,omitempty"`
}

// GrantApp is one whitelisted application: its executable's file name
// (matched case-insensitively) and, when Path is set, the folder it must run
// from, which may contain environment variables (%windir%\system32,
// $HOME/bin) expanded on the host.
type GrantApp struct {
	Name       string `json:"name,omitempty"`
	Executable string `json:"exe"`
	Path       string `json:"path,omitempty"`
}

// GrantWhitelist converts a policy decision's whitelist for a grant: nil
// stays nil (no restriction).
func GrantWhitelist(apps []App) []GrantApp {
	if apps == nil {
		return nil
	}
	out := make([]GrantApp, 0, len(apps))
	for _, a := range apps {
		out = append(out, GrantApp{Name: a.Name, Executable: a.Executable, Path: a.Path})
	}
	return out
}

// validWhitelist rejects a present but empty whitelist and entries without
// an executable name: either would be ambiguous on the host.
func validWhitelist(w []GrantApp) error {
	if w == nil {
		return nil
	}
	if len(w) == 0 {
		return errors.New("grant: whitelist present but empty")
	}
	for i, a := range w {
		if strings.TrimSpace(a.Executable) == "" || strings.ContainsAny(a.Executable, "/\\\x00") {
			return fmt.Errorf("grant: whitelist entry %d has no valid executable name (%q)", i, a.Executable)
		}
	}
	return nil
}

// GrantUser is the technician, as shown to the local user.
type GrantUser struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
}

// ICEServer is a STUN/TURN server with (short-lived) credentials.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// GrantVersion is the grant format this build writes and accepts.
const GrantVersion = 1

// MaxGrantSize bounds a grant token before any decoding.
const MaxGrantSize = 16 << 10

// ClockSkew is tolerated between relay and host clocks.
const ClockSkew = 2 * time.Minute

// Grant verification errors; callers branch on them with errors.Is.
var (
	ErrGrantMalformed   = errors.New("grant: malformed")
	ErrGrantSignature   = errors.New("grant: bad signature")
	ErrGrantExpired     = errors.New("grant: expired")
	ErrGrantNotYetValid = errors.New("grant: not yet valid")
	ErrGrantWrongDevice = errors.New("grant: issued for another device")
)

// signing context: a signature over a grant can't be confused with any other
// Ed25519 signature made by the relay key.
const grantContext = "tandem-grant-v1."

// Sign encodes g and signs it: base64url(json) "." base64url(signature).
func Sign(g *Grant, key ed25519.PrivateKey) (string, error) {
	if len(key) != ed25519.PrivateKeySize {
		return "", errors.New("grant: invalid signing key")
	}
	if _, err := ParseSet(g.Permissions); err != nil {
		return "", err
	}
	if err := validWhitelist(g.Whitelist); err != nil {
		return "", err
	}
	payload, err := json.Marshal(g)
	if err != nil {
		return "", err
	}
	p := base64.RawURLEncoding.EncodeToString(payload)
	sig := ed25519.Sign(key, []byte(grantContext+p))
	return p + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// Verify checks token's signature with the pinned relay key, that it is for
// deviceID and valid at now, and returns the grant. Anything unsigned,
// tampered, expired, premature or for another device is refused.
func Verify(token string, relayKey ed25519.PublicKey, deviceID string, now time.Time) (*Grant, error) {
	if len(relayKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: no pinned relay key", ErrGrantSignature)
	}
	if len(token) > MaxGrantSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrGrantMalformed, len(token))
	}
	p, s, ok := strings.Cut(token, ".")
	if !ok || p == "" || s == "" {
		return nil, fmt.Errorf("%w: not payload.signature", ErrGrantMalformed)
	}
	sig, err := base64.RawURLEncoding.DecodeString(s)
	// Only the canonical encoding is accepted (the decoder skips CR/LF and
	// ignores the last character's spare bits), so one grant has one token.
	if err != nil || len(sig) != ed25519.SignatureSize || base64.RawURLEncoding.EncodeToString(sig) != s {
		return nil, fmt.Errorf("%w: signature encoding", ErrGrantMalformed)
	}
	if !ed25519.Verify(relayKey, []byte(grantContext+p), sig) {
		return nil, ErrGrantSignature
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return nil, fmt.Errorf("%w: payload encoding", ErrGrantMalformed)
	}
	var g Grant
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&g); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrGrantMalformed, err)
	}
	if g.Version != GrantVersion {
		return nil, fmt.Errorf("%w: version %d", ErrGrantMalformed, g.Version)
	}
	if g.SessionID == "" || g.DeviceID == "" || g.User.ID == "" {
		return nil, fmt.Errorf("%w: missing session, device or user", ErrGrantMalformed)
	}
	if _, err := ParseSet(g.Permissions); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrGrantMalformed, err)
	}
	if err := validWhitelist(g.Whitelist); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrGrantMalformed, err)
	}
	if g.DeviceID != deviceID {
		return nil, ErrGrantWrongDevice
	}
	if now.Add(-ClockSkew).Unix() >= g.ExpiresAt {
		return nil, fmt.Errorf("%w at %s", ErrGrantExpired, time.Unix(g.ExpiresAt, 0).UTC().Format(time.RFC3339))
	}
	if now.Add(ClockSkew).Unix() < g.IssuedAt {
		return nil, ErrGrantNotYetValid
	}
	return &g, nil
}

// Set returns the grant's permissions as a Set (Verify has validated them).
func (g *Grant) Set() Set { s, _ := ParseSet(g.Permissions); return s }
