package relay

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/transport/wire"
)

// The OpenAPI 3.0 document of /api/v1, served at /api/v1/openapi.json. It
// is generated from the route table and the wire types, so it can't drift
// from what the relay does; apiDocs says what the table can't (summary,
// who may call, bodies). A route without an entry fails the tests.

type apiDoc struct {
	summary string
	auth    string // "none", "user" (bearer token), "admin" (account administrator or owner), "agent"
	req     any    // request body (JSON), nil for none
	resp    any    // 2xx body, nil for none (204) or non-JSON
	status  int    // success status; 200 if zero
	query   []string
	// throttled: the operation can answer 429 (login budgets, serialised
	// attempts, failure tallies) with Retry-After.
	throttled bool
	image     bool // the body (PUT) or answer (GET) is a JPG, PNG or SVG image, not JSON
}

var apiDocs = map[string]apiDoc{
	"GET /api/v1/health":        {summary: "Liveness", auth: "none", resp: map[string]bool{}},
	"GET /api/v1/relay":         {summary: "Relay name, version, protocol and public key", auth: "none", resp: wire.RelayInfo{}},
	"POST /api/v1/enroll":       {summary: "Enroll a Host with a deployment package's key", auth: "none", req: wire.EnrollRequest{}, resp: wire.EnrollResponse{}, throttled: true},
	"GET /api/v1/agent/connect": {summary: "Host WebSocket (challenge, grants, signaling)", auth: "agent", status: http.StatusSwitchingProtocols, throttled: true},
	"POST /api/v1/login":        {summary: "Log in with email and password", auth: "none", req: wire.LoginRequest{}, resp: wire.LoginResponse{}, throttled: true},
	"POST /api/v1/logout":       {summary: "End this login token", auth: "user", status: http.StatusNoContent},
	"GET /api/v1/me":            {summary: "The logged-in user and their accounts", auth: "user", resp: wire.User{}},
	"GET /api/v1/devices":       {summary: "Devices of the user's accounts", auth: "user", resp: []wire.Device{}},
	"POST /api/v1/sessions":/* 202 with a confirmation when someone must allow it by email first */ {summary: "Request a session on a device (decided by role assignments)", auth: "user", req: wire.SessionRequest{}, resp: wire.SessionResponse{}, status: http.StatusCreated},
	"POST /api/v1/ondemand":              {summary: "Create an OnDemand session key (valid 24 h; needs an OnDemand role assignment)", auth: "user", req: wire.OnDemandCreateRequest{}, resp: wire.OnDemandSession{}, status: http.StatusCreated},
	"GET /api/v1/ondemand":               {summary: "Your live OnDemand keys and your accounts' queues, with the permissions you would get", auth: "user", resp: []wire.OnDemandSession{}},
	"POST /api/v1/ondemand/join":         {summary: "tandem-ondemand joins the queue with a session key and an ephemeral key pair", auth: "none", req: wire.OnDemandJoinRequest{}, resp: wire.OnDemandJoinResponse{}, throttled: true},
	"POST /api/v1/ondemand/{key}/email":  {summary: "Email an unused OnDemand key's link to the end user", auth: "user", req: wire.OnDemandEmailRequest{}, status: http.StatusNoContent, throttled: true},
	"POST /api/v1/ondemand/{key}/reject": {summary: "Reject an OnDemand session: the key dies and its agent exits", auth: "user", status: http.StatusNoContent},
	"GET /api/v1/sessions/{id}/signal":   {summary: "Guest WebSocket for a session's signaling", auth: "user", status: http.StatusSwitchingProtocols},
	"GET /api/v1/accounts/{account}/check": {summary: "Check permissions of a user on a device at a time", auth: "manager", resp: wire.CheckResult{},
		query: []string{"user", "device", "ondemand", "client", "date", "time", "timezone"}},
	"GET /api/v1/accounts/{account}/groups":                          {summary: "User and device groups, built-ins first; with listing parameters (f.COL, v.COL, sort, page, size) one filtered page with member counts, its match count in X-Total-Count", auth: "manager", resp: []wire.Group{}, query: []string{"sort", "page", "size"}},
	"POST /api/v1/accounts/{account}/groups":                         {summary: "Create a group (user administrators and user creators: user groups only)", auth: "admin", req: wire.GroupRequest{}, resp: wire.Group{}, status: http.StatusCreated},
	"GET /api/v1/accounts/{account}/groups/{id}":                     {summary: "A group with its members", auth: "manager", resp: wire.Group{}},
	"PATCH /api/v1/accounts/{account}/groups/{id}":                   {summary: "Change a group's name, description or status", auth: "admin", req: wire.GroupRequest{}, resp: wire.Group{}},
	"DELETE /api/v1/accounts/{account}/groups/{id}":                  {summary: "Remove a group (and its mentions in role assignments)", auth: "admin", status: http.StatusNoContent},
	"PUT /api/v1/accounts/{account}/groups/{id}/members/{member}":    {summary: "Add a user (id or email) or device (id or hostname) to a group", auth: "admin", status: http.StatusNoContent},
	"DELETE /api/v1/accounts/{account}/groups/{id}/members/{member}": {summary: "Take a member out of a group", auth: "admin", status: http.StatusNoContent},
	"GET /api/v1/accounts/{account}/roles":                           {summary: "Predefined and custom roles; with listing parameters (f.COL, v.COL, sort, page, size) one filtered page, its match count in X-Total-Count", auth: "manager", resp: []wire.RoleInfo{}, query: []string{"sort", "page", "size"}},
	"POST /api/v1/accounts/{account}/roles":                          {summary: "Create a custom role", auth: "admin", req: wire.RoleInfo{}, resp: wire.RoleInfo{}, status: http.StatusCreated},
	"PUT /api/v1/accounts/{account}/roles/{id}":                      {summary: "Replace a custom role", auth: "admin", req: wire.RoleInfo{}, resp: wire.RoleInfo{}},
	"DELETE /api/v1/accounts/{account}/roles/{id}":                   {summary: "Remove a custom role; its assignments become inactive", auth: "admin", resp: wire.RoleDeleted{}},
	"GET /api/v1/accounts/{account}/applications":                    {summary: "The applications catalog; with listing parameters (f.COL, v.COL, sort, page, size) one filtered page, its match count in X-Total-Count", auth: "manager", resp: []wire.Application{}, query: []string{"sort", "page", "size"}},
	"POST /api/v1/accounts/{account}/applications":                   {summary: "Add an application", auth: "admin", req: wire.Application{}, resp: wire.Application{}, status: http.StatusCreated},
	"PUT /api/v1/accounts/{account}/applications/{id}":               {summary: "Replace an application", auth: "admin", req: wire.Application{}, resp: wire.Application{}},
	"DELETE /api/v1/accounts/{account}/applications/{id}":            {summary: "Remove an application no role lists", auth: "admin", status: http.StatusNoContent},
	"GET /api/v1/accounts/{account}/assignments":                     {summary: "Role assignments with their status now; with listing parameters (f.COL, v.COL, sort, page, size) one filtered page, its match count in X-Total-Count", auth: "manager", resp: []wire.Assignment{}, query: []string{"sort", "page", "size"}},
	"POST /api/v1/accounts/{account}/assignments":                    {summary: "Create a role assignment", auth: "admin", req: wire.Assignment{}, resp: wire.Assignment{}, status: http.StatusCreated},
	"PUT /api/v1/accounts/{account}/assignments/{id}":                {summary: "Replace a role assignment", auth: "admin", req: wire.Assignment{}, resp: wire.Assignment{}},
	"DELETE /api/v1/accounts/{account}/assignments/{id}":             {summary: "Remove a role assignment", auth: "admin", status: http.StatusNoContent},
	"GET /api/v1/accounts/{account}/audit":                           {summary: "Audit events, newest first (members: their own)", auth: "user", resp: []wire.AuditEvent{}, query: []string{"from", "to", "event", "user", "limit"}},
	"GET /api/v1/accounts/{account}/audit/settings":                  {summary: "Audit logging on or off, and the retention", auth: "admin", resp: wire.AuditSettings{}},
	"PUT /api/v1/accounts/{account}/audit/settings":                  {summary: "Turn audit logging on or off", auth: "admin", req: wire.AuditSettings{}, resp: wire.AuditSettings{}},
	"GET /api/v1/accounts/{account}/audit/reports":                   {summary: "Generated CSV reports", auth: "logadmin", resp: []wire.AuditReport{}},
	"POST /api/v1/accounts/{account}/audit/reports":                  {summary: "Generate a CSV report for a range of UTC days", auth: "logadmin", req: wire.AuditReportRequest{}, resp: wire.AuditReport{}, status: http.StatusCreated},
	"GET /api/v1/accounts/{account}/audit/reports/{id}/csv":          {summary: "Download a report (comma-delimited, apostrophe-qualified)", auth: "logadmin"},
	"DELETE /api/v1/accounts/{account}/audit/reports/{id}":           {summary: "Remove a report", auth: "admin", status: http.StatusNoContent},
	"GET /api/v1/openapi.json":                                       {summary: "This document", auth: "none"},
	"GET /api/v1/confirmations/{id}":                                 {summary: "Status of your confirm-access-by-email request", auth: "user", resp: wire.Confirmation{}},
	"POST /api/v1/accounts/{account}/roles/{id}/copy":                {summary: "Copy a predefined or custom role under a new name", auth: "admin", req: wire.RoleCopy{}, resp: wire.RoleInfo{}, status: http.StatusCreated},
	"PUT /api/v1/me/favorites/{device}":                              {summary: "Mark a device (id or hostname) as a favorite", auth: "user", status: http.StatusNoContent},
	"DELETE /api/v1/me/favorites/{device}":                           {summary: "Unmark a favorite device", auth: "user", status: http.StatusNoContent},
	"GET /api/v1/accounts/{account}/config":                          {summary: "The account's details, owner and administrators", auth: "admin", resp: wire.AccountConfig{}},
	"PUT /api/v1/accounts/{account}/config":                          {summary: "Change the account's details (owner only)", auth: "owner", req: wire.AccountConfig{}, resp: wire.AccountConfig{}},
	"GET /api/v1/accounts/{account}/packages":                        {summary: "Deployment packages; with listing parameters (f.COL, v.COL, sort, page, size) one filtered page, its match count in X-Total-Count", auth: "admin", resp: []wire.Package{}, query: []string{"sort", "page", "size"}},
	"POST /api/v1/accounts/{account}/packages":                       {summary: "Create a deployment package (its key and install link are shown once)", auth: "admin", req: wire.Package{}, resp: wire.Package{}, status: http.StatusCreated},
	"PUT /api/v1/accounts/{account}/packages/{id}":                   {summary: "Change a package's settings", auth: "admin", req: wire.Package{}, resp: wire.Package{}},
	"POST /api/v1/accounts/{account}/packages/{id}/revoke":           {summary: "Revoke a package and its devices (type \"revoke\" to confirm)", auth: "admin", req: wire.Confirm{}, resp: wire.PackageRevoked{}},
	"DELETE /api/v1/accounts/{account}/packages/{id}":                {summary: "Remove a package that is revoked or has no devices", auth: "admin", status: http.StatusNoContent},
	"GET /api/v1/accounts/{account}/counts":                          {summary: "The Dashboard's figures: devices (online, pending), users (LDAP), groups, counted without listing them", auth: "manager", resp: wire.AccountCounts{}},
	"GET /api/v1/accounts/{account}/devices":                         {summary: "Every device of the account; with listing parameters (f.COL, v.COL, sort, page, size) one filtered page, its match count in X-Total-Count", auth: "manager", resp: []wire.Device{}, query: []string{"sort", "page", "size"}},
	"GET /api/v1/accounts/{account}/devices/{id}":                    {summary: "One device of the account with its groups", auth: "manager", resp: wire.Device{}},
	"PATCH /api/v1/accounts/{account}/devices/{id}":                  {summary: "Rename a device (alias)", auth: "manager", req: wire.DeviceUpdate{}, resp: wire.Device{}},
	"POST /api/v1/accounts/{account}/devices/{id}/enroll":            {summary: "Enroll a pending device", auth: "manager", resp: wire.Device{}},
	"POST /api/v1/accounts/{account}/devices/{id}/revoke":            {summary: "Revoke a device (type \"revoke\" to confirm)", auth: "manager", req: wire.Confirm{}, resp: wire.Device{}},
	"DELETE /api/v1/accounts/{account}/devices/{id}":                 {summary: "Remove a device (it re-enrolls only while its package is valid)", auth: "manager", status: http.StatusNoContent},
	"GET /api/v1/accounts/{account}/oidc":                            {summary: "OpenID Connect sign-in methods (client secrets never shown)", auth: "admin", resp: []wire.OIDCMethod{}},
	"POST /api/v1/accounts/{account}/oidc":                           {summary: "Add an OpenID Connect sign-in method (users sign in at the issuer as DOMAIN\\user)", auth: "admin", req: wire.OIDCMethod{}, resp: wire.OIDCMethod{}, status: http.StatusCreated},
	"DELETE /api/v1/accounts/{account}/oidc/{id}":                    {summary: "Remove an OpenID Connect sign-in method", auth: "admin", status: http.StatusNoContent},
	"POST /api/v1/accounts/{account}/oidc/{id}/groups":               {summary: "Import a group of the IdP's groups claim as a user group", auth: "admin", req: wire.LDAPGroupImport{}, resp: wire.Group{}, status: http.StatusCreated},
	"GET /api/v1/sso/oidc/buttons":                                   {summary: "The \"Sign in with …\" buttons of the sign-in page (enabled OIDC methods with a label)", auth: "none", resp: []wire.SSOButton{}},
	"POST /api/v1/sso/oidc/start":                                    {summary: "Start an OpenID Connect sign-in for DOMAIN\\user: the IdP URL to open (PKCE, state, nonce)", auth: "none", req: wire.SSOStart{}, resp: wire.SSORedirect{}, throttled: true},
	"GET /api/v1/sso/oidc/callback":                                  {summary: "The IdP's redirect: checks state, code and ID token, then answers like a login", auth: "none", resp: wire.LoginResponse{}, query: []string{"state", "code", "error"}, throttled: true},
	"GET /api/v1/accounts/{account}/saml":                            {summary: "SAML sign-in methods (ADFS, Azure AD) with their IdP's certificates and the relay's URLs", auth: "admin", resp: []wire.SAMLMethod{}},
	"POST /api/v1/accounts/{account}/saml":                           {summary: "Add a SAML sign-in method (usable once the IdP's metadata is uploaded)", auth: "admin", req: wire.SAMLMethod{}, resp: wire.SAMLMethod{}, status: http.StatusCreated},
	"PUT /api/v1/accounts/{account}/saml/{id}/metadata":              {summary: "Upload the IdP's metadata (FederationMetadata.xml, at most 1 MiB, XML body)", auth: "admin", resp: wire.SAMLMethod{}},
	"DELETE /api/v1/accounts/{account}/saml/{id}":                    {summary: "Remove a SAML sign-in method", auth: "admin", status: http.StatusNoContent},
	"POST /api/v1/accounts/{account}/saml/{id}/groups":               {summary: "Import a group of the IdP's groups attribute as a user group", auth: "admin", req: wire.LDAPGroupImport{}, resp: wire.Group{}, status: http.StatusCreated},
	"GET /api/v1/sso/saml/{id}/metadata":                             {summary: "The relay's SP metadata of a SAML method (XML), for the IdP", auth: "none"},
	"POST /api/v1/sso/saml/start":                                    {summary: "Start a SAML sign-in for DOMAIN\\user: the IdP URL to open (an authentication request)", auth: "none", req: wire.SSOStart{}, resp: wire.SSORedirect{}, throttled: true},
	"POST /api/v1/sso/saml/acs":                                      {summary: "The IdP's form post (SAMLResponse, RelayState), or the Portal's (JSON); answers like a login", auth: "none", resp: wire.LoginResponse{}, throttled: true},
	"POST /api/v1/login/mfa/sms":                                     {summary: "Text the sign-in code of a challenge that offered sms", auth: "none", req: wire.LoginMFAEmail{}, status: http.StatusNoContent, throttled: true},
	"POST /api/v1/me/phone":                                          {summary: "Text a code to a phone number to verify it for SMS codes", auth: "user", req: wire.SMSPhone{}, status: http.StatusAccepted, throttled: true},
	"POST /api/v1/me/phone/confirm":                                  {summary: "Confirm the phone number with the texted code", auth: "user", req: wire.SMSCode{}, status: http.StatusNoContent},
	"DELETE /api/v1/me/phone":                                        {summary: "Remove the phone number (a current app code or the password)", auth: "user", req: wire.Reauth{}, status: http.StatusNoContent, throttled: true},
	"GET /api/v1/accounts/{account}/groups/{id}/scopes":              {summary: "Members' levels (view, edit, admin) on a device group (group managers and up, or admin on it)", auth: "user", resp: []wire.GroupScope{}},
	"PUT /api/v1/accounts/{account}/groups/{id}/scopes/{user}":       {summary: "Give a member view, edit or admin on a device group (at most the caller's own level)", auth: "user", req: wire.GroupScope{}, status: http.StatusNoContent},
	"DELETE /api/v1/accounts/{account}/groups/{id}/scopes/{user}":    {summary: "Take back a member's level on a device group", auth: "user", status: http.StatusNoContent},
	"POST /api/v1/sso/oidc/finish":                                   {summary: "The Portal's callback hands on the IdP's state and code; answers like a login", auth: "none", req: wire.SSOFinish{}, resp: wire.LoginResponse{}, throttled: true},
	"GET /api/v1/accounts/{account}/ldap":                            {summary: "LDAP authentication methods (bind passwords never shown)", auth: "admin", resp: []wire.LDAPMethod{}},
	"POST /api/v1/accounts/{account}/ldap":                           {summary: "Add an LDAP authentication method (users log in as DOMAIN\\user)", auth: "admin", req: wire.LDAPMethod{}, resp: wire.LDAPMethod{}, status: http.StatusCreated},
	"DELETE /api/v1/accounts/{account}/ldap/{id}":                    {summary: "Remove an LDAP authentication method", auth: "admin", status: http.StatusNoContent},
	"POST /api/v1/accounts/{account}/ldap/{id}/groups":               {summary: "Import a directory group as an LDAP user group", auth: "admin", req: wire.LDAPGroupImport{}, resp: wire.Group{}, status: http.StatusCreated},

	// Users (relay/users.go, password.go, mfa.go, apikeys.go). "manager":
	// group managers and up, with the rank rules of spec 4.1.
	"POST /api/v1/login/mfa":                              {summary: "Second login step: a code (factor email or totp) or a recovery code", auth: "none", req: wire.LoginMFA{}, resp: wire.LoginResponse{}, throttled: true},
	"POST /api/v1/login/mfa/email":                        {summary: "Email this login challenge's code (when email is one of several factors)", auth: "none", req: wire.LoginMFAEmail{}, status: http.StatusNoContent, throttled: true},
	"GET /api/v1/me/mfa":                                  {summary: "Your second factors and what your accounts allow", auth: "user", resp: wire.MFAStatus{}},
	"POST /api/v1/me/totp":                                {summary: "Start setting up an authenticator app: the secret, its otpauth URI and QR code, shown once", auth: "user", resp: wire.TOTPEnrolment{}, status: http.StatusCreated},
	"POST /api/v1/me/totp/confirm":                        {summary: "Confirm the authenticator app with its current code", auth: "user", req: wire.TOTPCode{}, status: http.StatusNoContent, throttled: true},
	"POST /api/v1/login/mfa/passkey":                      {summary: "Passkey sign-in options (navigator.credentials.get) for a login challenge", auth: "none", req: wire.LoginPasskey{}, resp: wire.PasskeyCeremony{}, throttled: true},
	"POST /api/v1/login/passkey":                          {summary: "Passwordless sign-in: options for navigator.credentials.get (any passkey of this relay, user verified) and the sealed ceremony", auth: "none", resp: wire.PasskeyCeremony{}, throttled: true},
	"POST /api/v1/login/passkey/finish":                   {summary: "Passwordless sign-in: the ceremony and the browser's assertion (as credential) for a token", auth: "none", req: wire.PasskeyFinish{}, resp: wire.LoginResponse{}, throttled: true},
	"GET /api/v1/me/passkeys":                             {summary: "Your passkeys", auth: "user", resp: []wire.Passkey{}},
	"POST /api/v1/me/passkey-ceremonies":                  {summary: "Start registering a passkey: options for navigator.credentials.create", auth: "user", resp: wire.PasskeyCeremony{}, status: http.StatusCreated},
	"POST /api/v1/me/passkeys":                            {summary: "Finish registering a passkey with the browser's credential", auth: "user", req: wire.PasskeyFinish{}, resp: wire.Passkey{}, status: http.StatusCreated},
	"DELETE /api/v1/me/passkeys/{id}":                     {summary: "Remove a passkey (a current TOTP code or the password)", auth: "user", req: wire.Reauth{}, status: http.StatusNoContent, throttled: true},
	"DELETE /api/v1/me/totp":                              {summary: "Remove the authenticator app (a current code or the password)", auth: "user", req: wire.Reauth{}, status: http.StatusNoContent, throttled: true},
	"GET /api/v1/accounts/{account}/users":                {summary: "The account's users; with listing parameters (f.COL, v.COL, sort, page, size) one filtered page, its match count in X-Total-Count", auth: "usermanager", resp: []wire.Member{}, query: []string{"sort", "page", "size"}},
	"GET /api/v1/accounts/{account}/users/{id}":           {summary: "One user of the account", auth: "usermanager", resp: wire.Member{}},
	"PATCH /api/v1/accounts/{account}/users/{id}":         {summary: "Change a user's type, status, settings or admin rights (never above your own type; a user administrator only the rights it holds, on plain users)", auth: "usermanager", req: wire.MemberUpdate{}, resp: wire.Member{}},
	"DELETE /api/v1/accounts/{account}/users/{id}":        {summary: "Remove a user below your own type (a user administrator: a plain user holding no right it lacks)", auth: "usermanager", status: http.StatusNoContent},
	"POST /api/v1/accounts/{account}/users/{id}/unlock":   {summary: "End a login lockout", auth: "manager", status: http.StatusNoContent},
	"GET /api/v1/accounts/{account}/invites":              {summary: "Pending invitations", auth: "usermanager", resp: []wire.Invite{}},
	"POST /api/v1/accounts/{account}/invites":             {summary: "Invite by email (valid 7 days)", auth: "usermanager", req: wire.InviteRequest{}, resp: wire.Invite{}, status: http.StatusCreated},
	"POST /api/v1/accounts/{account}/invites/{id}/resend": {summary: "Send an invitation again (at most 5 times)", auth: "usermanager", resp: wire.Invite{}},
	"DELETE /api/v1/accounts/{account}/invites/{id}":      {summary: "Withdraw an invitation", auth: "usermanager", status: http.StatusNoContent},
	"PUT /api/v1/accounts/{account}/ldap/{id}":            {summary: "Replace an LDAP method (an empty bind_password keeps the stored one)", auth: "admin", req: wire.LDAPMethod{}, resp: wire.LDAPMethod{}},
	"POST /api/v1/accounts/{account}/ldap/{id}/test":      {summary: "Test an LDAP method: connect, bind, list the directory's groups", auth: "admin", resp: wire.LDAPTest{}},
	"GET /api/v1/accounts/{account}/logos":                {summary: "The account's Portal logos (rect 4:1, square 1:1)", auth: "user", resp: []wire.LogoInfo{}},
	"GET /api/v1/accounts/{account}/logos/{shape}":        {summary: "A Portal logo image (served with a CSP that forbids scripts)", auth: "user", image: true},
	"PUT /api/v1/accounts/{account}/logos/{shape}":        {summary: "Upload a Portal logo: JPG, PNG or SVG, at most 0.3 MB, of the shape's ratio; SVG is sanitised", auth: "owner", resp: wire.LogoInfo{}, image: true},
	"DELETE /api/v1/accounts/{account}/logos/{shape}":     {summary: "Remove a Portal logo (Tandem's shows again)", auth: "owner", status: http.StatusNoContent},
	"PUT /api/v1/accounts/{account}/owner":                {summary: "Hand the account over to another user (owner only, with password)", auth: "owner", req: wire.OwnerChange{}, resp: wire.Member{}, throttled: true},
	"GET /api/v1/accounts/{account}/security":             {summary: "The account's MFA setting and allowed factors", auth: "admin", resp: wire.Security{}},
	"PUT /api/v1/accounts/{account}/security":             {summary: "Set MFA (disabled, enabled or enforced) and the allowed factors (totp, webauthn, email)", auth: "admin", req: wire.Security{}, resp: wire.Security{}},
	"POST /api/v1/invites/accept":                         {summary: "Accept an invitation, setting a password", auth: "none", req: wire.InviteAccept{}, resp: wire.User{}, status: http.StatusCreated, throttled: true},
	"POST /api/v1/password/forgot":                        {summary: "Email a password reset link (always 202)", auth: "none", req: wire.PasswordForgot{}, resp: map[string]string{}, status: http.StatusAccepted, throttled: true},
	"POST /api/v1/password/reset":                         {summary: "Set a new password with a reset token", auth: "none", req: wire.PasswordReset{}, status: http.StatusNoContent, throttled: true},
	"PATCH /api/v1/me":                                    {summary: "Edit your profile", auth: "user", req: wire.ProfileUpdate{}, resp: wire.User{}},
	"POST /api/v1/me/password":                            {summary: "Change your password (ends your other logins)", auth: "user", req: wire.PasswordChange{}, status: http.StatusNoContent, throttled: true},
	"POST /api/v1/me/recovery-codes":                      {summary: "A new set of 10 recovery codes (voids the old set)", auth: "user", resp: wire.RecoveryCodes{}, status: http.StatusCreated},
	"PATCH /api/v1/me/accounts/{account}":                 {summary: "Your alias, remote-control action and MFA toggle in an account", auth: "user", req: wire.MembershipUpdate{}, resp: wire.Member{}},
	"GET /api/v1/me/api-keys":                             {summary: "Your API keys (prefixes only)", auth: "user", resp: []wire.APIKey{}},
	"POST /api/v1/me/api-keys":                            {summary: "Create an API key (needs the API role); shown once", auth: "user", req: wire.APIKeyRequest{}, resp: wire.APIKey{}, status: http.StatusCreated},
	"GET /api/v1/accounts/{account}/activity":             {summary: "Activity per local day: the last N days (default 7, at most 31) and the N before them", auth: "admin", resp: wire.Activity{}, query: []string{"days"}},
	"GET /api/v1/me/columns":                              {summary: "Your chosen listing columns, by listing", auth: "user", resp: map[string][]string{}},
	"PUT /api/v1/me/columns/{list}":                       {summary: "Remember a listing's columns for you (at most 32 listings)", auth: "user", req: wire.Columns{}, status: http.StatusNoContent},
	"DELETE /api/v1/me/api-keys/{id}":                     {summary: "Revoke one of your API keys", auth: "user", status: http.StatusNoContent},
}

var pathParam = regexp.MustCompile(`\{([a-z]+)\}`)

// errResponses are the error answers an operation may declare, each a
// shared component with the error body's schema.
var errResponses = map[int]struct {
	name, desc string
	retry      bool // carries Retry-After
}{
	http.StatusBadRequest:            {"BadRequest", "The request is malformed or a value is refused (code bad_request, or one naming the field's problem)", false},
	http.StatusUnauthorized:          {"Unauthorized", "No valid token, or wrong credentials (codes unauthorized, invalid_credentials)", false},
	http.StatusForbidden:             {"Forbidden", "The caller's user type or role does not allow it (code forbidden)", false},
	http.StatusNotFound:              {"NotFound", "No such object in the caller's accounts (code not_found)", false},
	http.StatusConflict:              {"Conflict", "The request conflicts with the current state (code conflict and others)", false},
	http.StatusRequestEntityTooLarge: {"BodyTooLarge", "The body exceeds the relay's limit (code body_too_large)", false},
	http.StatusUnsupportedMediaType:  {"UnsupportedMediaType", "The body is not application/json (code bad_request)", false},
	http.StatusTooManyRequests:       {"TooManyRequests", "Throttled; retry after the Retry-After seconds (code throttled)", true},
	http.StatusInternalServerError:   {"InternalError", "The relay failed; its log says why (code internal)", false},
	http.StatusServiceUnavailable:    {"Unavailable", "The relay is too busy checking passwords; retry after Retry-After (code unavailable)", true},
}

// passwordOps check a password against its hash within the relay's
// hashing cap, so they may answer 503.
var passwordOps = map[string]bool{
	"POST /api/v1/login": true, "POST /api/v1/me/password": true, "POST /api/v1/invites/accept": true,
	"PUT /api/v1/accounts/{account}/owner": true,
}

// errorAnswers are the error statuses rt may answer, from what it takes
// (a body, parameters) and who may call it.
func errorAnswers(rt route, d apiDoc) []int {
	codes := []int{http.StatusInternalServerError}
	if d.req != nil || d.query != nil || d.auth == "agent" || strings.HasSuffix(rt.path, "/signal") {
		codes = append(codes, http.StatusBadRequest) // a malformed body, query or upgrade
	}
	if d.req != nil {
		codes = append(codes, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType)
	}
	switch d.auth {
	case "none", "agent":
		if strings.HasPrefix(rt.path, "/api/v1/login") || strings.HasPrefix(rt.path, "/api/v1/sso/") || d.auth == "agent" {
			codes = append(codes, http.StatusUnauthorized)
		}
	default:
		codes = append(codes, http.StatusUnauthorized)
	}
	switch d.auth {
	case "admin", "manager", "owner", "logadmin":
		codes = append(codes, http.StatusForbidden)
	}
	if strings.Contains(rt.path, "{") {
		codes = append(codes, http.StatusNotFound)
	}
	if d.req != nil && d.auth != "none" && d.auth != "agent" {
		codes = append(codes, http.StatusConflict) // e.g. a name taken, a state that forbids it
	}
	if d.throttled {
		codes = append(codes, http.StatusTooManyRequests)
	}
	if passwordOps[rt.method+" "+rt.path] || strings.HasPrefix(rt.path, "/api/v1/sso/") { // busy hashing; the IdP unreachable
		codes = append(codes, http.StatusServiceUnavailable)
	}
	return codes
}

func errRef(name string) map[string]any {
	return map[string]any{"$ref": "#/components/responses/" + name}
}

func errResponse(desc string, schema map[string]any, retry bool) map[string]any {
	r := map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": schema}}}
	if retry {
		r["headers"] = map[string]any{"Retry-After": map[string]any{"description": "Seconds to wait",
			"schema": map[string]any{"type": "integer"}}}
	}
	return r
}

// openAPI builds the document for routes; server is the relay's public
// URL ("" for a URL relative to the document).
func openAPI(routes []route, version, server string) map[string]any {
	schemas := map[string]any{}
	paths := map[string]map[string]any{}
	for _, rt := range routes {
		d := apiDocs[rt.method+" "+rt.path]
		op := map[string]any{"summary": d.summary, "operationId": operationID(rt.method, rt.path)}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range d.query {
			params = append(params, map[string]any{"name": q, "in": "query", "schema": map[string]any{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		switch d.auth {
		case "none":
			op["security"] = []any{}
		case "agent":
			op["security"] = []any{}
			op["description"] = "Hosts authenticate inside the WebSocket by signing the relay's challenge with their device key."
		case "admin":
			op["description"] = "Account administrators and the owner only; other members get 403, other accounts 404."
		case "manager":
			op["description"] = "Group managers and up, within the rank rules; other members get 403, other accounts 404."
		case "owner":
			op["description"] = "The account owner only."
		case "usermanager":
			op["description"] = "Group managers and up within the rank rules, and the user administrator and user creator rights (relay/rights); other members get 403, other accounts 404."
		case "logadmin":
			op["description"] = "Group managers and up, and log administrators; other members get 403, other accounts 404."
		}
		images := map[string]any{}
		for _, ct := range []string{"image/png", "image/jpeg", "image/svg+xml"} {
			images[ct] = map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}
		}
		if d.image && rt.method == "PUT" {
			op["requestBody"] = map[string]any{"required": true, "content": images}
		}
		if d.req != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(d.req), schemas)}}}
		}
		status := d.status
		if status == 0 {
			status = http.StatusOK
		}
		ok := map[string]any{"description": http.StatusText(status)}
		if d.resp != nil {
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(d.resp), schemas)}}
		} else if d.image {
			ok["content"] = images
		} else if strings.HasSuffix(rt.path, "/csv") {
			ok["content"] = map[string]any{"text/csv": map[string]any{"schema": map[string]any{"type": "string"}}}
		}
		responses := map[string]any{itoa(status): ok, "default": errRef("Error")}
		for _, code := range errorAnswers(rt, d) {
			responses[itoa(code)] = errRef(errResponses[code].name)
		}
		op["responses"] = responses
		p := paths[rt.path]
		if p == nil {
			p = map[string]any{}
			paths[rt.path] = p
		}
		p[strings.ToLower(rt.method)] = op
	}
	errSchema := schemaOf(reflect.TypeOf(wire.APIError{}), schemas)
	responses := map[string]any{"Error": errResponse("An error with a stable code and a message", errSchema, false)}
	for _, e := range errResponses {
		responses[e.name] = errResponse(e.desc, errSchema, e.retry)
	}
	if server == "" {
		server = "/" // relative to where this document is served
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "Tandem relay API", "version": version,
			"description": "The relay's JSON API. Errors are JSON {\"error\": {\"code\", \"message\"}} with a stable code.",
			"license":     map[string]any{"name": "Apache 2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"}},
		"servers": []any{map[string]any{"url": server, "description": "This relay"}},
		"paths":   paths,
		"components": map[string]any{
			"schemas":         schemas,
			"responses":       responses,
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
		},
		"security": []any{map[string]any{"bearer": []any{}}},
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, part := range strings.Split(strings.TrimPrefix(path, "/api/v1/"), "/") {
		part = strings.Trim(part, "{}")
		for _, w := range strings.FieldsFunc(part, func(r rune) bool { return r == '.' || r == '-' || r == '_' }) {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}

var (
	timeType    = reflect.TypeOf(time.Time{})
	rawJSONType = reflect.TypeOf(json.RawMessage{})
)

// schemaOf is the JSON Schema of t, with named structs as components.
func schemaOf(t reflect.Type, schemas map[string]any) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawJSONType:
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return schemaOf(t.Elem(), schemas)
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), schemas)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), schemas)}
	case reflect.Struct:
		name := t.Name()
		if _, done := schemas[name]; !done {
			schemas[name] = map[string]any{} // placeholder: recursive types
			props := map[string]any{}
			var required []string
			for i := range t.NumField() {
				f := t.Field(i)
				if !f.IsExported() {
					continue
				}
				tag := f.Tag.Get("json")
				if tag == "-" {
					continue
				}
				n, opts, _ := strings.Cut(tag, ",")
				if n == "" {
					n = f.Name
				}
				props[n] = schemaOf(f.Type, schemas)
				if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") && f.Type.Kind() != reflect.Pointer {
					required = append(required, n)
				}
			}
			s := map[string]any{"type": "object", "properties": props}
			if required != nil {
				s["required"] = required
			}
			schemas[name] = s
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

// handleOpenAPI is GET /api/v1/openapi.json.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, openAPI(s.routeTable(), s.cfg.Version, s.cfg.PublicURL))
	return nil
}
