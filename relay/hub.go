package relay

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/tandem-rc/tandem/transport/wire"
)

// WebSocket close codes the relay uses besides the standard ones.
const (
	closeReplaced websocket.StatusCode = 4000 // a newer connection of the same device took over
	closeRevoked  websocket.StatusCode = 4001 // the device was revoked or set pending
)

const (
	writeTimeout = 10 * time.Second
	peerQueue    = 128 // signals queued for one peer before it counts as stuck
	maxPending   = 64  // agent signals kept for a guest that has not connected yet
)

// peer is one WebSocket (an agent's or a guest's). Everything sent to it
// goes through a queue drained by its writer goroutine, so routing never
// blocks on a slow peer: a peer whose queue overflows is dropped. The
// writer also sends the keep-alive pings, so an idle peer costs its reader
// and its writer, and its queue holds no memory while empty.
type peer struct {
	conn    *websocket.Conn
	log     *slog.Logger
	wake    chan struct{} // one token: the queue has something
	done    chan struct{} // closed when the peer is finished
	once    sync.Once
	wg      sync.WaitGroup
	pinging atomic.Bool // a ping awaits its pong

	mu      sync.Mutex
	queue   []*outMsg // at most peerQueue
	closing bool      // a close is queued: nothing more is accepted
}

type outMsg struct {
	data   []byte
	close  bool
	code   websocket.StatusCode
	reason string
}

func newPeer(conn *websocket.Conn, log *slog.Logger) *peer {
	return &peer{conn: conn, log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// start runs the writer, which pings the peer every pingEvery.
func (p *peer) start(pingEvery, pingTimeout time.Duration) {
	p.wg.Add(1)
	go p.writeLoop(pingEvery, pingTimeout)
}

// stop drops the connection and waits for the writer and any ping.
func (p *peer) stop() {
	p.kill()
	p.wg.Wait()
}

func (p *peer) kill() {
	p.once.Do(func() {
		close(p.done)
		p.conn.CloseNow()
	})
}

// send queues s; false when the peer is gone or closing.
func (p *peer) send(s *wire.Signal) bool {
	b, err := wire.EncodeSignal(s)
	if err != nil {
		p.log.Warn("dropping unencodable signal", "type", s.Type, "err", err)
		return false
	}
	return p.enqueue(&outMsg{data: b})
}

// closeWith queues a close after everything already queued.
func (p *peer) closeWith(code websocket.StatusCode, reason string) {
	p.enqueue(&outMsg{close: true, code: code, reason: reason})
}

func (p *peer) enqueue(m *outMsg) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return false
	}
	if m.close {
		p.closing = true
	}
	select {
	case <-p.done:
		return false
	default:
	}
	if len(p.queue) >= peerQueue {
		p.log.Warn("peer is not reading; dropping it")
		go p.kill()
		return false
	}
	p.queue = append(p.queue, m)
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return true
}

// next takes the queue's first message, nil when it is empty.
func (p *peer) next() *outMsg {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) == 0 {
		return nil
	}
	m := p.queue[0]
	p.queue[0] = nil
	p.queue = p.queue[1:]
	if len(p.queue) == 0 {
		p.queue = nil // an idle peer keeps no array
	}
	return m
}

func (p *peer) writeLoop(pingEvery, pingTimeout time.Duration) {
	defer p.wg.Done()
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
			// The pong comes through the reader, and waiting for it here
			// would hold up the queue: a short-lived goroutine waits,
			// one ping at a time as before.
			if p.pinging.CompareAndSwap(false, true) {
				p.wg.Add(1)
				go p.ping(pingTimeout)
			}
		case <-p.wake:
			for m := p.next(); m != nil; m = p.next() {
				if !p.write(m) {
					return
				}
			}
		}
	}
}

// write sends m; false when the peer is finished.
func (p *peer) write(m *outMsg) bool {
	if m.close {
		p.conn.Close(m.code, m.reason)
		p.kill()
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	err := p.conn.Write(ctx, websocket.MessageText, m.data)
	cancel()
	if err != nil {
		p.log.Debug("websocket write failed", "err", err)
		p.kill()
		return false
	}
	return true
}

func (p *peer) ping(timeout time.Duration) {
	defer p.wg.Done()
	defer p.pinging.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	err := p.conn.Ping(ctx)
	cancel()
	if err != nil {
		select {
		case <-p.done:
		default:
			p.log.Debug("websocket peer stopped answering pings", "err", err)
			p.kill()
		}
	}
}

// agentConn is a device's authenticated connection.
type agentConn struct {
	*peer
	deviceID  string
	accountID string
	ondemand  bool // an OnDemand agent's ephemeral identity
}

// guestSide is where a session's guest signals go: its WebSocket on this
// node, or the node holding that WebSocket (relay/cluster).
type guestSide interface {
	send(*wire.Signal) bool
	closeWith(websocket.StatusCode, string)
}

// liveSession is a session between its grant and its end: who may take
// part and the guest's connection once it is there.
type liveSession struct {
	id, accountID, userID, deviceID string
	expires                         time.Time // the guest must connect before this
	guest                           guestSide
	reserved                        bool // a guest is connecting
	started                         bool
	ondemand                        string         // the OnDemand session it started; its end kills the key
	pending                         []*wire.Signal // agent signals for a guest not connected yet
}

// hub tracks the connected agents and the live sessions. Sends happen
// under its lock (they only queue), which keeps each peer's messages in
// routing order.
type hub struct {
	mu       sync.Mutex
	agents   map[string]*agentConn   // by device id
	sessions map[string]*liveSession // by session id
}

func newHub() *hub {
	return &hub{agents: make(map[string]*agentConn), sessions: make(map[string]*liveSession)}
}

// agentCount and sessionCount are read by the metrics.
func (h *hub) agentCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.agents)
}

func (h *hub) sessionCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

func (h *hub) sessionIDs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Collect(maps.Keys(h.sessions))
}

// online reports whether device id has a live agent connection.
func (h *hub) online(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.agents[id] != nil
}

// onlineIn counts accountID's installed Hosts connected here (OnDemand
// agents left out, as in the devices listing): one pass over the
// connections, however many devices the account has.
func (h *hub) onlineIn(accountID string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, a := range h.agents {
		if a.accountID == accountID && !a.ondemand {
			n++
		}
	}
	return n
}

func (h *hub) agent(id string) *agentConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.agents[id]
}

func (h *hub) agentIDs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Collect(maps.Keys(h.agents))
}

// addAgent makes a the device's connection, queues ready for it, and
// returns the connection it replaces. Both happen under the lock, so once
// the agent sees ready, everyone sees the device online.
func (h *hub) addAgent(a *agentConn, ready *wire.Signal) *agentConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.agents[a.deviceID]
	h.agents[a.deviceID] = a
	a.send(ready)
	return old
}

// removeAgent forgets a if it is still the device's connection and
// returns the ids of the device's live sessions then (nil when a had been
// replaced: its sessions continue on the new connection).
func (h *hub) removeAgent(a *agentConn) (current bool, sessions []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.agents[a.deviceID] != a {
		return false, nil
	}
	delete(h.agents, a.deviceID)
	for id, ls := range h.sessions {
		if ls.deviceID == a.deviceID {
			sessions = append(sessions, id)
		}
	}
	return true, sessions
}

// openSession registers ls and queues grant for the device's agent in one
// step; false when the device has no agent.
func (h *hub) openSession(ls *liveSession, grant *wire.Signal) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.agents[ls.deviceID]
	if a == nil {
		return false
	}
	h.sessions[ls.id] = ls
	if !a.send(grant) {
		delete(h.sessions, ls.id)
		return false
	}
	return true
}

// expired returns the sessions whose guest never came in time.
func (h *hub) expired(now time.Time) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ids []string
	for id, ls := range h.sessions {
		if ls.guest == nil && !ls.reserved && !now.Before(ls.expires) {
			ids = append(ids, id)
		}
	}
	return ids
}

// live reports whether session id is between its grant and its end here.
func (h *hub) live(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sessions[id] != nil
}
