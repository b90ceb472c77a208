package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/relay/store/storetest"
	"github.com/tandem-rc/tandem/transport/wire"
)

// rotHandshake connects d as an agent announcing CapKeyRotation that
// pinned pin: the challenge must verify with pin or through its hand-over
// chain; it returns the socket after ready and the key it answered for.
func rotHandshake(t *testing.T, e *env, d device, pin ed25519.PublicKey) (*ws, ed25519.PublicKey) {
	t.Helper()
	w, _, err := e.dial("/api/v1/agent/connect", "")
	if err != nil {
		t.Fatal(err)
	}
	an := make([]byte, wire.NonceSize)
	rand.Read(an)
	w.send(&wire.Signal{Type: wire.SigHello, Role: "agent", Version: wire.Version,
		Caps: []string{wire.CapRelayProof, wire.CapKeyRotation}, Nonce: base64.StdEncoding.EncodeToString(an)})
	ch := w.expect(wire.SigChallenge)
	rn, _ := base64.StdEncoding.DecodeString(ch.Nonce)
	proof, _ := base64.StdEncoding.DecodeString(ch.Signature)
	key := pin
	if !ed25519.Verify(pin, wire.RelayProofMessage(ch.Version, an, rn), proof) {
		key = walk(t, pin, ch.Handovers)
		if !ed25519.Verify(key, wire.RelayProofMessage(ch.Version, an, rn), proof) {
			t.Fatal("the challenge verifies neither with the pinned key nor with the handed-over one")
		}
	}
	w.send(&wire.Signal{Type: wire.SigAuth, DeviceID: d.id,
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(d.key, wire.AuthMessageV2(an, rn, d.id, key)))})
	w.expect(wire.SigReady)
	return w, key
}

// walk follows a hand-over chain from pin, checking every signature.
func walk(t *testing.T, pin ed25519.PublicKey, chain []wire.KeyHandover) ed25519.PublicKey {
	t.Helper()
	cur := pin
	for _, ho := range chain {
		if ho.Old != base64.StdEncoding.EncodeToString(cur) {
			continue
		}
		nk, _ := base64.StdEncoding.DecodeString(ho.New)
		sig, _ := base64.StdEncoding.DecodeString(ho.Signature)
		if !ed25519.Verify(cur, wire.HandoverMessage(cur, nk, ho.NotBefore, ho.NotAfter), sig) {
			t.Fatalf("hand-over %+v is not signed by the key before it", ho)
		}
		cur = nk
	}
	return cur
}

// TestSigningKeyRotation: rotating the key (in-process, then as
// tandem-relay admin rotate-key does against the data directory) makes
// the relay sign with a new key at once; a connected Host is sent the
// hand-over, one connecting later finds it in the challenge, also from
// two rotations back. A rotation row not signed by the key before it is
// refused and the relay keeps signing with its key. Secrets derived from
// the root key do not change.
func TestSigningKeyRotation(t *testing.T) {
	e := newEnv(t)
	_, pkey := e.pkg(PackageSpec{Name: "P"})
	d := e.enroll(pkey, "pc-1")
	k0 := e.srv.PublicKey()
	live, _ := rotHandshake(t, e, d, k0)
	odKey := e.srv.odKeyHash("x")

	k1, err := e.srv.RotateKey(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if k1.Equal(k0) || !e.srv.PublicKey().Equal(k1) {
		t.Fatal("the relay does not sign with the new key")
	}
	rk := live.expect(wire.SigRekey)
	if got := walk(t, k0, rk.Handovers); !got.Equal(k1) {
		t.Fatal("the live Host's hand-over does not lead to the new key")
	}
	if _, key := rotHandshake(t, e, d, k0); !key.Equal(k1) {
		t.Fatal("a Host that pinned the old key did not reach the new one")
	}

	// The admin command's way: another process writes the rotation; the
	// relay's janitor loads it.
	k2, err := RotateKey(context.Background(), e.dir, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	e.srv.reloadKeys()
	if !e.srv.PublicKey().Equal(k2) {
		t.Fatal("the relay did not load the admin command's rotation")
	}
	if _, key := rotHandshake(t, e, d, k0); !key.Equal(k2) {
		t.Fatal("a Host two rotations back did not reach the current key")
	}
	if _, key := rotHandshake(t, e, d, k1); !key.Equal(k2) {
		t.Fatal("a Host one rotation back did not reach the current key")
	}
	if e.srv.odKeyHash("x") != odKey {
		t.Fatal("a secret derived from the root key changed with the rotation")
	}

	// A forged rotation (self-signed hand-over) written straight into the
	// database: the relay refuses to serve it.
	fpub, fkey, _ := ed25519.GenerateKey(rand.Reader)
	ho := wire.KeyHandover{Old: base64.StdEncoding.EncodeToString(k2), New: base64.StdEncoding.EncodeToString(fpub), NotBefore: 0, NotAfter: 1 << 40,
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(fkey, wire.HandoverMessage(k2, fpub, 0, 1<<40)))}
	hb, _ := json.Marshal(ho)
	if err := e.srv.Store().AddSigningKey(context.Background(), store.SigningKey{Seq: 3,
		PublicKey: ho.New, SealedSeed: "AAAA", Handover: string(hb)}); err != nil {
		t.Fatal(err)
	}
	e.srv.reloadKeys()
	if !e.srv.PublicKey().Equal(k2) {
		t.Fatal("the relay took a rotation its previous key did not sign")
	}
}

// TestSigningKeyRotationAcrossNodes: tandem-relay admin rotate-key against
// the cluster's database (another process: it reads the root key from the
// cluster and notifies the nodes) makes both nodes sign with the new key at
// once, a Host on B is sent the hand-over, and a grant issued through A for
// it verifies with the new key.
func TestSigningKeyRotationAcrossNodes(t *testing.T) {
	e := newSessionEnv(t, withDB(storetest.Postgres(t)))
	b := joinEnv(t, e.env)
	k0 := e.srv.PublicKey()
	live, _ := rotHandshake(t, b, e.dev, k0) // the Host moves to B
	k1, err := RotateKey(context.Background(), t.TempDir(), e.db, 0)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return e.srv.PublicKey().Equal(k1) && b.srv.PublicKey().Equal(k1) })
	if got := walk(t, k0, live.expect(wire.SigRekey).Handovers); !got.Equal(k1) {
		t.Fatal("the Host on B was not handed the new key")
	}
	status, body := e.request(e.dev.id)
	if status != http.StatusCreated {
		t.Fatalf("session through A: %d %s", status, body)
	}
	g := live.expect(wire.SigGrant)
	if _, err := policy.Verify(g.Grant, k1, e.dev.id, e.clock.Now()); err != nil {
		t.Fatalf("grant through A does not verify with the new key: %v", err)
	}
}
