package store

import (
	"context"
	"database/sql"
	"time"
)

// LiveSince is when userID's oldest login session still live at now began
// (a Portal or API login token neither expired nor logged off), or the
// zero time when there is none.
func (s *Store) LiveSince(ctx context.Context, userID string, now time.Time) (time.Time, error) {
	var since sql.NullInt64
	if err := s.q.QueryRowContext(ctx, `SELECT MIN(created_at) FROM login_tokens WHERE user_id = $1 AND expires_at > $2`,
		userID, unix(now)).Scan(&since); err != nil || !since.Valid {
		return time.Time{}, wrap("live since", err)
	}
	return time.Unix(since.Int64, 0).UTC(), nil
}
