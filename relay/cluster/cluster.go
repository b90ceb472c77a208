// Package cluster lets several relay nodes share one PostgreSQL database,
// the only shared engine: one identity (signing key and TURN secret, made
// once), a presence table of which node holds which Host (rows of a node
// whose heartbeat stopped are reaped by the others), and messages between
// nodes over LISTEN/NOTIFY (a payload too big for a notification goes
// through a table row). It knows nothing of sessions or signals: the relay
// gives meaning to the messages.
package cluster

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Limits on what crosses between nodes.
const (
	// notifyMax is the largest payload sent inline: PostgreSQL refuses
	// notifications of 8000 bytes or more.
	notifyMax = 7000
	// MaxMessage bounds one message (a table row beyond notifyMax).
	MaxMessage = 1 << 20
	// queueLen is how many posted messages wait for the sender.
	queueLen = 4096
)

// Message is one note from a node to another (or to all). Kind says what
// it is; the relay gives the other fields their meaning.
type Message struct {
	Kind    string          `json:"k"`
	From    string          `json:"f"`
	To      string          `json:"t,omitempty"` // "" to all
	Reply   string          `json:"r,omitempty"` // a Call's id: the answer carries it back
	Session string          `json:"s,omitempty"`
	Device  string          `json:"d,omitempty"`
	Data    json.RawMessage `json:"x,omitempty"`
}

// KindReply answers a Call.
const KindReply = "reply"

// Config configures a Node.
type Config struct {
	URL    string // the postgres:// URL the store uses
	Logger *slog.Logger
	// Heartbeat is how often the node says it is alive; a node silent for
	// its DeadAfter is dead, and its presence rows go. Defaults 5 s and four
	// heartbeats.
	Heartbeat, DeadAfter time.Duration
}

// Handlers are the relay's side of the cluster.
type Handlers struct {
	// Handle is called for each message to this node (or to all), one at a
	// time in arrival order; it must not Call. A non-nil answer to a Call is
	// sent back.
	Handle func(m Message) *Message
	// Lost is told the sessions a dead node held: nobody can end them but
	// the others. Rejoined is called when this node was taken for dead and came
	// back: its presence rows must be claimed again.
	Lost     func(node string, sessions []string)
	Rejoined func()
}

// Node is this relay's membership in the cluster.
type Node struct {
	cfg     Config
	h       Handlers
	log     *slog.Logger
	id      string
	db      *sql.DB
	connCfg *pgx.ConnConfig
	prefix  string // channel name prefix: the cluster's id

	out chan Message

	mu    sync.Mutex
	calls map[string]chan Message

	ctx     context.Context // ended by Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started bool
	closed  bool
	once    sync.Once
}

// Open joins the cluster on the database at cfg.URL: it creates the
// cluster's tables if needed, takes the cluster's identity (see Identity)
// and registers a new node id. Start starts its loops; Close leaves.
func Open(ctx context.Context, cfg Config, key ed25519.PrivateKey, secret string) (*Node, ed25519.PrivateKey, string, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 5 * time.Second
	}
	if cfg.DeadAfter <= 0 {
		cfg.DeadAfter = 4 * cfg.Heartbeat
	}
	cc, err := pgx.ParseConfig(cfg.URL)
	if err != nil {
		return nil, nil, "", errors.New("cluster: invalid PostgreSQL URL")
	}
	db := stdlib.OpenDB(*cc)
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(2)
	n := &Node{cfg: cfg, id: randomID(), db: db, connCfg: cc, out: make(chan Message, queueLen),
		calls: make(map[string]chan Message)}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.log = cfg.Logger.With("node", n.id)
	fail := func(err error) (*Node, ed25519.PrivateKey, string, error) {
		n.cancel()
		db.Close()
		return nil, nil, "", err
	}
	if err := n.migrate(ctx); err != nil {
		return fail(err)
	}
	key, secret, err = n.identity(ctx, key, secret)
	if err != nil {
		return fail(err)
	}
	if _, err := n.db.ExecContext(ctx, `INSERT INTO cluster_nodes (id, started, expires) VALUES ($1, now(), now() + make_interval(secs => $2))`,
		n.id, n.cfg.DeadAfter.Seconds()); err != nil {
		return fail(fmt.Errorf("cluster: register node: %w", err))
	}
	return n, key, secret, nil
}

func randomID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (n *Node) migrate(ctx context.Context) error {
	// One statement at a time: several nodes may start together, and
	// CREATE TABLE IF NOT EXISTS can still collide on the type; the
	// advisory lock orders them.
	conn, err := n.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(7466231)`); err != nil {
		return fmt.Errorf("cluster: lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7466231)`)
	for _, q := range []string{
		// One row: what every node shares. cluster_id names the channels,
		// so clusters in other schemas of the same database stay apart.
		`CREATE TABLE IF NOT EXISTS cluster_identity (
			id INTEGER PRIMARY KEY CHECK (id = 1),
			cluster_id TEXT NOT NULL,
			signing_key BYTEA NOT NULL,
			turn_secret TEXT NOT NULL,
			created TIMESTAMPTZ NOT NULL DEFAULT now())`,
		// A node is alive until expires, which each heartbeat pushes on by
		// the node's own DeadAfter: nodes need not agree on a heartbeat.
		`CREATE TABLE IF NOT EXISTS cluster_nodes (
			id TEXT PRIMARY KEY,
			started TIMESTAMPTZ NOT NULL,
			expires TIMESTAMPTZ NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS cluster_presence (
			device TEXT PRIMARY KEY,
			node TEXT NOT NULL,
			since TIMESTAMPTZ NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS cluster_presence_node ON cluster_presence (node)`,
		// Which node holds which live session: a dead node's are ended by
		// the others.
		`CREATE TABLE IF NOT EXISTS cluster_sessions (
			session TEXT PRIMARY KEY,
			node TEXT NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS cluster_sessions_node ON cluster_sessions (node)`,
		`CREATE TABLE IF NOT EXISTS cluster_messages (
			id BIGSERIAL PRIMARY KEY,
			body TEXT NOT NULL,
			created TIMESTAMPTZ NOT NULL DEFAULT now())`,
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("cluster: migrate: %w", err)
		}
	}
	return nil
}

// ID is this node's id, new at each start.
func (n *Node) ID() string { return n.id }

// identity returns the cluster's signing key and TURN secret: the stored
// ones, or — when this is the first node — key and secret, stored
// atomically (of nodes starting together, one wins and all use its).
func (n *Node) identity(ctx context.Context, key ed25519.PrivateKey, secret string) (ed25519.PrivateKey, string, error) {
	if _, err := n.db.ExecContext(ctx, `INSERT INTO cluster_identity (id, cluster_id, signing_key, turn_secret)
		VALUES (1, $1, $2, $3) ON CONFLICT (id) DO NOTHING`, randomID(), []byte(key.Seed()), secret); err != nil {
		return nil, "", fmt.Errorf("cluster: store identity: %w", err)
	}
	var seed []byte
	var sec string
	if err := n.db.QueryRowContext(ctx, `SELECT cluster_id, signing_key, turn_secret FROM cluster_identity WHERE id = 1`).
		Scan(&n.prefix, &seed, &sec); err != nil {
		return nil, "", fmt.Errorf("cluster: identity: %w", err)
	}
	if len(seed) != ed25519.SeedSize || len(sec) < 16 {
		return nil, "", errors.New("cluster: the stored identity is unusable")
	}
	return ed25519.NewKeyFromSeed(seed), sec, nil
}

func (n *Node) channel(node string) string { return "tandem_" + n.prefix + "_" + node }

// Start runs the node's loops (heartbeat and reaping, sending, listening)
// until Close, and returns once this node is listening, so messages to it
// from now on arrive.
func (n *Node) Start(ctx context.Context, h Handlers) error {
	n.mu.Lock()
	if n.started || n.closed {
		n.mu.Unlock()
		return errors.New("cluster: started twice or closed")
	}
	n.started, n.h = true, h
	ready := make(chan struct{})
	n.wg.Add(3)
	n.mu.Unlock()
	go n.sender()
	go n.heartbeat()
	go func() { defer n.wg.Done(); n.listen(ready) }()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cluster: not listening: %w", ctx.Err())
	}
}

// listen delivers notifications, reconnecting when the connection drops
// (what was sent meanwhile is lost: signaling retries, sessions time out).
func (n *Node) listen(ready chan struct{}) {
	for wait := 100 * time.Millisecond; n.ctx.Err() == nil; wait = min(2*wait, 5*time.Second) {
		err := n.listenOnce(ready)
		if n.ctx.Err() != nil {
			break
		}
		n.log.Warn("cluster: listening connection lost; reconnecting", "err", err)
		select {
		case <-n.ctx.Done():
		case <-time.After(wait):
		}
	}
}

func (n *Node) listenOnce(ready chan struct{}) error {
	conn, err := pgx.ConnectConfig(n.ctx, n.connCfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(n.ctx))
	for _, ch := range []string{n.channel(n.id), n.channel("all")} {
		if _, err := conn.Exec(n.ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return err
		}
	}
	select {
	case <-ready:
	default:
		close(ready)
	}
	for {
		nt, err := conn.WaitForNotification(n.ctx)
		if err != nil {
			return err
		}
		m, err := n.decode(nt.Payload)
		if err != nil {
			n.log.Warn("cluster: dropping a bad message", "err", err)
			continue
		}
		n.deliver(m)
	}
}

// decode reads a payload: a message, or "#<id>" naming a table row.
func (n *Node) decode(p string) (Message, error) {
	var m Message
	if ref, ok := strings.CutPrefix(p, "#"); ok {
		id, err := strconv.ParseInt(ref, 10, 64)
		if err != nil {
			return m, fmt.Errorf("bad reference %q", ref)
		}
		ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
		err = n.db.QueryRowContext(ctx, `DELETE FROM cluster_messages WHERE id = $1 RETURNING body`, id).Scan(&p)
		cancel()
		if err != nil {
			return m, fmt.Errorf("message %d: %w", id, err)
		}
	}
	if len(p) > MaxMessage {
		return m, errors.New("message too large")
	}
	err := json.Unmarshal([]byte(p), &m)
	return m, err
}

func (n *Node) deliver(m Message) {
	if m.From == n.id || (m.To != "" && m.To != n.id) {
		return // our own broadcast, or a stray
	}
	if m.Kind == KindReply {
		n.mu.Lock()
		ch := n.calls[m.Reply]
		delete(n.calls, m.Reply)
		n.mu.Unlock()
		if ch != nil {
			ch <- m
		}
		return
	}
	if n.h.Handle == nil {
		return
	}
	if r := n.h.Handle(m); r != nil && m.Reply != "" {
		r.Kind, r.Reply = KindReply, m.Reply
		n.Post(m.From, *r)
	}
}

// Post queues m for node to ("" for all nodes) without waiting; messages
// posted by this node leave in order. False when the queue is full (the
// message is dropped and logged).
func (n *Node) Post(to string, m Message) bool {
	m.From, m.To = n.id, to
	select {
	case n.out <- m:
		return true
	default:
		n.log.Warn("cluster: send queue full; dropping a message", "kind", m.Kind, "to", to)
		return false
	}
}

// Call posts m to node to and waits for its answer.
func (n *Node) Call(ctx context.Context, to string, m Message) (Message, error) {
	m.Reply = randomID() + randomID()
	ch := make(chan Message, 1)
	n.mu.Lock()
	n.calls[m.Reply] = ch
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.calls, m.Reply)
		n.mu.Unlock()
	}()
	if !n.Post(to, m) {
		return Message{}, errors.New("cluster: send queue full")
	}
	select {
	case r := <-ch:
		return r, nil
	case <-ctx.Done():
		return Message{}, fmt.Errorf("cluster: no answer from node %s: %w", to, ctx.Err())
	}
}

func (n *Node) sender() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			n.drain()
			return
		case m := <-n.out:
			err := n.send(n.ctx, m)
			if err != nil && n.ctx.Err() != nil {
				// Closing while it was on its way: it still goes.
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				err = n.send(ctx, m)
				cancel()
			}
			if err != nil {
				n.log.Warn("cluster: sending a message", "kind", m.Kind, "to", m.To, "err", err)
			}
		}
	}
}

// drain sends what was posted before Close (the last byes of a node
// stopping), for at most two seconds.
func (n *Node) drain() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for {
		select {
		case m := <-n.out:
			if err := n.send(ctx, m); err != nil {
				return
			}
		default:
			return
		}
	}
}

func (n *Node) send(ctx context.Context, m Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if len(b) > MaxMessage {
		return errors.New("message too large")
	}
	to := m.To
	if to == "" {
		to = "all"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	p := string(b)
	if len(p) > notifyMax {
		var id int64
		if err := n.db.QueryRowContext(ctx, `INSERT INTO cluster_messages (body) VALUES ($1) RETURNING id`, p).Scan(&id); err != nil {
			return err
		}
		p = "#" + strconv.FormatInt(id, 10)
	}
	_, err = n.db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, n.channel(to), p)
	return err
}

// heartbeat says the node is alive, reaps dead nodes and stale message
// rows (those of a node that died before reading them).
func (n *Node) heartbeat() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
			n.beat()
		}
	}
}

func (n *Node) beat() {
	ctx, cancel := context.WithTimeout(n.ctx, max(n.cfg.Heartbeat, 5*time.Second))
	defer cancel()
	res, err := n.db.ExecContext(ctx, `UPDATE cluster_nodes SET expires = now() + make_interval(secs => $2) WHERE id = $1`,
		n.id, n.cfg.DeadAfter.Seconds())
	if err != nil {
		n.log.Warn("cluster: heartbeat", "err", err)
		return
	}
	if k, _ := res.RowsAffected(); k == 0 {
		// Taken for dead (a stall longer than DeadAfter): come back.
		n.log.Warn("cluster: this node was taken for dead; joining again")
		if _, err := n.db.ExecContext(ctx, `INSERT INTO cluster_nodes (id, started, expires) VALUES ($1, now(), now() + make_interval(secs => $2))`,
			n.id, n.cfg.DeadAfter.Seconds()); err != nil {
			n.log.Warn("cluster: rejoin", "err", err)
			return
		}
		if n.h.Rejoined != nil {
			n.h.Rejoined()
		}
	}
	if err := n.reap(ctx); err != nil {
		n.log.Warn("cluster: reaping dead nodes", "err", err)
	}
	if _, err := n.db.ExecContext(ctx, `DELETE FROM cluster_messages WHERE created < now() - interval '5 minutes'`); err != nil {
		n.log.Warn("cluster: deleting stale messages", "err", err)
	}
}

// reap removes the nodes silent past their expiry, with their presence
// and session rows, in one statement (several nodes may reap at once: each
// row goes once), and hands each dead node's sessions to Lost.
func (n *Node) reap(ctx context.Context) error {
	rows, err := n.db.QueryContext(ctx, `WITH dead AS (DELETE FROM cluster_nodes WHERE expires < now() RETURNING id),
		p AS (DELETE FROM cluster_presence WHERE node IN (SELECT id FROM dead)),
		s AS (DELETE FROM cluster_sessions WHERE node IN (SELECT id FROM dead) RETURNING node, session)
		SELECT d.id, s.session FROM dead d LEFT JOIN s ON s.node = d.id`)
	if err != nil {
		return err
	}
	lost := map[string][]string{}
	for rows.Next() {
		var node string
		var session sql.NullString
		if err := rows.Scan(&node, &session); err != nil {
			rows.Close()
			return err
		}
		if _, seen := lost[node]; !seen {
			lost[node] = nil // logged even without sessions
		}
		if session.Valid {
			lost[node] = append(lost[node], session.String)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for node, sessions := range lost {
		n.log.Warn("cluster: node died", "dead", node, "sessions", len(sessions))
		if n.h.Lost != nil && len(sessions) > 0 {
			n.h.Lost(node, sessions)
		}
	}
	return nil
}

// Own records that this node holds live session id; Disown forgets it.
func (n *Node) Own(ctx context.Context, id string) error {
	if _, err := n.db.ExecContext(ctx, `INSERT INTO cluster_sessions (session, node) VALUES ($1, $2)
		ON CONFLICT (session) DO UPDATE SET node = EXCLUDED.node`, id, n.id); err != nil {
		return fmt.Errorf("cluster: own session: %w", err)
	}
	return nil
}

func (n *Node) Disown(ctx context.Context, id string) error {
	if _, err := n.db.ExecContext(ctx, `DELETE FROM cluster_sessions WHERE session = $1 AND node = $2`, id, n.id); err != nil {
		return fmt.Errorf("cluster: disown session: %w", err)
	}
	return nil
}

// Claim records that this node holds device's Host and returns the node
// that held it before ("" if none, or this one) and whether that node is
// alive (a dead one cannot end the sessions it held).
func (n *Node) Claim(ctx context.Context, device string) (prev string, alive bool, err error) {
	var p sql.NullString
	err = n.db.QueryRowContext(ctx, `WITH old AS (SELECT node FROM cluster_presence WHERE device = $1)
		INSERT INTO cluster_presence (device, node, since) VALUES ($1, $2, now())
		ON CONFLICT (device) DO UPDATE SET node = EXCLUDED.node, since = EXCLUDED.since
		RETURNING (SELECT node FROM old)`, device, n.id).Scan(&p)
	if err != nil {
		return "", false, fmt.Errorf("cluster: claim %s: %w", device, err)
	}
	if !p.Valid || p.String == n.id {
		return "", false, nil
	}
	err = n.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM cluster_nodes WHERE id = $1 AND expires > now())`, p.String).Scan(&alive)
	if err != nil {
		return p.String, false, fmt.Errorf("cluster: claim %s: %w", device, err)
	}
	return p.String, alive, nil
}

// Release forgets device's presence if this node still holds it.
func (n *Node) Release(ctx context.Context, device string) error {
	if _, err := n.db.ExecContext(ctx, `DELETE FROM cluster_presence WHERE device = $1 AND node = $2`, device, n.id); err != nil {
		return fmt.Errorf("cluster: release %s: %w", device, err)
	}
	return nil
}

// Locate returns the live node holding device's Host, or "".
func (n *Node) Locate(ctx context.Context, device string) (string, error) {
	var node string
	err := n.db.QueryRowContext(ctx, `SELECT p.node FROM cluster_presence p JOIN cluster_nodes c ON c.id = p.node
		WHERE p.device = $1 AND c.expires > now()`, device).Scan(&node)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("cluster: locate %s: %w", device, err)
	}
	return node, nil
}

// OnlineIn counts accountID's installed Hosts held by a live node. The
// presence table shares the store's database, so one indexed join counts
// them without listing the account's devices.
func (n *Node) OnlineIn(ctx context.Context, accountID string) (int, error) {
	var c int
	err := n.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM cluster_presence p JOIN cluster_nodes c ON c.id = p.node
		JOIN devices d ON d.id = p.device WHERE d.account_id = $1 AND NOT d.ondemand AND c.expires > now()`, accountID).Scan(&c)
	if err != nil {
		return 0, fmt.Errorf("cluster: online in %s: %w", accountID, err)
	}
	return c, nil
}

// Close leaves the cluster: the node's row and presence go, so the others
// see its Hosts offline at once. Idempotent.
func (n *Node) Close() error {
	n.once.Do(func() {
		n.mu.Lock()
		n.closed = true
		n.mu.Unlock()
		n.cancel()
		n.wg.Wait()
		ctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		for _, q := range []string{`DELETE FROM cluster_presence WHERE node = $1`, `DELETE FROM cluster_sessions WHERE node = $1`} {
			if _, err := n.db.ExecContext(ctx, q, n.id); err != nil {
				n.log.Warn("cluster: leaving", "err", err)
			}
		}
		if _, err := n.db.ExecContext(ctx, `DELETE FROM cluster_nodes WHERE id = $1`, n.id); err != nil {
			n.log.Warn("cluster: leaving", "err", err)
		}
		n.db.Close()
	})
	return nil
}
