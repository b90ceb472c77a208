package wire

import "encoding/json"

// JSON bodies of the relay's user management API (/api/v1/accounts/{account}/users,
// invites, passwords, MFA, API keys).

// Member is a user as a member of one account (GET .../users, .../users/{id}).
type Member struct {
	ID       string `json:"id"`
	Email    string `json:"email"`
	Name     string `json:"name"`
	Type     string `json:"type"`      // owner, admin, group_manager, user
	RCAction string `json:"rc_action"` // default remote-control action: guest, browser
	OnDemand bool   `json:"ondemand"`
	API      bool   `json:"api"` // the API role: may create API keys
	MFA      bool   `json:"mfa"` // the user's email MFA toggle
	Disabled bool   `json:"disabled"`
	LogAdmin bool   `json:"log_admin"` // reads every event of the account
	// UserAdmin invites and removes users and gives the rights it holds;
	// UserCreator invites users and gives no rights (roles document 002).
	UserAdmin   bool   `json:"user_admin"`
	UserCreator bool   `json:"user_creator"`
	Locked      bool   `json:"locked"` // too many failed logins; unlock or wait
	Auth        string `json:"auth"`   // internal, ldap
	CreatedAt   int64  `json:"created_at"`
	// Groups names the user groups it belongs to (the users listing).
	Groups []string `json:"groups,omitempty"`
	// ModifiedAt is when the membership last changed; LastLogin, the
	// user's newest login the audit log holds (GET one user only).
	ModifiedAt int64 `json:"modified_at,omitempty"`
	LastLogin  int64 `json:"last_login,omitempty"`
	// CreatedBy and ModifiedBy name who created the user and who last
	// changed them, from the audit log; absent when it does not tell (GET
	// one user only).
	CreatedBy  string `json:"created_by,omitempty"`
	ModifiedBy string `json:"modified_by,omitempty"`
	// Presence (spec 4.1.4, GET one user only): "online" while the user
	// holds a Portal or API login session that has neither expired nor
	// been logged off, since PresenceSince (that session's start);
	// "inactive" when disabled and unable to sign in; else "offline",
	// PresenceSince then being the last login the audit log holds (0:
	// unknown).
	Presence      string `json:"presence,omitempty"`
	PresenceSince int64  `json:"presence_since,omitempty"`
}

// MemberUpdate is PATCH /api/v1/accounts/{account}/users/{id}: absent
// fields stay as they are.
type MemberUpdate struct {
	Name     *string `json:"name,omitempty"`
	Type     *string `json:"type,omitempty"`
	RCAction *string `json:"rc_action,omitempty"`
	OnDemand *bool   `json:"ondemand,omitempty"`
	API      *bool   `json:"api,omitempty"`
	MFA      *bool   `json:"mfa,omitempty"`
	Disabled *bool   `json:"disabled,omitempty"`
	LogAdmin *bool   `json:"log_admin,omitempty"` // reads every event of the account
	// UserAdmin, UserCreator: see Member. A user administrator may send
	// only the rights (api, log_admin, user_admin, user_creator) it holds.
	UserAdmin   *bool `json:"user_admin,omitempty"`
	UserCreator *bool `json:"user_creator,omitempty"`
}

// InviteRequest is POST /api/v1/accounts/{account}/invites.
type InviteRequest struct {
	Email    string `json:"email"`
	Name     string `json:"name,omitempty"`
	Type     string `json:"type,omitempty"`      // default "user"
	RCAction string `json:"rc_action,omitempty"` // default "browser"
	OnDemand *bool  `json:"ondemand,omitempty"`  // default true
	API      bool   `json:"api,omitempty"`
	MFA      bool   `json:"mfa,omitempty"`
}

// Invite is a pending invitation.
type Invite struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	Name      string `json:"name,omitempty"`
	Type      string `json:"type"`
	Resends   int    `json:"resends"`
	ExpiresAt int64  `json:"expires_at"`
	Expired   bool   `json:"expired"`
}

// InviteAccept is POST /api/v1/invites/accept. A new user chooses a
// password; an existing user confirms with theirs.
type InviteAccept struct {
	Token    string `json:"token"`
	Password string `json:"password"`
	Name     string `json:"name,omitempty"`
}

// PasswordChange is POST /api/v1/me/password.
type PasswordChange struct {
	Current string `json:"current"`
	New     string `json:"new"`
}

// PasswordForgot is POST /api/v1/password/forgot.
type PasswordForgot struct {
	Email string `json:"email"`
}

// PasswordReset is POST /api/v1/password/reset.
type PasswordReset struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

// ProfileUpdate is PATCH /api/v1/me.
type ProfileUpdate struct {
	Name *string `json:"name,omitempty"`
}

// MembershipUpdate is PATCH /api/v1/me/accounts/{account}: the caller's
// own settings in one account.
type MembershipUpdate struct {
	Alias    *string `json:"alias,omitempty"`
	RCAction *string `json:"rc_action,omitempty"`
	MFA      *bool   `json:"mfa,omitempty"`
}

// Security is GET/PUT /api/v1/accounts/{account}/security.
type Security struct {
	MFA string `json:"mfa"` // disabled, enabled, enforced
	// Factors the account allows for the second step (totp, webauthn,
	// email; recovery codes always work). Omitted on PUT: unchanged.
	Factors []string `json:"factors,omitempty"`
}

// LoginMFA is POST /api/v1/login/mfa: the challenge from the first step
// and either the emailed code or a recovery code.
type LoginMFA struct {
	Challenge    string `json:"challenge"`
	Code         string `json:"code,omitempty"`
	RecoveryCode string `json:"recovery_code,omitempty"`
	// Factor says what answers: "email" (the default) or "totp" (Code),
	// or "webauthn" (Assertion: the browser's PublicKeyCredential JSON for
	// the options of POST /api/v1/login/mfa/passkey).
	Factor    string          `json:"factor,omitempty"`
	Assertion json.RawMessage `json:"assertion,omitempty"`
}

// RecoveryCodes answers POST /api/v1/me/recovery-codes: shown once.
type RecoveryCodes struct {
	Codes []string `json:"codes"`
}

// APIKeyRequest is POST /api/v1/me/api-keys.
type APIKeyRequest struct {
	Account string `json:"account"` // account id
	Name    string `json:"name,omitempty"`
	// ExpiresAt (unix seconds) ends the key; 0 takes the relay's default
	// lifetime (90 days unless configured), and beyond its maximum (365
	// days unless configured) is refused.
	ExpiresAt int64 `json:"expires_at,omitempty"`
}

// APIKey describes a key; Key (the secret) only in the answer that made it.
type APIKey struct {
	ID        string `json:"id"`
	AccountID string `json:"account_id"`
	Name      string `json:"name,omitempty"`
	Prefix    string `json:"prefix"`
	CreatedAt int64  `json:"created_at"`
	LastUsed  int64  `json:"last_used,omitempty"`
	ExpiresAt int64  `json:"expires_at"`
	Key       string `json:"key,omitempty"`
}

// OwnerChange is PUT /api/v1/accounts/{account}/owner: the owner hands
// over the account, confirming with their password.
type OwnerChange struct {
	User     string `json:"user"`
	Password string `json:"password"`
}
