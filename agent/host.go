// Package agent is the controlled side's session engine, shared by the Host
// service and the OnDemand agent: it keeps the connection to the relay,
// verifies every grant itself and runs WebRTC sessions that stream the
// screen and apply input only as far as the grant allows.
package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

// Errors that end Run: the relay no longer accepts this device.
var (
	ErrRevoked = errors.New("agent: this device was revoked or removed by an administrator; re-enroll with a new key")
	ErrPending = errors.New("agent: enrollment is pending approval by an administrator")
	// ErrRelayKeyChanged: enrolling again was answered with a relay key
	// other than the pinned one; the host stops with its identity intact.
	ErrRelayKeyChanged = errors.New("agent: re-enrollment refused: the relay's key is not the one this host pinned")
	// errReEnrolled ends a connection after the device enrolled again: the
	// next one authenticates as the new device.
	errReEnrolled = errors.New("agent: enrolled again; reconnecting")
)

// Options configure a Host.
type Options struct {
	RelayURL string
	DeviceID string
	Key      ed25519.PrivateKey // device identity
	RelayKey ed25519.PublicKey  // pinned at enrollment; grants must verify with it
	Version  string
	OnDemand bool

	Logger *slog.Logger
	Clock  func() time.Time
	HTTP   *http.Client
	// Transport is the template for each session's peer; ICE servers come
	// from the grant.
	Transport transport.Config
	// Capture and Input open the platform's screen and input for a session.
	Capture func() (capture.Capturer, error)
	Input   func() (input.Injector, error)
	// Windows opens the window enumeration that enforces a grant's
	// application whitelist; nil = OpenWindows on $DISPLAY.
	Windows func() (Windows, error)
	// Inventory describes the machine; called at each (re)connection.
	Inventory func() *wire.Inventory
	// WaitPending: keep retrying while the device is pending (service mode)
	// instead of returning ErrPending.
	WaitPending bool
	// Confirm asks the local user to allow sessions whose grant says
	// ConfirmLocal; nil refuses them. ConfirmTimeout bounds the wait
	// (default ConfirmTimeout, 30 s).
	Confirm        ConfirmUI
	ConfirmTimeout time.Duration
	// ReEnroll enrolls this device again when the relay no longer knows it
	// (an administrator removed it): with the kept package key, it succeeds
	// only while the package accepts enrollments. It returns the new device
	// id and key; nil: a removed device stops like a revoked one. An error
	// with a RelayKeyChanged() bool method that reports true (the answer
	// carried another relay key) stops Run with ErrRelayKeyChanged; other
	// errors stop it as revoked. Only a relay that proved the pinned key
	// can make the host call it.
	ReEnroll func(ctx context.Context) (deviceID string, key ed25519.PrivateKey, err error)
	// OnRelayKeyRotated saves a new pinned relay key, called once a relay
	// proved it with a hand-over chain signed from the pinned key (see
	// followHandovers). An error is logged: the key is used in memory and
	// the next start follows the chain again.
	OnRelayKeyRotated func(ed25519.PublicKey) error
	// OnEvent is told about session starts/ends, refusals and file
	// transfers (session indicator, local audit); may be nil.
	OnEvent func(Event)
	// Files configures file transfer (sessions granted file_transfer).
	Files FilesOptions
	// ChatUI shows the technician's chat messages to the local user
	// (sessions granted chat); nil means LogChatUI on Logger.
	ChatUI ChatUI
	// Exec configures command execution (sessions granted execute_command).
	Exec ExecOptions
	// Power carries out power actions (sessions granted power); nil
	// refuses them all, so only a host that sets it (tandem-host sets
	// SystemPower) can ever reboot anything.
	Power Power
	// Clipboard, InputLock and ScreenBlank open the local desktop's
	// clipboard, input lock and screen blanking for one session; nil means
	// the platform's (OpenClipboard, ... on $DISPLAY).
	Clipboard   func() (Clipboard, error)
	InputLock   func() (InputLocker, error)
	ScreenBlank func() (ScreenBlanker, error)
	// Desktop finds the graphical session at each session start (a
	// DesktopTracker, for the openers above to follow it) and tells
	// whether it is locked or nobody is logged in, for the grant's
	// exceptions. nil: state unknown, no exception applies.
	Desktop Discoverer
	// Indicator shows the local user each live session with a Disconnect
	// button; nil shows nothing.
	Indicator Indicator
}

// Event is something the local user or log should know about.
type Event struct {
	Kind       string // "session_started", "session_ended", "refused", "relay_key_rotated", "file_received", "file_sent", "chat_received", "chat_sent", "command_started", "command_ended", "power_action", "input_lock", "screen_blank", "connected", "disconnected", "re_enrolled", "re_enroll_refused", "confirm_email_ignored"
	SessionID  string
	Technician string
	Detail     string
}

// Host keeps the agent's relay connection and its sessions.
type Host struct {
	o   Options
	log *slog.Logger

	mu       sync.Mutex
	sessions map[string]*Session
	audits   chan *wire.Signal    // session events for the relay's audit log
	used     map[string]time.Time // session ids already granted: replays refused until expiry
	conn     *transport.SignalConn
	uploads  map[string]string // upload targets in progress → session id
	closed   bool
	cancel   context.CancelFunc
	// over: an OnDemand run is finished (its session ended, or the local
	// user left the queue); Run returns nil then.
	over bool
	// served: an OnDemand run accepted its grant; the key the relay then
	// declares over is that session's end, not a refusal.
	served bool
	// retry spaces reconnection attempts (tests inject its rand).
	retry *backoff
}

// New validates options and returns a Host ready to Run.
func New(o Options) (*Host, error) {
	if o.RelayURL == "" || o.DeviceID == "" {
		return nil, errors.New("agent: relay URL and device id are required")
	}
	if len(o.Key) != ed25519.PrivateKeySize || len(o.RelayKey) != ed25519.PublicKeySize {
		return nil, errors.New("agent: device key and pinned relay key are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Capture == nil || o.Input == nil {
		return nil, errors.New("agent: capture and input openers are required")
	}
	if o.Inventory == nil {
		o.Inventory = DefaultInventory(o.Version, nil)
	}
	if o.Transport.Logger == nil {
		o.Transport.Logger = o.Logger
	}
	if o.ChatUI == nil {
		o.ChatUI = LogChatUI{Log: o.Logger}
	}
	if o.Power == nil {
		o.Power = noPower{}
	}
	return &Host{o: o, log: o.Logger, sessions: map[string]*Session{}, used: map[string]time.Time{},
		uploads: map[string]string{}, audits: make(chan *wire.Signal, 256), retry: newBackoff()}, nil
}

// Run connects to the relay and serves sessions until ctx ends, the device
// is revoked (ErrRevoked) or, unless WaitPending, still pending (ErrPending).
// An OnDemand run ends after its one session (nil), or with ErrOnDemandOver
// when the relay ends its key before any session (rejected, expired).
// Lost connections are retried with capped exponential backoff and full
// jitter (backoff).
func (h *Host) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	h.mu.Lock()
	if h.closed || h.over {
		h.mu.Unlock()
		cancel()
		return nil
	}
	h.cancel = cancel
	h.mu.Unlock()
	defer cancel()
	defer h.endAll("agent stopped")
	go h.reportAudits(ctx)

	h.retry.reset()
	for {
		start := h.o.Clock()
		err := h.connectOnce(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrOnDemandOver):
			h.log.Info("the relay ended this OnDemand session", "err", err)
			h.mu.Lock()
			served := h.served
			h.mu.Unlock()
			if served {
				return nil
			}
			return err
		case errors.Is(err, ErrRevoked) && h.o.OnDemand:
			// The relay deletes an OnDemand identity once its key is dead.
			return fmt.Errorf("%w: %w", ErrOnDemandOver, err)
		case errors.Is(err, ErrRevoked):
			h.log.Error("relay refused this device", "err", err)
			return err
		case errors.Is(err, ErrRelayKeyChanged):
			return err
		case errors.Is(err, ErrPending) && !h.o.WaitPending:
			return err
		case errors.Is(err, errReEnrolled):
			h.retry.reset()
			continue
		}
		h.event(Event{Kind: "disconnected", Detail: errString(err)})
		if h.o.Clock().Sub(start) > time.Minute {
			h.retry.reset()
		}
		wait := h.retry.next()
		h.log.Warn("relay connection lost; retrying", "err", err, "in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// reEnroll handles the relay's "unknown device" (an administrator removed
// it): with ReEnroll, enroll again and reconnect as the new device; without
// it, or if the package no longer accepts enrollments, stop as revoked.
func (h *Host) reEnroll(ctx context.Context, s *wire.Signal) error {
	if h.o.ReEnroll == nil {
		return fmt.Errorf("%w (%s: %s)", ErrRevoked, s.Code, s.Message)
	}
	h.endAll("device removed by an administrator")
	id, key, err := h.o.ReEnroll(ctx)
	var kc interface{ RelayKeyChanged() bool }
	if errors.As(err, &kc) && kc.RelayKeyChanged() {
		// Whoever answered the enrollment is not the relay this host
		// pinned: keep the identity as it is and stop, loudly.
		h.log.Error("re-enrollment refused: the answer carries a relay key other than the pinned one; identity unchanged",
			"relay", h.o.RelayURL, "err", err)
		h.event(Event{Kind: "re_enroll_refused", Detail: err.Error()})
		return fmt.Errorf("%w: %w", ErrRelayKeyChanged, err)
	}
	if err != nil {
		return fmt.Errorf("%w (removed by an administrator; enrolling again failed: %v)", ErrRevoked, err)
	}
	h.mu.Lock()
	h.o.DeviceID, h.o.Key = id, key
	h.mu.Unlock()
	h.log.Info("this device was removed from the relay and enrolled again", "device", id)
	h.event(Event{Kind: "re_enrolled", Detail: id})
	return errReEnrolled
}

// Disconnect ends the running sessions at once, as the local user asks
// (a Disconnect button, the Ctrl+Shift+X hotkey): each says bye to its
// guest and to the relay. An OnDemand run then ends; one still waiting in
// the queue ends at once.
func (h *Host) Disconnect() {
	h.mu.Lock()
	ss := make([]*Session, 0, len(h.sessions))
	for _, s := range h.sessions {
		ss = append(ss, s)
	}
	h.mu.Unlock()
	h.log.Info("the local user disconnected", "sessions", len(ss))
	for _, s := range ss {
		s.disconnectLocal()
	}
	if h.o.OnDemand && len(ss) == 0 {
		h.finishOnDemand()
	}
}

// ReasonLocalDisconnect is the end reason of sessions the local user ended.
const ReasonLocalDisconnect = localDisconnect

// finishOnDemand ends an OnDemand run: it serves one session only.
func (h *Host) finishOnDemand() {
	h.mu.Lock()
	h.over = true
	cancel := h.cancel
	h.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// Close ends Run and every session. Idempotent.
func (h *Host) Close() error {
	h.mu.Lock()
	h.closed = true
	cancel := h.cancel
	h.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	h.endAll("agent closed")
	return nil
}

// endDetail says why a session ended: its error, else the reason it was
// ended for (technician, local user, relay).
func endDetail(s *Session, err error) string {
	if err != nil {
		return err.Error()
	}
	return s.reason()
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (h *Host) event(e Event) {
	if h.o.OnEvent != nil {
		h.o.OnEvent(e)
	}
	switch e.Kind {
	case "refused", "file_received", "file_sent":
		if e.SessionID == "" {
			return
		}
		// Never blocks a session: a guest spamming refused messages fills
		// the queue and the excess is only logged here.
		select {
		case h.audits <- &wire.Signal{Type: wire.SigAudit, Session: e.SessionID, Code: e.Kind, Message: truncate(e.Detail, 1024)}:
		default:
			h.log.Warn("audit queue full: event not reported to the relay", "kind", e.Kind, "session", e.SessionID)
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// reportAudits sends queued session events to the relay while connected;
// those queued while disconnected go out on the next connection.
func (h *Host) reportAudits(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case sig := <-h.audits:
			h.mu.Lock()
			c := h.conn
			h.mu.Unlock()
			if c == nil {
				h.log.Warn("relay unreachable: session event not reported", "kind", sig.Code, "session", sig.Session)
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := c.Send(sctx, sig); err != nil {
				h.log.Warn("reporting a session event", "kind", sig.Code, "err", err)
			}
			cancel()
		}
	}
}

// connectOnce runs one relay connection: hello, challenge/auth, inventory,
// then the signal loop.
func (h *Host) connectOnce(ctx context.Context) error {
	url := strings.TrimRight(h.o.RelayURL, "/") + "/api/v1/agent/connect"
	conn, err := transport.Dial(ctx, url, nil)
	if err != nil {
		return fmt.Errorf("agent: connect to relay: %w", err)
	}
	defer conn.Close()

	// Our nonce, which the relay must sign with the key we pinned before we
	// act on anything it says.
	agentNonce := make([]byte, wire.NonceSize)
	if _, err := rand.Read(agentNonce); err != nil {
		return err
	}
	if err := conn.Send(ctx, &wire.Signal{Type: wire.SigHello, Role: "agent", Version: wire.Version,
		Nonce: base64.StdEncoding.EncodeToString(agentNonce),
		Caps:  []string{wire.CapScreenTiles, wire.CapScreenTilesV2, wire.CapInput, wire.CapFragments, wire.CapRelayProof, wire.CapKeyRotation}}); err != nil {
		return err
	}
	if err := h.authenticate(ctx, conn, agentNonce); err != nil {
		return err
	}
	h.mu.Lock()
	h.conn = conn
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		if h.conn == conn {
			h.conn = nil
		}
		h.mu.Unlock()
	}()
	inv := h.o.Inventory()
	inv.OnDemand = h.o.OnDemand
	if err := conn.Send(ctx, &wire.Signal{Type: wire.SigInventory, Inventory: inv}); err != nil {
		return err
	}
	h.log.Info("connected to relay", "relay", h.o.RelayURL, "device", h.o.DeviceID)
	h.event(Event{Kind: "connected"})

	for {
		s, err := conn.Recv(ctx)
		if err != nil {
			return err
		}
		switch s.Type {
		case wire.SigRevoked, wire.SigError:
			if h.o.OnDemand && s.Code == wire.CodeOnDemandOver {
				return fmt.Errorf("%w (%s)", ErrOnDemandOver, s.Message)
			}
			if s.Type == wire.SigError {
				h.relayError(s)
				continue
			}
			// Removed or revoked: nothing on this connection is signed, so
			// the next handshake's signed verdict decides (enroll again,
			// stop) — never this message.
			h.log.Warn("the relay says this device was removed or revoked; reconnecting to confirm",
				"code", s.Code, "message", truncate(s.Message, 200))
			return fmt.Errorf("agent: relay: %s (%s)", s.Message, s.Code)
		case wire.SigRekey:
			// The pinned key's own signature moves the pin, nothing else.
			if next, err := followHandovers(h.o.RelayKey, s.Handovers, h.o.Clock()); err != nil {
				h.log.Warn("ignoring a relay key hand-over", "err", err)
			} else {
				h.repin(next)
			}
		case wire.SigGrant:
			h.onGrant(ctx, s)
		case wire.SigConfirm:
			h.mu.Lock()
			sess := h.sessions[s.Session]
			h.mu.Unlock()
			if sess != nil {
				sess.remoteConfirm(s.Code == "allowed")
			}
		case wire.SigOffer, wire.SigCandidate, wire.SigBye:
			h.mu.Lock()
			sess := h.sessions[s.Session]
			h.mu.Unlock()
			if sess == nil {
				if s.Type != wire.SigBye {
					h.log.Debug("signal for unknown session dropped", "type", s.Type, "session", s.Session)
				}
				continue
			}
			sess.signal(s)
		default:
			h.log.Debug("ignoring signal", "type", s.Type)
		}
	}
}

func (h *Host) relayError(s *wire.Signal) {
	if s.Code == "unknown_session" {
		// Our farewell for a session the relay already closed.
		h.log.Debug("relay: session already closed", "session", s.Session)
		return
	}
	h.log.Warn("relay reported an error", "code", s.Code, "message", s.Message, "session", s.Session)
}

// errUnproven: whoever answered the relay URL has not proven the pinned
// relay key. Run treats it as a lost connection: logged, retried with
// backoff, and nothing the peer said is acted on.
var errUnproven = errors.New("agent: the relay has not proven its key")

// authenticate runs the handshake. Until the challenge carries a valid
// signature with the pinned relay key over our nonce, nothing the peer
// sends is acted on: an error or refusal is only logged and the connection
// retried like a network failure (an impostor must not make the Host
// re-enroll, stop or change any state). Only then do we sign, and only a
// refusal the relay signed for this handshake (VerdictMessage) counts.
func (h *Host) authenticate(ctx context.Context, conn *transport.SignalConn, agentNonce []byte) error {
	var relayNonce []byte // set once the relay proved its key
	for {
		s, err := conn.Recv(ctx)
		if err != nil {
			return err
		}
		if relayNonce == nil {
			switch s.Type {
			case wire.SigHello:
				continue // says nothing we act on
			case wire.SigChallenge:
				nonce, err := h.verifyChallenge(s, agentNonce)
				if err != nil {
					h.log.Error("the relay did not prove its key: not authenticating", "relay", h.o.RelayURL, "err", err)
					return err
				}
				relayNonce = nonce
				h.mu.Lock()
				id, key := h.o.DeviceID, h.o.Key
				h.mu.Unlock()
				sig := ed25519.Sign(key, wire.AuthMessageV2(agentNonce, nonce, id, h.o.RelayKey))
				if err := conn.Send(ctx, &wire.Signal{Type: wire.SigAuth, DeviceID: id,
					Signature: base64.StdEncoding.EncodeToString(sig)}); err != nil {
					return err
				}
				continue
			}
			h.log.Warn("ignoring what the relay sent before proving its key", "relay", h.o.RelayURL,
				"type", s.Type, "code", s.Code, "message", truncate(s.Message, 200))
			return fmt.Errorf("%w: it sent %q (%s) first", errUnproven, s.Type, s.Code)
		}
		switch s.Type {
		case wire.SigReady:
			return nil
		case wire.SigError, wire.SigRevoked:
			// Only a refusal the relay signed for this handshake: anyone
			// between us could write the others.
			sig, _ := base64.StdEncoding.DecodeString(s.Signature)
			if !ed25519.Verify(h.o.RelayKey, wire.VerdictMessage(agentNonce, relayNonce, s.Code), sig) {
				h.log.Error("ignoring a refusal the relay did not sign", "relay", h.o.RelayURL,
					"type", s.Type, "code", s.Code, "message", truncate(s.Message, 200))
				return fmt.Errorf("%w: unsigned refusal %q", errUnproven, s.Code)
			}
			if h.o.OnDemand && s.Code == wire.CodeOnDemandOver {
				return fmt.Errorf("%w (%s)", ErrOnDemandOver, s.Message)
			}
			switch s.Code {
			case "pending":
				return fmt.Errorf("%w: %s", ErrPending, s.Message)
			case "unknown_device":
				return h.reEnroll(ctx, s)
			case "revoked", "unauthorized":
				return fmt.Errorf("%w (%s: %s)", ErrRevoked, s.Code, s.Message)
			}
			return fmt.Errorf("agent: relay refused the connection: %s (%s)", s.Message, s.Code)
		default:
			return fmt.Errorf("agent: unexpected %q before authentication", s.Type)
		}
	}
}

// verifyChallenge checks the relay's proof: its signature, with the key
// this agent pinned, over our nonce and its own. It returns the relay's
// nonce.
func (h *Host) verifyChallenge(s *wire.Signal, agentNonce []byte) ([]byte, error) {
	nonce, err := base64.StdEncoding.DecodeString(s.Nonce)
	if err != nil || len(nonce) != wire.NonceSize {
		return nil, fmt.Errorf("%w: malformed challenge", errUnproven)
	}
	if s.Signature == "" {
		return nil, fmt.Errorf("%w: its challenge carries no proof (a relay older than protocol %d? update it)", errUnproven, wire.Version)
	}
	sig, err := base64.StdEncoding.DecodeString(s.Signature)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed proof", errUnproven)
	}
	msg := wire.RelayProofMessage(s.Version, agentNonce, nonce)
	var rotated ed25519.PublicKey
	if !ed25519.Verify(h.o.RelayKey, msg, sig) {
		// Maybe the relay rotated its key: only a chain of hand-overs
		// signed from our pinned key to a key that signed this very proof
		// (over our fresh nonce) moves the pin.
		next, herr := followHandovers(h.o.RelayKey, s.Handovers, h.o.Clock())
		if herr != nil || !ed25519.Verify(next, msg, sig) {
			if herr == nil {
				herr = errors.New("the proof does not verify with the handed-over key either")
			}
			return nil, fmt.Errorf("%w: its proof does not verify with the pinned relay key (%v)", errUnproven, herr)
		}
		rotated = next
	}
	if s.Version != 0 && s.Version < wire.MinVersion {
		return nil, fmt.Errorf("agent: relay speaks protocol %d, this host needs ≥ %d", s.Version, wire.MinVersion)
	}
	if rotated != nil {
		h.repin(rotated)
	}
	return nonce, nil
}

// repin makes key the pinned relay key: in memory at once (the handshake
// goes on with it), on disk through OnRelayKeyRotated.
func (h *Host) repin(key ed25519.PublicKey) {
	old := base64.StdEncoding.EncodeToString(h.o.RelayKey)
	h.mu.Lock()
	h.o.RelayKey = key
	h.mu.Unlock()
	nk := base64.StdEncoding.EncodeToString(key)
	h.log.Info("the relay rotated its signing key with a hand-over signed by the pinned key: pinned the new key",
		"relay", h.o.RelayURL, "old", old, "new", nk)
	if h.o.OnRelayKeyRotated != nil {
		if err := h.o.OnRelayKeyRotated(key); err != nil {
			h.log.Error("saving the new relay key failed; it is used until this agent stops", "err", err)
		}
	}
	h.event(Event{Kind: "relay_key_rotated", Detail: nk})
}

// followHandovers walks a relay's key hand-overs (oldest first) from the
// pinned key: each step must be signed by the key before it and valid now.
// Links older than the pinned key are skipped. It returns the last key
// reached, which differs from pinned.
func followHandovers(pinned ed25519.PublicKey, chain []wire.KeyHandover, now time.Time) (ed25519.PublicKey, error) {
	if len(chain) == 0 {
		return nil, errors.New("no key hand-over offered")
	}
	if len(chain) > wire.MaxHandovers {
		return nil, fmt.Errorf("%d key hand-overs offered, at most %d are followed", len(chain), wire.MaxHandovers)
	}
	cur := pinned
	for _, ho := range chain {
		old, err := base64.StdEncoding.DecodeString(ho.Old)
		if err != nil || !cur.Equal(ed25519.PublicKey(old)) {
			continue // not from the key we hold (an older link)
		}
		nk, err1 := base64.StdEncoding.DecodeString(ho.New)
		sig, err2 := base64.StdEncoding.DecodeString(ho.Signature)
		if err1 != nil || err2 != nil || len(nk) != ed25519.PublicKeySize {
			return nil, errors.New("malformed key hand-over")
		}
		if !ed25519.Verify(cur, wire.HandoverMessage(cur, nk, ho.NotBefore, ho.NotAfter), sig) {
			return nil, errors.New("a key hand-over is not signed by the key it hands over from")
		}
		if now.Add(policy.ClockSkew).Before(time.Unix(ho.NotBefore, 0)) || now.Add(-policy.ClockSkew).After(time.Unix(ho.NotAfter, 0)) {
			return nil, fmt.Errorf("the key hand-over is valid from %s to %s only: enroll again",
				time.Unix(ho.NotBefore, 0).UTC().Format(time.RFC3339), time.Unix(ho.NotAfter, 0).UTC().Format(time.RFC3339))
		}
		cur = nk
	}
	if cur.Equal(pinned) {
		return nil, errors.New("no key hand-over from the pinned key")
	}
	return cur, nil
}

// onGrant verifies a grant and starts its session. The relay is trusted to
// route, never to authorize: a grant that does not verify against the pinned
// key, names another device, is expired or replayed is refused here.
func (h *Host) onGrant(ctx context.Context, s *wire.Signal) {
	now := h.o.Clock()
	g, err := policy.Verify(s.Grant, h.o.RelayKey, h.o.DeviceID, now)
	if err == nil && g.SessionID != s.Session {
		err = fmt.Errorf("%w: grant is for session %s, not %s", policy.ErrGrantMalformed, g.SessionID, s.Session)
	}
	h.mu.Lock()
	if err == nil {
		for id, exp := range h.used {
			if now.After(exp.Add(policy.ClockSkew)) {
				delete(h.used, id)
			}
		}
		if _, dup := h.used[g.SessionID]; dup {
			err = fmt.Errorf("%w: session %s was already granted (replay)", policy.ErrGrantMalformed, g.SessionID)
		} else {
			h.used[g.SessionID] = time.Unix(g.ExpiresAt, 0)
		}
	}
	conn := h.conn
	h.mu.Unlock()
	var guard *appGuard
	var locked, noUser bool
	if err == nil {
		// Found again at each session start: users log out and in.
		_, locked, noUser = h.hostState(ctx)
	}
	if err == nil && g.Whitelist != nil {
		if why := waived(g.WhitelistExceptLocked, g.WhitelistExceptNoUser, locked, noUser); why != "" {
			h.log.Info("application whitelist not enforced", "session", g.SessionID, "because", why)
			h.event(Event{Kind: "whitelist_waived", SessionID: g.SessionID, Technician: technician(g), Detail: why})
		} else {
			guard, err = h.openGuard(g)
		}
	}
	if err != nil {
		h.log.Warn("grant refused", "session", s.Session, "err", err)
		h.event(Event{Kind: "refused", SessionID: s.Session, Detail: err.Error()})
		if conn != nil {
			_ = conn.Send(ctx, &wire.Signal{Type: wire.SigError, Session: s.Session, Code: "grant_refused", Message: err.Error()})
		}
		return
	}
	send := func(sig *wire.Signal) error {
		sig.Session = g.SessionID
		h.mu.Lock()
		c := h.conn
		h.mu.Unlock()
		if c == nil {
			return errors.New("agent: relay connection lost")
		}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return c.Send(sctx, sig)
	}
	sess := newSession(h, g, send)
	sess.guard = guard
	sess.locked, sess.noUser = locked, noUser
	h.mu.Lock()
	h.sessions[g.SessionID] = sess
	h.served = true
	h.mu.Unlock()
	go func() {
		err := sess.run(ctx)
		if guard != nil {
			guard.w.Close()
		}
		h.mu.Lock()
		delete(h.sessions, g.SessionID)
		h.mu.Unlock()
		h.log.Info("session ended", "session", g.SessionID, "technician", g.User.Email, "err", err)
		h.event(Event{Kind: "session_ended", SessionID: g.SessionID, Technician: g.User.Email, Detail: endDetail(sess, err)})
		if h.o.OnDemand {
			h.finishOnDemand()
		}
	}()
}

func (h *Host) endAll(reason string) {
	h.mu.Lock()
	ss := make([]*Session, 0, len(h.sessions))
	for _, s := range h.sessions {
		ss = append(ss, s)
	}
	h.mu.Unlock()
	for _, s := range ss {
		s.end(reason)
	}
}

// Sessions returns the ids of the running sessions.
func (h *Host) Sessions() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]string, 0, len(h.sessions))
	for id := range h.sessions {
		ids = append(ids, id)
	}
	return ids
}

// claimFile reserves an upload target so two sessions never write the same
// part file.
func (h *Host) claimFile(path, session string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, busy := h.uploads[path]; busy {
		return false
	}
	h.uploads[path] = session
	return true
}

func (h *Host) releaseFile(path string) {
	h.mu.Lock()
	delete(h.uploads, path)
	h.mu.Unlock()
}
