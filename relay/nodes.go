package relay

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/cluster"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// Several relay nodes on one PostgreSQL database (relay/cluster): a
// session lives on the node that holds its Host (the owner); a guest whose
// WebSocket reached another node has its signals carried between the two
// by cluster messages of these kinds.
const (
	msgGrant     = "grant"      // to the owner: register the session, hand the grant to the Host
	msgJoin      = "join"       // to the owner: the session's guest is on the sender
	msgToAgent   = "to_agent"   // to the owner: a guest's signal
	msgGuestLeft = "guest_left" // to the owner: the guest's WebSocket closed
	msgToGuest   = "to_guest"   // to the guest's node: a signal for the guest
	msgClose     = "close"      // to the guest's node: close the guest's WebSocket
	msgKick      = "kick"       // to a node: the device's Host connected elsewhere
	msgModels    = "models"     // to all: access rules changed, drop cached models
	msgODOver    = "od_over"    // to all: an OnDemand key died; its agent's node disconnects it
)

// nodes is this relay's cluster state.
type nodes struct {
	mu     sync.Mutex
	guests map[string]*farGuest // by session: guests here of sessions owned elsewhere
}

// farGuest is a guest connected here whose session's Host is on owner.
type farGuest struct {
	owner  string
	peer   *peer // nil while its WebSocket is being accepted
	closed bool  // the owner closed it: no guest_left back
}

// grantMsg carries what the owner needs of a session granted elsewhere.
type grantMsg struct {
	Account, User string
	Expires       int64
	Grant         *wire.Signal
	OnDemand      string `json:",omitempty"` // the OnDemand session: its end kills the key
}

type answer struct {
	OK   bool   `json:"ok"`
	Code string `json:"code,omitempty"`
}

// joinCluster makes this relay a node of the cluster on cfg.DB: the
// cluster's identity replaces key and secret (the first node stores its
// own, so a relay that ran alone keeps its Hosts).
func joinCluster(ctx context.Context, cfg Config, key ed25519.PrivateKey, secret string) (*cluster.Node, ed25519.PrivateKey, string, error) {
	n, ckey, csecret, err := cluster.Open(ctx, cluster.Config{URL: cfg.DB, Logger: cfg.Logger,
		Heartbeat: cfg.NodeHeartbeat, DeadAfter: 4 * cfg.NodeHeartbeat}, key, secret)
	if err != nil {
		return nil, nil, "", err
	}
	if !ckey.Equal(key) {
		cfg.Logger.Info("relay: using the cluster's signing key, not this data directory's")
	}
	return n, ckey, csecret, nil
}

// startCluster starts the node's loops with the relay's handlers.
func (s *Server) startCluster(ctx context.Context) error {
	s.far = &nodes{guests: make(map[string]*farGuest)}
	s.models.changed = func() { s.cl.Post("", cluster.Message{Kind: msgModels}) }
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return s.cl.Start(ctx, cluster.Handlers{Handle: s.handleNodeMsg, Lost: s.nodeLost, Rejoined: s.reclaim})
}

// online reports whether device id's Host is connected here or to
// another live node.
func (s *Server) online(ctx context.Context, id string) bool {
	if s.hub.online(id) {
		return true
	}
	if s.cl == nil {
		return false
	}
	node, err := s.cl.Locate(ctx, id)
	if err != nil {
		s.log.Warn("locating a device", "device", id, "err", err)
	}
	return node != ""
}

// openLive registers ls and hands grant to its Host, here or on the node
// holding it; false when the Host is nowhere.
func (s *Server) openLive(ctx context.Context, ls *liveSession, grant *wire.Signal) bool {
	if s.openHere(ls, grant) || s.cl == nil {
		return s.hub.live(ls.id)
	}
	owner, err := s.cl.Locate(ctx, ls.deviceID)
	if err != nil || owner == "" || owner == s.cl.ID() {
		return false
	}
	data, _ := json.Marshal(grantMsg{Account: ls.accountID, User: ls.userID, Expires: ls.expires.Unix(), Grant: grant, OnDemand: ls.ondemand})
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r, err := s.cl.Call(cctx, owner, cluster.Message{Kind: msgGrant, Session: ls.id, Device: ls.deviceID, Data: data})
	if err != nil {
		s.log.Warn("handing a grant to another node", "session", ls.id, "node", owner, "err", err)
		return false
	}
	var a answer
	return json.Unmarshal(r.Data, &a) == nil && a.OK
}

// claimPresence records that this node holds device id's Host; a live
// node that held it before drops its stale connection.
func (s *Server) claimPresence(id string) {
	if s.cl == nil {
		return
	}
	ctx, cancel := s.dbctx()
	defer cancel()
	prev, alive, err := s.cl.Claim(ctx, id)
	if err != nil {
		s.log.Warn("recording presence", "device", id, "err", err)
	} else if alive {
		s.cl.Post(prev, cluster.Message{Kind: msgKick, Device: id})
	}
}

func (s *Server) releasePresence(id string) {
	if s.cl == nil {
		return
	}
	ctx, cancel := s.dbctx()
	defer cancel()
	if err := s.cl.Release(ctx, id); err != nil {
		s.log.Warn("dropping presence", "device", id, "err", err)
	}
}

// reclaim records again the Hosts held here, after the others took this
// node for dead.
func (s *Server) reclaim() {
	for _, id := range s.hub.agentIDs() {
		s.claimPresence(id)
	}
}

// nodeLost ends the sessions a dead node held: nobody else can.
func (s *Server) nodeLost(node string, sessions []string) {
	ctx, cancel := s.dbctx()
	defer cancel()
	for _, id := range sessions {
		se, err := s.st.Session(ctx, id)
		if err != nil || !se.EndedAt.IsZero() || s.hub.live(id) {
			continue
		}
		s.endSessionRow(se, "relay_node_lost")
		// An OnDemand key works for one session: it dies with it.
		if o, err := s.st.OnDemandBySession(ctx, se.ID); err == nil && o.State == store.ODStarted {
			s.odKill(o, store.ODEnded, "", "relay_node_lost")
		}
	}
}

// openHere registers ls and queues grant for its Host on this node, and
// records that this node holds the session.
func (s *Server) openHere(ls *liveSession, grant *wire.Signal) bool {
	if !s.hub.openSession(ls, grant) {
		return false
	}
	if s.cl != nil {
		ctx, cancel := s.dbctx()
		defer cancel()
		if err := s.cl.Own(ctx, ls.id); err != nil {
			s.log.Warn("recording the session's node", "session", ls.id, "err", err)
		}
	}
	return true
}

// disown forgets that this node holds session id (it ended).
func (s *Server) disown(id string) {
	if s.cl == nil {
		return
	}
	ctx, cancel := s.dbctx()
	defer cancel()
	if err := s.cl.Disown(ctx, id); err != nil {
		s.log.Warn("forgetting the session's node", "session", id, "err", err)
	}
}

// handleNodeMsg acts on a message from another node. The nodes trust each
// other (they share the database); the checks keep a late or confused
// message from touching a session it is not about.
func (s *Server) handleNodeMsg(m cluster.Message) *cluster.Message {
	switch m.Kind {
	case msgModels:
		s.models.drop()
	case msgKeys:
		s.reloadKeys()
	case msgODOver:
		var msg string
		if json.Unmarshal(m.Data, &msg) == nil && s.hub.agent(m.Device) != nil {
			s.kickOnDemand(m.Device, msg)
		}
	case msgKick:
		s.nodeKick(m.Device)
	case msgGrant:
		return s.nodeGrant(m)
	case msgJoin:
		return s.nodeJoin(m)
	case msgToAgent, msgGuestLeft:
		s.nodeFromGuest(m)
	case msgToGuest, msgClose:
		s.nodeToGuest(m)
	default:
		s.log.Warn("unknown cluster message", "kind", m.Kind, "from", m.From)
	}
	return nil
}

func reply(a answer) *cluster.Message {
	b, _ := json.Marshal(a)
	return &cluster.Message{Data: b}
}

// nodeKick drops this node's connection of a Host that connected to
// another node, unless it came back here meanwhile.
func (s *Server) nodeKick(device string) {
	a := s.hub.agent(device)
	if a == nil {
		return
	}
	ctx, cancel := s.dbctx()
	node, err := s.cl.Locate(ctx, device)
	cancel()
	if err != nil || node == s.cl.ID() {
		return
	}
	a.log.Info("agent connection replaced by a newer one on another node", "node", node)
	a.send(&wire.Signal{Type: wire.SigError, Code: "replaced", Message: "a newer connection of this device took over"})
	a.closeWith(closeReplaced, "replaced")
}

func (s *Server) nodeGrant(m cluster.Message) *cluster.Message {
	var g grantMsg
	if err := json.Unmarshal(m.Data, &g); err != nil || g.Grant == nil || g.Grant.Type != wire.SigGrant || g.Grant.Session != m.Session {
		return reply(answer{Code: api.CodeBadRequest})
	}
	ls := &liveSession{id: m.Session, accountID: g.Account, userID: g.User, deviceID: m.Device, expires: time.Unix(g.Expires, 0),
		ondemand: g.OnDemand}
	if !s.openHere(ls, g.Grant) {
		return reply(answer{Code: api.CodeDeviceOffline})
	}
	return reply(answer{OK: true})
}

// remoteGuest is, on a session's owner, its guest on another node.
type remoteGuest struct {
	s             *Server
	node, session string
}

func (g *remoteGuest) send(sig *wire.Signal) bool {
	b, err := wire.EncodeSignal(sig)
	if err != nil {
		return false
	}
	return g.s.cl.Post(g.node, cluster.Message{Kind: msgToGuest, Session: g.session, Data: b})
}

func (g *remoteGuest) closeWith(code websocket.StatusCode, reason string) {
	b, _ := json.Marshal(struct {
		Code   websocket.StatusCode
		Reason string
	}{code, reason})
	g.s.cl.Post(g.node, cluster.Message{Kind: msgClose, Session: g.session, Data: b})
}

// nodeJoin attaches a guest on node m.From to a session owned here.
func (s *Server) nodeJoin(m cluster.Message) *cluster.Message {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	ls := h.sessions[m.Session]
	switch {
	case ls == nil:
		return reply(answer{Code: api.CodeSessionEnded})
	case ls.guest != nil || ls.reserved:
		return reply(answer{Code: api.CodeSessionBusy})
	}
	g := &remoteGuest{s: s, node: m.From, session: ls.id}
	ls.guest = g
	g.send(&wire.Signal{Type: wire.SigReady, Session: ls.id})
	for _, p := range ls.pending {
		g.send(p)
	}
	ls.pending = nil
	s.log.Info("guest connected through another node", "session", ls.id, "node", m.From)
	return reply(answer{OK: true})
}

// nodeFromGuest handles a far guest's signal or departure.
func (s *Server) nodeFromGuest(m cluster.Message) {
	h := s.hub
	h.mu.Lock()
	ls := h.sessions[m.Session]
	var ok bool
	if ls != nil {
		g, isFar := ls.guest.(*remoteGuest)
		ok = isFar && g.node == m.From
	}
	h.mu.Unlock()
	if !ok {
		return
	}
	if m.Kind == msgGuestLeft {
		s.endSession(ls.id, "guest_disconnected", endOpts{agentCode: "guest_left", agentMsg: "the guest disconnected"})
		return
	}
	sig, err := wire.DecodeSignal(m.Data)
	if err != nil || checkSignal(sig) != "" || (sig.Type != wire.SigOffer && sig.Type != wire.SigCandidate && sig.Type != wire.SigBye) {
		return
	}
	sig.Session = ls.id
	s.fromGuest(ls, sig)
}

// nodeToGuest passes the owner's signal or close to a guest here.
func (s *Server) nodeToGuest(m cluster.Message) {
	s.far.mu.Lock()
	fg := s.far.guests[m.Session]
	if fg == nil || fg.peer == nil || fg.owner != m.From {
		s.far.mu.Unlock()
		return
	}
	p := fg.peer
	if m.Kind == msgClose {
		fg.closed = true
	}
	s.far.mu.Unlock()
	if m.Kind == msgClose {
		var c struct {
			Code   websocket.StatusCode
			Reason string
		}
		json.Unmarshal(m.Data, &c)
		p.closeWith(c.Code, c.Reason)
		return
	}
	if sig, err := wire.DecodeSignal(m.Data); err == nil && sig.Session == m.Session {
		p.send(sig)
	}
}

// remoteSignal serves a guest's signaling WebSocket for a session whose
// Host is on another node: its signals go there and back.
func (s *Server) remoteSignal(w http.ResponseWriter, r *http.Request, se store.Session) error {
	ended := errf(http.StatusConflict, api.CodeSessionEnded, "this session has ended; request a new one")
	owner, err := s.cl.Locate(r.Context(), se.DeviceID)
	if err != nil {
		return err
	}
	if owner == "" || owner == s.cl.ID() {
		return ended
	}
	fg := &farGuest{owner: owner}
	s.far.mu.Lock()
	if s.far.guests[se.ID] != nil {
		s.far.mu.Unlock()
		return errf(http.StatusConflict, api.CodeSessionBusy, "this session already has a guest connected")
	}
	s.far.guests[se.ID] = fg
	s.far.mu.Unlock()
	defer func() {
		s.far.mu.Lock()
		delete(s.far.guests, se.ID)
		s.far.mu.Unlock()
	}()

	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: s.front.OriginHosts(r)})
	if err != nil {
		return nil
	}
	conn.SetReadLimit(wire.MaxSignalSize)
	g := newPeer(conn, s.log.With("session", se.ID, "remote", remoteIP(r), "owner", owner))
	g.start(s.cfg.PingInterval, s.cfg.PingTimeout)
	defer g.stop()
	s.far.mu.Lock()
	fg.peer = g
	s.far.mu.Unlock()

	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	rep, err := s.cl.Call(ctx, owner, cluster.Message{Kind: msgJoin, Session: se.ID})
	cancel()
	var a answer
	if err == nil {
		err = json.Unmarshal(rep.Data, &a)
	}
	if err != nil || !a.OK {
		code := a.Code
		if code == "" {
			code = api.CodeSessionEnded
		}
		g.send(&wire.Signal{Type: wire.SigBye, Session: se.ID, Code: code, Message: "the session cannot be joined"})
		g.closeWith(websocket.StatusNormalClosure, "session ended")
		s.guestDrain(g)
		return nil
	}
	g.log.Info("guest connected; its Host is on another node")
	s.guestLoop(se.ID, se.AccountID, remoteIP(r), g, func(sig *wire.Signal) {
		b, err := wire.EncodeSignal(sig)
		if err == nil {
			s.cl.Post(owner, cluster.Message{Kind: msgToAgent, Session: se.ID, Data: b})
		}
	})
	s.far.mu.Lock()
	closed := fg.closed
	s.far.mu.Unlock()
	// A node stopping does not end the sessions it only carried signals
	// for: the peers go on, their Host's node ends them.
	if !closed && s.ctx.Err() == nil {
		s.cl.Post(owner, cluster.Message{Kind: msgGuestLeft, Session: se.ID})
	}
	return nil
}
