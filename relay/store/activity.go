package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Activity counts an account's activity per period (the Dashboard's
// chart, spec 2.2): bounds[i] <= t < bounds[i+1] is period i.
type Activity struct {
	ActiveUsers []int // distinct members who logged in or acted in the account
	Sessions    []int // remote sessions granted on the account's devices
	Enrolled    []int // devices enrolled (OnDemand agents not counted)
}

// maxActivityPeriods bounds the CASE a caller can make the query build.
const maxActivityPeriods = 62

// Activity counts per period between consecutive bounds (at most 62
// periods). Each count is one grouped query, in SQL on both engines.
func (s *Store) Activity(ctx context.Context, accountID string, bounds []time.Time) (Activity, error) {
	n := len(bounds) - 1
	if n < 1 || n > maxActivityPeriods {
		return Activity{}, fmt.Errorf("store: activity: %d periods, want 1 to %d", n, maxActivityPeriods)
	}
	out := Activity{ActiveUsers: make([]int, n), Sessions: make([]int, n), Enrolled: make([]int, n)}
	ms := make([]any, len(bounds))
	sec := make([]any, len(bounds))
	for i, b := range bounds {
		ms[i], sec[i] = b.UnixMilli(), b.Unix()
	}
	// $1 is the account; $2.. the bounds.
	period := func(col string) string {
		var b strings.Builder
		b.WriteString("CASE")
		for i := 1; i < n; i++ {
			fmt.Fprintf(&b, " WHEN %s < $%d THEN %d", col, i+2, i-1)
		}
		fmt.Fprintf(&b, " ELSE %d END", n-1)
		return b.String()
	}
	within := func(col string) string { return fmt.Sprintf("%s >= $2 AND %s < $%d", col, col, n+2) }
	queries := []struct {
		dst  []int
		args []any
		q    string
	}{
		// Logins carry no account: a member's login counts in each of their accounts.
		{out.ActiveUsers, ms, `SELECT ` + period("at_ms") + ` AS p, COUNT(DISTINCT actor_user_id) FROM audit_events
			WHERE ` + within("at_ms") + ` AND actor_user_id IN (SELECT user_id FROM memberships WHERE account_id = $1)
			AND (account_id = $1 OR (account_id IS NULL AND event = 'user.login')) GROUP BY p`},
		{out.Sessions, sec, `SELECT ` + period("created_at") + ` AS p, COUNT(*) FROM remote_sessions
			WHERE account_id = $1 AND ` + within("created_at") + ` GROUP BY p`},
		{out.Enrolled, sec, `SELECT ` + period("enrolled_at") + ` AS p, COUNT(*) FROM devices
			WHERE account_id = $1 AND ondemand = FALSE AND state <> 'pending' AND ` + within("enrolled_at") + ` GROUP BY p`},
	}
	for _, q := range queries {
		rows, err := s.q.QueryContext(ctx, q.q, append([]any{accountID}, q.args...)...)
		if err != nil {
			return out, wrap("activity", err)
		}
		for rows.Next() {
			var p, c int
			if err := rows.Scan(&p, &c); err != nil {
				rows.Close()
				return out, wrap("activity", err)
			}
			if p >= 0 && p < n {
				q.dst[p] = c
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return out, wrap("activity", err)
		}
	}
	return out, nil
}
