package store

import (
	"context"
	"errors"
	"strings"
	"time"
)

// MaxColumnLists bounds how many listings' choices one user keeps.
const MaxColumnLists = 32

// ErrTooMany is a per-user limit reached.
var ErrTooMany = errors.New("store: too many")

// Columns are a user's Choose columns per listing (spec 2.2.1), as they
// chose them on any browser.
func (s *Store) Columns(ctx context.Context, userID string) (map[string][]string, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT list, columns FROM user_columns WHERE user_id = $1`, userID)
	if err != nil {
		return nil, wrap("columns", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var list, cols string
		if err := rows.Scan(&list, &cols); err != nil {
			return nil, wrap("columns", err)
		}
		out[list] = strings.Split(cols, ",")
	}
	return out, wrap("columns", rows.Err())
}

// SetColumns remembers a listing's columns for userID (keys without
// commas; the caller checks them). A user keeps at most MaxColumnLists
// listings: a new one past that is ErrTooMany.
func (s *Store) SetColumns(ctx context.Context, userID, list string, cols []string, now time.Time) error {
	return s.WithTx(ctx, func(tx *Store) error {
		var others int
		if err := tx.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM user_columns WHERE user_id = $1 AND list <> $2`,
			userID, list).Scan(&others); err != nil {
			return wrap("set columns", err)
		}
		if others >= MaxColumnLists {
			return ErrTooMany
		}
		_, err := tx.q.ExecContext(ctx, `INSERT INTO user_columns (user_id, list, columns, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (user_id, list) DO UPDATE SET columns = excluded.columns, updated_at = excluded.updated_at`,
			userID, list, strings.Join(cols, ","), now.Unix())
		return wrap("set columns", err)
	})
}
