package store

import (
	"context"
	"database/sql"
)

// Scoped administration (seed 001): a member holds View, Edit or Admin on
// a device group of the account, and through it on the group's devices.

// GroupScope is one member's level on one device group.
type GroupScope struct {
	GroupID string
	UserID  string
	Level   string // "view", "edit" or "admin"
}

// SetGroupScope gives userID level on the device group groupID of
// accountID (replacing a level held); ErrNotFound when the group is no
// device group of the account.
func (s *Store) SetGroupScope(ctx context.Context, accountID, groupID, userID, level string) error {
	res, err := s.q.ExecContext(ctx, `INSERT INTO group_scopes (group_id, user_id, account_id, level)
		SELECT id, $2, account_id, $3 FROM access_groups WHERE id = $1 AND account_id = $4 AND kind = 'device'
		ON CONFLICT (group_id, user_id) DO UPDATE SET level = excluded.level`, groupID, userID, level, accountID)
	if err != nil {
		return wrap("set group scope", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return wrap("set group scope", sql.ErrNoRows)
	}
	return nil
}

// DeleteGroupScope removes userID's level on groupID.
func (s *Store) DeleteGroupScope(ctx context.Context, accountID, groupID, userID string) error {
	return s.execOne(ctx, "delete group scope", `DELETE FROM group_scopes WHERE account_id = $1 AND group_id = $2 AND user_id = $3`, accountID, groupID, userID)
}

// GroupScopes lists the levels held on groupID.
func (s *Store) GroupScopes(ctx context.Context, accountID, groupID string) ([]GroupScope, error) {
	return s.scopes(ctx, `SELECT group_id, user_id, level FROM group_scopes WHERE account_id = $1 AND group_id = $2 ORDER BY user_id`, accountID, groupID)
}

// UserScopes lists the levels userID holds in accountID.
func (s *Store) UserScopes(ctx context.Context, accountID, userID string) ([]GroupScope, error) {
	return s.scopes(ctx, `SELECT group_id, user_id, level FROM group_scopes WHERE account_id = $1 AND user_id = $2 ORDER BY group_id`, accountID, userID)
}

// DeviceScopes lists the levels userID holds on the groups deviceID is in.
func (s *Store) DeviceScopes(ctx context.Context, accountID, userID, deviceID string) ([]GroupScope, error) {
	return s.scopes(ctx, `SELECT sc.group_id, sc.user_id, sc.level FROM group_scopes sc
		JOIN access_group_members m ON m.group_id = sc.group_id
		WHERE sc.account_id = $1 AND sc.user_id = $2 AND m.member_id = $3`, accountID, userID, deviceID)
}

func (s *Store) scopes(ctx context.Context, q string, args ...any) ([]GroupScope, error) {
	rows, err := s.q.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap("group scopes", err)
	}
	defer rows.Close()
	var out []GroupScope
	for rows.Next() {
		var g GroupScope
		if err := rows.Scan(&g.GroupID, &g.UserID, &g.Level); err != nil {
			return nil, wrap("group scopes", err)
		}
		out = append(out, g)
	}
	return out, wrap("group scopes", rows.Err())
}
