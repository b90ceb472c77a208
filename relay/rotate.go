package relay

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/tandem-rc/tandem/relay/cluster"
	"github.com/tandem-rc/tandem/relay/keyring"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// msgKeys (to all): the signing keys changed; load them.
const msgKeys = "keys"

// reloadKeys makes the database's newest signing key current (a rotation
// by tandem-relay admin rotate-key or by another node).
func (s *Server) reloadKeys() {
	ctx, cancel := s.dbctx()
	defer cancel()
	changed, err := s.ring.Load(ctx, s.st)
	if err != nil {
		s.log.Warn("loading the rotated signing keys; trying again at the next sweep", "err", err)
		return
	}
	if !changed {
		return
	}
	s.log.Info("relay: now signing with the rotated key", "public_key", s.PublicKeyString(), "rotation", s.ring.Seq())
	// Connected Hosts learn the hand-over now, before a grant signed with
	// the new key reaches them; those that connect later get it in the
	// challenge.
	rekey := &wire.Signal{Type: wire.SigRekey, Handovers: s.ring.Chain()}
	for _, id := range s.hub.agentIDs() {
		if a := s.hub.agent(id); a != nil {
			a.send(rekey)
		}
	}
}

// RotateKey makes a new signing key handed over by the current one (Hosts
// accept the hand-over for validity; 0: keyring.DefaultValidity), uses it
// at once and tells the other nodes. It returns the new public key.
func (s *Server) RotateKey(ctx context.Context, validity time.Duration) (ed25519.PublicKey, error) {
	pub, err := keyring.Rotate(ctx, s.st, s.key, s.now(), validity)
	if err != nil {
		return nil, err
	}
	s.reloadKeys()
	if s.cl != nil {
		s.cl.Post("", cluster.Message{Kind: msgKeys})
	}
	return pub, nil
}

// RotateKey is tandem-relay admin rotate-key: a new signing key for the
// relay of dataDir (SQLite) or the cluster on db (PostgreSQL), handed over
// by the current one. Running relays pick it up: cluster nodes at once (a
// notification), a single relay within its janitor's period (15 s).
func RotateKey(ctx context.Context, dataDir, db string, validity time.Duration) (ed25519.PublicKey, error) {
	var root ed25519.PrivateKey
	var err error
	if store.IsPostgres(db) {
		root, err = cluster.RootKey(ctx, db)
		if errors.Is(err, cluster.ErrNoCluster) {
			return nil, fmt.Errorf("relay: start a relay node on this database once before rotating its key: %w", err)
		}
	} else {
		path := filepath.Join(dataDir, KeyFile)
		if _, serr := os.Stat(path); errors.Is(serr, fs.ErrNotExist) {
			return nil, fmt.Errorf("relay: no signing key in %s: start the relay once before rotating its key", dataDir)
		}
		root, err = loadOrCreateKey(path, slog.New(slog.DiscardHandler))
	}
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, dbOf(dataDir, db))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	pub, err := keyring.Rotate(ctx, st, root, time.Now(), validity)
	if err != nil {
		return nil, err
	}
	if store.IsPostgres(db) {
		if err := cluster.Broadcast(ctx, db, msgKeys); err != nil {
			return pub, fmt.Errorf("relay: key rotated, but telling the nodes failed (they load it within 15 s): %w", err)
		}
	}
	return pub, nil
}
