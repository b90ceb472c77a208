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
