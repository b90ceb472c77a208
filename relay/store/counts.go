package store

import "context"

// AccountCounts are the Dashboard's figures (spec 2.2) as the store knows
// them: whether a device is online is the relay's memory, not the store's.
type AccountCounts struct {
	Devices, PendingDevices, DeviceGroups    int
	Users, LDAPUsers, UserGroups, LDAPGroups int
}

// AccountCounts counts accountID's devices (OnDemand machines left out, as
// in the devices listing), users and groups in three aggregate queries, so
// the Dashboard of a 10,000-device account reads no device row.
func (s *Store) AccountCounts(ctx context.Context, accountID string) (AccountCounts, error) {
	var c AccountCounts
	if err := s.q.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0)
		FROM devices WHERE account_id = $1 AND NOT ondemand`, accountID).Scan(&c.Devices, &c.PendingDevices); err != nil {
		return c, wrap("account counts", err)
	}
	if err := s.q.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN u.auth = 'ldap' THEN 1 ELSE 0 END), 0)
		FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.account_id = $1`, accountID).Scan(&c.Users, &c.LDAPUsers); err != nil {
		return c, wrap("account counts", err)
	}
	// LDAP groups are user groups too (spec 2.2: "User groups" counts them).
	if err := s.q.QueryRowContext(ctx, `SELECT COALESCE(SUM(CASE WHEN kind = 'device' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN kind <> 'device' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN kind = 'ldap_user' THEN 1 ELSE 0 END), 0)
		FROM access_groups WHERE account_id = $1`, accountID).Scan(&c.DeviceGroups, &c.UserGroups, &c.LDAPGroups); err != nil {
		return c, wrap("account counts", err)
	}
	return c, nil
}
