package wire

import "encoding/json"

// MFAStatus answers GET /api/v1/me/mfa: the caller's second factors.
type MFAStatus struct {
	Required          bool     `json:"required"`     // signing in asks for a second factor now
	Allowed           []string `json:"allowed"`      // factors all of the caller's accounts allow
	TOTP              bool     `json:"totp"`         // an authenticator app is set up
	TOTPPending       bool     `json:"totp_pending"` // enrolment started, not yet confirmed with a code
	RecoveryCodesLeft int      `json:"recovery_codes_left"`
}

// TOTPEnrolment answers POST /api/v1/me/totp: the new secret, shown this
// once (the relay never answers it again), as text, as an otpauth:// URI
// and as that URI's QR code (PNG, base64).
type TOTPEnrolment struct {
	Secret string `json:"secret"`
	URI    string `json:"uri"`
	QRPNG  string `json:"qr_png"`
	Period int    `json:"period"`
	Digits int    `json:"digits"`
}

// TOTPCode is POST /api/v1/me/totp/confirm: a code from the app.
type TOTPCode struct {
	Code string `json:"code"`
}

// Reauth is the body of DELETE /api/v1/me/totp and /me/passkeys/{id}:
// proof that the caller is the user, not just someone holding their
// token: a current code from the app, or the password.
type Reauth struct {
	Code     string `json:"code,omitempty"`
	Password string `json:"password,omitempty"`
}

// LoginMFAEmail is POST /api/v1/login/mfa/email: mail this challenge's
// code (when email is one of several factors).
type LoginMFAEmail struct {
	Challenge string `json:"challenge"`
}

// PasskeyCeremony answers POST /api/v1/me/passkey-ceremonies and POST
// /api/v1/login/mfa/passkey: the options for navigator.credentials.create
// or .get (WebAuthn's JSON, {"publicKey": ...}) and, for a registration,
// the ceremony to send back with the browser's answer.
type PasskeyCeremony struct {
	Ceremony string          `json:"ceremony,omitempty"`
	Options  json.RawMessage `json:"options"`
}

// PasskeyFinish is POST /api/v1/me/passkeys: the browser's
// PublicKeyCredential (its toJSON()) and a name for it.
type PasskeyFinish struct {
	Ceremony   string          `json:"ceremony"`
	Name       string          `json:"name,omitempty"`
	Credential json.RawMessage `json:"credential"`
}

// Passkey is one of the caller's registered passkeys.
type Passkey struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	CreatedAt int64  `json:"created_at"`          // unix seconds
	LastUsed  int64  `json:"last_used,omitempty"` // unix seconds
}

// LoginPasskey is POST /api/v1/login/mfa/passkey: a challenge from the
// first login step whose factors include webauthn.
type LoginPasskey struct {
	Challenge string `json:"challenge"`
}
