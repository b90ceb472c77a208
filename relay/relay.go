// Package relay is Tandem's server: the HTTP API (/api/v1), the agents'
// and guests' signaling WebSockets, enrollment, login, session grants, the
// audit log and an embedded TURN server.
//
// A Server owns no sockets: Handler is mounted by the caller on whatever
// listener it made, and ServeTURN takes the caller's UDP and TCP sockets, so
// tests run it in-process on loopback.
package relay

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/auditlog"
	"github.com/tandem-rc/tandem/relay/cluster"
	"github.com/tandem-rc/tandem/relay/frontdoor"
	"github.com/tandem-rc/tandem/relay/keyring"
	"github.com/tandem-rc/tandem/relay/mail"
	"github.com/tandem-rc/tandem/relay/manage"
	"github.com/tandem-rc/tandem/relay/metrics"
	"github.com/tandem-rc/tandem/relay/sms"
	"github.com/tandem-rc/tandem/relay/ssoapi"
	"github.com/tandem-rc/tandem/relay/store"
)

// Name is the relay's product name in RelayInfo and on its page.
const Name = "tandem-relay"

// Files in Config.DataDir.
const (
	DBFile         = "tandem.db"
	KeyFile        = "relay_ed25519.key" // signs grants, PKCS#8 PEM, 0600
	TURNSecretFile = "turn.secret"       // TURN REST shared secret (coturn's static-auth-secret), 0600
)

// Config configures a Server. Zero values take the documented defaults.
type Config struct {
	DataDir string // keys and, by default, the database live here (created 0700)
	// DB selects the database: "" is the SQLite file DataDir/tandem.db, a
	// postgres:// or postgresql:// URL is PostgreSQL (several relay nodes
	// may share it), anything else the path of a SQLite file.
	DB        string
	Logger    *slog.Logger // default: discard
	PublicURL string       // how clients reach the relay, e.g. http://127.0.0.1:8080 (links)
	// TrustedProxies are the reverse proxies whose X-Forwarded-For/-Proto/
	// -Host count (relay/frontdoor); without PublicURL, links use their
	// forwarded host, else the address each connection reached.
	TrustedProxies []netip.Prefix
	// Downloads is the directory of Host installers (the output of `make
	// packages`) served through deployment packages' links, /d/<key>.
	Downloads string
	TURN      TURNConfig
	Clock     func() time.Time // default time.Now
	Version   string           // build version, shown in RelayInfo
	// Mail sends invitations, password resets and MFA codes; nil only logs
	// that a message was due (a warning: nobody receives it).
	Mail mail.Sender
	// SMS texts sign-in codes (seed 000); nil: no SMS factor.
	SMS sms.Provider

	// Tunables, mostly for tests.
	PingInterval time.Duration // WebSocket keep-alive ping; default 20 s
	PingTimeout  time.Duration // a ping without pong for this long drops the peer; default 40 s
	GrantTTL     time.Duration // how long a session waits for its guest; default 2 min
	TokenTTL     time.Duration // login token lifetime; default 12 h
	// AuditRetentionMonths is how long audit events and reports are kept;
	// default 6 (spec 5.3).
	AuditRetentionMonths int
	// APIKeyDays is the lifetime of an API key created without an expiry;
	// APIKeyMaxDays the longest one may ask for. Defaults 90 and 365.
	APIKeyDays, APIKeyMaxDays int
	// ModelTTL bounds how long an account's indexed access model is reused
	// when another process (the admin command, another relay node) may
	// have changed it; this relay's own writes drop it at once. Default
	// 2 s; negative: load it for every decision.
	ModelTTL time.Duration
	Limits   Limits
	// NodeHeartbeat: with PostgreSQL, how often this node tells the others
	// it is alive; four silent beats and they take it for dead. Default 5 s.
	NodeHeartbeat time.Duration
}

// TURNConfig describes the TURN service the relay hands out in ICE server
// lists and, with ServeTURN, runs itself.
type TURNConfig struct {
	Host      string // advertised host or IP in stun:/turn: URLs; "" hands out no ICE servers
	Port      int    // advertised port; default 3478
	RelayIP   net.IP // address allocations are relayed from (and announced as)
	RelayBind string // address relay sockets bind to; default RelayIP ("0.0.0.0" behind 1:1 NAT)
	// TLSHost and TLSPort advertise TURN over TLS (turns:) when TLSPort is
	// set; TLSHost (default Host) must be a name the certificate carries.
	TLSHost string
	TLSPort int
	// AllowPeers are internal peer prefixes the embedded server relays to
	// anyway (see relay/turnguard; by default it refuses them).
	AllowPeers []netip.Prefix
	// OwnAddrs are the relay machine's addresses, reachable only on its own
	// relay ports; default the interfaces' addresses when ServeTURN starts.
	OwnAddrs []netip.Addr
	// External are TURN servers besides (or, with no Host, instead of) the
	// embedded one, sharing its secret in the TURN REST convention (coturn:
	// use-auth-secret): turn:HOST:PORT?transport=udp|tcp or
	// turns:HOST:PORT?transport=tcp. Peers get credentials for them that
	// last ExternalTTL (default 12 h): such a server cannot know when a
	// session ends.
	External    []string
	ExternalTTL time.Duration
}

// Limits throttles guessing. A failed attempt takes a token from the
// caller's bucket; an empty bucket answers 429 until it refills.
type Limits struct {
	EnrollBurst int           // failed enrollments per remote IP; default 10
	EnrollEvery time.Duration // one token back per; default 30 s
	// Failed logins per (source, email) before delays start (a source is
	// an IPv4 address or an IPv6 /64); default 5. Each further failure
	// waits LoginEvery, doubling up to an hour.
	LoginBurst   int
	LoginEvery   time.Duration // default 30 s
	LoginIPBurst int           // failed logins per source, any email; default 30
	// Lockout: this many failed logins in a row (wrong password or MFA
	// code) lock the user for LockFor; default 5 and 15 min. The lock
	// holds off strangers only: a source the user logged in from before
	// still gets in (so a guesser cannot lock anyone out, the owner
	// included); administrators and `admin user unlock` lift it.
	LockAfter int
	LockFor   time.Duration
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.TURN.Port == 0 {
		c.TURN.Port = 3478
	}
	if c.TURN.ExternalTTL <= 0 {
		c.TURN.ExternalTTL = 12 * time.Hour
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 20 * time.Second
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = 40 * time.Second
	}
	if c.GrantTTL <= 0 {
		c.GrantTTL = 2 * time.Minute
	}
	if c.TokenTTL <= 0 {
		c.TokenTTL = 12 * time.Hour
	}
	if c.AuditRetentionMonths <= 0 {
		c.AuditRetentionMonths = 6
	}
	if c.APIKeyMaxDays <= 0 {
		c.APIKeyMaxDays = 365
	}
	if c.APIKeyDays <= 0 {
		c.APIKeyDays = 90
	}
	c.APIKeyDays = min(c.APIKeyDays, c.APIKeyMaxDays)
	if c.NodeHeartbeat <= 0 {
		c.NodeHeartbeat = 5 * time.Second
	}
	if c.ModelTTL == 0 {
		c.ModelTTL = 2 * time.Second
	} else if c.ModelTTL < 0 {
		c.ModelTTL = 0
	}
	l := &c.Limits
	if l.EnrollBurst <= 0 {
		l.EnrollBurst = 10
	}
	if l.EnrollEvery <= 0 {
		l.EnrollEvery = 30 * time.Second
	}
	if l.LoginBurst <= 0 {
		l.LoginBurst = 5
	}
	if l.LoginEvery <= 0 {
		l.LoginEvery = 30 * time.Second
	}
	if l.LoginIPBurst <= 0 {
		l.LoginIPBurst = 30
	}
	if l.LockAfter <= 0 {
		l.LockAfter = 5
	}
	if l.LockFor <= 0 {
		l.LockFor = 15 * time.Minute
	}
}

// Server is the relay. Create it with New, mount Handler, optionally run
// ServeTURN, and Close it when done.
type Server struct {
	cfg        Config
	log        *slog.Logger
	st         *store.Store
	key        ed25519.PrivateKey // the root key: secrets derive from it; never rotated
	ring       *keyring.Ring      // the signing key (grants, proofs), rotated
	turnSecret string
	hub        *hub
	lastPrune  time.Time // of the audit log; the janitor's alone
	models     *modelCache
	metrics    *metrics.Metrics
	handler    http.Handler
	cl         *cluster.Node // with PostgreSQL: the other relay nodes
	far        *nodes
	front      *frontdoor.Front // client addresses and link bases
	kit        *api.Kit         // what handler packages need of the server
	mg         *manage.API      // account administration (relay/manage)
	auditAPI   *auditlog.API    // the audit log's endpoints (relay/auditlog)
	ssoAPI     *ssoapi.API      // OIDC and SAML sign-in (relay/ssoapi)

	enrollLimit  *limiter // per remote IP
	loginLimit   *limiter // per remote IP + email
	loginIPLimit *limiter // per remote IP
	resetIPLimit *limiter // password-reset requests per remote IP
	resetLimit   *limiter // password-reset emails per address
	odMailLimit  *limiter // OnDemand links emailed per user
	agentLimit   *limiter // refused agent handshakes per source
	turnLookups  *limiter // TURN credentials checked against the database (one bucket)
	gd           guards

	smsCodes *sms.Codes // SMS codes (relay/smsapi.go)
	ssoLimit *limiter   // OIDC and SAML sign-ins started, per source

	ctx    context.Context // cancelled by Close: ends every connection
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // connection handlers and background loops

	closeOnce sync.Once
	closeErr  error
}

// New opens (or creates) the relay's state in cfg.DataDir: keys, database
// and migrations. Sessions left open by a previous process are ended. On
// PostgreSQL the relay is a node of a cluster (relay/cluster): it takes
// the cluster's identity, and the sessions of a node that died are ended
// by the others instead.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if cfg.DataDir == "" {
		return nil, errors.New("relay: no data directory")
	}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("relay: public URL %q: want http(s)://host[:port]", cfg.PublicURL)
		}
		cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	}
	if err := checkExternalTURN(cfg.TURN.External); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("relay: data directory: %w", err)
	}
	log := cfg.Logger
	key, err := loadOrCreateKey(filepath.Join(cfg.DataDir, KeyFile), log)
	if err != nil {
		return nil, err
	}
	turnSecret, err := loadOrCreateSecret(filepath.Join(cfg.DataDir, TURNSecretFile), log)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, dbOf(cfg.DataDir, cfg.DB))
	if err != nil {
		cancel()
		return nil, err
	}
	var cl *cluster.Node
	if store.IsPostgres(cfg.DB) {
		if cl, key, turnSecret, err = joinCluster(ctx, cfg, key, turnSecret); err != nil {
			st.Close()
			cancel()
			return nil, err
		}
	}
	s := &Server{
		cfg:          cfg,
		log:          log,
		st:           st,
		key:          key,
		ring:         keyring.New(key),
		turnSecret:   turnSecret,
		hub:          newHub(),
		cl:           cl,
		front:        frontdoor.New(cfg.PublicURL, cfg.TrustedProxies),
		enrollLimit:  newLimiter(cfg.Limits.EnrollBurst, cfg.Limits.EnrollEvery, cfg.Clock),
		loginLimit:   newLimiter(cfg.Limits.LoginBurst, cfg.Limits.LoginEvery, cfg.Clock),
		loginIPLimit: newLimiter(cfg.Limits.LoginIPBurst, cfg.Limits.LoginEvery, cfg.Clock),
		resetIPLimit: newLimiter(20, 30*time.Second, cfg.Clock),
		resetLimit:   newLimiter(3, 20*time.Minute, cfg.Clock),
		odMailLimit:  newLimiter(odMailBurst, odMailEvery, cfg.Clock),
		agentLimit:   newLimiter(agentFailBurst, agentFailEvery, cfg.Clock),
		turnLookups:  newLimiter(20, 100*time.Millisecond, cfg.Clock),
		gd:           newGuards(cfg),
		ctx:          ctx,
		cancel:       cancel,
	}
	if _, err := s.ring.Load(ctx, st); err != nil {
		if cl != nil {
			cl.Close()
		}
		st.Close()
		cancel()
		return nil, err
	}
	s.models = newModelCache(st, cfg.ModelTTL, cfg.Clock)
	s.kit = &api.Kit{Store: st, Log: log, Now: s.now, Authenticate: s.authenticate, Record: s.audit, Atomically: s.atomically}
	s.mg = manage.New(s.kit, manage.Config{Online: s.onlineIn, APIKeyDays: cfg.APIKeyDays, APIKeyMaxDays: cfg.APIKeyMaxDays})
	s.auditAPI = auditlog.New(s.kit, cfg.AuditRetentionMonths)
	s.ssoLimit = newLimiter(ssoapi.StartBurst, ssoapi.StartEvery, cfg.Clock)
	s.ssoAPI = ssoapi.New(s.kit, ssoapi.Config{PublicBase: s.publicBase, Seal: s.seal, Unseal: s.unseal,
		Blocked: s.loginIPLimit.blocked, TakeStart: s.ssoLimit.take, Failed: s.loginIPLimit.fail, EvLoginFailed: EvLoginFailed,
		DeleteMethod: s.deleteMethod, ImportGroup: s.importMethodGroup, SignIn: s.directorySignIn})
	s.smsCodes = sms.NewCodes(s.st, s.smsKey(), cfg.Clock)
	s.metrics = metrics.New(metrics.Gauges{Hosts: s.hub.agentCount, Sessions: s.hub.sessionCount})
	if cl != nil {
		if err := s.startCluster(ctx); err != nil {
			cl.Close()
			st.Close()
			cancel()
			return nil, err
		}
	} else if n, err := st.EndOpenSessions(ctx, s.now(), "relay_restart"); err != nil {
		st.Close()
		cancel()
		return nil, err
	} else if n > 0 {
		log.Info("ended sessions left open by a previous run", "count", n)
	}
	if cfg.Mail == nil {
		log.Warn("relay: no mail sender configured: invitations, password resets and MFA codes are only logged, not sent")
	}
	// Likewise their OnDemand keys: such a session cannot resume. (With
	// other nodes, those may be theirs.)
	if cl == nil {
		s.endStartedOnDemand("relay_restart")
	}
	s.handler = s.routes()
	s.wg.Add(1)
	go s.janitor()
	log.Debug("relay ready", "data", cfg.DataDir, "public_key", s.PublicKeyString())
	return s, nil
}

// dbOf is the store.Open argument for a data directory and a --db value.
func dbOf(dataDir, db string) string {
	if db == "" {
		return filepath.Join(dataDir, DBFile)
	}
	return db
}

// Handler serves the HTTP API, the WebSockets and the start page.
func (s *Server) Handler() http.Handler { return s.handler }

// MetricsHandler serves the Prometheus metrics: for a private address
// only (serve --metrics-listen), never the public handler.
func (s *Server) MetricsHandler() http.Handler { return s.metrics.Handler() }

// PublicKey is the Ed25519 key that verifies the relay's grants: the
// current one (see RotateKey).
func (s *Server) PublicKey() ed25519.PublicKey { return s.ring.Public() }

// PublicKeyString is PublicKey in standard base64, as in RelayInfo.
func (s *Server) PublicKeyString() string { return base64.StdEncoding.EncodeToString(s.ring.Public()) }

// Store gives in-process callers (tests, the portal) the database.
func (s *Server) Store() *store.Store { return s.st }

// Admin returns administrative operations bound to this server: unlike a
// standalone Admin, revoking a device here also disconnects its agent.
func (s *Server) Admin() *Admin {
	return &Admin{st: s.st, now: s.now, kick: s.kickDevice, changed: s.models.invalidate}
}

func (s *Server) now() time.Time { return s.cfg.Clock() }

// onlineIn counts accountID's connected Hosts: here, or on every node of
// a cluster.
func (s *Server) onlineIn(ctx context.Context, accountID string) (int, error) {
	if s.cl != nil {
		return s.cl.OnlineIn(ctx, accountID)
	}
	return s.hub.onlineIn(accountID), nil
}

// begin registers a connection handler; false once the server is closing.
func (s *Server) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// Close ends every connection and background loop, records open sessions
// as ended, and closes the database. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		done := make(chan struct{})
		go func() { s.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			s.log.Warn("relay: connections did not finish in time")
		}
		s.flushAgentFailures(true)
		if s.cl != nil {
			// Only this node's sessions: the others' go on.
			for _, id := range s.hub.sessionIDs() {
				s.endSession(id, "relay_shutdown", endOpts{})
			}
			s.cl.Close()
			s.closeErr = s.st.Close()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := s.st.EndOpenSessions(ctx, s.now(), "relay_shutdown"); err != nil {
			s.log.Warn("relay: ending open sessions", "err", err)
		}
		s.closeErr = s.st.Close()
	})
	return s.closeErr
}

// dbctx is a context for store calls that must complete even while the
// server is shutting down (recording the end of a session, say).
func (s *Server) dbctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(s.ctx), 5*time.Second)
}

// janitor expires sessions nobody joined, drops expired login tokens,
// trims the throttles and disconnects agents whose device was revoked or
// set pending by another process (the admin command).
func (s *Server) janitor() {
	defer s.wg.Done()
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.sweep()
		}
	}
}

func (s *Server) sweep() {
	now := s.now()
	for _, id := range s.hub.expired(now) {
		s.endSession(id, "expired", endOpts{agentCode: "expired"})
	}
	ctx, cancel := s.dbctx()
	defer cancel()
	if _, err := s.st.DeleteExpiredLoginTokens(ctx, now); err != nil {
		s.log.Warn("deleting expired login tokens", "err", err)
	}
	if _, err := s.st.DeleteExpiredUserTokens(ctx, now); err != nil {
		s.log.Warn("deleting expired user tokens", "err", err)
	}
	s.pruneAudit(now)
	s.reloadKeys() // a rotation by tandem-relay admin rotate-key
	s.sweepOnDemand(now)
	s.odMailLimit.prune()
	s.enrollLimit.prune()
	s.loginLimit.prune()
	s.ssoLimit.prune()
	s.loginIPLimit.prune()
	s.resetIPLimit.prune()
	s.resetLimit.prune()
	s.agentLimit.prune()
	s.gd.backoff.Prune()
	s.gd.known.Prune()
	s.flushAgentFailures(false)
	ids := s.hub.agentIDs()
	if len(ids) == 0 {
		return
	}
	states, err := s.st.DeviceStates(ctx, ids)
	if err != nil {
		s.log.Warn("checking device states", "err", err)
		return
	}
	for _, id := range ids {
		switch st, ok := states[id]; {
		case !ok:
			s.kickRemoved(id) // removed by another process (the admin command)
		case st != store.Enrolled:
			s.kickDevice(id)
		}
	}
}

// handleHealthz is liveness: the process serves HTTP. No database access,
// so a slow database does not get the relay restarted.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// handleReadyz is readiness: the database answers a ping within 2 s.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.st.Ping(ctx); err != nil {
		s.log.Warn("not ready", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("database unavailable\n"))
		return
	}
	w.Write([]byte("ok\n"))
}
