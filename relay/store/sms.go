package store

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SMS codes (seed 000): the store keeps a code's keyed hash only, and
// decides the send budget and the tries in single statements, so that
// concurrent requests (on one node or several) cannot exceed them.

// ErrLimited is a send refused by the rate limit.
var ErrLimited = errors.New("store: rate limited")

// ErrWrongCode is a code that does not match the live one.
var ErrWrongCode = errors.New("store: wrong code")

// SMSLimits bound the codes of one key.
type SMSLimits struct {
	Gap       time.Duration // at least this between two sends
	Window    time.Duration // at most WindowMax sends in a window
	WindowMax int
	MaxTries  int // answers to one code
}

// IssueSMSCode replaces key's code by hash for phone until expires, when
// the send budget at now allows (ErrLimited otherwise).
func (s *Store) IssueSMSCode(ctx context.Context, key, phone, hash string, now, expires time.Time, l SMSLimits) error {
	if _, err := s.q.ExecContext(ctx, `INSERT INTO sms_codes (id, phone, code_hash, tries, expires_at, sent_at, window_start, sends)
		VALUES ($1, $2, '', 0, 0, 0, 0, 0) ON CONFLICT (id) DO NOTHING`, key, phone); err != nil {
		return wrap("issue sms code", err)
	}
	n := now.UnixMilli()
	res, err := s.q.ExecContext(ctx, `UPDATE sms_codes SET phone = $2, code_hash = $3, tries = 0, expires_at = $4, sent_at = $5,
			sends = CASE WHEN window_start <= $6 THEN 1 ELSE sends + 1 END,
			window_start = CASE WHEN window_start <= $6 THEN $5 ELSE window_start END
		WHERE id = $1 AND sent_at <= $7 AND (window_start <= $6 OR sends < $8)`,
		key, phone, hash, expires.UnixMilli(), n, n-l.Window.Milliseconds(), n-l.Gap.Milliseconds(), l.WindowMax)
	if err != nil {
		return wrap("issue sms code", err)
	}
	if k, err := res.RowsAffected(); err != nil || k != 1 {
		return fmt.Errorf("store: issue sms code: %w", ErrLimited)
	}
	return nil
}

// UseSMSCode answers key's live code with hash: a try is counted first
// (none left, expired or used: ErrNotFound), then a match spends the code
// (one of concurrent right answers wins) and returns its phone; a
// mismatch is ErrWrongCode.
func (s *Store) UseSMSCode(ctx context.Context, key, hash string, now time.Time, maxTries int) (string, error) {
	var live, phone string
	err := s.q.QueryRowContext(ctx, `UPDATE sms_codes SET tries = tries + 1
		WHERE id = $1 AND tries < $2 AND expires_at > $3 AND code_hash <> '' RETURNING code_hash, phone`,
		key, maxTries, now.UnixMilli()).Scan(&live, &phone)
	if err != nil {
		return "", wrap("use sms code", err)
	}
	if subtle.ConstantTimeCompare([]byte(live), []byte(hash)) != 1 {
		return "", fmt.Errorf("store: use sms code: %w", ErrWrongCode)
	}
	res, err := s.q.ExecContext(ctx, `UPDATE sms_codes SET code_hash = '' WHERE id = $1 AND code_hash = $2`, key, hash)
	if err != nil {
		return "", wrap("use sms code", err)
	}
	if k, err := res.RowsAffected(); err != nil || k != 1 {
		return "", wrap("use sms code", sql.ErrNoRows) // another answer spent it
	}
	return phone, nil
}

// SetUserPhone records u's verified phone number.
func (s *Store) SetUserPhone(ctx context.Context, userID, phone string) error {
	_, err := s.q.ExecContext(ctx, `INSERT INTO user_phones (user_id, phone, verified_at) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET phone = excluded.phone, verified_at = excluded.verified_at`, userID, phone, unix(s.now()))
	return wrap("set user phone", err)
}

// UserPhone is u's verified phone number (ErrNotFound: none).
func (s *Store) UserPhone(ctx context.Context, userID string) (string, error) {
	var p string
	err := s.q.QueryRowContext(ctx, `SELECT phone FROM user_phones WHERE user_id = $1`, userID).Scan(&p)
	return p, wrap("user phone", err)
}

// DeleteUserPhone removes u's phone number.
func (s *Store) DeleteUserPhone(ctx context.Context, userID string) error {
	return s.execOne(ctx, "delete user phone", `DELETE FROM user_phones WHERE user_id = $1`, userID)
}
