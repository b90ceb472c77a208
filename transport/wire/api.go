package wire

// JSON bodies of the relay's HTTP API (/api/v1). Shared by the relay and its
// clients so both sides agree on field names.

// APIError is the body of every non-2xx answer: a stable code for programs
// and a message for people.
type APIError struct {
	Error APIErrorBody `json:"error"`
}

type APIErrorBody struct {
	Code    string `json:"code"`    // e.g. "invalid_key", "unauthorized", "device_offline"
	Message string `json:"message"` // what went wrong and what to do
	// Candidates lists the matching devices when a device reference is
	// ambiguous (code "ambiguous_device").
	Candidates []Ref `json:"candidates,omitempty"`
}

// RelayInfo answers GET /api/v1/relay.
type RelayInfo struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Protocol  int    `json:"protocol"`
	PublicKey string `json:"public_key"` // base64 Ed25519 key that signs grants
}

// EnrollRequest is POST /api/v1/enroll.
type EnrollRequest struct {
	Key       string     `json:"key"`        // the deployment package's enrollment key
	PublicKey string     `json:"public_key"` // base64 Ed25519 public key of the device
	Inventory *Inventory `json:"inventory,omitempty"`
}

// EnrollResponse tells the device who it is and which relay key to pin.
type EnrollResponse struct {
	DeviceID       string `json:"device_id"`
	AccountID      string `json:"account_id"`
	State          string `json:"state"` // "enrolled" or "pending"
	RelayPublicKey string `json:"relay_public_key"`
}

// LoginRequest is POST /api/v1/login.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// LoginResponse carries the bearer token for later calls. When email MFA
// applies, the first step answers MFARequired and a Challenge instead (no
// token, no user): finish with POST /api/v1/login/mfa.
type LoginResponse struct {
	Token       string `json:"token,omitempty"`
	ExpiresAt   int64  `json:"expires_at,omitempty"` // unix seconds
	User        User   `json:"user,omitzero"`
	MFARequired bool   `json:"mfa_required,omitempty"`
	Challenge   string `json:"challenge,omitempty"`
}

type User struct {
	ID       string `json:"id"`
	Email    string `json:"email"`
	Name     string `json:"name"`
	Accounts []Ref  `json:"accounts,omitempty"`
}

type Ref struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Device is one row of GET /api/v1/devices.
type Device struct {
	ID        string        `json:"id"`
	AccountID string        `json:"account_id"`
	Name      string        `json:"name"` // alias or hostname
	Hostname  string        `json:"hostname"`
	OS        string        `json:"os"`
	Version   string        `json:"version,omitempty"`
	State     string        `json:"state"` // enrolled, pending, revoked
	Online    bool          `json:"online"`
	LastSeen  int64         `json:"last_seen,omitempty"` // unix seconds
	User      string        `json:"user,omitempty"`
	Monitors  []MonitorInfo `json:"monitors,omitempty"`
}

// SessionRequest is POST /api/v1/sessions.
type SessionRequest struct {
	Device string `json:"device"`           // device id or hostname
	Action string `json:"action,omitempty"` // "remote_control" (default)
}

// SessionResponse starts a session: open the signal WebSocket next.
type SessionResponse struct {
	SessionID   string      `json:"session_id"`
	DeviceID    string      `json:"device_id"`
	Permissions []string    `json:"permissions"`
	ExpiresAt   int64       `json:"expires_at"` // the grant must be used before this
	ICEServers  []ICEServer `json:"ice_servers"`
	SignalURL   string      `json:"signal_url"` // path of the WebSocket, relative to the relay
}

// ICEServer mirrors webrtc.ICEServer without importing pion.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}
