package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/tandem-rc/tandem/transport/wire"
)

// Errors of a Peer; callers branch on them with errors.Is.
var (
	// ErrClosed: the peer or channel was closed locally.
	ErrClosed = errors.New("transport: closed")
	// ErrRemoteClosed: the other side ended the session (bye or DTLS close).
	ErrRemoteClosed = errors.New("transport: the remote peer ended the session")
	// ErrConnectionFailed: ICE or DTLS failed; no path between the peers.
	ErrConnectionFailed = errors.New("transport: connection failed")
	// ErrNoCandidates: gathering ended without a single local candidate, so
	// the peer cannot connect (no usable interface, or with RelayOnly the
	// TURN server is unreachable or refused the credentials).
	ErrNoCandidates = errors.New("transport: no ICE candidates could be gathered (check the network, or the TURN server address and credentials)")
	// ErrUnexpectedSignal: a signal this peer cannot take in its role or state.
	ErrUnexpectedSignal = errors.New("transport: unexpected signal")
	// ErrNotConnected: the peer has no nominated candidate pair yet.
	ErrNotConnected = errors.New("transport: not connected")
)

// Bye codes a Peer sends when it ends a session itself.
const (
	ByeClosed = "closed" // Close was called
	ByeFailed = "failed" // the connection failed (Err says why)
)

// Labels are the data channels of a session: the guest opens them, the host
// accepts exactly these.
var Labels = []string{wire.ChannelControl, wire.ChannelInput, wire.ChannelScreen, wire.ChannelFiles, wire.ChannelExec}

// sctpMinCwnd is SCTP's congestion window floor (bytes).
const sctpMinCwnd = 32 << 10

// maxEarlyCandidates bounds remote candidates held before the remote description.
const maxEarlyCandidates = 256

// Config configures a Peer.
type Config struct {
	// ICEServers come from the grant (host) or the session response (guest).
	ICEServers []wire.ICEServer
	// RelayOnly restricts ICE to TURN-relayed candidates
	// (ICETransportPolicyRelay): the peer's addresses stay hidden.
	RelayOnly bool
	// Loopback is for tests and demos: gather only on 127.0.0.1, include
	// loopback candidates, accept only loopback remote candidates, no mDNS.
	Loopback bool
	// Setting optionally supplies pion settings (for example a vnet
	// transport.Net or ICE timeouts). It is copied; Loopback and Logger are
	// applied on top of it.
	Setting *webrtc.SettingEngine
	// Logger receives pion's logs at debug level and this package's own.
	// Nil discards them.
	Logger *slog.Logger
}

// SendSignal sends one signal to the relay; the caller stamps the session id.
// The Peer calls it from pion's goroutines and from Start, HandleSignal and
// Close, so it must be safe for concurrent use, should not block for long,
// and must not call the Peer's Close.
type SendSignal func(*wire.Signal) error

// Peer is one side of a session's WebRTC connection. The guest offers and
// opens the data channels; the host answers and accepts them.
type Peer struct {
	role wire.Role
	send SendSignal
	log  *slog.Logger
	pc   *webrtc.PeerConnection

	connected chan struct{}
	done      chan struct{}
	connOnce  sync.Once

	sigMu sync.Mutex // serializes Start and HandleSignal: the SDP state machine

	mu         sync.Mutex
	err        error
	finishing  bool // done is closing or closed
	started    bool
	remoteSet  bool                      // the remote description is applied
	early      []webrtc.ICECandidateInit // remote candidates that came before it
	localSent  bool                      // our offer/answer went out
	held       []*wire.Signal            // local candidates gathered before that
	nLocal     int                       // local candidates gathered
	channels   map[string]*Channel
	opened     map[string]chan struct{} // closed when that channel is open
	openedOnce map[string]*sync.Once
}

// NewPeer creates a peer. The guest (wire.RoleGuest) creates the data
// channels now and offers in Start; the host (wire.RoleHost) waits for the
// offer in HandleSignal.
func NewPeer(cfg Config, role wire.Role, send SendSignal) (*Peer, error) {
	if role != wire.RoleGuest && role != wire.RoleHost {
		return nil, fmt.Errorf("transport: invalid role %d", role)
	}
	if send == nil {
		return nil, errors.New("transport: no signal sender")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	var se webrtc.SettingEngine
	if cfg.Setting != nil {
		se = *cfg.Setting
	}
	if cfg.Logger != nil || se.LoggerFactory == nil {
		se.LoggerFactory = pionLoggers{log}
	}
	if cfg.Loopback {
		se.SetIncludeLoopbackCandidate(true)
		se.SetInterfaceFilter(isLoopbackInterface)
		se.SetIPFilter(isLoopbackIPv4)
		se.SetRemoteIPFilter(isLoopbackIPv4)
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	}
	// Random loss (Wi-Fi, 4G) is not congestion: without a floor, SCTP
	// halves its window at each loss, and at 1 % loss a screen frame then
	// takes several round trips. The screen's Pacer keeps at most about
	// one frame in the link, so the floor only lets a frame go at the
	// link's rate; a bulk transfer keeps at most the floor queued.
	se.SetSCTPMinCwnd(sctpMinCwnd)
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))

	pcfg := webrtc.Configuration{ICEServers: iceServers(cfg.ICEServers)}
	if cfg.RelayOnly {
		pcfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := api.NewPeerConnection(pcfg)
	if err != nil {
		return nil, fmt.Errorf("transport: new peer connection: %w", err)
	}

	p := &Peer{
		role:       role,
		send:       send,
		log:        log.With("role", roleName(role)),
		pc:         pc,
		connected:  make(chan struct{}),
		done:       make(chan struct{}),
		channels:   map[string]*Channel{},
		opened:     map[string]chan struct{}{},
		openedOnce: map[string]*sync.Once{},
	}
	for _, l := range Labels {
		p.opened[l] = make(chan struct{})
		p.openedOnce[l] = new(sync.Once)
	}

	pc.OnICECandidate(p.onLocalCandidate)
	pc.OnConnectionStateChange(p.onStateChange)
	pc.OnDataChannel(p.onDataChannel)

	if role == wire.RoleGuest {
		for _, l := range Labels {
			// Defaults: reliable and ordered.
			dc, err := pc.CreateDataChannel(l, nil)
			if err != nil {
				_ = pc.Close()
				return nil, fmt.Errorf("transport: create data channel %q: %w", l, err)
			}
			p.attach(dc)
		}
	}
	return p, nil
}

func roleName(r wire.Role) string {
	if r == wire.RoleHost {
		return "host"
	}
	return "guest"
}

func iceServers(in []wire.ICEServer) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(in))
	for _, s := range in {
		w := webrtc.ICEServer{URLs: append([]string(nil), s.URLs...)}
		if s.Username != "" || s.Credential != "" {
			w.Username = s.Username
			w.Credential = s.Credential
			w.CredentialType = webrtc.ICECredentialTypePassword
		}
		out = append(out, w)
	}
	return out
}

func isLoopbackIPv4(ip net.IP) bool { return ip.To4() != nil && ip.IsLoopback() }

func isLoopbackInterface(name string) bool {
	if ifi, err := net.InterfaceByName(name); err == nil {
		return ifi.Flags&net.FlagLoopback != 0
	}
	return name == "lo" || name == "lo0" // pion vnet and unknown names
}

// Start begins the session: the guest creates the offer, sets it as its
// local description and sends it; the host does nothing (it answers the
// offer in HandleSignal).
func (p *Peer) Start(ctx context.Context) error {
	if p.role != wire.RoleGuest {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p.sigMu.Lock()
	defer p.sigMu.Unlock()
	p.mu.Lock()
	started, finishing := p.started, p.finishing
	p.started = true
	p.mu.Unlock()
	if finishing {
		return p.doneErr()
	}
	if started {
		return errors.New("transport: peer already started")
	}
	offer, err := p.pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("transport: create offer: %w", err)
	}
	if err := p.pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("transport: set local offer: %w", err)
	}
	if err := p.send(&wire.Signal{Type: wire.SigOffer, SDP: offer.SDP}); err != nil {
		return fmt.Errorf("transport: send offer: %w", err)
	}
	p.flushLocalCandidates()
	return nil
}

// HandleSignal takes one signal from the relay: offer (the host answers it),
// answer (guest), candidate (applied, or held until the remote description
// is set: pion refuses candidates before it) and bye (ends the peer with
// ErrRemoteClosed). Other types return ErrUnexpectedSignal, which callers
// may log and ignore.
func (p *Peer) HandleSignal(s *wire.Signal) error {
	if s == nil {
		return fmt.Errorf("%w: nil", ErrUnexpectedSignal)
	}
	if s.Type == wire.SigBye {
		reason := s.Message
		if reason == "" {
			reason = s.Code
		}
		p.finish(fmt.Errorf("%w: %s", ErrRemoteClosed, reason), "")
		return nil
	}
	select {
	case <-p.done:
		return p.doneErr()
	default:
	}
	p.sigMu.Lock()
	defer p.sigMu.Unlock()
	switch s.Type {
	case wire.SigOffer:
		return p.handleOffer(s.SDP)
	case wire.SigAnswer:
		return p.handleAnswer(s.SDP)
	case wire.SigCandidate:
		return p.handleCandidate(s.Candidate)
	}
	return fmt.Errorf("%w %q", ErrUnexpectedSignal, s.Type)
}

func (p *Peer) handleOffer(sdp string) error {
	if p.role != wire.RoleHost {
		return fmt.Errorf("%w: the guest received an offer", ErrUnexpectedSignal)
	}
	if p.pc.RemoteDescription() != nil {
		return fmt.Errorf("%w: second offer (renegotiation is not supported)", ErrUnexpectedSignal)
	}
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return fmt.Errorf("transport: set remote offer: %w", err)
	}
	p.applyEarlyCandidates()
	answer, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("transport: create answer: %w", err)
	}
	if err := p.pc.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("transport: set local answer: %w", err)
	}
	if err := p.send(&wire.Signal{Type: wire.SigAnswer, SDP: answer.SDP}); err != nil {
		return fmt.Errorf("transport: send answer: %w", err)
	}
	p.flushLocalCandidates()
	return nil
}

func (p *Peer) handleAnswer(sdp string) error {
	if p.role != wire.RoleGuest {
		return fmt.Errorf("%w: the host received an answer", ErrUnexpectedSignal)
	}
	if p.pc.LocalDescription() == nil {
		return fmt.Errorf("%w: answer before Start", ErrUnexpectedSignal)
	}
	if p.pc.RemoteDescription() != nil {
		return fmt.Errorf("%w: second answer", ErrUnexpectedSignal)
	}
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return fmt.Errorf("transport: set remote answer: %w", err)
	}
	p.applyEarlyCandidates()
	return nil
}

func (p *Peer) handleCandidate(raw json.RawMessage) error {
	var c webrtc.ICECandidateInit
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("%w: candidate: %v", wire.ErrMalformed, err)
	}
	p.mu.Lock()
	if !p.remoteSet {
		defer p.mu.Unlock()
		if len(p.early) >= maxEarlyCandidates {
			return fmt.Errorf("transport: more than %d candidates before the remote description", maxEarlyCandidates)
		}
		p.early = append(p.early, c)
		return nil
	}
	p.mu.Unlock()
	if err := p.pc.AddICECandidate(c); err != nil {
		return fmt.Errorf("transport: add candidate: %w", err)
	}
	return nil
}

// applyEarlyCandidates runs under sigMu right after the remote description
// is set. A bad candidate is logged, not fatal: others may still work.
func (p *Peer) applyEarlyCandidates() {
	p.mu.Lock()
	early := p.early
	p.early, p.remoteSet = nil, true
	p.mu.Unlock()
	for _, c := range early {
		if err := p.pc.AddICECandidate(c); err != nil {
			p.log.Warn("transport: early remote candidate refused", "err", err)
		}
	}
}

func (p *Peer) onLocalCandidate(c *webrtc.ICECandidate) {
	if c == nil { // gathering complete
		p.mu.Lock()
		n := p.nLocal
		p.mu.Unlock()
		if n == 0 {
			go p.finish(ErrNoCandidates, ByeFailed)
		}
		return
	}
	b, err := json.Marshal(c.ToJSON())
	if err != nil {
		p.log.Warn("transport: encode local candidate", "err", err)
		return
	}
	s := &wire.Signal{Type: wire.SigCandidate, Candidate: b}
	p.mu.Lock()
	p.nLocal++
	if !p.localSent {
		p.held = append(p.held, s)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.sendCandidate(s)
}

// flushLocalCandidates sends the candidates gathered before our description
// went out; later ones are sent as they come.
func (p *Peer) flushLocalCandidates() {
	p.mu.Lock()
	held := p.held
	p.held, p.localSent = nil, true
	p.mu.Unlock()
	for _, s := range held {
		p.sendCandidate(s)
	}
}

func (p *Peer) sendCandidate(s *wire.Signal) {
	if err := p.send(s); err != nil {
		p.log.Warn("transport: send candidate", "err", err)
	}
}

func (p *Peer) onStateChange(st webrtc.PeerConnectionState) {
	p.log.Debug("transport: connection state", "state", st.String())
	switch st {
	case webrtc.PeerConnectionStateConnected:
		p.connOnce.Do(func() { close(p.connected) })
	case webrtc.PeerConnectionStateFailed:
		go p.finish(ErrConnectionFailed, ByeFailed)
	case webrtc.PeerConnectionStateClosed:
		// Ours (finish) or the remote's DTLS close_notify.
		go p.finish(ErrRemoteClosed, "")
	}
}

func (p *Peer) onDataChannel(dc *webrtc.DataChannel) {
	label := dc.Label()
	p.mu.Lock()
	_, dup := p.channels[label]
	ok := p.role == wire.RoleHost && p.opened[label] != nil && !dup && !p.finishing
	p.mu.Unlock()
	if !ok {
		p.log.Warn("transport: refusing data channel", "label", label)
		dc.OnOpen(func() { _ = dc.Close() })
		return
	}
	p.attach(dc)
}

// attach wires a data channel of ours; it runs before pion delivers any of
// its events.
func (p *Peer) attach(dc *webrtc.DataChannel) {
	label := dc.Label()
	c := newChannel(dc)
	p.mu.Lock()
	p.channels[label] = c
	once, opened := p.openedOnce[label], p.opened[label]
	finishing := p.finishing // finish has taken its snapshot of channels
	p.mu.Unlock()
	if finishing {
		c.shutdown(ErrClosed)
	}
	dc.OnOpen(func() { once.Do(func() { close(opened) }) })
	dc.OnMessage(c.onMessage)
	dc.OnBufferedAmountLow(c.onBufferedLow)
	// Our own closes shut the channel down first (finish), so a close seen
	// here comes from the other side.
	dc.OnClose(func() { c.shutdown(fmt.Errorf("%w: channel %q closed", ErrRemoteClosed, label)) })
}

// Channel returns the data channel with that label once it is open. It
// fails when the peer ends first or ctx is done.
func (p *Peer) Channel(ctx context.Context, label string) (*Channel, error) {
	p.mu.Lock()
	opened := p.opened[label]
	p.mu.Unlock()
	if opened == nil {
		return nil, fmt.Errorf("transport: unknown channel %q", label)
	}
	select {
	case <-p.done:
		return nil, p.doneErr()
	default:
	}
	select {
	case <-opened:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.channels[label], nil
	case <-p.done:
		return nil, p.doneErr()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Connected is closed once ICE and DTLS are connected.
func (p *Peer) Connected() <-chan struct{} { return p.connected }

// Done is closed when the peer failed or was closed.
func (p *Peer) Done() <-chan struct{} { return p.done }

// Err says why Done is closed: nil after Close, ErrRemoteClosed (wrapped
// with the reason) when the other side ended, ErrConnectionFailed or
// ErrNoCandidates on failure.
func (p *Peer) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *Peer) doneErr() error {
	if err := p.Err(); err != nil {
		return err
	}
	return ErrClosed
}

// SelectedPair returns the candidate types ("host", "srflx", "prflx",
// "relay") of the nominated pair.
func (p *Peer) SelectedPair() (local, remote string, err error) {
	sctp := p.pc.SCTP()
	if sctp == nil || sctp.Transport() == nil || sctp.Transport().ICETransport() == nil {
		return "", "", ErrNotConnected
	}
	pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil {
		return "", "", fmt.Errorf("transport: selected pair: %w", err)
	}
	if pair == nil || pair.Local == nil || pair.Remote == nil {
		return "", "", ErrNotConnected
	}
	return pair.Local.Typ.String(), pair.Remote.Typ.String(), nil
}

// BytesReceived is the ICE transport's received byte count (DTLS records
// carrying every channel), as a browser's RTCTransportStats.bytesReceived.
func (p *Peer) BytesReceived() uint64 {
	sctp := p.pc.SCTP()
	if sctp == nil || sctp.Transport() == nil || sctp.Transport().ICETransport() == nil {
		return 0
	}
	return sctp.Transport().ICETransport().Stats().BytesReceived
}

// Close ends the peer: it sends a best-effort bye (code ByeClosed) so the
// remote ends promptly, closes the channels and the connection, and waits
// for pion's goroutines. It is idempotent; Err stays nil.
func (p *Peer) Close() error {
	p.finish(nil, ByeClosed)
	<-p.done
	return nil
}

// finish ends the peer once with err, sending a bye with byeCode unless it
// is empty. Later calls wait for nothing and change nothing.
func (p *Peer) finish(err error, byeCode string) {
	p.mu.Lock()
	if p.finishing {
		p.mu.Unlock()
		return
	}
	p.finishing = true
	p.err = err
	chans := make([]*Channel, 0, len(p.channels))
	for _, c := range p.channels {
		chans = append(chans, c)
	}
	p.mu.Unlock()

	if err != nil {
		p.log.Info("transport: peer ended", "err", err)
	}
	closeErr := err
	if closeErr == nil {
		closeErr = ErrClosed
	}
	// Channels first: this unblocks pion read loops waiting on a full
	// receive queue, which GracefulClose waits for. And before the bye: the
	// remote's reaction to it closes our channels, and a local close must
	// not be reported as the remote's doing.
	for _, c := range chans {
		c.shutdown(closeErr)
	}
	if byeCode != "" {
		bye := &wire.Signal{Type: wire.SigBye, Code: byeCode}
		if err != nil {
			bye.Message = err.Error()
		}
		if serr := p.send(bye); serr != nil {
			p.log.Debug("transport: send bye", "err", serr)
		}
	}
	if cerr := p.pc.GracefulClose(); cerr != nil {
		p.log.Debug("transport: close peer connection", "err", cerr)
	}
	close(p.done)
}
