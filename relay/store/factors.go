package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// --- second factors: TOTP and the accounts' allowed factors ----------------------------

// TOTP is a user's authenticator-app secret. Secret is sealed by the
// relay (the store never sees it in clear).
type TOTP struct {
	UserID      string
	Secret      string
	CreatedAt   time.Time
	ConfirmedAt time.Time // zero until a first code proved the app has it
	LastStep    int64     // the newest time step accepted: older or equal ones are refused
}

// PutPendingTOTP starts (or restarts) an enrolment: a new unconfirmed
// secret. A confirmed one is kept: ErrConflict (remove it first).
func (s *Store) PutPendingTOTP(ctx context.Context, userID, sealed string, now time.Time) error {
	if _, err := s.q.ExecContext(ctx, `DELETE FROM user_totp WHERE user_id = $1 AND confirmed_at IS NULL`, userID); err != nil {
		return wrap("put totp", err)
	}
	_, err := s.q.ExecContext(ctx, `INSERT INTO user_totp (user_id, secret, created_at) VALUES ($1, $2, $3)`,
		userID, sealed, unix(now))
	return wrap("put totp", err)
}

// UserTOTP reads a user's TOTP row (confirmed or not); ErrNotFound if none.
func (s *Store) UserTOTP(ctx context.Context, userID string) (TOTP, error) {
	var t TOTP
	var created int64
	var confirmed sql.NullInt64
	err := s.q.QueryRowContext(ctx, `SELECT user_id, secret, created_at, confirmed_at, last_step FROM user_totp WHERE user_id = $1`, userID).
		Scan(&t.UserID, &t.Secret, &created, &confirmed, &t.LastStep)
	t.CreatedAt, t.ConfirmedAt = fromUnix(created), fromNull(confirmed)
	return t, wrap("user totp", err)
}

// UseTOTPStep records step as the user's last accepted one, confirming a
// pending secret when confirm is set (and only then). It reports false
// when the step is not newer than the stored one or the row is not in
// the expected state: of two concurrent uses of one code, one wins.
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64, confirm bool, now time.Time) (bool, error) {
	q := `UPDATE user_totp SET last_step = $1 WHERE user_id = $2 AND last_step < $1 AND confirmed_at IS NOT NULL`
	args := []any{step, userID}
	if confirm {
		q = `UPDATE user_totp SET last_step = $1, confirmed_at = $3 WHERE user_id = $2 AND last_step < $1 AND confirmed_at IS NULL`
		args = append(args, unix(now))
	}
	res, err := s.q.ExecContext(ctx, q, args...)
	if err != nil {
		return false, wrap("use totp step", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// DeleteTOTP removes the user's TOTP (confirmed or pending); ErrNotFound if none.
func (s *Store) DeleteTOTP(ctx context.Context, userID string) error {
	return s.execOne(ctx, "delete totp", `DELETE FROM user_totp WHERE user_id = $1`, userID)
}

// AccountFactors reads the factors an account allows (names as stored);
// nil when the account never set them (then every factor is allowed).
func (s *Store) AccountFactors(ctx context.Context, accountID string) ([]string, error) {
	var f string
	err := s.q.QueryRowContext(ctx, `SELECT factors FROM account_mfa_factors WHERE account_id = $1`, accountID).Scan(&f)
	if err == sql.ErrNoRows {
		return nil, nil
	} else if err != nil {
		return nil, wrap("account factors", err)
	}
	if f == "" {
		return []string{}, nil
	}
	return strings.Split(f, ","), nil
}

// SetAccountFactors stores the factors an account allows.
func (s *Store) SetAccountFactors(ctx context.Context, accountID string, factors []string) error {
	_, err := s.q.ExecContext(ctx, `INSERT INTO account_mfa_factors (account_id, factors) VALUES ($1, $2)
		ON CONFLICT (account_id) DO UPDATE SET factors = excluded.factors`, accountID, strings.Join(factors, ","))
	return wrap("set account factors", err)
}

// SetUserTokenCode gives a token with no code yet its code hash (an MFA
// challenge whose email code was asked for later); ErrConflict when it
// has one already, ErrNotFound when it is gone.
func (s *Store) SetUserTokenCode(ctx context.Context, hash, purpose, codeHash string) error {
	res, err := s.q.ExecContext(ctx, `UPDATE user_tokens SET code_hash = $1 WHERE token_hash = $2 AND purpose = $3 AND code_hash = ''`,
		codeHash, hash, purpose)
	if err != nil {
		return wrap("set user token code", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	if _, err := s.UserToken(ctx, hash, purpose); err != nil {
		return err
	}
	return fmt.Errorf("store: set user token code: %w", ErrConflict)
}

// Passkey is a user's WebAuthn credential; Credential is the library's
// JSON (public key, signature counter, flags).
type Passkey struct {
	ID         string // credential id, base64url
	UserID     string
	Name       string
	Credential string
	CreatedAt  time.Time
	LastUsed   time.Time
}

// AddPasskey stores a new credential; an id taken is ErrConflict.
func (s *Store) AddPasskey(ctx context.Context, p Passkey) error {
	_, err := s.q.ExecContext(ctx, `INSERT INTO webauthn_credentials (id, user_id, name, credential, created_at)
		VALUES ($1, $2, $3, $4, $5)`, p.ID, p.UserID, p.Name, p.Credential, unix(p.CreatedAt))
	return wrap("add passkey", err)
}

// Passkeys lists a user's credentials, oldest first.
func (s *Store) Passkeys(ctx context.Context, userID string) ([]Passkey, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT id, user_id, name, credential, created_at, last_used
		FROM webauthn_credentials WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, wrap("passkeys", err)
	}
	defer rows.Close()
	var out []Passkey
	for rows.Next() {
		var p Passkey
		var created int64
		var used sql.NullInt64
		if err := rows.Scan(&p.ID, &p.UserID, &p.Name, &p.Credential, &created, &used); err != nil {
			return nil, wrap("passkeys", err)
		}
		p.CreatedAt, p.LastUsed = fromUnix(created), fromNull(used)
		out = append(out, p)
	}
	return out, wrap("passkeys", rows.Err())
}

// UsePasskey stores a credential's state after a sign-in (its counter).
func (s *Store) UsePasskey(ctx context.Context, userID, id, credential string, now time.Time) error {
	return s.execOne(ctx, "use passkey", `UPDATE webauthn_credentials SET credential = $1, last_used = $2 WHERE id = $3 AND user_id = $4`,
		credential, unix(now), id, userID)
}

// DeletePasskey removes one of the user's credentials; ErrNotFound if not theirs.
func (s *Store) DeletePasskey(ctx context.Context, userID, id string) error {
	return s.execOne(ctx, "delete passkey", `DELETE FROM webauthn_credentials WHERE id = $1 AND user_id = $2`, id, userID)
}

// PutCeremony keeps a WebAuthn ceremony's state until it is taken once.
// Expired ones of any user are dropped on the way.
func (s *Store) PutCeremony(ctx context.Context, hash, userID, purpose, state string, now, expires time.Time) error {
	if _, err := s.q.ExecContext(ctx, `DELETE FROM webauthn_ceremonies WHERE expires_at <= $1`, unix(now)); err != nil {
		return wrap("put ceremony", err)
	}
	// A ceremony asked again (the same sign-in's passkey prompt retried)
	// replaces the one before.
	_, err := s.q.ExecContext(ctx, `INSERT INTO webauthn_ceremonies (token_hash, user_id, purpose, state, expires_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (token_hash) DO UPDATE SET user_id = excluded.user_id,
		purpose = excluded.purpose, state = excluded.state, expires_at = excluded.expires_at`, hash, userID, purpose, state, unix(expires))
	return wrap("put ceremony", err)
}

// TakeCeremony deletes and returns a live ceremony's user and state: of
// two concurrent answers, one gets it. ErrNotFound if gone or expired.
func (s *Store) TakeCeremony(ctx context.Context, hash, purpose string, now time.Time) (userID, state string, err error) {
	var expires int64
	err = s.q.QueryRowContext(ctx, `DELETE FROM webauthn_ceremonies WHERE token_hash = $1 AND purpose = $2
		RETURNING user_id, state, expires_at`, hash, purpose).Scan(&userID, &state, &expires)
	if err == nil && expires <= unix(now) {
		err = sql.ErrNoRows
	}
	return userID, state, wrap("take ceremony", err)
}

// UseChallengeOnce marks a stateless ceremony's challenge (by hash) used
// until expires: true the first time, false for a replay.
func (s *Store) UseChallengeOnce(ctx context.Context, hash, userID string, now, expires time.Time) (bool, error) {
	if _, err := s.q.ExecContext(ctx, `DELETE FROM webauthn_ceremonies WHERE expires_at <= $1`, unix(now)); err != nil {
		return false, wrap("use challenge", err)
	}
	res, err := s.q.ExecContext(ctx, `INSERT INTO webauthn_ceremonies (token_hash, user_id, purpose, state, expires_at)
		VALUES ($1, $2, 'login', '', $3) ON CONFLICT (token_hash) DO NOTHING`, hash, userID, unix(expires))
	if err != nil {
		return false, wrap("use challenge", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
