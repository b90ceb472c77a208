package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// MaxAuthors bounds how many subjects one Authors call looks up (a page).
const MaxAuthors = 200

// Authors are who created a thing and who changed it last, as the audit
// log tells: "" when it does not (logging was off, the event predates
// subjects, or the actor is gone).
type Authors struct{ CreatedBy, ModifiedBy string }

// Authors finds, for each subject of accountID ("user:ID", "device:ID",
// ...), the actor of its earliest creating event and of its latest other
// event, by name (or email when the user has none). One query; each
// subject costs two LIMIT 1 seeks on audit_events_subject, however long its
// history. created lists the events that create a subject.
func (s *Store) Authors(ctx context.Context, accountID string, subjects, created []string) (map[string]Authors, error) {
	out := map[string]Authors{}
	if len(subjects) == 0 {
		return out, nil
	}
	if len(subjects) > MaxAuthors || len(created) == 0 {
		return nil, fmt.Errorf("store: authors of %d subjects", len(subjects))
	}
	args := []any{accountID}
	ph := func(v string) string {
		args = append(args, v)
		return fmt.Sprintf("CAST($%d AS TEXT)", len(args))
	}
	evs := make([]string, len(created))
	for i, e := range created {
		evs[i] = ph(e)
	}
	in := strings.Join(evs, ", ")
	sel := make([]string, len(subjects))
	for i, sub := range subjects {
		sel[i] = "SELECT " + ph(sub) + " AS id"
	}
	actor := func(cond, dir string) string {
		return `(SELECT e.actor_user_id FROM audit_events e WHERE e.account_id = $1 AND e.subject = s.id AND e.event ` +
			cond + ` (` + in + `) AND e.actor_user_id IS NOT NULL ORDER BY e.at_ms ` + dir + `, e.id ` + dir + ` LIMIT 1)`
	}
	rows, err := s.q.QueryContext(ctx, `SELECT a.id, COALESCE(NULLIF(c.name, ''), c.email, ''), COALESCE(NULLIF(m.name, ''), m.email, '')
		FROM (SELECT s.id, `+actor("IN", "ASC")+` AS created, `+actor("NOT IN", "DESC")+` AS modified
			FROM (`+strings.Join(sel, " UNION ALL ")+`) s) a
		LEFT JOIN users c ON c.id = a.created LEFT JOIN users m ON m.id = a.modified`, args...)
	if err != nil {
		return nil, wrap("authors", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var a Authors
		if err := rows.Scan(&id, &a.CreatedBy, &a.ModifiedBy); err != nil {
			return nil, wrap("authors", err)
		}
		if a != (Authors{}) {
			out[id] = a
		}
	}
	return out, wrap("authors", rows.Err())
}

// InviterName is the name (or email) of who invited userID into
// accountID, from the invitation they accepted; "" when they joined
// otherwise or the inviter is gone.
func (s *Store) InviterName(ctx context.Context, accountID, userID string) (string, error) {
	var name string
	err := s.q.QueryRowContext(ctx, `SELECT COALESCE(NULLIF(u.name, ''), u.email, '') FROM invites i JOIN users u ON u.id = i.invited_by
		WHERE i.account_id = $1 AND i.accepted_at IS NOT NULL AND i.email = (SELECT email FROM users WHERE id = $2)`, accountID, userID).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return name, wrap("inviter", err)
}
