package agent

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"reflect"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/installer"
	"github.com/tandem-rc/tandem/transport/wire"
)

// handover is old's signed hand-over to next, valid over [nb, na].
func handover(old ed25519.PrivateKey, next ed25519.PublicKey, nb, na time.Time) wire.KeyHandover {
	op := old.Public().(ed25519.PublicKey)
	return wire.KeyHandover{Old: b64(op), New: b64(next), NotBefore: nb.Unix(), NotAfter: na.Unix(),
		Signature: b64(ed25519.Sign(old, wire.HandoverMessage(op, next, nb.Unix(), na.Unix())))}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// rotatedChallenge is a stand-in script: a challenge signed by signer
// carrying chain, then (when the Host answers) auth is handed to got.
func rotatedChallenge(signer ed25519.PrivateKey, chain []wire.KeyHandover, got chan<- [3][]byte) handshake {
	return func(hello *wire.Signal, write func(*wire.Signal), read func() *wire.Signal) {
		an := helloNonce(hello)
		if !hello.HasCap(wire.CapKeyRotation) {
			return
		}
		rn := make([]byte, wire.NonceSize)
		rand.Read(rn)
		write(&wire.Signal{Type: wire.SigChallenge, Version: wire.Version, Nonce: b64(rn), Handovers: chain,
			Signature: b64(ed25519.Sign(signer, wire.RelayProofMessage(wire.Version, an, rn)))})
		s := read()
		if s == nil || s.Type != wire.SigAuth {
			return
		}
		sig, _ := base64.StdEncoding.DecodeString(s.Signature)
		if got != nil {
			select {
			case got <- [3][]byte{an, rn, sig}:
			default:
			}
		}
		write(&wire.Signal{Type: wire.SigReady})
	}
}

// TestRelayKeyRotationRefused: a relay (or an impostor) presenting a key
// other than the pinned one gets nothing unless a hand-over chain signed
// from the pinned key reaches the key that signed the proof, within its
// validity: no auth answer, the pinned key on disk unchanged, retries as
// after a network failure.
func TestRelayKeyRotationRefused(t *testing.T) {
	pinnedPub, pinned, _ := ed25519.GenerateKey(rand.Reader)
	newPub, newKey, _ := ed25519.GenerateKey(rand.Reader)
	_, impostor, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Now()
	valid := func(old ed25519.PrivateKey, next ed25519.PublicKey) wire.KeyHandover {
		return handover(old, next, now.Add(-time.Hour), now.Add(time.Hour))
	}
	tampered := valid(pinned, newPub)
	tampered.NotAfter += 3600 * 24 * 365 // stretched validity: the signature no longer covers it
	forged := valid(impostor, newPub)
	forged.Old = b64(pinnedPub) // claims to come from the pinned key
	cases := []struct {
		name  string
		chain []wire.KeyHandover
	}{
		{"new key without hand-over", nil},
		{"hand-over signed by the new key itself", []wire.KeyHandover{{Old: b64(pinnedPub), New: b64(newPub),
			NotBefore: now.Add(-time.Hour).Unix(), NotAfter: now.Add(time.Hour).Unix(),
			Signature: b64(ed25519.Sign(newKey, wire.HandoverMessage(pinnedPub, newPub, now.Add(-time.Hour).Unix(), now.Add(time.Hour).Unix())))}}},
		{"hand-over signed by another key", []wire.KeyHandover{forged}},
		{"hand-over from another key", []wire.KeyHandover{valid(impostor, newPub)}},
		{"hand-over to a key other than the proof's", []wire.KeyHandover{valid(pinned, otherPub)}},
		{"hand-over expired", []wire.KeyHandover{handover(pinned, newPub, now.Add(-48*time.Hour), now.Add(-24*time.Hour))}},
		{"hand-over not yet valid", []wire.KeyHandover{handover(pinned, newPub, now.Add(24*time.Hour), now.Add(48*time.Hour))}},
		{"hand-over with stretched validity", []wire.KeyHandover{tampered}},
		{"too long a chain", func() []wire.KeyHandover {
			c := make([]wire.KeyHandover, wire.MaxHandovers)
			for i := range c {
				c[i] = valid(impostor, otherPub)
			}
			return append(c, valid(pinned, newPub))
		}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			si := newStandIn(t, rotatedChallenge(newKey, tc.chain, nil))
			eh := startEnrolledHost(t, si.srv.URL, pinnedPub, false)
			before := eh.files(t)
			waitConns(t, si, eh, 2)
			if n := si.auths.Load(); n != 0 {
				t.Fatalf("the Host answered %d challenges signed by an unendorsed key", n)
			}
			if after := eh.files(t); !reflect.DeepEqual(before, after) {
				t.Fatalf("identity files changed:\n%v\n%v", before, after)
			}
			if eh.events.count("relay_key_rotated") != 0 {
				t.Fatal("relay_key_rotated event")
			}
		})
	}
}

// TestRelayKeyRotationFollowed: a chain signed from the pinned key (after
// an older link the Host never pinned, over one intermediate key) to the
// key that signed the proof moves the pin, on disk too; the Host answers
// for the new key, and later grants must verify with it.
func TestRelayKeyRotationFollowed(t *testing.T) {
	_, oldest, _ := ed25519.GenerateKey(rand.Reader)
	pinnedPub, pinned, _ := ed25519.GenerateKey(rand.Reader)
	midPub, mid, _ := ed25519.GenerateKey(rand.Reader)
	newPub, newKey, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Now()
	chain := []wire.KeyHandover{
		handover(oldest, pinnedPub, now.Add(-48*time.Hour), now.Add(-24*time.Hour)), // expired, but not ours to follow
		handover(pinned, midPub, now.Add(-time.Hour), now.Add(time.Hour)),
		handover(mid, newPub, now.Add(-time.Minute), now.Add(time.Hour)),
	}
	got := make(chan [3][]byte, 1)
	si := newStandIn(t, rotatedChallenge(newKey, chain, got))
	eh := startEnrolledHost(t, si.srv.URL, pinnedPub, false)
	var auth [3][]byte
	select {
	case auth = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("the Host did not answer the rotated relay")
	}
	if !ed25519.Verify(eh.h.o.Key.Public().(ed25519.PublicKey), wire.AuthMessageV2(auth[0], auth[1], "dev-1", newPub), auth[2]) {
		t.Fatal("the auth answer is not bound to the new relay key")
	}
	if !eh.events.reaches("relay_key_rotated", 1) {
		t.Fatal("no relay_key_rotated event")
	}
	c, err := installer.Load(eh.dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.RelayPublicKey != b64(newPub) {
		t.Fatalf("pinned key on disk %s, want the new key", c.RelayPublicKey)
	}
	eh.h.mu.Lock()
	pin := eh.h.o.RelayKey
	eh.h.mu.Unlock()
	if !pin.Equal(newPub) {
		t.Fatal("the Host did not pin the new key in memory")
	}
}

// TestRePinnerSaves: the installer's OnRelayKeyRotated rewrites the pinned
// key and nothing else.
func TestRePinnerSaves(t *testing.T) {
	pinnedPub, _, _ := ed25519.GenerateKey(rand.Reader)
	newPub, _, _ := ed25519.GenerateKey(rand.Reader)
	_, devKey, _ := ed25519.GenerateKey(rand.Reader)
	dir := t.TempDir()
	c := &installer.Config{RelayURL: "https://r", DeviceID: "d", AccountID: "a", State: "enrolled",
		RelayPublicKey: b64(pinnedPub), EnrollmentKey: "K", Key: devKey}
	if err := installer.Save(dir, c); err != nil {
		t.Fatal(err)
	}
	if err := installer.RePinner(dir)(newPub); err != nil {
		t.Fatal(err)
	}
	c2, err := installer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c2.RelayPublicKey != b64(newPub) || c2.DeviceID != "d" || c2.EnrollmentKey != "K" || !c2.Key.Equal(devKey) {
		t.Fatalf("config after re-pin: %+v", c2)
	}
}
