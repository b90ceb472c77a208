package cluster

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// ErrNoCluster: no relay node has made the cluster's identity yet.
var ErrNoCluster = errors.New("cluster: no relay node has used this database yet")

// For processes that are not nodes (tandem-relay admin): they read the
// cluster's identity and tell the nodes of a change.

func openOutside(url string) (*sql.DB, error) {
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, errors.New("cluster: invalid PostgreSQL URL")
	}
	db := stdlib.OpenDB(*cc)
	db.SetMaxOpenConns(1)
	return db, nil
}

// RootKey reads the cluster's root signing key (ErrNoCluster when no node
// started yet).
func RootKey(ctx context.Context, url string) (ed25519.PrivateKey, error) {
	db, err := openOutside(url)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var seed []byte
	err = db.QueryRowContext(ctx, `SELECT signing_key FROM cluster_identity WHERE id = 1`).Scan(&seed)
	if errors.Is(err, sql.ErrNoRows) || isUndefinedTable(err) {
		return nil, ErrNoCluster
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: identity: %w", err)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, errors.New("cluster: the stored identity is unusable")
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// Broadcast tells every node of the cluster a Message of kind (no payload),
// from outside: e.g. that the signing keys changed.
func Broadcast(ctx context.Context, url, kind string) error {
	db, err := openOutside(url)
	if err != nil {
		return err
	}
	defer db.Close()
	var prefix string
	err = db.QueryRowContext(ctx, `SELECT cluster_id FROM cluster_identity WHERE id = 1`).Scan(&prefix)
	if errors.Is(err, sql.ErrNoRows) || isUndefinedTable(err) {
		return ErrNoCluster
	}
	if err != nil {
		return fmt.Errorf("cluster: identity: %w", err)
	}
	b, _ := json.Marshal(Message{Kind: kind, From: "outside"})
	n := &Node{prefix: prefix}
	_, err = db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, n.channel("all"), string(b))
	return err
}

func isUndefinedTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42P01"
}
