package relay

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestAgentHandshakeRelayProof: an agent that announces CapRelayProof gets
// a challenge signed with the relay's key over its own nonce (the helper
// handshake checks it), a fresh proof per connection, and must answer with
// the version-2 auth message; a hello without the capability is still
// served the version-1 way (Hosts are updated after their relay).
func TestAgentHandshakeRelayProof(t *testing.T) {
	e := newEnv(t)
	_, key := e.pkg(PackageSpec{Name: "P"})
	d := e.enroll(key, "pc-1")
	e.online(d).conn.CloseNow()

	hello := func(w *ws, agentNonce []byte) *wire.Signal {
		w.send(&wire.Signal{Type: wire.SigHello, Role: "agent", Version: wire.Version, Caps: []string{wire.CapRelayProof},
			Nonce: base64.StdEncoding.EncodeToString(agentNonce)})
		return w.expect(wire.SigChallenge)
	}
	dial := func() *ws {
		w, _, err := e.dial("/api/v1/agent/connect", "")
		if err != nil {
			t.Fatal(err)
		}
		return w
	}

	// The same agent nonce twice: the relay's nonce, so its proof, differ.
	agentNonce := bytes.Repeat([]byte{7}, wire.NonceSize)
	c1, c2 := hello(dial(), agentNonce), hello(dial(), agentNonce)
	if c1.Nonce == c2.Nonce || c1.Signature == c2.Signature || c1.Version != wire.Version {
		t.Fatalf("challenges not fresh: %+v %+v", c1, c2)
	}

	// A version-2 agent answering with a version-1 signature is refused:
	// the auth message cannot be downgraded.
	w := dial()
	ch := hello(w, agentNonce)
	nonce, _ := base64.StdEncoding.DecodeString(ch.Nonce)
	sig := ed25519.Sign(d.key, wire.AuthMessage(nonce, d.id, e.srv.PublicKey()))
	w.send(&wire.Signal{Type: wire.SigAuth, DeviceID: d.id, Signature: base64.StdEncoding.EncodeToString(sig)})
	refusal := w.expect(wire.SigError, api.CodeUnauthorized)
	// The refusal is signed for this handshake: the agent acts on it.
	verdict, _ := base64.StdEncoding.DecodeString(refusal.Signature)
	if !ed25519.Verify(e.srv.PublicKey(), wire.VerdictMessage(agentNonce, nonce, api.CodeUnauthorized), verdict) {
		t.Fatalf("refusal without a valid verdict signature: %+v", refusal)
	}
	// So is an unknown device's, the one that makes a Host enroll again.
	w = dial()
	ch = hello(w, agentNonce)
	nonce, _ = base64.StdEncoding.DecodeString(ch.Nonce)
	gone := "01234567-0000-7000-8000-000000000000"
	sig = ed25519.Sign(d.key, wire.AuthMessageV2(agentNonce, nonce, gone, e.srv.PublicKey()))
	w.send(&wire.Signal{Type: wire.SigAuth, DeviceID: gone, Signature: base64.StdEncoding.EncodeToString(sig)})
	refusal = w.expect(wire.SigError, api.CodeUnknownDevice)
	verdict, _ = base64.StdEncoding.DecodeString(refusal.Signature)
	if !ed25519.Verify(e.srv.PublicKey(), wire.VerdictMessage(agentNonce, nonce, api.CodeUnknownDevice), verdict) {
		t.Fatalf("unknown_device without a valid verdict signature: %+v", refusal)
	}

	// The capability without a usable nonce is a bad request, before any
	// challenge.
	for _, n := range []string{"", "AAEC", "!!", base64.StdEncoding.EncodeToString(make([]byte, wire.NonceSize+1))} {
		w := dial()
		w.send(&wire.Signal{Type: wire.SigHello, Role: "agent", Version: wire.Version, Caps: []string{wire.CapRelayProof}, Nonce: n})
		if r := w.expect(wire.SigError, api.CodeBadRequest); r.Signature != "" {
			t.Fatalf("a refusal before the challenge is signed: %+v", r)
		}
		w.expectClosed()
	}

	// A version-1 agent: no proof in its challenge, the old auth message.
	w = dial()
	w.send(&wire.Signal{Type: wire.SigHello, Role: "agent", Version: 1, Caps: []string{wire.CapInput}})
	ch = w.expect(wire.SigChallenge)
	if ch.Signature != "" {
		t.Fatalf("a version-1 agent got a proof it cannot read: %+v", ch)
	}
	nonce, _ = base64.StdEncoding.DecodeString(ch.Nonce)
	sig = ed25519.Sign(d.key, wire.AuthMessage(nonce, d.id, e.srv.PublicKey()))
	w.send(&wire.Signal{Type: wire.SigAuth, DeviceID: d.id, Signature: base64.StdEncoding.EncodeToString(sig)})
	w.expect(wire.SigReady)

	// And the proof verifies only against this relay's key.
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	nonce, _ = base64.StdEncoding.DecodeString(c1.Nonce)
	proof, _ := base64.StdEncoding.DecodeString(c1.Signature)
	if !ed25519.Verify(e.srv.PublicKey(), wire.RelayProofMessage(c1.Version, agentNonce, nonce), proof) ||
		ed25519.Verify(other, wire.RelayProofMessage(c1.Version, agentNonce, nonce), proof) {
		t.Fatal("the proof does not verify against the relay's key alone")
	}
}
