package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/coder/websocket"
	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/guard"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/relay/wsmem"
	"github.com/tandem-rc/tandem/transport/wire"
)

// handshakeTimeout bounds hello → challenge → auth.
const handshakeTimeout = 15 * time.Second

const maxID = api.MaxID

// handleAgentConnect is GET /api/v1/agent/connect, the agents' WebSocket:
// hello, challenge, auth, then ready; afterwards inventory, grants and
// signaling.
func (s *Server) handleAgentConnect(w http.ResponseWriter, r *http.Request) error {
	if !s.begin() {
		return errf(http.StatusServiceUnavailable, api.CodeUnavailable, "the relay is shutting down; reconnect shortly")
	}
	defer s.wg.Done()
	ip := remoteIP(r)
	src := source(ip)
	// A source whose handshakes keep failing is refused before the
	// upgrade: no WebSocket, no store lookups, no log line per try.
	if blocked, retry := s.agentLimit.blocked(src); blocked {
		s.gd.agentFail.Add(guard.TallyKey{Source: src, Reason: "throttled"}, "")
		return &apiError{Status: http.StatusTooManyRequests, Code: api.CodeThrottled,
			Msg: "too many failed device authentications from this address; wait and try again", RetryAfter: retry}
	}
	conn, err := websocket.Accept(wsmem.Lean(w), r, &websocket.AcceptOptions{OriginPatterns: s.front.OriginHosts(r)})
	if err != nil {
		return nil // Accept has answered
	}
	conn.SetReadLimit(wire.MaxSignalSize)
	// The connection lives on in its own goroutine: once this handler
	// returns, net/http drops its connection state (buffers, a deep stack).
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.serveAgent(conn, ip, src)
	}()
	return nil
}

// serveAgent runs an accepted agent WebSocket to its end.
func (s *Server) serveAgent(conn *websocket.Conn, ip, src string) {
	log := s.log.With("remote", ip)

	d, err := s.agentHandshake(conn, ip)
	if err != nil {
		var ae *agentRefusal
		if errors.As(err, &ae) {
			log.Debug("agent refused", "code", ae.code, "device", ae.device, "why", ae.detail)
			// Failed authentications and garbage count against the source;
			// the former are audited once per window with their count.
			if ae.audit || ae.code == api.CodeBadRequest {
				s.agentLimit.fail(src)
			}
			if ae.audit {
				s.gd.agentFail.Add(guard.TallyKey{Source: src, Reason: ae.detail, Account: ae.account}, ae.device)
			}
			ctx, cancel := context.WithTimeout(s.ctx, writeTimeout)
			b, _ := wire.EncodeSignal(&wire.Signal{Type: wire.SigError, Code: ae.code, Message: ae.msg, Signature: ae.sig})
			conn.Write(ctx, websocket.MessageText, b)
			cancel()
			conn.Close(websocket.StatusPolicyViolation, ae.code)
		} else {
			log.Debug("agent handshake failed", "err", err)
			conn.CloseNow()
		}
		return
	}

	log = log.With("device", d.ID)
	a := &agentConn{peer: newPeer(conn, log), deviceID: d.ID, accountID: d.AccountID, ondemand: d.OnDemand}
	a.start(s.cfg.PingInterval, s.cfg.PingTimeout)
	if old := s.hub.addAgent(a, &wire.Signal{Type: wire.SigReady, DeviceID: d.ID, Version: wire.Version}); old != nil {
		log.Info("agent connection replaced by a newer one")
		old.send(&wire.Signal{Type: wire.SigError, Code: "replaced", Message: "a newer connection of this device took over"})
		old.closeWith(closeReplaced, "replaced")
	}
	s.claimPresence(d.ID)
	ctx, cancel := s.dbctx()
	if err := s.st.TouchDevice(ctx, d.ID, s.now()); err != nil {
		log.Warn("recording last seen", "err", err)
		s.metrics.Dropped("last_seen")
	}
	cancel()
	s.audit(auditRec{Event: EvAgentConnected, Account: d.AccountID, Device: d.ID, Remote: ip})
	log.Info("agent connected")

	s.agentLoop(a)

	a.stop()
	current, sessions := s.hub.removeAgent(a)
	if current {
		s.releasePresence(d.ID)
		for _, id := range sessions {
			s.endSession(id, "device_offline", endOpts{guestCode: api.CodeDeviceOffline, guestMsg: "the device disconnected"})
		}
		ctx, cancel := s.dbctx()
		if err := s.st.TouchDevice(ctx, d.ID, s.now()); err != nil && !errors.Is(err, store.ErrNotFound) {
			log.Warn("recording last seen", "err", err)
			s.metrics.Dropped("last_seen")
		}
		cancel()
		s.audit(auditRec{Event: EvAgentDisconnected, Account: d.AccountID, Device: d.ID, Remote: ip})
		log.Info("agent disconnected")
	}
}

// flushAgentFailures writes the refused handshakes whose window is over
// (all of them at shutdown): one audit event per source, reason and
// account, with the count. It also writes the guests' refusals.
func (s *Server) flushAgentFailures(all bool) {
	s.flushTally(s.gd.agentFail, EvAgentAuthFailed, "devices", "agent authentications refused", all)
	s.flushTally(s.gd.guestFail, EvGuestRefused, "sessions", "guest requests refused", all)
}

// flushTally writes t's records whose window is over as event, the
// samples under samplesKey.
func (s *Server) flushTally(t *guard.Tally, event, samplesKey, logMsg string, all bool) {
	for _, c := range t.Due(all) {
		detail := map[string]any{"reason": c.Reason, "count": c.N,
			"first": c.From.UTC().Format(time.RFC3339), "last": c.To.UTC().Format(time.RFC3339)}
		if len(c.Samples) > 0 {
			detail[samplesKey] = c.Samples
		}
		remote := c.Source
		if remote == guard.Overflow {
			remote = ""
			detail["sources"] = "many"
		}
		s.log.Info(logMsg, "remote", c.Source, "reason", c.Reason, "count", c.N)
		s.audit(auditRec{Event: event, Account: c.Account, Remote: remote, Detail: detail})
	}
}

// agentRefusal ends a handshake with an error signal to the agent.
type agentRefusal struct {
	code, msg       string
	detail          string // for the log and audit
	device, account string
	audit           bool
	sig             string // the relay's signature over the verdict, for agents that asked for proof
}

func (e *agentRefusal) Error() string { return "agent refused: " + e.code + " (" + e.detail + ")" }

func readSignal(ctx context.Context, conn *websocket.Conn) (*wire.Signal, error) {
	typ, b, err := conn.Read(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageText {
		return nil, fmt.Errorf("%w: binary message", wire.ErrMalformed)
	}
	return wire.DecodeSignal(b)
}

// agentHandshake authenticates the agent: its hello (with its nonce), a
// fresh challenge (with the relay's signature over both nonces) and an
// Ed25519 signature with the key it enrolled.
func (s *Server) agentHandshake(conn *websocket.Conn, ip string) (_ store.Device, err error) {
	ctx, cancel := context.WithTimeout(s.ctx, handshakeTimeout)
	defer cancel()
	hello, err := readSignal(ctx, conn)
	if err != nil {
		if errors.Is(err, wire.ErrMalformed) {
			return store.Device{}, &agentRefusal{code: api.CodeBadRequest, msg: "expected a hello", detail: err.Error()}
		}
		return store.Device{}, err
	}
	if hello.Type != wire.SigHello || hello.Role != "agent" {
		return store.Device{}, &agentRefusal{code: api.CodeBadRequest, msg: `start with a hello with role "agent"`,
			detail: "no agent hello"}
	}
	if hello.Version < wire.MinVersion {
		return store.Device{}, &agentRefusal{code: "unsupported_version",
			msg:    fmt.Sprintf("protocol version %d is too old; this relay needs %d or newer: update the host", hello.Version, wire.MinVersion),
			detail: fmt.Sprintf("version %d", hello.Version)}
	}
	// A version-2 agent acts on nothing before the relay proves its key:
	// sign its nonce with ours. Older agents (no capability) are served the
	// old way so Hosts can be updated after their relay.
	var agentNonce []byte
	proof := hello.HasCap(wire.CapRelayProof)
	if proof {
		agentNonce, err = base64.StdEncoding.DecodeString(hello.Nonce)
		if err != nil || len(agentNonce) != wire.NonceSize {
			return store.Device{}, &agentRefusal{code: api.CodeBadRequest, msg: "the hello's nonce must be 32 random bytes in base64",
				detail: "bad agent nonce"}
		}
	}
	nonce := make([]byte, wire.NonceSize)
	rand.Read(nonce)
	// One key for the whole handshake, even if a rotation lands meanwhile.
	signKey, signPub, chain := s.ring.Current()
	ch := &wire.Signal{Type: wire.SigChallenge, Nonce: base64.StdEncoding.EncodeToString(nonce), Version: wire.Version}
	if proof {
		ch.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(signKey, wire.RelayProofMessage(wire.Version, agentNonce, nonce)))
		if hello.HasCap(wire.CapKeyRotation) {
			ch.Handovers = chain // Hosts that pinned an older key follow it
		}
	}
	b, _ := wire.EncodeSignal(ch)
	if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
		return store.Device{}, err
	}
	if proof {
		// From here on the agent acts only on refusals we sign for this
		// handshake.
		defer func() {
			var ae *agentRefusal
			if errors.As(err, &ae) {
				ae.sig = base64.StdEncoding.EncodeToString(ed25519.Sign(signKey, wire.VerdictMessage(agentNonce, nonce, ae.code)))
			}
		}()
	}
	auth, err := readSignal(ctx, conn)
	if err != nil {
		if errors.Is(err, wire.ErrMalformed) {
			return store.Device{}, &agentRefusal{code: api.CodeBadRequest, msg: "expected auth", detail: err.Error()}
		}
		return store.Device{}, err
	}
	if auth.Type != wire.SigAuth || auth.DeviceID == "" || len(auth.DeviceID) > maxID {
		return store.Device{}, &agentRefusal{code: api.CodeBadRequest, msg: "answer the challenge with auth", detail: "no auth"}
	}
	unauthorized := &agentRefusal{code: api.CodeUnauthorized, msg: "device authentication failed; enroll the device again",
		device: auth.DeviceID, audit: true}
	sig, err := base64.StdEncoding.DecodeString(auth.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		unauthorized.detail = "malformed signature"
		return store.Device{}, unauthorized
	}
	dctx, dcancel := s.dbctx()
	d, err := s.st.Device(dctx, auth.DeviceID)
	dcancel()
	if errors.Is(err, store.ErrNotFound) {
		if over := s.odDeviceGone(auth.DeviceID); over != nil {
			// The identity of an OnDemand agent whose key died: it exits.
			return store.Device{}, over
		}
		unauthorized.detail, unauthorized.device = "unknown device", ""
		unauthorized.code = api.CodeUnknownDevice
		unauthorized.msg = "this device is not enrolled with this relay (removed?); enroll it again"
		return store.Device{}, unauthorized
	} else if err != nil {
		return store.Device{}, err
	}
	unauthorized.account = d.AccountID
	pub, ok := parsePublicKey(d.PublicKey)
	if !ok {
		unauthorized.detail = "stored public key unusable"
		return store.Device{}, unauthorized
	}
	signed := wire.AuthMessage(nonce, d.ID, signPub)
	if proof {
		signed = wire.AuthMessageV2(agentNonce, nonce, d.ID, signPub)
	}
	if !ed25519.Verify(pub, signed, sig) {
		unauthorized.detail = "bad signature"
		return store.Device{}, unauthorized
	}
	if d.OnDemand {
		if over := s.odAgentCheck(d.ID); over != nil {
			return store.Device{}, over
		}
	}
	switch d.State {
	case store.Enrolled:
		return d, nil
	case store.Pending:
		return store.Device{}, &agentRefusal{code: "pending", device: d.ID, account: d.AccountID, detail: "pending",
			msg: "this device waits for an administrator to approve it"}
	default:
		return store.Device{}, &agentRefusal{code: api.CodeRevoked, device: d.ID, account: d.AccountID, audit: true,
			detail: "revoked", msg: "this device was revoked; reinstall the host with a new enrollment key"}
	}
}

// agentLoop reads an authenticated agent's signals until it goes away.
func (s *Server) agentLoop(a *agentConn) {
	for {
		sig, err := readSignal(s.ctx, a.conn)
		if err != nil {
			if errors.Is(err, wire.ErrMalformed) {
				a.send(&wire.Signal{Type: wire.SigError, Code: api.CodeBadRequest, Message: err.Error()})
				continue
			}
			if websocket.CloseStatus(err) == -1 && s.ctx.Err() == nil {
				a.log.Debug("agent read ended", "err", err)
			}
			return
		}
		switch sig.Type {
		case wire.SigInventory:
			s.agentInventory(a, sig)
		case wire.SigAnswer, wire.SigCandidate, wire.SigBye, wire.SigError:
			s.routeFromAgent(a, sig)
		case wire.SigAudit:
			s.agentAudit(a, sig)
		case wire.SigHello:
			// nothing to do: capabilities were read at connect time
		default:
			a.send(&wire.Signal{Type: wire.SigError, Session: sig.Session, Code: "unsupported",
				Message: fmt.Sprintf("agents may not send %q", sig.Type)})
		}
	}
}

// Events a host reports about its sessions, by the kind it sends.
var agentAuditEvents = map[string]string{
	"refused":       EvSessionRefused,
	"file_received": EvFileReceived,
	"file_sent":     EvFileSent,
}

// agentAudit records what the host did or refused in one of its own
// sessions, attributed to the session's technician.
func (s *Server) agentAudit(a *agentConn, sig *wire.Signal) {
	ev, ok := agentAuditEvents[sig.Code]
	if !ok || sig.Session == "" || len(sig.Session) > 64 || !validText(sig.Message, 1024) {
		a.send(&wire.Signal{Type: wire.SigError, Session: sig.Session, Code: api.CodeBadRequest, Message: "audit: unknown kind or malformed detail"})
		return
	}
	ctx, cancel := s.dbctx()
	defer cancel()
	se, err := s.st.Session(ctx, sig.Session)
	if err != nil || se.DeviceID != a.deviceID {
		a.send(&wire.Signal{Type: wire.SigError, Session: sig.Session, Code: api.CodeNotFound, Message: "audit: not a session of this device"})
		return
	}
	s.audit(auditRec{Event: ev, Account: se.AccountID, User: se.UserID, Device: a.deviceID,
		Detail: map[string]any{"session": se.ID, "detail": sig.Message}})
}

func (s *Server) agentInventory(a *agentConn, sig *wire.Signal) {
	if sig.Inventory == nil {
		a.send(&wire.Signal{Type: wire.SigError, Code: api.CodeBadRequest, Message: "inventory without inventory"})
		return
	}
	inv, err := checkInventory(sig.Inventory)
	if err != nil {
		var ae *apiError
		errors.As(err, &ae)
		a.send(&wire.Signal{Type: wire.SigError, Code: api.CodeBadRequest, Message: ae.Msg})
		return
	}
	ctx, cancel := s.dbctx()
	defer cancel()
	if err := s.st.UpdateInventory(ctx, a.deviceID, inv, s.now()); err != nil {
		a.log.Warn("recording inventory", "err", err)
		s.metrics.Dropped("inventory")
	}
}

// kickRemoved disconnects the agent of a device an administrator removed:
// "unknown device", so a Host that kept its package key may enroll again.
func (s *Server) kickRemoved(id string) {
	a := s.hub.agent(id)
	if a == nil {
		return
	}
	if a.ondemand {
		// Its key died (on another relay node, say): the agent exits.
		s.kickOnDemand(id, "this OnDemand session is over")
		return
	}
	a.log.Info("disconnecting agent: device removed")
	a.send(&wire.Signal{Type: wire.SigRevoked, Code: api.CodeUnknownDevice, Message: "this device was removed by an administrator"})
	a.closeWith(closeRevoked, "removed")
}

// kickDevice disconnects a device's agent after its state left
// "enrolled" (revoked, or set back to pending).
func (s *Server) kickDevice(id string) {
	a := s.hub.agent(id)
	if a == nil {
		return
	}
	a.log.Info("disconnecting agent: device no longer enrolled")
	a.send(&wire.Signal{Type: wire.SigRevoked, Code: api.CodeRevoked, Message: "this device was revoked or is no longer enrolled"})
	a.closeWith(closeRevoked, "revoked")
}
