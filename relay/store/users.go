package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Authentication methods of a user (spec 5.2). Only internal users have a
// password here; the column exists so LDAP users can be told apart.
const (
	AuthInternal = "internal"
	AuthLDAP     = "ldap"
	AuthOIDC     = "oidc"
	AuthSAML     = "saml"
)

// MemberType is a user's type in an account (spec 4.1).
type MemberType string

const (
	Owner        MemberType = "owner"         // Account owner
	Admin        MemberType = "admin"         // Account administrator
	GroupManager MemberType = "group_manager" // Group manager
	Member       MemberType = "user"          // User
)

// Rank orders the member types: owner 4 > admin 3 > group manager 2 >
// user 1; an unknown type is 0.
func (t MemberType) Rank() int {
	switch t {
	case Owner:
		return 4
	case Admin:
		return 3
	case GroupManager:
		return 2
	case Member:
		return 1
	}
	return 0
}

// Valid reports whether t is a known member type.
func (t MemberType) Valid() bool { return t.Rank() > 0 }

// Default remote-control actions (spec 2.3.1: "Control through Guest",
// "Control through browser").
const (
	RCGuest   = "guest"
	RCBrowser = "browser"
)

// MFAMode is an account's email MFA setting (spec 5.1).
type MFAMode string

const (
	MFADisabled MFAMode = "disabled"
	MFAEnabled  MFAMode = "enabled"  // per-user toggle
	MFAEnforced MFAMode = "enforced" // every user, no toggle
)

// Valid reports whether m is a known mode.
func (m MFAMode) Valid() bool { return m == MFADisabled || m == MFAEnabled || m == MFAEnforced }

// Membership ties a user to an account, with the settings that are the
// user's in that account only (spec 4.1.3).
type Membership struct {
	AccountID   string
	AccountName string  // filled by reads
	AccountMFA  MFAMode // filled by reads
	UserID      string
	Type        MemberType
	Alias       string // the user's own name for the account
	OnDemand    bool   // may run OnDemand sessions
	RCAction    string // RCGuest or RCBrowser
	API         bool   // the API role: may hold API keys
	MFA         bool   // the user's email MFA toggle (matters when the account is "enabled")
	Disabled    bool
	LogAdmin    bool // reads the whole account's audit log
	UserAdmin   bool // invites and removes users, gives the rights it holds (relay/rights)
	UserCreator bool // invites users, gives no rights (relay/rights)
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// MFARequired reports whether logging in needs the emailed code because of
// this membership.
func (m Membership) MFARequired() bool {
	return !m.Disabled && (m.AccountMFA == MFAEnforced || (m.AccountMFA == MFAEnabled && m.MFA))
}

// AccountUser is a membership with its user.
type AccountUser struct {
	Membership
	User User
}

func (m *Membership) check() error {
	if !m.Type.Valid() {
		return fmt.Errorf("store: invalid member type %q", m.Type)
	}
	if m.RCAction == "" {
		m.RCAction = RCBrowser
	}
	if m.RCAction != RCGuest && m.RCAction != RCBrowser {
		return fmt.Errorf("store: invalid remote-control action %q", m.RCAction)
	}
	return nil
}

// AddMembership makes m.UserID a member of m.AccountID; an existing
// membership is ErrConflict.
func (s *Store) AddMembership(ctx context.Context, m Membership) error {
	return addMembership(ctx, s.q, s.now, m)
}

type execer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

func addMembership(ctx context.Context, db execer, now func() time.Time, m Membership) error {
	if err := m.check(); err != nil {
		return err
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now()
	}
	_, err := db.ExecContext(ctx, `INSERT INTO memberships (account_id, user_id, type, alias, ondemand, rc_action,
		api, mfa, disabled, created_at, updated_at, log_admin, user_admin, user_creator)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		m.AccountID, m.UserID, string(m.Type), m.Alias, m.OnDemand, m.RCAction, m.API, m.MFA, m.Disabled,
		unix(m.CreatedAt), unix(m.CreatedAt), m.LogAdmin, m.UserAdmin, m.UserCreator)
	return wrap("add membership", err)
}

const membershipCols = `m.account_id, a.name, a.mfa, m.user_id, m.type, m.alias, m.ondemand, m.rc_action, m.api, m.mfa,
	m.disabled, m.created_at, m.updated_at, m.log_admin, m.user_admin, m.user_creator`

func membershipDest(m *Membership, created, updated *int64) []any {
	return []any{&m.AccountID, &m.AccountName, &m.AccountMFA, &m.UserID, &m.Type, &m.Alias, &m.OnDemand, &m.RCAction,
		&m.API, &m.MFA, &m.Disabled, created, updated, &m.LogAdmin, &m.UserAdmin, &m.UserCreator}
}

// Memberships lists the accounts of userID, by account name.
func (s *Store) Memberships(ctx context.Context, userID string) ([]Membership, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+membershipCols+`
		FROM memberships m JOIN accounts a ON a.id = m.account_id
		WHERE m.user_id = $1 ORDER BY a.name`, userID)
	if err != nil {
		return nil, wrap("memberships", err)
	}
	defer rows.Close()
	var out []Membership
	for rows.Next() {
		var m Membership
		var created, updated int64
		if err := rows.Scan(membershipDest(&m, &created, &updated)...); err != nil {
			return nil, wrap("memberships", err)
		}
		m.CreatedAt, m.UpdatedAt = fromUnix(created), fromUnix(updated)
		out = append(out, m)
	}
	return out, wrap("memberships", rows.Err())
}

const accountUserQuery = `SELECT ` + membershipCols + `, ` + userColsU + `
	FROM memberships m JOIN accounts a ON a.id = m.account_id JOIN users u ON u.id = m.user_id`

const userColsU = `u.id, u.email, u.name, u.password_hash, u.disabled, u.created_at, u.auth, u.failed_logins, u.locked_until`

func scanAccountUser(row interface{ Scan(...any) error }) (AccountUser, error) {
	var au AccountUser
	var created, updated, uCreated int64
	var locked sql.NullInt64
	u := &au.User
	dest := append(membershipDest(&au.Membership, &created, &updated),
		&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.Disabled, &uCreated, &u.Auth, &u.FailedLogins, &locked)
	err := row.Scan(dest...)
	au.CreatedAt, au.UpdatedAt = fromUnix(created), fromUnix(updated)
	u.CreatedAt, u.LockedUntil = fromUnix(uCreated), fromNull(locked)
	return au, err
}

// AccountUser returns userID's membership of accountID with the user.
func (s *Store) AccountUser(ctx context.Context, accountID, userID string) (AccountUser, error) {
	au, err := scanAccountUser(s.q.QueryRowContext(ctx, accountUserQuery+` WHERE m.account_id = $1 AND m.user_id = $2`,
		accountID, userID))
	return au, wrap("account user", err)
}

// AccountUsers lists the members of accountID by email.
func (s *Store) AccountUsers(ctx context.Context, accountID string) ([]AccountUser, error) {
	rows, err := s.q.QueryContext(ctx, accountUserQuery+` WHERE m.account_id = $1 ORDER BY u.email`, accountID)
	if err != nil {
		return nil, wrap("account users", err)
	}
	defer rows.Close()
	var out []AccountUser
	for rows.Next() {
		au, err := scanAccountUser(rows)
		if err != nil {
			return nil, wrap("account users", err)
		}
		out = append(out, au)
	}
	return out, wrap("account users", rows.Err())
}

// UpdateMembership writes m's settings (type, alias, OnDemand, action, API,
// MFA, disabled). A membership that is disabled or loses the API role
// loses its API keys in the same transaction.
func (s *Store) UpdateMembership(ctx context.Context, m Membership) error {
	if err := m.check(); err != nil {
		return err
	}
	if m.UpdatedAt.IsZero() {
		m.UpdatedAt = s.now()
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE memberships SET type = $1, alias = $2, ondemand = $3, rc_action = $4,
			api = $5, mfa = $6, disabled = $7, updated_at = $8, log_admin = $11,
			user_admin = $12, user_creator = $13 WHERE account_id = $9 AND user_id = $10`,
			string(m.Type), m.Alias, m.OnDemand, m.RCAction, m.API, m.MFA, m.Disabled, unix(m.UpdatedAt), m.AccountID, m.UserID,
			m.LogAdmin, m.UserAdmin, m.UserCreator)
		if err != nil {
			return wrap("update membership", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: update membership: %w", ErrNotFound)
		}
		if m.Disabled || !m.API {
			_, err = tx.ExecContext(ctx, `DELETE FROM api_keys WHERE account_id = $1 AND user_id = $2`, m.AccountID, m.UserID)
			return wrap("update membership: api keys", err)
		}
		return nil
	})
}

// RemoveMembership takes userID out of accountID (with its API keys and
// the account's invitation for the email). A user left without any
// account is deleted with it; userDeleted tells.
func (s *Store) RemoveMembership(ctx context.Context, accountID, userID string) (userDeleted bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM memberships WHERE account_id = $1 AND user_id = $2`, accountID, userID)
		if err != nil {
			return wrap("remove membership", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: remove membership: %w", ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM invites WHERE account_id = $1 AND email = (SELECT email FROM users WHERE id = $2)`,
			accountID, userID); err != nil {
			return wrap("remove membership: invites", err)
		}
		var left int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM memberships WHERE user_id = $1`, userID).Scan(&left); err != nil {
			return wrap("remove membership: count", err)
		}
		if left > 0 {
			return nil
		}
		userDeleted = true
		_, err = tx.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, userID)
		return wrap("remove membership: user", err)
	})
	return userDeleted, err
}

// SetAccountMFA changes an account's email MFA setting.
func (s *Store) SetAccountMFA(ctx context.Context, accountID string, mode MFAMode) error {
	if !mode.Valid() {
		return fmt.Errorf("store: invalid MFA mode %q", mode)
	}
	return s.execOne(ctx, "set account mfa", `UPDATE accounts SET mfa = $1 WHERE id = $2`, string(mode), accountID)
}

// SetUserName changes a user's display name.
func (s *Store) SetUserName(ctx context.Context, userID, name string) error {
	return s.execOne(ctx, "set user name", `UPDATE users SET name = $1 WHERE id = $2`, name, userID)
}

// ChangePassword sets a new password hash, clears the lockout, drops the
// user's pending reset tokens, API keys and every login token but keepToken
// (the caller's own, "" for none), in one transaction.
func (s *Store) ChangePassword(ctx context.Context, userID, hash, keepToken string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1, failed_logins = 0, locked_until = NULL
			WHERE id = $2`, hash, userID)
		if err != nil {
			return wrap("change password", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: change password: %w", ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM login_tokens WHERE user_id = $1 AND token_hash <> $2`,
			userID, keepToken); err != nil {
			return wrap("change password: tokens", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM user_tokens WHERE user_id = $1 AND purpose = 'reset'`, userID); err != nil {
			return wrap("change password: reset tokens", err)
		}
		// Keys made under the old password may be what leaked with it.
		_, err = tx.ExecContext(ctx, `DELETE FROM api_keys WHERE user_id = $1`, userID)
		return wrap("change password: api keys", err)
	})
}

// --- lockout ---------------------------------------------------------------------------

// LoginFailed counts a failed login for userID. At max consecutive
// failures the user is locked until now+lockFor and the count starts
// over; locked reports that this failure locked it.
func (s *Store) LoginFailed(ctx context.Context, userID string, now time.Time, max int, lockFor time.Duration) (locked bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT failed_logins FROM users WHERE id = $1`+s.eng.forUpdate, userID).Scan(&n); err != nil {
			return wrap("login failed", err)
		}
		n++
		var until sql.NullInt64
		if n >= max {
			locked, n = true, 0
			until = nullUnix(now.Add(lockFor))
			_, err := tx.ExecContext(ctx, `UPDATE users SET failed_logins = 0, locked_until = $1 WHERE id = $2`, until, userID)
			return wrap("login failed", err)
		}
		_, err := tx.ExecContext(ctx, `UPDATE users SET failed_logins = $1 WHERE id = $2`, n, userID)
		return wrap("login failed", err)
	})
	return locked, err
}

// ResetLoginFailures clears the failure count and any lock (a successful
// login, an admin's unlock).
func (s *Store) ResetLoginFailures(ctx context.Context, userID string) error {
	return s.execOne(ctx, "reset login failures", `UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1`, userID)
}

// --- invitations -------------------------------------------------------------------------

// Invite is an invitation of an email address into an account, known by
// the hash of the token mailed to it.
type Invite struct {
	ID         string
	AccountID  string
	Email      string
	Name       string
	Type       MemberType
	OnDemand   bool
	RCAction   string
	API        bool
	MFA        bool
	TokenHash  string
	InvitedBy  string
	Resends    int
	CreatedAt  time.Time
	ExpiresAt  time.Time
	AcceptedAt time.Time // zero: pending
}

// CreateInvite stores an invitation. An earlier invitation of the same
// email to the account that was accepted (and whose member has gone) or
// has expired is replaced; a pending one is ErrConflict.
func (s *Store) CreateInvite(ctx context.Context, in Invite) (Invite, error) {
	if in.ID == "" {
		in.ID = NewID()
	}
	if in.Type == Owner || !in.Type.Valid() {
		return in, fmt.Errorf("store: invalid invite type %q", in.Type)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM invites WHERE account_id = $1 AND email = $2
			AND (accepted_at IS NOT NULL OR expires_at <= $3)`, in.AccountID, in.Email, unix(in.CreatedAt)); err != nil {
			return wrap("create invite", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO invites (id, account_id, email, name, type, ondemand, rc_action, api,
			mfa, token_hash, invited_by, resends, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, $12, $13)`,
			in.ID, in.AccountID, in.Email, in.Name, string(in.Type), in.OnDemand, in.RCAction, in.API, in.MFA, in.TokenHash,
			in.InvitedBy, unix(in.CreatedAt), unix(in.ExpiresAt))
		return wrap("create invite", err)
	})
	return in, err
}

const inviteCols = `id, account_id, email, name, type, ondemand, rc_action, api, mfa, token_hash, invited_by, resends,
	created_at, expires_at, accepted_at`

func scanInvite(row interface{ Scan(...any) error }) (Invite, error) {
	var in Invite
	var created, expires int64
	var accepted sql.NullInt64
	err := row.Scan(&in.ID, &in.AccountID, &in.Email, &in.Name, &in.Type, &in.OnDemand, &in.RCAction, &in.API, &in.MFA,
		&in.TokenHash, &in.InvitedBy, &in.Resends, &created, &expires, &accepted)
	in.CreatedAt, in.ExpiresAt, in.AcceptedAt = fromUnix(created), fromUnix(expires), fromNull(accepted)
	return in, err
}

// Invite returns the invitation with id.
func (s *Store) Invite(ctx context.Context, id string) (Invite, error) {
	in, err := scanInvite(s.q.QueryRowContext(ctx, `SELECT `+inviteCols+` FROM invites WHERE id = $1`, id))
	return in, wrap("invite", err)
}

// InviteByToken returns the invitation whose token hashes to hash.
func (s *Store) InviteByToken(ctx context.Context, hash string) (Invite, error) {
	in, err := scanInvite(s.q.QueryRowContext(ctx, `SELECT `+inviteCols+` FROM invites WHERE token_hash = $1`, hash))
	return in, wrap("invite by token", err)
}

// Invites lists the pending invitations of accountID, by email.
func (s *Store) Invites(ctx context.Context, accountID string) ([]Invite, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+inviteCols+` FROM invites
		WHERE account_id = $1 AND accepted_at IS NULL ORDER BY email`, accountID)
	if err != nil {
		return nil, wrap("invites", err)
	}
	defer rows.Close()
	var out []Invite
	for rows.Next() {
		in, err := scanInvite(rows)
		if err != nil {
			return nil, wrap("invites", err)
		}
		out = append(out, in)
	}
	return out, wrap("invites", rows.Err())
}

// ErrLimit is returned when a counted action is used up (invite resends).
var ErrLimit = errors.New("store: limit reached")

// ResendInvite gives a pending invitation a new token and expiry (the old
// token stops working) and counts the resend; after max resends it is
// ErrLimit, an accepted invitation ErrNotFound.
func (s *Store) ResendInvite(ctx context.Context, id, tokenHash string, expires time.Time, max int) (Invite, error) {
	var in Invite
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		in, err = scanInvite(tx.QueryRowContext(ctx, `SELECT `+inviteCols+` FROM invites WHERE id = $1`+s.eng.forUpdate, id))
		if err != nil {
			return wrap("resend invite", err)
		}
		if !in.AcceptedAt.IsZero() {
			return fmt.Errorf("store: resend invite: accepted: %w", ErrNotFound)
		}
		if in.Resends >= max {
			return fmt.Errorf("store: resend invite: %w", ErrLimit)
		}
		in.Resends++
		in.TokenHash, in.ExpiresAt = tokenHash, fromUnix(unix(expires))
		_, err = tx.ExecContext(ctx, `UPDATE invites SET token_hash = $1, expires_at = $2, resends = $3 WHERE id = $4`,
			tokenHash, unix(expires), in.Resends, id)
		return wrap("resend invite", err)
	})
	return in, err
}

// DeleteInvite withdraws an invitation.
func (s *Store) DeleteInvite(ctx context.Context, id string) error {
	return s.execOne(ctx, "delete invite", `DELETE FROM invites WHERE id = $1`, id)
}

// AcceptInvite uses the pending, unexpired invitation whose token hashes to
// tokenHash: newUser (if not nil) is created first, then userID (newUser's
// id, or an existing user's) becomes a member with the invitation's
// settings. A used, replaced or expired token is ErrNotFound; the user
// already a member is ErrConflict. Nothing is written on error.
func (s *Store) AcceptInvite(ctx context.Context, tokenHash string, now time.Time, newUser *User, userID string) (Invite, error) {
	var in Invite
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		in, err = scanInvite(tx.QueryRowContext(ctx, `SELECT `+inviteCols+` FROM invites WHERE token_hash = $1`+s.eng.forUpdate, tokenHash))
		if err != nil {
			return wrap("accept invite", err)
		}
		if !in.AcceptedAt.IsZero() || !now.Before(in.ExpiresAt) {
			return fmt.Errorf("store: accept invite: used or expired: %w", ErrNotFound)
		}
		if newUser != nil {
			u := *newUser
			if u.Auth == "" {
				u.Auth = AuthInternal
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, name, password_hash, disabled, created_at, auth)
				VALUES ($1, $2, $3, $4, FALSE, $5, $6)`, u.ID, u.Email, u.Name, u.PasswordHash, unix(now), u.Auth); err != nil {
				return wrap("accept invite: user", err)
			}
			userID = u.ID
		}
		if err := addMembership(ctx, tx, s.now, Membership{AccountID: in.AccountID, UserID: userID, Type: in.Type,
			OnDemand: in.OnDemand, RCAction: in.RCAction, API: in.API, MFA: in.MFA, CreatedAt: now}); err != nil {
			return err
		}
		in.AcceptedAt = fromUnix(unix(now))
		_, err = tx.ExecContext(ctx, `UPDATE invites SET accepted_at = $1 WHERE id = $2`, unix(now), in.ID)
		return wrap("accept invite", err)
	})
	return in, err
}

// --- one-off user tokens: password reset, MFA challenge -------------------------------------

// Token purposes.
const (
	PurposeReset = "reset"
	PurposeMFA   = "mfa"
)

// UserToken is a one-off token sent or shown to a user, known by its
// hash; an MFA challenge also carries the hash of the emailed code.
type UserToken struct {
	Hash      string
	UserID    string
	Purpose   string
	CodeHash  string
	Tries     int
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CreateUserToken stores t, replacing the user's other tokens of the same
// purpose (only the newest reset link or MFA challenge works).
func (s *Store) CreateUserToken(ctx context.Context, t UserToken) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM user_tokens WHERE user_id = $1 AND purpose = $2`, t.UserID, t.Purpose); err != nil {
			return wrap("create user token", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO user_tokens (token_hash, user_id, purpose, code_hash, tries, created_at,
			expires_at) VALUES ($1, $2, $3, $4, 0, $5, $6)`, t.Hash, t.UserID, t.Purpose, t.CodeHash, unix(t.CreatedAt), unix(t.ExpiresAt))
		return wrap("create user token", err)
	})
}

// UserToken returns the token of purpose with this hash.
func (s *Store) UserToken(ctx context.Context, hash, purpose string) (UserToken, error) {
	var t UserToken
	var created, expires int64
	err := s.q.QueryRowContext(ctx, `SELECT token_hash, user_id, purpose, code_hash, tries, created_at, expires_at
		FROM user_tokens WHERE token_hash = $1 AND purpose = $2`, hash, purpose).
		Scan(&t.Hash, &t.UserID, &t.Purpose, &t.CodeHash, &t.Tries, &created, &expires)
	t.CreatedAt, t.ExpiresAt = fromUnix(created), fromUnix(expires)
	return t, wrap("user token", err)
}

// ConsumeUserToken deletes the token and returns it: of two concurrent
// uses exactly one gets it.
func (s *Store) ConsumeUserToken(ctx context.Context, hash, purpose string) (UserToken, error) {
	t := UserToken{Hash: hash, Purpose: purpose}
	var created, expires int64
	err := s.q.QueryRowContext(ctx, `DELETE FROM user_tokens WHERE token_hash = $1 AND purpose = $2
		RETURNING user_id, code_hash, tries, created_at, expires_at`, hash, purpose).
		Scan(&t.UserID, &t.CodeHash, &t.Tries, &created, &expires)
	t.CreatedAt, t.ExpiresAt = fromUnix(created), fromUnix(expires)
	return t, wrap("consume user token", err)
}

// UserTokenFailed counts a wrong code against the token and returns the
// tries so far.
func (s *Store) UserTokenFailed(ctx context.Context, hash string) (int, error) {
	var n int
	err := s.q.QueryRowContext(ctx, `UPDATE user_tokens SET tries = tries + 1 WHERE token_hash = $1 RETURNING tries`, hash).Scan(&n)
	return n, wrap("user token failed", err)
}

// DeleteExpiredUserTokens removes tokens expired at now.
func (s *Store) DeleteExpiredUserTokens(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.q.ExecContext(ctx, `DELETE FROM user_tokens WHERE expires_at <= $1`, unix(now))
	if err != nil {
		return 0, wrap("delete expired user tokens", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// --- recovery codes ----------------------------------------------------------------------------

// ReplaceRecoveryCodes makes hashes the user's only recovery codes.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
			return wrap("replace recovery codes", err)
		}
		for _, h := range hashes {
			if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)`,
				userID, h, unix(now)); err != nil {
				return wrap("replace recovery codes", err)
			}
		}
		return nil
	})
}

// UseRecoveryCode marks the user's unused code with this hash used; false
// when there is none.
func (s *Store) UseRecoveryCode(ctx context.Context, userID, hash string, now time.Time) (bool, error) {
	res, err := s.q.ExecContext(ctx, `UPDATE recovery_codes SET used_at = $1
		WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL`, unix(now), userID, hash)
	if err != nil {
		return false, wrap("use recovery code", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// RecoveryCodesLeft counts the user's unused recovery codes.
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL`, userID).Scan(&n)
	return n, wrap("recovery codes left", err)
}

// --- API keys ----------------------------------------------------------------------------------

// APIKey lets a program act as a member of an account (the API role).
type APIKey struct {
	ID        string
	AccountID string
	UserID    string
	Name      string
	Prefix    string // the first characters, to tell keys apart
	Hash      string
	CreatedAt time.Time
	LastUsed  time.Time // zero: never
	ExpiresAt time.Time // the key is refused from then on
}

// CreateAPIKey stores a key for an existing membership.
func (s *Store) CreateAPIKey(ctx context.Context, k APIKey) (APIKey, error) {
	if k.ID == "" {
		k.ID = NewID()
	}
	if !k.ExpiresAt.After(k.CreatedAt) {
		return k, errors.New("store: create api key: it must expire after its creation")
	}
	_, err := s.q.ExecContext(ctx, `INSERT INTO api_keys (id, account_id, user_id, name, prefix, key_hash, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, k.ID, k.AccountID, k.UserID, k.Name, k.Prefix, k.Hash, unix(k.CreatedAt), unix(k.ExpiresAt))
	k.CreatedAt, k.ExpiresAt = fromUnix(unix(k.CreatedAt)), fromUnix(unix(k.ExpiresAt))
	return k, wrap("create api key", err)
}

const apiKeyCols = `id, account_id, user_id, name, prefix, key_hash, created_at, last_used, expires_at`

func scanAPIKey(row interface{ Scan(...any) error }) (APIKey, error) {
	var k APIKey
	var created, expires int64
	var used sql.NullInt64
	err := row.Scan(&k.ID, &k.AccountID, &k.UserID, &k.Name, &k.Prefix, &k.Hash, &created, &used, &expires)
	k.CreatedAt, k.LastUsed, k.ExpiresAt = fromUnix(created), fromNull(used), fromUnix(expires)
	return k, err
}

// APIKeyByHash returns the key with this hash.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (APIKey, error) {
	k, err := scanAPIKey(s.q.QueryRowContext(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE key_hash = $1`, hash))
	return k, wrap("api key", err)
}

// APIKeys lists the user's keys, oldest first.
func (s *Store) APIKeys(ctx context.Context, userID string) ([]APIKey, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, wrap("api keys", err)
	}
	defer rows.Close()
	var out []APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, wrap("api keys", err)
		}
		out = append(out, k)
	}
	return out, wrap("api keys", rows.Err())
}

// DeleteAPIKey revokes the user's key id; another user's key is
// ErrNotFound.
func (s *Store) DeleteAPIKey(ctx context.Context, userID, id string) error {
	return s.execOne(ctx, "delete api key", `DELETE FROM api_keys WHERE id = $1 AND user_id = $2`, id, userID)
}

// TouchAPIKey records a use.
func (s *Store) TouchAPIKey(ctx context.Context, id string, now time.Time) error {
	_, err := s.q.ExecContext(ctx, `UPDATE api_keys SET last_used = $1 WHERE id = $2`, unix(now), id)
	return wrap("touch api key", err)
}

// TransferOwnership makes toUser the owner of accountID and fromUser (the
// owner now) an administrator, in one transaction. toUser must be an
// enabled member; fromUser not the owner is ErrConflict.
func (s *Store) TransferOwnership(ctx context.Context, accountID, fromUser, toUser string, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var fromType, toType MemberType
		var toDisabled bool
		if err := tx.QueryRowContext(ctx, `SELECT type FROM memberships WHERE account_id = $1 AND user_id = $2`+s.eng.forUpdate,
			accountID, fromUser).Scan(&fromType); err != nil {
			return wrap("transfer ownership: owner", err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT type, disabled FROM memberships WHERE account_id = $1 AND user_id = $2`+s.eng.forUpdate,
			accountID, toUser).Scan(&toType, &toDisabled); err != nil {
			return wrap("transfer ownership: new owner", err)
		}
		if fromType != Owner || toDisabled || fromUser == toUser {
			return fmt.Errorf("store: transfer ownership: %w", ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE memberships SET type = 'admin', updated_at = $1 WHERE account_id = $2 AND user_id = $3`,
			unix(now), accountID, fromUser); err != nil {
			return wrap("transfer ownership", err)
		}
		_, err := tx.ExecContext(ctx, `UPDATE memberships SET type = 'owner', updated_at = $1 WHERE account_id = $2 AND user_id = $3`,
			unix(now), accountID, toUser)
		return wrap("transfer ownership", err)
	})
}
