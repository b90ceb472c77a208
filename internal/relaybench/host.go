package relaybench

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/tandem-rc/tandem/transport/wire"
)

// simHost is one simulated Host: the agent handshake of wire version 2
// (it checks the relay's proof), an inventory, then one goroutine reading
// signals. A grant is reported on grants and its session ended with a bye.
type simHost struct {
	id     string
	key    ed25519.PrivateKey
	conn   *websocket.Conn
	grants chan time.Time
}

// dialer makes WebSocket clients whose connections leave from src (one
// 127.0.0.x per ~20,000 Hosts: a source address has ~28,000 ephemeral ports).
func dialer(src net.IP) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

func (h *simHost) connect(ctx context.Context, hc *http.Client, base string, relayKey ed25519.PublicKey) error {
	c, _, err := websocket.Dial(ctx, "ws"+base[len("http"):]+"/api/v1/agent/connect", &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		return err
	}
	c.SetReadLimit(wire.MaxSignalSize)
	fail := func(err error) error { c.CloseNow(); return err }
	send := func(s *wire.Signal) error {
		b, err := wire.EncodeSignal(s)
		if err != nil {
			return err
		}
		return c.Write(ctx, websocket.MessageText, b)
	}
	recv := func() (*wire.Signal, error) {
		_, b, err := c.Read(ctx)
		if err != nil {
			return nil, err
		}
		return wire.DecodeSignal(b)
	}
	an := make([]byte, wire.NonceSize)
	rand.Read(an)
	if err := send(&wire.Signal{Type: wire.SigHello, Role: "agent", Version: wire.Version,
		Caps: []string{wire.CapRelayProof, wire.CapKeyRotation}, Nonce: base64.StdEncoding.EncodeToString(an)}); err != nil {
		return fail(err)
	}
	ch, err := recv()
	if err != nil {
		return fail(err)
	}
	rn, _ := base64.StdEncoding.DecodeString(ch.Nonce)
	proof, _ := base64.StdEncoding.DecodeString(ch.Signature)
	if ch.Type != wire.SigChallenge || !ed25519.Verify(relayKey, wire.RelayProofMessage(ch.Version, an, rn), proof) {
		return fail(errors.New("the relay did not prove its key"))
	}
	if err := send(&wire.Signal{Type: wire.SigAuth, DeviceID: h.id,
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(h.key, wire.AuthMessageV2(an, rn, h.id, relayKey)))}); err != nil {
		return fail(err)
	}
	r, err := recv()
	if err != nil {
		return fail(err)
	}
	if r.Type != wire.SigReady {
		return fail(fmt.Errorf("relay answered %s %s", r.Type, r.Code))
	}
	if err := send(&wire.Signal{Type: wire.SigInventory, Inventory: &wire.Inventory{Hostname: h.id[:8], OS: "linux"}}); err != nil {
		return fail(err)
	}
	h.conn = c
	go h.read()
	return nil
}

// read serves the connection: a grant is answered by ending its session.
func (h *simHost) read() {
	ctx := context.Background()
	for {
		_, b, err := h.conn.Read(ctx)
		if err != nil {
			return
		}
		s, err := wire.DecodeSignal(b)
		if err != nil || s.Type != wire.SigGrant {
			continue
		}
		select {
		case h.grants <- time.Now():
		default:
		}
		bye, _ := wire.EncodeSignal(&wire.Signal{Type: wire.SigBye, Session: s.Session, Code: "bench"})
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_ = h.conn.Write(wctx, websocket.MessageText, bye)
		cancel()
	}
}
