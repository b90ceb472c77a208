package relay

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v4"

	"github.com/tandem-rc/tandem/relay/turnguard"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TURNRealm is the embedded TURN server's realm.
const TURNRealm = "tandem"

// TURNCredentials returns credentials in the TURN REST convention
// (draft-uberti-behave-turn-rest): username "<unix expiry>:<id>", password
// base64(HMAC-SHA1(secret, username)). coturn with use-auth-secret and the
// same static-auth-secret accepts them too.
func TURNCredentials(secret, id string, expires time.Time) (username, password string) {
	username = strconv.FormatInt(expires.Unix(), 10) + ":" + id
	return username, turnPassword(secret, username)
}

func turnPassword(secret, username string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// iceServers lists the STUN/TURN servers for one side ("host" or "guest")
// of a session, with its own TURN credentials. They carry the grant's
// expiry: past it, turnAuth accepts them only while the session is live.
func (s *Server) iceServers(sessionID, role string, expires time.Time) []wire.ICEServer {
	t := s.cfg.TURN
	var ext []wire.ICEServer
	if len(t.External) > 0 {
		user, pass := TURNCredentials(s.turnSecret, sessionID+"."+role, s.now().Add(t.ExternalTTL))
		ext = []wire.ICEServer{{URLs: slices.Clone(t.External), Username: user, Credential: pass}}
	}
	if t.Host == "" {
		return ext
	}
	hp := net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	user, pass := TURNCredentials(s.turnSecret, sessionID+"."+role, expires)
	turnURLs := []string{"turn:" + hp + "?transport=udp", "turn:" + hp + "?transport=tcp"}
	if t.TLSPort != 0 {
		host := t.TLSHost
		if host == "" {
			host = t.Host
		}
		turnURLs = append(turnURLs, "turns:"+net.JoinHostPort(host, strconv.Itoa(t.TLSPort))+"?transport=tcp")
	}
	return append([]wire.ICEServer{
		{URLs: []string{"stun:" + hp}},
		{URLs: turnURLs, Username: user, Credential: pass},
	}, ext...)
}

// checkExternalTURN refuses an external TURN server URL that is not
// turn:HOST:PORT or turns:HOST:PORT with an optional transport (udp or
// tcp; turns: is TLS, so tcp).
func checkExternalTURN(urls []string) error {
	if len(urls) > 16 {
		return errors.New("relay: more than 16 external TURN servers")
	}
	for _, u := range urls {
		if err := checkTURNURL(u); err != nil {
			return fmt.Errorf("relay: external TURN server %q: %w", u, err)
		}
	}
	return nil
}

func checkTURNURL(u string) error {
	if strings.IndexFunc(u, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
		return errors.New("spaces or control characters")
	}
	scheme, rest, ok := strings.Cut(u, ":")
	if !ok || (scheme != "turn" && scheme != "turns") || len(u) > 256 {
		return errors.New("want turn:HOST:PORT or turns:HOST:PORT")
	}
	hp, query, _ := strings.Cut(rest, "?")
	host, port, err := net.SplitHostPort(hp)
	if err != nil || host == "" || strings.ContainsAny(host, "/@") {
		return errors.New("want HOST:PORT after the scheme")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return errors.New("bad port")
	}
	switch query {
	case "", "transport=tcp":
	case "transport=udp":
		if scheme == "turns" {
			return errors.New("turns: runs over TLS: transport=tcp")
		}
	default:
		return errors.New("the only parameter is transport=udp or transport=tcp")
	}
	return nil
}

// turnAuth checks TURN REST credentials against the relay's clock. Past
// their expiry (the grant's), credentials still serve a session this
// relay holds live, so its allocations can be refreshed; once the session
// ends they are dead.
func (s *Server) turnAuth(log *slog.Logger) turn.AuthHandler {
	return func(username, realm string, src net.Addr) ([]byte, bool) {
		ts, id, _ := strings.Cut(username, ":")
		exp, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			log.Debug("turn: malformed username", "src", src.String())
			return nil, false
		}
		if exp <= s.now().Unix() {
			session, _, _ := strings.Cut(id, ".")
			if !s.hub.live(session) && !s.openOnOtherNode(session) {
				log.Debug("turn: expired credentials", "src", src.String(), "username", username)
				return nil, false
			}
		}
		return turn.GenerateAuthKey(username, realm, turnPassword(s.turnSecret, username)), true
	}
}

// openOnOtherNode reports whether session is open in the database, for
// credentials handed out by this node for a session another node holds.
// Anyone can ask (the credentials' HMAC is checked after), so lookups are
// rationed: 10 a second with a burst of 20, across all askers.
func (s *Server) openOnOtherNode(session string) bool {
	if s.cl == nil || session == "" || len(session) > maxID {
		return false
	}
	if ok, _ := s.turnLookups.take(""); !ok {
		return false
	}
	ctx, cancel := s.dbctx()
	defer cancel()
	se, err := s.st.Session(ctx, session)
	return err == nil && se.EndedAt.IsZero()
}

// ServeTURN runs the embedded TURN server on the caller's sockets until
// ctx is cancelled or the Server is closed: udp (may be nil) and stream
// listeners, plain TCP or TLS (a tls.Listener) alike. Cancellation is not
// an error. pion closes the sockets when it stops. Peers on internal
// addresses are refused unless TURN.AllowPeers lists them (turnguard).
func (s *Server) ServeTURN(ctx context.Context, udp net.PacketConn, streams ...net.Listener) error {
	var tcps []net.Listener
	for _, l := range streams {
		if l != nil {
			tcps = append(tcps, l)
		}
	}
	if udp == nil && len(tcps) == 0 {
		return errors.New("relay: ServeTURN needs a UDP socket or a TCP listener")
	}
	if !s.begin() {
		return errors.New("relay: server closed")
	}
	defer s.wg.Done()
	t := s.cfg.TURN
	relayIP := t.RelayIP
	if relayIP == nil {
		relayIP = net.ParseIP(t.Host)
	}
	if relayIP == nil || relayIP.IsUnspecified() {
		return errors.New("relay: TURN needs a relay IP (TURN.RelayIP, or an IP as TURN.Host)")
	}
	bind := t.RelayBind
	if bind == "" {
		bind = relayIP.String()
	}
	log := s.log.With("component", "turn")
	own := t.OwnAddrs
	if own == nil {
		own = turnguard.InterfaceAddrs()
	}
	if a, ok := netip.AddrFromSlice(relayIP); ok {
		own = append(own, a.Unmap())
	}
	guard := turnguard.New(turnguard.Config{Allow: t.AllowPeers, Own: own, Logger: log, Clock: s.now})
	cfg := turn.ServerConfig{
		Realm:         TURNRealm,
		AuthHandler:   s.turnAuth(log),
		LoggerFactory: slogFactory{log},
		EventHandler: turn.EventHandler{
			OnAllocationCreated: func(_, _ net.Addr, _, _, _ string, _ net.Addr, _ int) { s.metrics.TURNAllocated() },
			OnAllocationDeleted: func(_, _ net.Addr, _, _, _ string) { s.metrics.TURNReleased() },
		},
	}
	if udp != nil {
		cfg.PacketConnConfigs = []turn.PacketConnConfig{{PacketConn: udp,
			RelayAddressGenerator: guard.Generator(relayIP, bind), PermissionHandler: guard.Permit}}
	}
	for _, l := range tcps {
		cfg.ListenerConfigs = append(cfg.ListenerConfigs, turn.ListenerConfig{Listener: l,
			RelayAddressGenerator: guard.Generator(relayIP, bind), PermissionHandler: guard.Permit})
	}
	srv, err := turn.NewServer(cfg)
	if err != nil {
		return fmt.Errorf("relay: TURN server: %w", err)
	}
	var addrs []string
	if udp != nil {
		addrs = append(addrs, "udp "+udp.LocalAddr().String())
	}
	for _, l := range tcps {
		addrs = append(addrs, "tcp "+l.Addr().String())
	}
	log.Info("TURN serving", "on", strings.Join(addrs, ", "), "relay_ip", relayIP.String(), "allow_peers", fmt.Sprint(t.AllowPeers))
	select {
	case <-ctx.Done():
	case <-s.ctx.Done():
	}
	if err := srv.Close(); err != nil {
		log.Debug("closing TURN server", "err", err)
	}
	return nil
}

// slogFactory routes pion's logs into slog at debug level (trace below).
type slogFactory struct{ log *slog.Logger }

func (f slogFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLogger{f.log.With("scope", scope)}
}

type slogLogger struct{ log *slog.Logger }

const levelTrace = slog.LevelDebug - 4

func (l slogLogger) logf(level slog.Level, format string, args ...any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

func (l slogLogger) Trace(msg string)                  { l.logf(levelTrace, "%s", msg) }
func (l slogLogger) Tracef(format string, args ...any) { l.logf(levelTrace, format, args...) }
func (l slogLogger) Debug(msg string)                  { l.logf(slog.LevelDebug, "%s", msg) }
func (l slogLogger) Debugf(format string, args ...any) { l.logf(slog.LevelDebug, format, args...) }
func (l slogLogger) Info(msg string)                   { l.logf(slog.LevelDebug, "%s", msg) }
func (l slogLogger) Infof(format string, args ...any)  { l.logf(slog.LevelDebug, format, args...) }
func (l slogLogger) Warn(msg string)                   { l.logf(slog.LevelDebug, "%s", msg) }
func (l slogLogger) Warnf(format string, args ...any)  { l.logf(slog.LevelDebug, format, args...) }
func (l slogLogger) Error(msg string)                  { l.logf(slog.LevelDebug, "%s", msg) }
func (l slogLogger) Errorf(format string, args ...any) { l.logf(slog.LevelDebug, format, args...) }
