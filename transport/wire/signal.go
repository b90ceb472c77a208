package wire

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// Signal types (the "type" field of a Signal).
const (
	SigHello     = "hello"     // both ways, first message: version + capabilities (an agent's: + its nonce)
	SigChallenge = "challenge" // relay → agent: nonce to sign (+ the relay's proof of its key)
	SigAuth      = "auth"      // agent → relay: device id + signature over the nonce(s)
	SigReady     = "ready"     // relay → agent/guest: authenticated, routing starts
	SigInventory = "inventory" // agent → relay: hostname, OS, user, monitors ...
	SigGrant     = "grant"     // relay → agent: a signed session grant
	SigOffer     = "offer"     // guest → relay → agent: SDP offer
	SigAnswer    = "answer"    // agent → relay → guest: SDP answer
	SigCandidate = "candidate" // both ways: trickle ICE candidate
	SigBye       = "bye"       // any side ends a session (reason)
	SigError     = "error"     // relay or peer reports an error (code + message)
	SigRevoked   = "revoked"   // relay → agent: this device was revoked or removed
	// SigAudit (agent → relay) reports what the host did or refused in a
	// session, for the account's audit log: Code is the kind
	// (refused, file_received, file_sent), Message the detail.
	SigAudit = "audit"
	// SigConfirm (relay → agent) carries an emailed confirm-access answer
	// for a session whose host is also asking its local user: whichever
	// answer comes first decides. Code is "allowed" or "denied".
	SigConfirm = "confirm"
	// SigRekey (relay → agent that announced CapKeyRotation) carries
	// Handovers after the relay rotated its key during the connection: the
	// agent follows the chain from its pinned key (signed by it, within
	// validity) or ignores the message.
	SigRekey = "rekey"
)

// MaxSignalSize bounds one signaling message (SDP with many candidates fits
// easily); larger messages are refused before decoding.
const MaxSignalSize = 64 << 10

// ErrMalformed is returned for input that does not decode into a valid message.
var ErrMalformed = errors.New("wire: malformed message")

// Signal is one message on the relay WebSocket. Fields are optional per type;
// unknown JSON fields are ignored so new relays can talk to old agents.
type Signal struct {
	Type    string `json:"type"`
	Session string `json:"session,omitempty"`

	// hello
	Version int      `json:"version,omitempty"`
	Caps    []string `json:"caps,omitempty"`
	Role    string   `json:"role,omitempty"` // "agent", "guest"

	// hello (agent, CapRelayProof) / challenge / auth
	Nonce    string `json:"nonce,omitempty"`     // base64 (std) random bytes, NonceSize of them
	DeviceID string `json:"device_id,omitempty"` // auth
	// Signature is base64 (std) Ed25519: in a challenge, the relay's over
	// RelayProofMessage; in auth, the device's over AuthMessage(V2); in a
	// handshake's error, the relay's over VerdictMessage.
	Signature string `json:"signature,omitempty"`
	// Handovers (challenge, to an agent that announced CapKeyRotation):
	// the relay's key rotations, oldest first, so an agent that pinned an
	// earlier key can follow the signed chain to the key that signed this
	// challenge. At most MaxHandovers.
	Handovers []KeyHandover `json:"handovers,omitempty"`

	// grant
	Grant string `json:"grant,omitempty"` // policy.Grant token, verified by the host

	// offer / answer
	SDP string `json:"sdp,omitempty"`

	// candidate: the JSON of webrtc.ICECandidateInit, kept opaque here
	Candidate json.RawMessage `json:"candidate,omitempty"`

	// inventory
	Inventory *Inventory `json:"inventory,omitempty"`

	// bye / error / revoked
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// Inventory is what an agent reports about its machine.
type Inventory struct {
	Hostname string        `json:"hostname"`
	OS       string        `json:"os"`
	Arch     string        `json:"arch,omitempty"`
	Version  string        `json:"version,omitempty"` // agent version
	User     string        `json:"user,omitempty"`    // logged-in user, "" when none
	Locked   bool          `json:"locked,omitempty"`
	Monitors []MonitorInfo `json:"monitors,omitempty"`
	OnDemand bool          `json:"ondemand,omitempty"`
}

// MonitorInfo describes one monitor in root (virtual screen) coordinates.
type MonitorInfo struct {
	Name    string `json:"name,omitempty"`
	X       int32  `json:"x"`
	Y       int32  `json:"y"`
	Width   int32  `json:"width"`
	Height  int32  `json:"height"`
	Primary bool   `json:"primary,omitempty"`
}

// NonceSize is the length of the agent's and the relay's handshake nonces.
const NonceSize = 32

// HasCap reports whether the signal's hello announces capability c.
func (s *Signal) HasCap(c string) bool {
	for _, x := range s.Caps {
		if x == c {
			return true
		}
	}
	return false
}

// RelayProofMessage is what the relay signs with its Ed25519 key in the
// challenge to an agent that announced CapRelayProof: the agent's fresh
// nonce makes the proof unreplayable, the relay's nonce and the protocol
// version bind it to this challenge. Fields are length-prefixed (uint32,
// big endian) after a domain string no other signature of the relay's key
// starts with (grants start "tandem-grant").
func RelayProofMessage(version int, agentNonce, relayNonce []byte) []byte {
	m := make([]byte, 0, 48+len(agentNonce)+len(relayNonce))
	m = append(m, "tandem-relay-proof-v1\x00"...)
	m = binary.BigEndian.AppendUint32(m, uint32(version))
	m = appendField(m, agentNonce)
	m = appendField(m, relayNonce)
	return m
}

// AuthMessageV2 is what an agent that announced CapRelayProof signs to
// answer a challenge: both nonces, the device and the relay key it pinned,
// so the answer belongs to this handshake with this relay only.
func AuthMessageV2(agentNonce, relayNonce []byte, deviceID string, relayKey []byte) []byte {
	m := make([]byte, 0, 48+len(agentNonce)+len(relayNonce)+len(deviceID)+len(relayKey))
	m = append(m, "tandem-agent-auth-v2\x00"...)
	m = appendField(m, agentNonce)
	m = appendField(m, relayNonce)
	m = appendField(m, []byte(deviceID))
	m = appendField(m, relayKey)
	return m
}

// VerdictMessage is what the relay signs, for an agent that announced
// CapRelayProof, in a refusal it sends after its challenge (unknown_device,
// revoked, pending, unauthorized, ...): the refusal's code bound to this
// handshake's nonces, so that nobody between the agent and the relay can
// make up or replay the refusal the agent acts on (e.g. enrolling again).
func VerdictMessage(agentNonce, relayNonce []byte, code string) []byte {
	m := make([]byte, 0, 48+len(agentNonce)+len(relayNonce)+len(code))
	m = append(m, "tandem-relay-verdict-v1\x00"...)
	m = appendField(m, agentNonce)
	m = appendField(m, relayNonce)
	m = appendField(m, []byte(code))
	return m
}

// KeyHandover is a relay key rotation: the old key's signature over
// HandoverMessage(Old, New, NotBefore, NotAfter) endorses New. Keys and
// signature are base64 (std); times are Unix seconds. An agent that pinned
// Old accepts New only within [NotBefore, NotAfter] (allowing clock skew):
// a Host offline for longer must enroll again.
type KeyHandover struct {
	Old       string `json:"old"`
	New       string `json:"new"`
	NotBefore int64  `json:"not_before"`
	NotAfter  int64  `json:"not_after"`
	Signature string `json:"signature"`
}

// MaxHandovers bounds the chain a challenge carries (and an agent walks).
const MaxHandovers = 16

// HandoverMessage is what the old relay key signs to hand over to the new
// one, under a domain string no other signature of the relay's key starts
// with.
func HandoverMessage(oldKey, newKey []byte, notBefore, notAfter int64) []byte {
	m := make([]byte, 0, 48+len(oldKey)+len(newKey)+16)
	m = append(m, "tandem-relay-key-handover-v1\x00"...)
	m = appendField(m, oldKey)
	m = appendField(m, newKey)
	m = binary.BigEndian.AppendUint64(m, uint64(notBefore))
	m = binary.BigEndian.AppendUint64(m, uint64(notAfter))
	return m
}

// appendField appends b after its length (uint32, big endian).
func appendField(m, b []byte) []byte {
	m = binary.BigEndian.AppendUint32(m, uint32(len(b)))
	return append(m, b...)
}

// AuthMessage is the byte string an agent of protocol version 1 (without
// CapRelayProof) signs to answer a challenge. It binds the signature to the
// purpose, the device and the relay's key so a signature cannot be
// replayed elsewhere.
func AuthMessage(nonce []byte, deviceID string, relayKey []byte) []byte {
	m := make([]byte, 0, 64+len(nonce)+len(deviceID)+len(relayKey))
	m = append(m, "tandem-agent-auth-v1\x00"...)
	m = append(m, nonce...)
	m = append(m, 0)
	m = append(m, deviceID...)
	m = append(m, 0)
	m = append(m, relayKey...)
	return m
}

// EncodeSignal returns the JSON encoding of s.
func EncodeSignal(s *Signal) ([]byte, error) {
	if s.Type == "" {
		return nil, fmt.Errorf("%w: empty type", ErrMalformed)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSignalSize {
		return nil, fmt.Errorf("%w: signal of %d bytes exceeds %d", ErrMalformed, len(b), MaxSignalSize)
	}
	return b, nil
}

// DecodeSignal parses one signaling message. It refuses oversized input,
// non-objects and messages without a type.
func DecodeSignal(b []byte) (*Signal, error) {
	if len(b) > MaxSignalSize {
		return nil, fmt.Errorf("%w: signal of %d bytes exceeds %d", ErrMalformed, len(b), MaxSignalSize)
	}
	var s Signal
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if s.Type == "" {
		return nil, fmt.Errorf("%w: missing type", ErrMalformed)
	}
	if s.Candidate != nil && !json.Valid(s.Candidate) {
		return nil, fmt.Errorf("%w: candidate is not JSON", ErrMalformed)
	}
	return &s, nil
}
