package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tandem-rc/tandem/policy"
)

// The access model's data (spec 4.2–4.4): groups and their members, custom
// roles, the applications catalog and role assignments, per account. The
// predefined roles and the built-in groups "Everyone" and "Everything" are
// not stored: they are the same for every account (policy.PredefinedRoles,
// policy.BuiltinGroups). Snapshot turns an account's rows into the
// evaluator's input.

// Group is a user or device group of an account.
type Group struct {
	ID          string
	AccountID   string
	Name        string
	Description string
	Kind        policy.GroupKind
	Active      bool
	CreatedAt   time.Time
}

// CreateGroup inserts g; a taken name among the account's groups is
// ErrConflict.
func (s *Store) CreateGroup(ctx context.Context, g Group) (Group, error) {
	if g.ID == "" {
		g.ID = NewID()
	}
	if g.CreatedAt.IsZero() {
		g.CreatedAt = s.now()
	}
	_, err := s.q.ExecContext(ctx, `INSERT INTO access_groups (id, account_id, name, description, kind, active, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, g.ID, g.AccountID, g.Name, g.Description, string(g.Kind), g.Active, unix(g.CreatedAt))
	return g, wrap("create group", err)
}

// Groups lists an account's stored groups by name.
func (s *Store) Groups(ctx context.Context, accountID string) ([]Group, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT id, account_id, name, description, kind, active, created_at
		FROM access_groups WHERE account_id = $1 ORDER BY name, id`, accountID)
	if err != nil {
		return nil, wrap("groups", err)
	}
	defer rows.Close()
	var out []Group
	for rows.Next() {
		var g Group
		var created int64
		if err := rows.Scan(&g.ID, &g.AccountID, &g.Name, &g.Description, &g.Kind, &g.Active, &created); err != nil {
			return nil, wrap("groups", err)
		}
		g.CreatedAt = fromUnix(created)
		out = append(out, g)
	}
	return out, wrap("groups", rows.Err())
}

// AddGroupMember puts a user or device (by id) in a group; already there
// is not an error.
func (s *Store) AddGroupMember(ctx context.Context, groupID, memberID string) error {
	_, err := s.q.ExecContext(ctx, `INSERT INTO access_group_members (group_id, member_id) VALUES ($1, $2)
		ON CONFLICT DO NOTHING`, groupID, memberID)
	return wrap("add group member", err)
}

// RemoveGroupMember takes a member out of a group.
func (s *Store) RemoveGroupMember(ctx context.Context, groupID, memberID string) error {
	return s.execOne(ctx, "remove group member", `DELETE FROM access_group_members WHERE group_id = $1 AND member_id = $2`, groupID, memberID)
}

// RoleRow is a custom role as stored; Role converts it.
type RoleRow struct {
	AccountID string
	Role      policy.Role
	AppIDs    []string // Whitelisted applications roles: the catalog entries
	CreatedAt time.Time
}

type roleRules struct {
	Permissions  []string            `json:"permissions,omitempty"`
	ClientType   policy.ClientType   `json:"client_type,omitempty"`
	Confirm      policy.ConfirmRules `json:"confirm"`
	AppIDs       []string            `json:"app_ids,omitempty"`
	ExceptLocked bool                `json:"except_locked,omitempty"`
	ExceptNoUser bool                `json:"except_no_user,omitempty"`
}

// CreateRole inserts a custom role.
func (s *Store) CreateRole(ctx context.Context, r RoleRow) (RoleRow, error) {
	if r.Role.ID == "" {
		r.Role.ID = NewID()
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	rules, _ := json.Marshal(roleRules{
		Permissions: r.Role.Permissions.Strings(), ClientType: r.Role.ClientType, Confirm: r.Role.Confirm,
		AppIDs: r.AppIDs, ExceptLocked: r.Role.Whitelist.ExceptLocked, ExceptNoUser: r.Role.Whitelist.ExceptNoUser,
	})
	_, err := s.q.ExecContext(ctx, `INSERT INTO access_roles (id, account_id, name, description, type, enabled, rules, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, r.Role.ID, r.AccountID, r.Role.Name, r.Role.Description,
		string(r.Role.Type), r.Role.Enabled, string(rules), unix(r.CreatedAt))
	return r, wrap("create role", err)
}

// CreateApp adds an application to an account's catalog.
func (s *Store) CreateApp(ctx context.Context, accountID string, a policy.App) (policy.App, error) {
	if a.ID == "" {
		a.ID = NewID()
	}
	_, err := s.q.ExecContext(ctx, `INSERT INTO access_apps (id, account_id, name, enabled, path, executable, description)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, a.ID, accountID, a.Name, a.Enabled, a.Path, a.Executable, a.Description)
	return a, wrap("create application", err)
}

// CreateAssignment inserts a role assignment of accountID.
func (s *Store) CreateAssignment(ctx context.Context, accountID string, a policy.Assignment) (policy.Assignment, error) {
	if a.ID == "" {
		a.ID = NewID()
	}
	return a, wrap("create role assignment", writeAssignment(ctx, s.q, accountID, a, true, s.now()))
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Snapshot is the evaluator's input for one account: its enabled and
// disabled members, devices (enabled when enrolled), groups with the
// built-ins, predefined and custom roles with their applications, and role
// assignments.
func (s *Store) Snapshot(ctx context.Context, accountID string) (policy.Snapshot, error) {
	var snap policy.Snapshot
	err := s.tx(ctx, func(tx *sql.Tx) error {
		members := map[string][]string{} // member → groups
		rows, err := tx.QueryContext(ctx, `SELECT gm.member_id, gm.group_id FROM access_group_members gm
			JOIN access_groups g ON g.id = gm.group_id WHERE g.account_id = $1`, accountID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var m, g string
			if err := rows.Scan(&m, &g); err != nil {
				rows.Close()
				return err
			}
			members[m] = append(members[m], g)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}

		rows, err = tx.QueryContext(ctx, `SELECT u.id, u.email, u.disabled OR m.disabled, m.ondemand FROM users u
			JOIN memberships m ON m.user_id = u.id WHERE m.account_id = $1`, accountID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var u policy.User
			var disabled bool
			if err := rows.Scan(&u.ID, &u.Name, &disabled, &u.OnDemand); err != nil {
				rows.Close()
				return err
			}
			u.Enabled, u.GroupIDs = !disabled, members[u.ID]
			snap.Users = append(snap.Users, u)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}

		rows, err = tx.QueryContext(ctx, `SELECT id, COALESCE(NULLIF(alias, ''), hostname), state FROM devices WHERE account_id = $1 AND NOT ondemand`, accountID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var d policy.Device
			var state string
			if err := rows.Scan(&d.ID, &d.Name, &state); err != nil {
				rows.Close()
				return err
			}
			d.Enabled, d.GroupIDs = state == string(Enrolled), members[d.ID]
			snap.Devices = append(snap.Devices, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}

		snap.Groups = policy.BuiltinGroups()
		rows, err = tx.QueryContext(ctx, `SELECT id, name, description, kind, active FROM access_groups WHERE account_id = $1`, accountID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var g policy.Group
			if err := rows.Scan(&g.ID, &g.Name, &g.Description, &g.Kind, &g.Active); err != nil {
				rows.Close()
				return err
			}
			snap.Groups = append(snap.Groups, g)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}

		apps := map[string]policy.App{}
		rows, err = tx.QueryContext(ctx, `SELECT id, name, enabled, path, executable, description FROM access_apps WHERE account_id = $1`, accountID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var a policy.App
			if err := rows.Scan(&a.ID, &a.Name, &a.Enabled, &a.Path, &a.Executable, &a.Description); err != nil {
				rows.Close()
				return err
			}
			apps[a.ID] = a
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}

		snap.Roles = policy.PredefinedRoles()
		rows, err = tx.QueryContext(ctx, `SELECT id, name, description, type, enabled, rules FROM access_roles WHERE account_id = $1`, accountID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var r policy.Role
			var rules string
			if err := rows.Scan(&r.ID, &r.Name, &r.Description, &r.Type, &r.Enabled, &rules); err != nil {
				rows.Close()
				return err
			}
			var rr roleRules
			if err := json.Unmarshal([]byte(rules), &rr); err != nil {
				rows.Close()
				return fmt.Errorf("role %s: rules: %w", r.ID, err)
			}
			// An unknown permission name (from a newer build) is dropped:
			// the role grants less, never more.
			for _, p := range rr.Permissions {
				if one, err := policy.ParseSet([]string{p}); err == nil {
					r.Permissions = r.Permissions.Union(one)
				}
			}
			r.ClientType, r.Confirm = rr.ClientType, rr.Confirm
			r.Whitelist = policy.WhitelistRules{ExceptLocked: rr.ExceptLocked, ExceptNoUser: rr.ExceptNoUser}
			for _, id := range rr.AppIDs {
				if a, ok := apps[id]; ok {
					r.Whitelist.Apps = append(r.Whitelist.Apps, a)
				}
			}
			snap.Roles = append(snap.Roles, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}

		snap.Assignments, err = assignmentsTx(ctx, tx, accountID)
		return err
	})
	return snap, wrap("snapshot", err)
}

// AdministratorsGroupID is the id of the account's "Administrators" user
// group that new accounts (and accounts from before the access model)
// start with, together with the role assignment AdministratorsAssignmentID
// giving it the Administrator role on Everything.
func AdministratorsGroupID(accountID string) string      { return "administrators-" + accountID }
func AdministratorsAssignmentID(accountID string) string { return "administrators-" + accountID }

// SeedAccess gives an account its starting access model: the
// "Administrators" group holding ownerID and the assignment of the
// Administrator role to it on every device. Without it nobody could
// connect: access is denied by default.
func (s *Store) SeedAccess(ctx context.Context, accountID, ownerID string) error {
	now := unix(s.now())
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO access_groups (id, account_id, name, description, kind, active, created_at)
			VALUES ($1, $2, 'Administrators', 'Full access to every device (created with the account).', 'user', TRUE, $3)
			ON CONFLICT DO NOTHING`, AdministratorsGroupID(accountID), accountID, now); err != nil {
			return err
		}
		if ownerID != "" {
			if _, err := tx.ExecContext(ctx, `INSERT INTO access_group_members (group_id, member_id) VALUES ($1, $2)
				ON CONFLICT DO NOTHING`, AdministratorsGroupID(accountID), ownerID); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO access_assignments
			(id, account_id, name, description, active, role_id, user_groups, device_groups, schedule, created_at)
			VALUES ($1, $2, 'Administrators: full access', '', TRUE, $3, $4, $5, NULL, $6) ON CONFLICT DO NOTHING`,
			AdministratorsAssignmentID(accountID), accountID, policy.RoleIDAdministrator,
			`["`+AdministratorsGroupID(accountID)+`"]`, `["`+policy.GroupIDEverything+`"]`, now)
		return err
	})
}

// Group returns one group of accountID.
func (s *Store) Group(ctx context.Context, accountID, id string) (Group, error) {
	var g Group
	var created int64
	err := s.q.QueryRowContext(ctx, `SELECT id, account_id, name, description, kind, active, created_at
		FROM access_groups WHERE account_id = $1 AND id = $2`, accountID, id).
		Scan(&g.ID, &g.AccountID, &g.Name, &g.Description, &g.Kind, &g.Active, &created)
	g.CreatedAt = fromUnix(created)
	return g, wrap("group", err)
}

// UpdateGroup writes g's name, description and active flag.
func (s *Store) UpdateGroup(ctx context.Context, g Group) error {
	return s.execOne(ctx, "update group", `UPDATE access_groups SET name = $1, description = $2, active = $3
		WHERE account_id = $4 AND id = $5`, g.Name, g.Description, g.Active, g.AccountID, g.ID)
}

// DeleteGroup removes a group, its memberships, and its id from the
// account's role assignments (which then reach fewer users or devices).
func (s *Store) DeleteGroup(ctx context.Context, accountID, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM access_groups WHERE account_id = $1 AND id = $2`, accountID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		as, err := assignmentsTx(ctx, tx, accountID)
		if err != nil {
			return err
		}
		for _, a := range as {
			ug, dg := without(a.UserGroupIDs, id), without(a.DeviceGroupIDs, id)
			if len(ug) == len(a.UserGroupIDs) && len(dg) == len(a.DeviceGroupIDs) {
				continue
			}
			a.UserGroupIDs, a.DeviceGroupIDs = ug, dg
			if err := writeAssignment(ctx, tx, accountID, a, false, time.Time{}); err != nil {
				return err
			}
		}
		return nil
	})
}

func without(ids []string, id string) []string {
	out := make([]string, 0, len(ids))
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

// GroupMembers lists the ids of a group's members.
func (s *Store) GroupMembers(ctx context.Context, groupID string) ([]string, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT member_id FROM access_group_members WHERE group_id = $1 ORDER BY member_id`, groupID)
	if err != nil {
		return nil, wrap("group members", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, wrap("group members", err)
		}
		out = append(out, id)
	}
	return out, wrap("group members", rows.Err())
}

// Assignments lists an account's role assignments by name.
func (s *Store) Assignments(ctx context.Context, accountID string) ([]policy.Assignment, error) {
	var out []policy.Assignment
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = assignmentsTx(ctx, tx, accountID)
		return err
	})
	return out, wrap("assignments", err)
}

func assignmentsTx(ctx context.Context, tx *sql.Tx, accountID string) ([]policy.Assignment, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, name, description, active, role_id, user_groups, device_groups, schedule
		FROM access_assignments WHERE account_id = $1 ORDER BY name, id`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []policy.Assignment
	for rows.Next() {
		var a policy.Assignment
		var ug, dg string
		var sched sql.NullString
		if err := rows.Scan(&a.ID, &a.Name, &a.Description, &a.Active, &a.RoleID, &ug, &dg, &sched); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(ug), &a.UserGroupIDs); err != nil {
			return nil, fmt.Errorf("assignment %s: user groups: %w", a.ID, err)
		}
		if err := json.Unmarshal([]byte(dg), &a.DeviceGroupIDs); err != nil {
			return nil, fmt.Errorf("assignment %s: device groups: %w", a.ID, err)
		}
		if sched.Valid {
			a.Schedule = new(policy.Schedule)
			if err := json.Unmarshal([]byte(sched.String), a.Schedule); err != nil {
				return nil, fmt.Errorf("assignment %s: schedule: %w", a.ID, err)
			}
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// writeAssignment updates (or with insert, creates) a role assignment.
func writeAssignment(ctx context.Context, tx interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, accountID string, a policy.Assignment, insert bool, created time.Time) error {
	ug, _ := json.Marshal(nonNil(a.UserGroupIDs))
	dg, _ := json.Marshal(nonNil(a.DeviceGroupIDs))
	var sched sql.NullString
	if a.Schedule != nil {
		b, err := json.Marshal(a.Schedule)
		if err != nil {
			return fmt.Errorf("store: schedule: %w", err)
		}
		sched = sql.NullString{String: string(b), Valid: true}
	}
	if insert {
		_, err := tx.ExecContext(ctx, `INSERT INTO access_assignments
			(id, account_id, name, description, active, role_id, user_groups, device_groups, schedule, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, a.ID, accountID, a.Name, a.Description, a.Active, a.RoleID,
			string(ug), string(dg), sched, unix(created))
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE access_assignments SET name = $1, description = $2, active = $3, role_id = $4,
		user_groups = $5, device_groups = $6, schedule = $7 WHERE account_id = $8 AND id = $9`,
		a.Name, a.Description, a.Active, a.RoleID, string(ug), string(dg), sched, accountID, a.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// UpdateAssignment replaces a role assignment of accountID.
func (s *Store) UpdateAssignment(ctx context.Context, accountID string, a policy.Assignment) error {
	return wrap("update role assignment", s.tx(ctx, func(tx *sql.Tx) error { return writeAssignment(ctx, tx, accountID, a, false, time.Time{}) }))
}

// DeleteAssignment removes a role assignment of accountID.
func (s *Store) DeleteAssignment(ctx context.Context, accountID, id string) error {
	return s.execOne(ctx, "delete role assignment", `DELETE FROM access_assignments WHERE account_id = $1 AND id = $2`, accountID, id)
}

// Roles lists an account's custom roles by name (the predefined ones are
// policy.PredefinedRoles).
func (s *Store) Roles(ctx context.Context, accountID string) ([]RoleRow, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT id, name, description, type, enabled, rules, created_at
		FROM access_roles WHERE account_id = $1 ORDER BY name, id`, accountID)
	if err != nil {
		return nil, wrap("roles", err)
	}
	defer rows.Close()
	var out []RoleRow
	for rows.Next() {
		rr := RoleRow{AccountID: accountID}
		var rules string
		var created int64
		if err := rows.Scan(&rr.Role.ID, &rr.Role.Name, &rr.Role.Description, &rr.Role.Type, &rr.Role.Enabled, &rules, &created); err != nil {
			return nil, wrap("roles", err)
		}
		rr.CreatedAt = fromUnix(created)
		var ru roleRules
		if err := json.Unmarshal([]byte(rules), &ru); err != nil {
			return nil, fmt.Errorf("store: role %s: rules: %w", rr.Role.ID, err)
		}
		for _, p := range ru.Permissions {
			if one, err := policy.ParseSet([]string{p}); err == nil {
				rr.Role.Permissions = rr.Role.Permissions.Union(one)
			}
		}
		rr.Role.ClientType, rr.Role.Confirm, rr.AppIDs = ru.ClientType, ru.Confirm, ru.AppIDs
		rr.Role.Whitelist.ExceptLocked, rr.Role.Whitelist.ExceptNoUser = ru.ExceptLocked, ru.ExceptNoUser
		out = append(out, rr)
	}
	return out, wrap("roles", rows.Err())
}

// UpdateRole replaces a custom role.
func (s *Store) UpdateRole(ctx context.Context, r RoleRow) error {
	rules, _ := json.Marshal(roleRules{
		Permissions: r.Role.Permissions.Strings(), ClientType: r.Role.ClientType, Confirm: r.Role.Confirm,
		AppIDs: r.AppIDs, ExceptLocked: r.Role.Whitelist.ExceptLocked, ExceptNoUser: r.Role.Whitelist.ExceptNoUser,
	})
	return s.execOne(ctx, "update role", `UPDATE access_roles SET name = $1, description = $2, enabled = $3, rules = $4
		WHERE account_id = $5 AND id = $6`, r.Role.Name, r.Role.Description, r.Role.Enabled, string(rules), r.AccountID, r.Role.ID)
}

// DeleteRole removes a custom role and deactivates its role assignments
// (spec 4.4.5), returning their ids.
func (s *Store) DeleteRole(ctx context.Context, accountID, id string) ([]string, error) {
	var disabled []string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM access_roles WHERE account_id = $1 AND id = $2`, accountID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		rows, err := tx.QueryContext(ctx, `SELECT id FROM access_assignments WHERE account_id = $1 AND role_id = $2 ORDER BY id`, accountID, id)
		if err != nil {
			return err
		}
		for rows.Next() {
			var a string
			if err := rows.Scan(&a); err != nil {
				rows.Close()
				return err
			}
			disabled = append(disabled, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE access_assignments SET active = FALSE WHERE account_id = $1 AND role_id = $2`, accountID, id)
		return err
	})
	return disabled, wrap("delete role", err)
}

// Apps lists an account's applications catalog by name.
func (s *Store) Apps(ctx context.Context, accountID string) ([]policy.App, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT id, name, enabled, path, executable, description FROM access_apps
		WHERE account_id = $1 ORDER BY name, id`, accountID)
	if err != nil {
		return nil, wrap("applications", err)
	}
	defer rows.Close()
	var out []policy.App
	for rows.Next() {
		var a policy.App
		if err := rows.Scan(&a.ID, &a.Name, &a.Enabled, &a.Path, &a.Executable, &a.Description); err != nil {
			return nil, wrap("applications", err)
		}
		out = append(out, a)
	}
	return out, wrap("applications", rows.Err())
}

// UpdateApp replaces an application of accountID.
func (s *Store) UpdateApp(ctx context.Context, accountID string, a policy.App) error {
	return s.execOne(ctx, "update application", `UPDATE access_apps SET name = $1, enabled = $2, path = $3, executable = $4,
		description = $5 WHERE account_id = $6 AND id = $7`, a.Name, a.Enabled, a.Path, a.Executable, a.Description, accountID, a.ID)
}

// DeleteApp removes an application of accountID.
func (s *Store) DeleteApp(ctx context.Context, accountID, id string) error {
	return s.execOne(ctx, "delete application", `DELETE FROM access_apps WHERE account_id = $1 AND id = $2`, accountID, id)
}

// DeleteDevice removes a device of accountID and its group memberships.
// A Host that still has its key enrolls again on its next start only if
// its package still accepts enrollments.
func (s *Store) DeleteDevice(ctx context.Context, accountID, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM devices WHERE account_id = $1 AND id = $2`, accountID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM access_group_members WHERE member_id = $1`, id)
		return err
	})
}

// UpdatePackage writes a package's editable settings.
func (s *Store) UpdatePackage(ctx context.Context, p Package) error {
	var maxDev sql.NullInt64
	if p.MaxDevices > 0 {
		maxDev = sql.NullInt64{Int64: int64(p.MaxDevices), Valid: true}
	}
	return s.execOne(ctx, "update package", `UPDATE deployment_packages SET description = $1, active = $2, valid_from = $3,
		valid_to = $4, max_devices = $5, license_key = $6, device_group = $7, enrollment_state = $8
		WHERE account_id = $9 AND id = $10`, p.Description, p.Active, nullUnix(p.ValidFrom), nullUnix(p.ValidTo), maxDev,
		p.LicenseKey, p.DeviceGroup, string(p.EnrollmentState), p.AccountID, p.ID)
}

// RevokePackage revokes a package and every device enrolled with it (spec
// 4.5.5), returning those devices' ids.
func (s *Store) RevokePackage(ctx context.Context, accountID, id string) ([]string, error) {
	var ids []string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE deployment_packages SET revoked = TRUE, active = FALSE WHERE account_id = $1 AND id = $2`, accountID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		rows, err := tx.QueryContext(ctx, `SELECT id FROM devices WHERE package_id = $1 AND state <> 'revoked' ORDER BY id`, id)
		if err != nil {
			return err
		}
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE devices SET state = 'revoked' WHERE package_id = $1`, id)
		return err
	})
	return ids, wrap("revoke package", err)
}

// DeletePackage removes a package that is revoked or has no devices not
// revoked (spec 4.5.6); otherwise ErrConflict.
func (s *Store) DeletePackage(ctx context.Context, accountID, id string) error {
	return wrap("delete package", s.tx(ctx, func(tx *sql.Tx) error {
		var revoked bool
		var live int
		err := tx.QueryRowContext(ctx, `SELECT p.revoked, (SELECT COUNT(*) FROM devices d WHERE d.package_id = p.id AND d.state <> 'revoked')
			FROM deployment_packages p WHERE p.account_id = $1 AND p.id = $2`, accountID, id).Scan(&revoked, &live)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		if !revoked && live > 0 {
			return ErrConflict
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM deployment_packages WHERE id = $1`, id)
		return err
	}))
}

// AccountDetails are the owner's settings of an account (spec 6.1).
type AccountDetails struct {
	Company  string
	Contact  string
	TimeZone string // IANA name
	RCAction string // default remote-control action: "guest" or "browser"
}

// AccountDetails reads an account's details.
func (s *Store) AccountDetails(ctx context.Context, id string) (AccountDetails, error) {
	var d AccountDetails
	err := s.q.QueryRowContext(ctx, `SELECT company, contact, timezone, rc_action FROM accounts WHERE id = $1`, id).
		Scan(&d.Company, &d.Contact, &d.TimeZone, &d.RCAction)
	return d, wrap("account details", err)
}

// SetAccountDetails writes them.
func (s *Store) SetAccountDetails(ctx context.Context, id string, d AccountDetails) error {
	return s.execOne(ctx, "set account details", `UPDATE accounts SET company = $1, contact = $2, timezone = $3, rc_action = $4
		WHERE id = $5`, d.Company, d.Contact, d.TimeZone, d.RCAction, id)
}

// SetDeviceDescription changes a device's description.
func (s *Store) SetDeviceDescription(ctx context.Context, id, description string) error {
	return s.execOne(ctx, "set device description", `UPDATE devices SET description = $1 WHERE id = $2`, description, id)
}

// SetFavorite marks (or unmarks) a device as one of userID's favorites.
func (s *Store) SetFavorite(ctx context.Context, userID, deviceID string, on bool) error {
	if on {
		_, err := s.q.ExecContext(ctx, `INSERT INTO favorites (user_id, device_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, userID, deviceID)
		return wrap("add favorite", err)
	}
	_, err := s.q.ExecContext(ctx, `DELETE FROM favorites WHERE user_id = $1 AND device_id = $2`, userID, deviceID)
	return wrap("remove favorite", err)
}

// Favorites returns userID's favorite devices as a set.
func (s *Store) Favorites(ctx context.Context, userID string) (map[string]bool, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT device_id FROM favorites WHERE user_id = $1`, userID)
	if err != nil {
		return nil, wrap("favorites", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, wrap("favorites", err)
		}
		out[id] = true
	}
	return out, wrap("favorites", rows.Err())
}

// DeviceGroupNames maps each device of the accounts to the names of the
// device groups it is a member of, sorted (the built-ins hold no rows).
func (s *Store) DeviceGroupNames(ctx context.Context, accountIDs []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(accountIDs) == 0 {
		return out, nil
	}
	rows, err := s.q.QueryContext(ctx, `SELECT m.member_id, g.name FROM access_group_members m
		JOIN access_groups g ON g.id = m.group_id
		WHERE g.kind = 'device' AND g.account_id IN (`+placeholders(1, len(accountIDs))+`)
		ORDER BY g.name, g.id`, anySlice(accountIDs)...)
	if err != nil {
		return nil, wrap("device group names", err)
	}
	defer rows.Close()
	for rows.Next() {
		var dev, name string
		if err := rows.Scan(&dev, &name); err != nil {
			return nil, wrap("device group names", err)
		}
		out[dev] = append(out[dev], name)
	}
	return out, wrap("device group names", rows.Err())
}
