package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// UnlockUser lifts a user's login blocks: the failure count and lock in
// the users row, and records when, so every relay process drops the
// per-source delays it counted before (they live in memory).
func (s *Store) UnlockUser(ctx context.Context, userID string, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1`, userID)
		if err != nil {
			return wrap("unlock user", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO login_unlocks (user_id, at) VALUES ($1, $2)
			ON CONFLICT (user_id) DO UPDATE SET at = excluded.at`, userID, now.UnixMilli())
		return wrap("unlock user", err)
	})
}

// LastUnlock is when UnlockUser last ran for the user (zero: never), to
// the millisecond.
func (s *Store) LastUnlock(ctx context.Context, userID string) (time.Time, error) {
	var at int64
	err := s.q.QueryRowContext(ctx, `SELECT at FROM login_unlocks WHERE user_id = $1`, userID).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	return time.UnixMilli(at).UTC(), wrap("last unlock", err)
}
