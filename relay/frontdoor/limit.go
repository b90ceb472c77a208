package frontdoor

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// ConnLimits caps concurrent connections. A connection over a cap is closed
// as soon as it is accepted.
type ConnLimits struct {
	// PerSource caps one client address (an IPv6 /64: one subscriber's
	// network); trusted proxies are exempt, every client behind them
	// arrives from their address. Default 512: a whole office of Hosts
	// behind one NAT holds one WebSocket each.
	PerSource int
	// Total caps every connection together; default 10000.
	Total int
	// Front's trusted proxies are exempt from PerSource.
	Front *Front
	Log   *slog.Logger
	// LogEvery bounds refusal logging: one line per period with the count
	// since the last one; default 10 s.
	LogEvery time.Duration
}

// LimitListener wraps ln with the caps. It must be the innermost wrapper
// (a TLS listener goes around it, never inside it), so http.Server still
// sees *tls.Conn.
func LimitListener(ln net.Listener, c ConnLimits) net.Listener {
	if c.PerSource <= 0 {
		c.PerSource = 512
	}
	if c.Total <= 0 {
		c.Total = 10000
	}
	if c.Front == nil {
		c.Front = &Front{}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.LogEvery <= 0 {
		c.LogEvery = 10 * time.Second
	}
	return &limitListener{Listener: ln, c: c, per: map[netip.Prefix]int{}}
}

type limitListener struct {
	net.Listener
	c ConnLimits

	mu      sync.Mutex
	total   int
	per     map[netip.Prefix]int
	refused int       // since lastLog
	lastLog time.Time // of a refusal line
	fdFails int       // accepts failed for want of file descriptors, since lastFD
	lastFD  time.Time // of such a warning
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			l.noteFDLimit(err)
			return nil, err
		}
		peer, key, keyed := sourceKey(conn.RemoteAddr())
		if keyed && l.c.Front.Trusted(peer) {
			keyed = false
		}
		if c, ok := l.admit(conn, key, keyed); ok {
			return c, nil
		}
		conn.Close()
	}
}

// noteFDLimit warns (at most once per LogEvery, with the count) when
// accept fails for want of file descriptors: http.Server retries such
// errors quietly, and new clients only see connections hang.
func (l *limitListener) noteFDLimit(err error) {
	if !errors.Is(err, syscall.EMFILE) && !errors.Is(err, syscall.ENFILE) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fdFails++
	if now := time.Now(); now.Sub(l.lastFD) >= l.c.LogEvery {
		l.c.Log.Warn("accepting connections failed: out of file descriptors (raise LimitNOFILE / ulimit -n, or lower --max-conns)",
			"err", err, "failures", l.fdFails, "open_conns", l.total, "total_cap", l.c.Total)
		l.fdFails, l.lastFD = 0, now
	}
}

// admit counts conn in, or refuses it (and maybe logs the refusals).
func (l *limitListener) admit(conn net.Conn, key netip.Prefix, keyed bool) (net.Conn, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	why := ""
	switch {
	case l.total >= l.c.Total:
		why = "total"
	case keyed && l.per[key] >= l.c.PerSource:
		why = "per_source"
	}
	if why != "" {
		l.refused++
		if now := time.Now(); now.Sub(l.lastLog) >= l.c.LogEvery {
			l.c.Log.Warn("connections refused: over the cap", "cap", why, "source", key.String(),
				"refused", l.refused, "per_source_cap", l.c.PerSource, "total_cap", l.c.Total)
			l.refused, l.lastLog = 0, now
		}
		return nil, false
	}
	l.total++
	if keyed {
		l.per[key]++
	}
	return &limitedConn{Conn: conn, l: l, key: key, keyed: keyed}, true
}

func (l *limitListener) release(key netip.Prefix, keyed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if keyed {
		if l.per[key]--; l.per[key] <= 0 {
			delete(l.per, key)
		}
	}
}

// sourceKey is a peer's address and budget key: the IPv4 address, or the
// IPv6 /64.
func sourceKey(a net.Addr) (netip.Addr, netip.Prefix, bool) {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}, netip.Prefix{}, false
	}
	ip := ap.Addr().Unmap().WithZone("")
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	return ip, p, err == nil
}

type limitedConn struct {
	net.Conn
	l     *limitListener
	key   netip.Prefix
	keyed bool
	once  sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key, c.keyed) })
	return err
}
