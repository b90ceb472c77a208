// Package keyring holds the relay's signing key across rotations. The root
// key (the data directory's, or the cluster's) never changes: secrets are
// derived from it and it seals the rotated keys' seeds in the database.
// Each rotation is signed by the key before it (wire.KeyHandover), so a
// Host that pinned any earlier key follows the chain to the current one
// and nobody without the current key can hand it over.
package keyring

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// DefaultValidity is how long Hosts accept a hand-over: one offline longer
// than that must enroll again.
const DefaultValidity = 365 * 24 * time.Hour

// Store is what the ring needs of the database.
type Store interface {
	SigningKeys(ctx context.Context) ([]store.SigningKey, error)
	LatestSigningKeySeq(ctx context.Context) (int64, error)
	AddSigningKey(ctx context.Context, k store.SigningKey) error
}

// Ring is the current signing key and the hand-over chain to it; safe for
// concurrent use.
type Ring struct {
	root ed25519.PrivateKey
	cur  atomic.Pointer[state]
	mu   sync.Mutex // one Load at a time
}

type state struct {
	seq   int64
	key   ed25519.PrivateKey
	pub   ed25519.PublicKey
	chain []wire.KeyHandover // the newest MaxHandovers, oldest first
}

// New returns a ring whose current key is root until Load finds rotations.
func New(root ed25519.PrivateKey) *Ring {
	r := &Ring{root: root}
	r.cur.Store(&state{key: root, pub: root.Public().(ed25519.PublicKey)})
	return r
}

// Key is the current signing key.
func (r *Ring) Key() ed25519.PrivateKey { return r.cur.Load().key }

// Public is the current signing key's public half.
func (r *Ring) Public() ed25519.PublicKey { return r.cur.Load().pub }

// Chain is the hand-overs leading to the current key, oldest first (nil
// before any rotation). Callers must not modify it.
func (r *Ring) Chain() []wire.KeyHandover { return r.cur.Load().chain }

// Current is the key, its public half and its chain, taken together (a
// handshake signs and verifies with one key even if a rotation lands).
func (r *Ring) Current() (ed25519.PrivateKey, ed25519.PublicKey, []wire.KeyHandover) {
	s := r.cur.Load()
	return s.key, s.pub, s.chain
}

// Seq is the current key's rotation number (0: the root key).
func (r *Ring) Seq() int64 { return r.cur.Load().seq }

// Load makes the database's newest rotation current; true when the key
// changed. A cheap check comes first, so it can run often.
func (r *Ring) Load(ctx context.Context, st Store) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	latest, err := st.LatestSigningKeySeq(ctx)
	if err != nil {
		return false, err
	}
	if latest == r.cur.Load().seq {
		return false, nil
	}
	s, err := r.read(ctx, st)
	if err != nil {
		return false, err
	}
	r.cur.Store(s)
	return true, nil
}

// read builds the state from every rotation, checking that each hand-over
// is signed by the key before it: a row written by anyone without that key
// is refused rather than served.
func (r *Ring) read(ctx context.Context, st Store) (*state, error) {
	rows, err := st.SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	s := &state{key: r.root, pub: r.root.Public().(ed25519.PublicKey)}
	var chain []wire.KeyHandover
	for _, row := range rows {
		var ho wire.KeyHandover
		if err := json.Unmarshal([]byte(row.Handover), &ho); err != nil {
			return nil, fmt.Errorf("keyring: rotation %d: bad hand-over: %w", row.Seq, err)
		}
		nk, _ := base64.StdEncoding.DecodeString(ho.New)
		sig, _ := base64.StdEncoding.DecodeString(ho.Signature)
		if ho.Old != b64(s.pub) || ho.New != row.PublicKey || len(nk) != ed25519.PublicKeySize ||
			!ed25519.Verify(s.pub, wire.HandoverMessage(s.pub, nk, ho.NotBefore, ho.NotAfter), sig) {
			return nil, fmt.Errorf("keyring: rotation %d is not signed by the key before it", row.Seq)
		}
		seed, err := r.unseal(row.SealedSeed, nk)
		if err != nil {
			return nil, fmt.Errorf("keyring: rotation %d: %w", row.Seq, err)
		}
		key := ed25519.NewKeyFromSeed(seed)
		if !key.Public().(ed25519.PublicKey).Equal(ed25519.PublicKey(nk)) {
			return nil, fmt.Errorf("keyring: rotation %d: the sealed key does not match its public key", row.Seq)
		}
		chain = append(chain, ho)
		s = &state{seq: row.Seq, key: key, pub: ed25519.PublicKey(nk)}
	}
	if len(chain) > wire.MaxHandovers {
		chain = chain[len(chain)-wire.MaxHandovers:]
	}
	s.chain = chain
	return s, nil
}

// Rotate makes a new signing key, signed over by the current one (read
// from the database, so any process holding the root key can rotate), and
// stores it; the relays pick it up at their next Load. It returns the new
// public key.
func Rotate(ctx context.Context, st Store, root ed25519.PrivateKey, now time.Time, validity time.Duration) (ed25519.PublicKey, error) {
	if validity <= 0 {
		validity = DefaultValidity
	}
	r := New(root)
	cur, err := r.read(ctx, st)
	if err != nil {
		return nil, err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	nb, na := now.Unix(), now.Add(validity).Unix()
	ho := wire.KeyHandover{Old: b64(cur.pub), New: b64(pub), NotBefore: nb, NotAfter: na,
		Signature: b64(ed25519.Sign(cur.key, wire.HandoverMessage(cur.pub, pub, nb, na)))}
	hb, _ := json.Marshal(ho)
	sealed, err := r.seal(priv.Seed(), pub)
	if err != nil {
		return nil, err
	}
	if err := st.AddSigningKey(ctx, store.SigningKey{Seq: cur.seq + 1, PublicKey: b64(pub), SealedSeed: sealed,
		Handover: string(hb), CreatedAt: now.Unix()}); err != nil {
		return nil, err
	}
	return pub, nil
}

// aead seals seeds under a key derived from the root key's seed.
func (r *Ring) aead() cipher.AEAD {
	k := sha256.Sum256(append([]byte("tandem signing key seal\x00"), r.root.Seed()...))
	b, _ := aes.NewCipher(k[:])
	g, _ := cipher.NewGCM(b)
	return g
}

// seal encrypts seed, bound to its public key.
func (r *Ring) seal(seed []byte, pub ed25519.PublicKey) (string, error) {
	g := r.aead()
	nonce := make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return b64(g.Seal(nonce, nonce, seed, pub)), nil
}

func (r *Ring) unseal(s string, pub []byte) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	g := r.aead()
	if err != nil || len(b) < g.NonceSize() {
		return nil, errors.New("sealed key malformed")
	}
	seed, err := g.Open(nil, b[:g.NonceSize()], b[g.NonceSize():], pub)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("sealed key does not open with this relay's root key (another data directory or cluster?)")
	}
	return seed, nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
