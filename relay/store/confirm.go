package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Confirmation is a pending "confirm access via email" request.
type Confirmation struct {
	ID        string
	AccountID string
	UserID    string // the technician asking
	DeviceID  string
	Action    string
	SessionID string // a granted session whose Host also asks; "" before granting
	Status    string // pending, allowed, denied, used
	DecidedBy string // user id of whoever answered
	CreatedAt time.Time
	ExpiresAt time.Time
	DecidedAt time.Time
}

// ConfirmLink is one recipient's single-use answer link.
type ConfirmLink struct {
	Hash   string // of the token in the emailed link
	UserID string
}

// CreateConfirmation stores a request and its recipients' links.
func (s *Store) CreateConfirmation(ctx context.Context, c Confirmation, links []ConfirmLink) (Confirmation, error) {
	if c.ID == "" {
		c.ID = NewID()
	}
	c.Status = "pending"
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO confirmations (id, account_id, user_id, device_id, action, status, created_at, expires_at, session_id)
			VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8)`, c.ID, c.AccountID, c.UserID, c.DeviceID, c.Action, unix(c.CreatedAt), unix(c.ExpiresAt), c.SessionID); err != nil {
			return err
		}
		for _, l := range links {
			if _, err := tx.ExecContext(ctx, `INSERT INTO confirmation_links (token_hash, confirmation_id, user_id) VALUES ($1, $2, $3)`,
				l.Hash, c.ID, l.UserID); err != nil {
				return err
			}
		}
		return nil
	})
	return c, wrap("create confirmation", err)
}

const confirmCols = `id, account_id, user_id, device_id, action, status, decided_by, created_at, expires_at, decided_at, session_id`

func scanConfirmation(row interface{ Scan(...any) error }) (Confirmation, error) {
	var c Confirmation
	var created, expires int64
	var decided sql.NullInt64
	err := row.Scan(&c.ID, &c.AccountID, &c.UserID, &c.DeviceID, &c.Action, &c.Status, &c.DecidedBy, &created, &expires, &decided, &c.SessionID)
	c.CreatedAt, c.ExpiresAt, c.DecidedAt = fromUnix(created), fromUnix(expires), fromNull(decided)
	return c, err
}

// Confirmation returns one request.
func (s *Store) Confirmation(ctx context.Context, id string) (Confirmation, error) {
	c, err := scanConfirmation(s.q.QueryRowContext(ctx, `SELECT `+confirmCols+` FROM confirmations WHERE id = $1`, id))
	return c, wrap("confirmation", err)
}

// ConfirmationByLink returns the request an emailed link answers and the
// recipient it was sent to.
func (s *Store) ConfirmationByLink(ctx context.Context, hash string) (Confirmation, string, error) {
	var uid, id string
	err := s.q.QueryRowContext(ctx, `SELECT confirmation_id, user_id FROM confirmation_links WHERE token_hash = $1`, hash).Scan(&id, &uid)
	if err != nil {
		return Confirmation{}, "", wrap("confirmation link", err)
	}
	c, err := s.Confirmation(ctx, id)
	return c, uid, err
}

// ErrDecided: the request was answered (or used, or expired) already.
var ErrDecided = errors.New("store: confirmation already decided")

// DecideConfirmation records the first answer to a pending, unexpired
// request; later ones get ErrDecided: whoever answers first decides.
func (s *Store) DecideConfirmation(ctx context.Context, id, by string, allow bool, now time.Time) error {
	status := "denied"
	if allow {
		status = "allowed"
	}
	res, err := s.q.ExecContext(ctx, `UPDATE confirmations SET status = $1, decided_by = $2, decided_at = $3
		WHERE id = $4 AND status = 'pending' AND expires_at > $3`, status, by, unix(now), id)
	if err != nil {
		return wrap("decide confirmation", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrDecided
	}
	return nil
}

// UseConfirmation consumes an allowed request for the session it was for;
// ErrDecided when it is not (or no longer) usable.
func (s *Store) UseConfirmation(ctx context.Context, id, userID, deviceID, action string, now time.Time) error {
	res, err := s.q.ExecContext(ctx, `UPDATE confirmations SET status = 'used' WHERE id = $1 AND status = 'allowed'
		AND user_id = $2 AND device_id = $3 AND action = $4 AND expires_at > $5`, id, userID, deviceID, action, unix(now))
	if err != nil {
		return wrap("use confirmation", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrDecided
	}
	return nil
}

// GroupMemberUsers lists the enabled users of accountID in any of the
// user groups (the built-in "everyone" means every member), with emails.
func (s *Store) GroupMemberUsers(ctx context.Context, accountID string, groupIDs []string) ([]User, error) {
	everyone := false
	for _, g := range groupIDs {
		if g == "everyone" {
			everyone = true
		}
	}
	var rows *sql.Rows
	var err error
	if everyone {
		rows, err = s.q.QueryContext(ctx, `SELECT `+userColsU+` FROM users u JOIN memberships m ON m.user_id = u.id
			WHERE m.account_id = $1 AND NOT m.disabled AND NOT u.disabled ORDER BY u.email`, accountID)
	} else {
		if len(groupIDs) == 0 {
			return nil, nil
		}
		rows, err = s.q.QueryContext(ctx, `SELECT DISTINCT `+userColsU+` FROM users u
			JOIN memberships m ON m.user_id = u.id AND m.account_id = $1
			JOIN access_group_members gm ON gm.member_id = u.id
			JOIN access_groups g ON g.id = gm.group_id AND g.account_id = $1 AND g.active
			WHERE NOT m.disabled AND NOT u.disabled AND g.id IN (`+placeholders(2, len(groupIDs))+`) ORDER BY u.email`,
			append([]any{accountID}, anySlice(groupIDs)...)...)
	}
	if err != nil {
		return nil, wrap("group member users", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, wrap("group member users", err)
		}
		out = append(out, u)
	}
	return out, wrap("group member users", rows.Err())
}
