package wire

import "strings"

// OnDemand sessions (spec 3.2): a technician creates a single-use session
// key; the end user runs tandem-ondemand with it, which joins the
// technician's queue; the technician starts (POST /api/v1/sessions with
// SessionRequest.OnDemand) or rejects it. Keys live 24 h; a joined agent
// waits in the queue 1 h at most.

// OnDemand states, as OnDemandSession.State reports them.
const (
	OnDemandCreated  = "created"  // key handed out, no agent yet
	OnDemandWaiting  = "waiting"  // the agent joined and waits in the queue
	OnDemandStarted  = "started"  // a technician started it; consent or session in progress
	OnDemandEnded    = "ended"    // the session ran and ended: the key is dead
	OnDemandRejected = "rejected" // a technician rejected it: the key is dead
	OnDemandExpired  = "expired"  // 24 h since creation, or 1 h in the queue
)

// OnDemandCreateRequest is POST /api/v1/ondemand. Account picks which of
// the technician's accounts the session belongs to (default: the only one).
type OnDemandCreateRequest struct {
	Account string `json:"account,omitempty"`
}

// OnDemandSession is one session key as its technicians see it (POST and
// GET /api/v1/ondemand).
type OnDemandSession struct {
	Key       string `json:"key"`  // digits only, easy to read out on the phone
	Link      string `json:"link"` // RELAY/s/KEY: the download page
	AccountID string `json:"account_id"`
	State     string `json:"state"`
	CreatedBy string `json:"created_by"` // the technician's email
	CreatedAt int64  `json:"created_at"` // unix seconds
	ExpiresAt int64  `json:"expires_at"` // creation + 24 h
	// Set once the agent joined: when (queue expiry = JoinedAt + 1 h) and
	// what it runs on.
	JoinedAt int64  `json:"joined_at,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	OS       string `json:"os,omitempty"`
	User     string `json:"user,omitempty"`
	// Permissions the caller would get if they started it now (their
	// OnDemand role assignments); empty: they may not start it.
	Permissions []string `json:"permissions,omitempty"`
}

// OnDemandEmailRequest is POST /api/v1/ondemand/{key}/email: the link goes
// to the end user's address.
type OnDemandEmailRequest struct {
	Email string `json:"email"`
}

// OnDemandJoinRequest is POST /api/v1/ondemand/join, sent by
// tandem-ondemand without any login: the key is the credential. It
// registers an ephemeral identity (like EnrollRequest) that the agent then
// uses on the agent WebSocket exactly like a Host.
type OnDemandJoinRequest struct {
	Key       string     `json:"key"`
	PublicKey string     `json:"public_key"` // base64 Ed25519, generated for this run only
	Inventory *Inventory `json:"inventory,omitempty"`
}

// OnDemandJoinResponse: the ephemeral device id to authenticate with and
// the relay key to pin. The relay deletes this identity when the OnDemand
// session ends, is rejected or expires, and refuses it from then on
// (agent refusal code CodeOnDemandOver).
type OnDemandJoinResponse struct {
	DeviceID       string `json:"device_id"`
	AccountID      string `json:"account_id"`
	RelayPublicKey string `json:"relay_public_key"`
	ExpiresAt      int64  `json:"expires_at"` // when the queue gives up on it
	// Technician is who created the key (shown while waiting).
	Technician string `json:"technician,omitempty"`
}

// CodeOnDemandOver is the error code the relay closes an OnDemand agent's
// connection (or refuses its join) with once its key is dead: ended,
// rejected or expired. The agent exits.
const CodeOnDemandOver = "ondemand_over"

// GroupKey writes an OnDemand key in groups of three digits, as it is read
// out on the phone: 613220463 → "613 220 463".
func GroupKey(key string) string {
	var b strings.Builder
	for i, r := range key {
		if i > 0 && i%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}
