package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SigningKey is one rotation of the relay's signing key (relay/keyring
// gives the fields their meaning): Seq counts from 1.
type SigningKey struct {
	Seq        int64
	PublicKey  string // base64
	SealedSeed string // base64, sealed under the root key
	Handover   string // JSON wire.KeyHandover from the previous key
	CreatedAt  int64  // unix seconds
}

// ErrRotationRace: another rotation took the same sequence number first.
var ErrRotationRace = errors.New("store: another signing-key rotation happened at the same time; try again")

// SigningKeys lists the rotations, oldest first.
func (s *Store) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, public_key, sealed_seed, handover, created_at
		FROM relay_signing_keys ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("store: signing keys: %w", err)
	}
	defer rows.Close()
	var out []SigningKey
	for rows.Next() {
		var k SigningKey
		if err := rows.Scan(&k.Seq, &k.PublicKey, &k.SealedSeed, &k.Handover, &k.CreatedAt); err != nil {
			return nil, fmt.Errorf("store: signing keys: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// LatestSigningKeySeq is the newest rotation's Seq, 0 when none: a cheap
// check whether the keys changed.
func (s *Store) LatestSigningKeySeq(ctx context.Context) (int64, error) {
	var n *int64
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(seq) FROM relay_signing_keys`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: signing keys: %w", err)
	}
	if n == nil {
		return 0, nil
	}
	return *n, nil
}

// AddSigningKey records rotation k; k.Seq must be the next number
// (ErrRotationRace when another rotation took it).
func (s *Store) AddSigningKey(ctx context.Context, k SigningKey) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var latest *int64
		if err := tx.QueryRowContext(ctx, `SELECT MAX(seq) FROM relay_signing_keys`).Scan(&latest); err != nil {
			return fmt.Errorf("store: signing keys: %w", err)
		}
		if (latest == nil && k.Seq != 1) || (latest != nil && *latest+1 != k.Seq) {
			return ErrRotationRace
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO relay_signing_keys (seq, public_key, sealed_seed, handover, created_at)
			VALUES ($1, $2, $3, $4, $5)`, k.Seq, k.PublicKey, k.SealedSeed, k.Handover, k.CreatedAt); err != nil {
			if err = wrap("add signing key", err); errors.Is(err, ErrConflict) {
				return ErrRotationRace
			}
			return err
		}
		return nil
	})
}
