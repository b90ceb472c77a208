package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// OnDemand states (wire.OnDemand* spell the same).
const (
	ODCreated  = "created"
	ODWaiting  = "waiting"
	ODStarted  = "started"
	ODEnded    = "ended"
	ODRejected = "rejected"
	ODExpired  = "expired"
)

// ODLive reports whether an OnDemand state still lets the key be used.
func ODLive(state string) bool { return state == ODCreated || state == ODWaiting || state == ODStarted }

// OnDemand is one OnDemand session key and its life (spec 3.2). The key
// itself is never stored: KeyHash finds it, KeySealed shows it again to
// the technicians (sealed by the relay with a key outside the database).
type OnDemand struct {
	ID        string
	AccountID string
	CreatedBy string // user id of the technician who created the key
	KeyHash   string
	KeySealed string
	State     string
	CreatedAt time.Time
	ExpiresAt time.Time // the key's own end (creation + 24 h)
	JoinedAt  time.Time // zero until an agent joined
	DeviceID  string    // the agent's ephemeral device, once joined
	Hostname  string    // what the agent reported when it joined
	OS        string
	User      string
	SessionID string // the remote session, once started
	StartedBy string // user id
	EndedBy   string // user id of who rejected it; "" for the relay
	EndedAt   time.Time
	EndReason string
}

const odCols = `id, account_id, created_by, key_hash, key_sealed, state, created_at, expires_at, joined_at,
	device_id, hostname, os, os_user, session_id, started_by, ended_by, ended_at, end_reason`

func scanOD(row interface{ Scan(...any) error }) (OnDemand, error) {
	var o OnDemand
	var created, expires int64
	var joined, ended sql.NullInt64
	err := row.Scan(&o.ID, &o.AccountID, &o.CreatedBy, &o.KeyHash, &o.KeySealed, &o.State, &created, &expires, &joined,
		&o.DeviceID, &o.Hostname, &o.OS, &o.User, &o.SessionID, &o.StartedBy, &o.EndedBy, &ended, &o.EndReason)
	o.CreatedAt, o.ExpiresAt = fromUnix(created), fromUnix(expires)
	o.JoinedAt, o.EndedAt = fromNull(joined), fromNull(ended)
	return o, err
}

// CreateOnDemand inserts a new key in state created; a key hash already
// taken (by a live key or a dead one not yet pruned) is ErrConflict, and
// the caller draws another key.
func (s *Store) CreateOnDemand(ctx context.Context, o OnDemand) (OnDemand, error) {
	if o.ID == "" {
		o.ID = NewID()
	}
	o.State = ODCreated
	_, err := s.q.ExecContext(ctx, `INSERT INTO ondemand_sessions
		(id, account_id, created_by, key_hash, key_sealed, state, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		o.ID, o.AccountID, o.CreatedBy, o.KeyHash, o.KeySealed, o.State, unix(o.CreatedAt), unix(o.ExpiresAt))
	o.CreatedAt, o.ExpiresAt = fromUnix(unix(o.CreatedAt)), fromUnix(unix(o.ExpiresAt))
	return o, wrap("create ondemand", err)
}

func (s *Store) odBy(ctx context.Context, what, col, v string) (OnDemand, error) {
	o, err := scanOD(s.q.QueryRowContext(ctx, `SELECT `+odCols+` FROM ondemand_sessions WHERE `+col+` = $1
		ORDER BY created_at DESC LIMIT 1`, v))
	return o, wrap(what, err)
}

// OnDemand returns the OnDemand session with id.
func (s *Store) OnDemand(ctx context.Context, id string) (OnDemand, error) {
	return s.odBy(ctx, "ondemand", "id", id)
}

// OnDemandByKeyHash returns the OnDemand session whose key hashes to hash.
func (s *Store) OnDemandByKeyHash(ctx context.Context, hash string) (OnDemand, error) {
	return s.odBy(ctx, "ondemand by key", "key_hash", hash)
}

// OnDemandByDevice returns the OnDemand session an ephemeral device
// belongs (or belonged) to.
func (s *Store) OnDemandByDevice(ctx context.Context, deviceID string) (OnDemand, error) {
	if deviceID == "" {
		return OnDemand{}, fmt.Errorf("store: ondemand by device: %w", ErrNotFound)
	}
	return s.odBy(ctx, "ondemand by device", "device_id", deviceID)
}

// OnDemandBySession returns the OnDemand session a remote session started.
func (s *Store) OnDemandBySession(ctx context.Context, sessionID string) (OnDemand, error) {
	if sessionID == "" {
		return OnDemand{}, fmt.Errorf("store: ondemand by session: %w", ErrNotFound)
	}
	return s.odBy(ctx, "ondemand by session", "session_id", sessionID)
}

// LiveOnDemand lists the live (created, waiting, started) OnDemand
// sessions of the accounts, oldest first.
func (s *Store) LiveOnDemand(ctx context.Context, accountIDs []string) ([]OnDemand, error) {
	if len(accountIDs) == 0 {
		return nil, nil
	}
	rows, err := s.q.QueryContext(ctx, `SELECT `+odCols+` FROM ondemand_sessions
		WHERE state IN ('created', 'waiting', 'started') AND account_id IN (`+placeholders(1, len(accountIDs))+`)
		ORDER BY created_at, id`, anySlice(accountIDs)...)
	if err != nil {
		return nil, wrap("live ondemand", err)
	}
	defer rows.Close()
	var out []OnDemand
	for rows.Next() {
		o, err := scanOD(rows)
		if err != nil {
			return nil, wrap("live ondemand", err)
		}
		out = append(out, o)
	}
	return out, wrap("live ondemand", rows.Err())
}

// ErrODState is returned when an OnDemand session is not in the state an
// operation needs (a key already used, a session not waiting).
var ErrODState = errors.New("store: ondemand session in another state")

// JoinOnDemand is the single use of a key: in one transaction it checks
// that the session is still created and unexpired at now, creates the
// agent's ephemeral device (enrolled, in the session's account, in no
// package and no group) and moves the session to waiting. A key used
// already, or expired, is ErrODState; a public key known already is
// ErrConflict.
func (s *Store) JoinOnDemand(ctx context.Context, id, publicKey string, inv Inventory, now time.Time) (OnDemand, Device, error) {
	var o OnDemand
	var d Device
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		o, err = scanOD(tx.QueryRowContext(ctx, `SELECT `+odCols+` FROM ondemand_sessions WHERE id = $1`+s.eng.forUpdate, id))
		if err != nil {
			return wrap("join ondemand", err)
		}
		if o.State != ODCreated || !now.Before(o.ExpiresAt) {
			return fmt.Errorf("store: join ondemand: %w", ErrODState)
		}
		d = Device{
			ID: NewID(), AccountID: o.AccountID, PublicKey: publicKey, State: Enrolled, Hostname: inv.Hostname,
			OS: inv.OS, Arch: inv.Arch, Version: inv.Version, LoggedInUser: inv.LoggedInUser,
			Monitors: json.RawMessage(monitorsJSON(inv.Monitors)), EnrolledAt: fromUnix(unix(now)), OnDemand: true,
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO devices (id, account_id, package_id, public_key, state, hostname,
			os, arch, version, logged_in_user, monitors, enrolled_at, ondemand)
			VALUES ($1, $2, NULL, $3, $4, $5, $6, $7, $8, $9, $10, $11, TRUE)`,
			d.ID, d.AccountID, d.PublicKey, string(d.State), d.Hostname, d.OS, d.Arch, d.Version, d.LoggedInUser,
			string(d.Monitors), unix(now)); err != nil {
			return wrap("join ondemand: device", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE ondemand_sessions SET state = 'waiting', joined_at = $1, device_id = $2,
			hostname = $3, os = $4, os_user = $5 WHERE id = $6`,
			unix(now), d.ID, inv.Hostname, inv.OS, inv.LoggedInUser, id); err != nil {
			return wrap("join ondemand", err)
		}
		o.State, o.JoinedAt, o.DeviceID = ODWaiting, fromUnix(unix(now)), d.ID
		o.Hostname, o.OS, o.User = inv.Hostname, inv.OS, inv.LoggedInUser
		return nil
	})
	return o, d, err
}

// StartOnDemand moves a waiting session to started by userID with the
// remote session sessionID; false when it was not waiting (started by
// someone else meanwhile, or dead).
func (s *Store) StartOnDemand(ctx context.Context, id, sessionID, userID string) (bool, error) {
	res, err := s.q.ExecContext(ctx, `UPDATE ondemand_sessions SET state = 'started', session_id = $1, started_by = $2
		WHERE id = $3 AND state = 'waiting'`, sessionID, userID, id)
	if err != nil {
		return false, wrap("start ondemand", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// UnstartOnDemand puts a session whose start could not reach its agent
// back in the queue.
func (s *Store) UnstartOnDemand(ctx context.Context, id, sessionID string) error {
	_, err := s.q.ExecContext(ctx, `UPDATE ondemand_sessions SET state = 'waiting', session_id = '', started_by = ''
		WHERE id = $1 AND state = 'started' AND session_id = $2`, id, sessionID)
	return wrap("unstart ondemand", err)
}

// EndOnDemand kills a live key: state becomes ended, rejected or expired,
// and its ephemeral device is deleted (with its session rows' device
// reference). It reports false when the key was dead already, so each
// end is recorded once.
func (s *Store) EndOnDemand(ctx context.Context, id, state, by, reason string, now time.Time) (bool, error) {
	switch state {
	case ODEnded, ODRejected, ODExpired:
	default:
		return false, fmt.Errorf("store: end ondemand: invalid state %q", state)
	}
	var ok bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var dev string
		err := tx.QueryRowContext(ctx, `SELECT device_id FROM ondemand_sessions
			WHERE id = $1 AND state IN ('created', 'waiting', 'started')`+s.eng.forUpdate, id).Scan(&dev)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		} else if err != nil {
			return wrap("end ondemand", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE ondemand_sessions SET state = $1, ended_by = $2, end_reason = $3, ended_at = $4
			WHERE id = $5`, state, by, reason, unix(now), id); err != nil {
			return wrap("end ondemand", err)
		}
		if dev != "" {
			if _, err := tx.ExecContext(ctx, `DELETE FROM devices WHERE id = $1 AND ondemand`, dev); err != nil {
				return wrap("end ondemand: device", err)
			}
		}
		ok = true
		return nil
	})
	return ok, err
}

// DueOnDemand lists the live sessions whose time is up at now: keys never
// used past their expiry, and agents waiting in the queue for queueTTL or
// past the key's expiry. Started sessions end with their remote session.
func (s *Store) DueOnDemand(ctx context.Context, now time.Time, queueTTL time.Duration) ([]OnDemand, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+odCols+` FROM ondemand_sessions
		WHERE (state = 'created' AND expires_at <= $1) OR (state = 'waiting' AND (expires_at <= $1 OR joined_at <= $2))
		ORDER BY created_at, id`, unix(now), unix(now.Add(-queueTTL)))
	if err != nil {
		return nil, wrap("due ondemand", err)
	}
	defer rows.Close()
	var out []OnDemand
	for rows.Next() {
		o, err := scanOD(rows)
		if err != nil {
			return nil, wrap("due ondemand", err)
		}
		out = append(out, o)
	}
	return out, wrap("due ondemand", rows.Err())
}

// StartedOnDemand lists the sessions in state started (a restarting
// relay ends them: their remote sessions cannot resume).
func (s *Store) StartedOnDemand(ctx context.Context) ([]OnDemand, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+odCols+` FROM ondemand_sessions WHERE state = 'started' ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap("started ondemand", err)
	}
	defer rows.Close()
	var out []OnDemand
	for rows.Next() {
		o, err := scanOD(rows)
		if err != nil {
			return nil, wrap("started ondemand", err)
		}
		out = append(out, o)
	}
	return out, wrap("started ondemand", rows.Err())
}

// PruneOnDemand deletes dead sessions that ended before before, which
// frees their keys for reuse; it returns how many.
func (s *Store) PruneOnDemand(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.q.ExecContext(ctx, `DELETE FROM ondemand_sessions
		WHERE state IN ('ended', 'rejected', 'expired') AND ended_at < $1`, unix(before))
	if err != nil {
		return 0, wrap("prune ondemand", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
