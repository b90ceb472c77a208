package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Pending single sign-ons and used SAML assertions (issue 17): held in the
// database, not in a node's memory, so a sign-in started on one node of a
// cluster finishes on any other, and an assertion accepted by one node is
// refused by all.

// ErrFull is returned when a bounded table holds its maximum of live rows.
var ErrFull = errors.New("store: full")

// PutPending records a pending sign-in of kind ("oidc" or "saml") under
// its state until expires. Expired rows are dropped first; when max live
// rows remain the answer is ErrFull (unauthenticated starts must not grow
// the table without bound).
func (s *Store) PutPending(ctx context.Context, kind, state, data string, expires time.Time, max int) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sso_pending WHERE expires_at <= $1`, unix(s.now())); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sso_pending`).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return ErrFull
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sso_pending (state, kind, data, expires_at) VALUES ($1, $2, $3, $4)`,
			state, kind, data, unix(expires))
		return err
	})
	if errors.Is(err, ErrFull) {
		return fmt.Errorf("store: put pending sign-in: %w", ErrFull)
	}
	return wrap("put pending sign-in", err)
}

// TakePending removes and returns the pending sign-in of kind under state:
// one caller wins (the DELETE decides), an expired one is ErrNotFound.
func (s *Store) TakePending(ctx context.Context, kind, state string) (string, error) {
	var data string
	var exp int64
	err := s.q.QueryRowContext(ctx, `DELETE FROM sso_pending WHERE state = $1 AND kind = $2 RETURNING data, expires_at`, state, kind).Scan(&data, &exp)
	if err == nil && !s.now().Before(fromUnix(exp)) {
		err = sql.ErrNoRows
	}
	return data, wrap("take pending sign-in", err)
}

// CountPending is the number of pending sign-ins held (tests, metrics).
func (s *Store) CountPending(ctx context.Context) (int, error) {
	var n int
	err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM sso_pending`).Scan(&n)
	return n, wrap("count pending sign-ins", err)
}

// UseAssertion records a SAML assertion id as used until expires:
// ErrConflict when it is already recorded (a replay), on any node.
func (s *Store) UseAssertion(ctx context.Context, id string, expires time.Time) error {
	if _, err := s.q.ExecContext(ctx, `DELETE FROM saml_used_assertions WHERE expires_at < $1`, unix(s.now())); err != nil {
		return wrap("use assertion", err)
	}
	_, err := s.q.ExecContext(ctx, `INSERT INTO saml_used_assertions (id, expires_at) VALUES ($1, $2)`, id, unix(expires))
	return wrap("use assertion", err)
}
