package agent

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

// OnDemand (spec 3.2): the end user runs tandem-ondemand with a session key
// a technician gave them. The agent joins the technician's queue with an
// identity made for this run only (kept in memory, never on disk), then
// serves exactly one session with the Host's engine and exits.

// OnDemandKeyDigits is how many digits a session key has.
const OnDemandKeyDigits = 9

// Errors of an OnDemand run.
var (
	// ErrOnDemandOver: the key is dead (the session ended, a technician
	// rejected it, or it expired); the agent exits.
	ErrOnDemandOver = errors.New("agent: this OnDemand session is over")
	// ErrOnDemandKey: the relay knows no such session key.
	ErrOnDemandKey = errors.New("agent: the relay does not know this session key; check it with your technician")
	// ErrThrottled: too many attempts from this address for now.
	ErrThrottled = errors.New("agent: too many attempts; wait a minute and try again")
)

// JoinError is the relay's refusal of a join; it unwraps to ErrOnDemandKey,
// ErrOnDemandOver or ErrThrottled where one applies.
type JoinError struct {
	Status  int
	Code    string
	Message string // the relay's words, for people
	kind    error
}

func (e *JoinError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = fmt.Sprintf("relay answered %d %s", e.Status, e.Code)
	}
	if e.kind != nil {
		return e.kind.Error() + " (" + msg + ")"
	}
	return "agent: the relay refused the session key: " + msg
}

func (e *JoinError) Unwrap() error { return e.kind }

// OnDemandIdentity is what a join gives the agent for this run only.
type OnDemandIdentity struct {
	RelayURL   string
	Key        string // the session key, normalized
	DeviceID   string
	AccountID  string
	PrivateKey ed25519.PrivateKey
	RelayKey   ed25519.PublicKey // pinned: grants must verify with it
	Technician string            // who created the key
	ExpiresAt  time.Time         // when the queue gives up
}

// NormalizeOnDemandKey takes a key as people type or read it ("613 220
// 463", "613-220-463") and returns its digits.
func NormalizeOnDemandKey(s string) (string, error) {
	var b strings.Builder
	for _, r := range strings.TrimSpace(s) {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '\t' || r == '.':
		default:
			return "", fmt.Errorf("agent: a session key has only digits (got %q)", r)
		}
	}
	if b.Len() != OnDemandKeyDigits {
		return "", fmt.Errorf("agent: a session key has %d digits, this has %d", OnDemandKeyDigits, b.Len())
	}
	return b.String(), nil
}

// NormalizeRelayURL checks a relay URL (http(s)://host[:port]) and trims
// its trailing slash.
func NormalizeRelayURL(s string) (string, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "/")
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("agent: relay URL %q must look like https://relay.example.com", s)
	}
	return s, nil
}

// JoinOnDemand registers a fresh key pair for key with the relay (POST
// /api/v1/ondemand/join) and returns the identity to run the engine with.
func JoinOnDemand(ctx context.Context, hc *http.Client, relayURL, key string, inv *wire.Inventory) (*OnDemandIdentity, error) {
	relayURL, err := NormalizeRelayURL(relayURL)
	if err != nil {
		return nil, err
	}
	if key, err = NormalizeOnDemandKey(key); err != nil {
		return nil, err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	var jr wire.OnDemandJoinResponse
	err = apiclient.Call(ctx, hc, http.MethodPost, relayURL, "/api/v1/ondemand/join", "",
		wire.OnDemandJoinRequest{Key: key, PublicKey: base64.StdEncoding.EncodeToString(pub), Inventory: inv}, &jr)
	var ae *apiclient.Error
	if errors.As(err, &ae) {
		je := &JoinError{Status: ae.Status, Code: ae.Code, Message: ae.Message}
		switch {
		case je.Code == wire.CodeOnDemandOver || ae.Status == http.StatusGone:
			je.kind = ErrOnDemandOver
		case je.Code == "throttled" || ae.Status == http.StatusTooManyRequests:
			je.kind = ErrThrottled
		case je.Code == "invalid_key" || je.Code == "not_found" || ae.Status == http.StatusNotFound:
			je.kind = ErrOnDemandKey
		}
		return nil, je
	}
	if err != nil {
		return nil, fmt.Errorf("agent: joining: %w", err)
	}
	rk, err := base64.StdEncoding.DecodeString(jr.RelayPublicKey)
	if err != nil || len(rk) != ed25519.PublicKeySize || jr.DeviceID == "" {
		return nil, errors.New("agent: the relay sent an incomplete join answer")
	}
	return &OnDemandIdentity{RelayURL: relayURL, Key: key, DeviceID: jr.DeviceID, AccountID: jr.AccountID,
		PrivateKey: priv, RelayKey: ed25519.PublicKey(rk), Technician: jr.Technician,
		ExpiresAt: time.Unix(jr.ExpiresAt, 0)}, nil
}
