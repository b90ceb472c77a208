package wire

// MFAStatus answers GET /api/v1/me/mfa: the caller's second factors.
type MFAStatus struct {
	Required          bool     `json:"required"`          // signing in asks for a second factor now
	Allowed           []string `json:"allowed"`           // factors all of the caller's accounts allow
	TOTP              bool     `json:"totp"`              // an authenticator app is set up
	TOTPPending       bool     `json:"totp_pending"`      // enrolment started, not yet confirmed with a code
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

// TOTPRemove is DELETE /api/v1/me/totp: proof that the caller is the
// user, not just someone holding their token: a current code from the
// app, or the password.
type TOTPRemove struct {
	Code     string `json:"code,omitempty"`
	Password string `json:"password,omitempty"`
}

// LoginMFAEmail is POST /api/v1/login/mfa/email: mail this challenge's
// code (when email is one of several factors).
type LoginMFAEmail struct {
	Challenge string `json:"challenge"`
}
