package wire

// JSON bodies of the relay's HTTP API (/api/v1). Shared by the relay and its
// clients so both sides agree on field names.

import (
	"encoding/json"
	"time"
)

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
	// Factors lists the second factors the user may pick from, in the
	// order offered: totp, webauthn, email, recovery. An emailed code is
	// sent at once only when email is the one factor besides recovery;
	// otherwise POST /api/v1/login/mfa/email asks for it.
	Factors []string `json:"factors,omitempty"`
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
	// Description is the administrators' note; Favorite, the caller's mark
	// (GET /api/v1/devices).
	Description string `json:"description,omitempty"`
	Favorite    bool   `json:"favorite,omitempty"`
	// Groups names the device groups it belongs to (built-ins excluded).
	Groups []string `json:"groups,omitempty"`
	// CreatedBy and ModifiedBy name who enrolled (approved) the device and
	// who last changed it, from the audit log; absent when it does not
	// tell (GET one device only).
	CreatedBy  string `json:"created_by,omitempty"`
	ModifiedBy string `json:"modified_by,omitempty"`
}

// SessionRequest is POST /api/v1/sessions.
type SessionRequest struct {
	Device string `json:"device"`           // device id or hostname
	Action string `json:"action,omitempty"` // "remote_control" (default)
	// Confirmation is the id of an allowed "confirm access via email"
	// request for this device and action (see SessionResponse.Confirmation).
	Confirmation string `json:"confirmation,omitempty"`
	// OnDemand starts the waiting OnDemand session with this key instead of
	// a device session (Device must be empty); the agent asks its user's
	// consent before anything flows.
	OnDemand string `json:"ondemand,omitempty"`
}

// Confirmation is a "confirm access via email" request (spec 4.4.10): the
// relay answered 202 and emailed the confirming groups; poll
// GET /api/v1/confirmations/{id}, then ask for the session again with its
// id once Status is "allowed".
type Confirmation struct {
	ID        string `json:"id"`
	Status    string `json:"status"` // pending, allowed, denied, used, expired
	ExpiresAt int64  `json:"expires_at"`
	Message   string `json:"message,omitempty"`
}

// SessionResponse starts a session: open the signal WebSocket next. A 202
// carries only Confirmation: someone must confirm the session first.
type SessionResponse struct {
	Confirmation *Confirmation `json:"confirmation,omitempty"`

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

// AuditEvent is one line of an account's audit log
// (GET /api/v1/accounts/{account}/audit).
type AuditEvent struct {
	ID        string          `json:"id"`
	At        time.Time       `json:"at"`
	Event     string          `json:"event"`
	UserID    string          `json:"user_id,omitempty"`
	UserEmail string          `json:"user_email,omitempty"`
	DeviceID  string          `json:"device_id,omitempty"`
	Device    string          `json:"device,omitempty"`
	Remote    string          `json:"remote_addr,omitempty"`
	Detail    json.RawMessage `json:"detail,omitempty"`
}

// AuditSettings is an account's audit configuration
// (GET/PUT /api/v1/accounts/{account}/audit/settings); RetentionMonths is
// the relay's and read-only.
type AuditSettings struct {
	Enabled         bool `json:"enabled"`
	RetentionMonths int  `json:"retention_months,omitempty"`
}

// AuditReportRequest asks for a CSV report of the UTC days From to To,
// both included (YYYY-MM-DD).
type AuditReportRequest struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// AuditReport describes a generated report; its CSV is at
// /api/v1/accounts/{account}/audit/reports/{id}/csv.
type AuditReport struct {
	ID        string    `json:"id"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Events    int       `json:"events"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"`
}

// CheckResult is the answer of Check permissions
// (GET /api/v1/accounts/{account}/check): the evaluator's decision for a
// user on a device at an instant, with the reason for every denial.
type CheckResult struct {
	At           time.Time         `json:"at"`
	Allowed      bool              `json:"allowed"`
	Permissions  []string          `json:"permissions"`
	ConfirmLocal bool              `json:"confirm_local,omitempty"`
	ConfirmEmail []string          `json:"confirm_email_groups,omitempty"`
	Whitelist    []string          `json:"whitelist,omitempty"` // application names; absent: no restriction
	Contributing []CheckAssignment `json:"contributing"`
	Reasons      []string          `json:"reasons"`
}

// CheckAssignment is a role assignment that applied.
type CheckAssignment struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	RoleID   string `json:"role_id"`
	RoleName string `json:"role_name"`
}

// Group is a user or device group (/api/v1/accounts/{account}/groups).
// Builtin groups ("Everyone", "Everything") are read-only.
type Group struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Kind        string   `json:"kind"` // user, ldap_user, device
	Active      bool     `json:"active"`
	Builtin     bool     `json:"builtin,omitempty"`
	Members     []string `json:"members,omitempty"`      // ids of users or devices (GET one group)
	MemberCount *int     `json:"member_count,omitempty"` // in a listing (with listing parameters)
}

// GroupRequest creates (all fields but kind optional except name) or
// updates (only the fields given) a group.
type GroupRequest struct {
	Name        *string `json:"name,omitempty"`
	Description *string `json:"description,omitempty"`
	Kind        string  `json:"kind,omitempty"` // on create: user or device
	Active      *bool   `json:"active,omitempty"`
}

// RoleInfo is a predefined or custom role (/api/v1/accounts/{account}/roles).
type RoleInfo struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Type        string   `json:"type"` // device, ondemand, confirm_access, whitelisted_apps
	Enabled     bool     `json:"enabled"`
	Predefined  bool     `json:"predefined,omitempty"`
	Permissions []string `json:"permissions,omitempty"` // device and ondemand roles
	ClientType  string   `json:"client_type,omitempty"` // device roles: installed_guest, browser, any
	// Confirm access roles.
	ConfirmLocal        bool     `json:"confirm_local,omitempty"`
	ExceptLocked        bool     `json:"except_locked,omitempty"` // also whitelisted_apps
	ExceptNoUser        bool     `json:"except_no_user,omitempty"`
	ConfirmEmailGroups  []string `json:"confirm_email_groups,omitempty"`
	EmailOnlyWhenLocked bool     `json:"email_only_when_locked,omitempty"`
	EmailOnlyWhenNoUser bool     `json:"email_only_when_no_user,omitempty"`
	// Whitelisted applications roles: ids from the applications catalog.
	AppIDs []string `json:"app_ids,omitempty"`
	// CreatedBy and ModifiedBy name who created and last changed the role,
	// from the audit log; absent when it does not tell.
	CreatedBy  string `json:"created_by,omitempty"`
	ModifiedBy string `json:"modified_by,omitempty"`
}

// RoleDeleted answers the removal of a role: its assignments, now inactive.
type RoleDeleted struct {
	DisabledAssignments []string `json:"disabled_assignments"`
}

// Assignment is a role assignment
// (/api/v1/accounts/{account}/assignments). Status is computed: e.g.
// "active", "inactive", "active_due_to_schedule".
type Assignment struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Description  string    `json:"description"`
	Active       bool      `json:"active"`
	RoleID       string    `json:"role_id"`
	UserGroups   []string  `json:"user_groups"`
	DeviceGroups []string  `json:"device_groups"`
	Schedule     *Schedule `json:"schedule,omitempty"`
	Status       string    `json:"status,omitempty"`
	// CreatedBy and ModifiedBy name who created and last changed the
	// assignment, from the audit log; absent when it does not tell.
	CreatedBy  string `json:"created_by,omitempty"`
	ModifiedBy string `json:"modified_by,omitempty"`
}

// Schedule restricts an assignment in time (spec 4.4.7); wall-clock
// values in TimeZone (IANA; default UTC).
type Schedule struct {
	StartDate  string     `json:"start_date"` // YYYY-MM-DD
	AllDay     bool       `json:"all_day,omitempty"`
	StartTime  string     `json:"start_time,omitempty"` // HH:MM
	EndTime    string     `json:"end_time,omitempty"`
	TimeZone   string     `json:"timezone,omitempty"`
	Recurrence Recurrence `json:"recurrence"`
	EndDate    string     `json:"end_date,omitempty"`
	// Summary is the schedule in words, e.g. "From April 7, 2022, every
	// weekday, full time (Europe/Bucharest time)"; set in answers only,
	// ignored in requests.
	Summary string `json:"summary,omitempty"`
}

// Recurrence: kind none (""), daily (daily: "" every N days, weekdays,
// weekends), weekly (weekdays: "monday"...), monthly (month_day or
// last_day), yearly (month 1–12 + month_day); interval is "every N".
type Recurrence struct {
	Kind     string   `json:"kind,omitempty"`
	Interval int      `json:"interval,omitempty"`
	Daily    string   `json:"daily,omitempty"`
	Weekdays []string `json:"weekdays,omitempty"`
	MonthDay int      `json:"month_day,omitempty"`
	LastDay  bool     `json:"last_day,omitempty"`
	Month    int      `json:"month,omitempty"`
}

// Application is an entry of the applications catalog
// (/api/v1/accounts/{account}/applications), used by whitelisted
// applications roles.
type Application struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Enabled     bool   `json:"enabled"`
	Path        string `json:"path,omitempty"` // may hold environment variables, e.g. %windir%\system32
	Executable  string `json:"executable"`     // e.g. notepad.exe
	Description string `json:"description,omitempty"`
}

// LDAPMethod is an LDAP authentication method of an account
// (/api/v1/accounts/{account}/ldap). Users log in as DOMAIN\user.
// BindPassword is write-only: answers never carry it.
type LDAPMethod struct {
	ID              string `json:"id,omitempty"`
	Domain          string `json:"domain"`
	Enabled         bool   `json:"enabled"`
	URL             string `json:"url"` // ldap://host[:389] or ldaps://host[:636]
	StartTLS        bool   `json:"start_tls,omitempty"`
	RootCAs         string `json:"root_cas,omitempty"` // PEM
	ServerName      string `json:"server_name,omitempty"`
	BindDN          string `json:"bind_dn,omitempty"`
	BindPassword    string `json:"bind_password,omitempty"`
	BaseDN          string `json:"base_dn"`
	UserFilter      string `json:"user_filter,omitempty"` // with {username}
	UsernameAttr    string `json:"username_attr,omitempty"`
	EmailAttr       string `json:"email_attr,omitempty"`
	DisplayNameAttr string `json:"display_name_attr,omitempty"`
	GroupMode       string `json:"group_mode,omitempty"` // search, memberOf, none
	GroupBaseDN     string `json:"group_base_dn,omitempty"`
	GroupFilter     string `json:"group_filter,omitempty"`
	GroupNameAttr   string `json:"group_name_attr,omitempty"`
}

// LDAPTest answers a test of an LDAP method: the directory's groups (the
// names one may import; at most 200 of Total).
type LDAPTest struct {
	Groups []string `json:"groups"`
	Total  int      `json:"total"`
}

// LogoInfo is one of an account's Portal logos
// (/api/v1/accounts/{account}/logos); the image itself is
// /api/v1/accounts/{account}/logos/{shape}.
type LogoInfo struct {
	Shape       string `json:"shape"`        // rect (4:1) or square (1:1)
	ContentType string `json:"content_type"` // image/png, image/jpeg or image/svg+xml
	Version     string `json:"version"`      // changes with every upload (for cache busting)
}

// LDAPGroupImport imports a directory group as an LDAP user group.
type LDAPGroupImport struct {
	Name        string `json:"name"` // the group's name in the directory (cn)
	Description string `json:"description,omitempty"`
}

// DeviceUpdate changes a device (PATCH /api/v1/accounts/{account}/devices/{id}).
type DeviceUpdate struct {
	Alias       *string `json:"alias,omitempty"` // "" shows the hostname again
	Description *string `json:"description,omitempty"`
}

// Confirm is the typed confirmation of destructive actions (revoke).
type Confirm struct {
	Confirm string `json:"confirm"` // must be "revoke"
}

// Package is a deployment package (/api/v1/accounts/{account}/packages).
// Key and InstallLink are answered once, when it is created: the relay
// keeps only the key's hash.
type Package struct {
	ID          string `json:"id,omitempty"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Active      bool   `json:"active"`
	Revoked     bool   `json:"revoked,omitempty"`
	Pending     bool   `json:"pending,omitempty"`    // new devices wait for an administrator
	ValidFrom   string `json:"valid_from,omitempty"` // UTC, YYYY-MM-DD or RFC 3339
	ValidTo     string `json:"valid_to,omitempty"`
	MaxDevices  int    `json:"max_devices,omitempty"` // 0: unlimited
	Devices     int    `json:"devices"`
	LicenseKey  string `json:"license_key,omitempty"`
	DeviceGroup string `json:"device_group,omitempty"`
	Key         string `json:"key,omitempty"`
	InstallLink string `json:"install_link,omitempty"`
}

// PackageRevoked answers the revocation of a package: the devices revoked with it.
type PackageRevoked struct {
	RevokedDevices []string `json:"revoked_devices"`
}

// AccountCounts are the Dashboard's figures (GET
// /api/v1/accounts/{account}/counts; group managers and up). Devices leave
// OnDemand machines out; UserGroups include the LDAP groups.
type AccountCounts struct {
	Devices        int `json:"devices"`
	OnlineDevices  int `json:"online_devices"`
	PendingDevices int `json:"pending_devices"`
	DeviceGroups   int `json:"device_groups"`
	Users          int `json:"users"`
	LDAPUsers      int `json:"ldap_users"`
	UserGroups     int `json:"user_groups"`
	LDAPGroups     int `json:"ldap_groups"`
}

// AccountConfig is an account's details (GET/PUT
// /api/v1/accounts/{account}/config; the owner edits them). Administrators
// and Owner are read-only here: types change through the users API and
// the change-owner flow.
type AccountConfig struct {
	Name           string `json:"name"`
	Company        string `json:"company"`
	Contact        string `json:"contact"`
	TimeZone       string `json:"timezone"`  // IANA, e.g. Europe/Bucharest
	RCAction       string `json:"rc_action"` // default remote-control action: guest or browser
	Owner          string `json:"owner,omitempty"`
	Administrators []Ref  `json:"administrators,omitempty"`
}

// RoleCopy names the copy of a role (POST .../roles/{id}/copy).
type RoleCopy struct {
	Name string `json:"name"`
}

// OIDCMethod is an account's OpenID Connect sign-in method (issue 17):
// users type DOMAIN\user (or press its button) and sign in at the issuer.
// The client secret is write-only.
type OIDCMethod struct {
	ID           string   `json:"id,omitempty"`
	Domain       string   `json:"domain"`
	Enabled      bool     `json:"enabled"`
	Issuer       string   `json:"issuer"`
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret,omitempty"`
	GroupsClaim  string   `json:"groups_claim,omitempty"`  // default "groups"
	Scopes       []string `json:"scopes,omitempty"`        // asked besides openid, profile, email
	DefaultGroup string   `json:"default_group,omitempty"` // a user group id joined at first sign-in
	Button       string   `json:"button,omitempty"`        // "Sign in with …" label on the Portal
	RedirectURIs []string `json:"redirect_uris,omitempty"` // to register at the IdP (set by the relay)
}

// SSOStart begins an OIDC sign-in: Login is DOMAIN\user or DOMAIN;
// Portal sends the IdP back to the Portal's callback instead of the API's.
type SSOStart struct {
	Login  string `json:"login"`
	Portal bool   `json:"portal,omitempty"`
	Next   string `json:"next,omitempty"`
}

// SSOButton is a "Sign in with …" button of the Portal's sign-in page.
type SSOButton struct {
	Domain string `json:"domain"`
	Label  string `json:"label"`
}

// SSORedirect is where to send the browser.
type SSORedirect struct {
	URL string `json:"url"`
}

// SSOFinish completes a sign-in with the IdP's answer (the Portal's
// callback posts it); the reply is a login's.
type SSOFinish struct {
	State string `json:"state"`
	Code  string `json:"code"`
	Error string `json:"error,omitempty"` // the IdP's error parameter
}

// HeaderSSONext carries, on a finished Portal sign-in, the Portal page
// the sign-in was started from.
const HeaderSSONext = "X-Tandem-Next"

// SAMLMethod is an account's SAML 2.0 sign-in method (ADFS, Azure AD):
// the IdP's side comes from its uploaded metadata (PUT …/saml/{id}/metadata),
// the SP's side is what to register at the IdP.
type SAMLMethod struct {
	ID              string `json:"id,omitempty"`
	Domain          string `json:"domain"`
	Enabled         bool   `json:"enabled"`
	GroupsAttribute string `json:"groups_attribute,omitempty"` // default Azure AD's groups claim
	DefaultGroup    string `json:"default_group,omitempty"`    // a user group id joined at first sign-in
	Button          string `json:"button,omitempty"`           // "Sign in with …" label on the Portal
	// Set by the relay.
	IdPEntityID  string     `json:"idp_entity_id,omitempty"`
	IdPSSOURL    string     `json:"idp_sso_url,omitempty"`
	IdPCerts     []SAMLCert `json:"idp_certs,omitempty"`
	EntityID     string     `json:"entity_id,omitempty"`      // the SP's (the audience): its metadata URL
	ACSURL       string     `json:"acs_url,omitempty"`        // the API's reply URL
	PortalACSURL string     `json:"portal_acs_url,omitempty"` // the Portal's reply URL
}

// SAMLCert is a signing certificate of a SAML IdP, with its validity.
type SAMLCert struct {
	Subject   string    `json:"subject"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	SHA256    string    `json:"sha256"`
}

// SMSPhone starts the verification of a phone number for SMS codes
// (POST /api/v1/me/phone): a code is texted to it.
type SMSPhone struct {
	Phone string `json:"phone"`
}

// SMSCode answers the code texted to a phone (POST /api/v1/me/phone/confirm).
type SMSCode struct {
	Code string `json:"code"`
}

// GroupScope is a member's level on a device group (seed 001): view, edit
// or admin.
type GroupScope struct {
	User  string `json:"user,omitempty"` // set by the relay in listings
	Level string `json:"level"`
}
