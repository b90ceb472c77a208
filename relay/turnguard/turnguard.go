// Package turnguard decides where the embedded TURN server may relay to.
//
// A TURN server is an open door into the network it runs in: whoever holds
// credentials can ask it to send datagrams to any address and read the
// answers. By default the relay therefore refuses peers on its own side of
// the internet — loopback, link-local, private (RFC 1918, RFC 4193),
// shared (RFC 6598), unspecified, multicast, broadcast and reserved
// addresses, also when wrapped in IPv4-mapped, NAT64 or 6to4 IPv6 forms —
// unless an operator allow-lists them. The relay's own public addresses are
// reachable only on the ports of its own TURN allocations, so two peers
// that both relay through this server still meet, while nothing else the
// machine listens on (its API, SSH, a database) can be reached.
package turnguard

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/pion/turn/v4"
)

// ErrRefused is returned when a relayed datagram is refused by the policy.
var ErrRefused = errors.New("turnguard: peer address refused")

// Policy is the peer policy of one TURN server. Create it with New.
type Policy struct {
	allow []netip.Prefix
	own   map[netip.Addr]bool
	log   *slog.Logger
	now   func() time.Time

	mu    sync.Mutex
	ports map[int]int // local ports of live relay sockets → count
	// Refusals are logged once per window with a count, so a client
	// hammering internal addresses cannot flood the log.
	windowStart time.Time
	suppressed  int
}

// logWindow is how often refusals are logged at most (plus a summary).
const logWindow = time.Minute

// Config configures a Policy.
type Config struct {
	// Allow lists peer prefixes relayed to even though they are internal
	// (an operator's choice, e.g. 127.0.0.0/8 for tests on one machine).
	Allow []netip.Prefix
	// Own are the relay's own addresses: reachable only on the ports of
	// this server's relay sockets.
	Own    []netip.Addr
	Logger *slog.Logger     // refusals, rate-limited; default discard
	Clock  func() time.Time // default time.Now
}

// New makes a Policy.
func New(c Config) *Policy {
	p := &Policy{allow: c.Allow, own: make(map[netip.Addr]bool), log: c.Logger, now: c.Clock, ports: make(map[int]int)}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	for _, a := range c.Own {
		p.own[a.Unmap().WithZone("")] = true
	}
	return p
}

// ParsePrefixes parses CIDRs (or single addresses) for Config.Allow.
func ParsePrefixes(specs []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range specs {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%q: want a CIDR such as 10.0.0.0/8 or an address", s)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q: want a CIDR such as 10.0.0.0/8: %w", s, err)
		}
		if p.Addr().Is4In6() {
			if p.Bits() < 96 {
				return nil, fmt.Errorf("%q: an IPv4-mapped prefix needs at least /96", s)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// InterfaceAddrs lists the machine's own unicast addresses, for Config.Own.
func InterfaceAddrs() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

var (
	shared4    = netip.MustParsePrefix("100.64.0.0/10")  // RFC 6598, carrier-grade NAT
	this4      = netip.MustParsePrefix("0.0.0.0/8")      // "this network"
	reserved4  = netip.MustParsePrefix("240.0.0.0/4")    // incl. 255.255.255.255
	siteLocal6 = netip.MustParsePrefix("fec0::/10")      // deprecated, still routed internally somewhere
	nat64      = netip.MustParsePrefix("64:ff9b::/96")   // RFC 6052 well-known prefix
	nat64local = netip.MustParsePrefix("64:ff9b:1::/48") // RFC 8215 local-use NAT64
	sixToFour  = netip.MustParsePrefix("2002::/16")      // 6to4: an IPv4 address in bits 16-48
)

// Classify says why a is internal ("loopback", "private", ...), or "" for
// an address out on the internet.
func Classify(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	switch {
	case !a.IsValid():
		return "invalid"
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case a.IsMulticast():
		return "multicast"
	case a.IsPrivate():
		return "private"
	}
	if a.Is4() {
		switch {
		case shared4.Contains(a):
			return "shared address space"
		case this4.Contains(a):
			return "unspecified"
		case reserved4.Contains(a):
			return "reserved"
		}
		return ""
	}
	switch {
	case siteLocal6.Contains(a):
		return "site-local"
	case nat64.Contains(a), nat64local.Contains(a):
		b := a.As16()
		if r := Classify(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})); r != "" {
			return r + " (via NAT64)"
		}
	case sixToFour.Contains(a):
		b := a.As16()
		if r := Classify(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})); r != "" {
			return r + " (via 6to4)"
		}
	}
	return ""
}

func (p *Policy) allowed(a netip.Addr) bool {
	for _, pre := range p.allow {
		if pre.Contains(a) {
			return true
		}
	}
	return false
}

// Permit is pion's PermissionHandler: may client get a permission (or a
// channel) towards peer? TURN permissions are per IP; the relay's own
// addresses pass here and are checked per port when relayed (Conn).
func (p *Policy) Permit(client net.Addr, peer net.IP) bool {
	a, ok := netip.AddrFromSlice(peer)
	if !ok {
		p.refused(client, "invalid", "")
		return false
	}
	a = a.Unmap()
	if p.allowed(a) {
		return true
	}
	if r := Classify(a); r != "" {
		p.refused(client, r, a.String())
		return false
	}
	return true
}

// writeOK decides one relayed datagram to dst.
func (p *Policy) writeOK(dst *net.UDPAddr) bool {
	a, ok := netip.AddrFromSlice(dst.IP)
	if !ok {
		return false
	}
	a = a.Unmap()
	if p.allowed(a) {
		return true
	}
	if r := Classify(a); r != "" {
		p.refused(nil, r, dst.String())
		return false
	}
	if !p.own[a] {
		return true
	}
	p.mu.Lock()
	live := p.ports[dst.Port] > 0
	p.mu.Unlock()
	if !live {
		p.refused(nil, "the relay's own address", dst.String())
	}
	return live
}

// refused logs a refusal: the first of each window in full, the rest
// counted into the next one's line.
func (p *Policy) refused(client net.Addr, reason, peer string) {
	now := p.now()
	p.mu.Lock()
	if !p.windowStart.IsZero() && now.Sub(p.windowStart) < logWindow {
		p.suppressed++
		p.mu.Unlock()
		return
	}
	n := p.suppressed
	p.windowStart, p.suppressed = now, 0
	p.mu.Unlock()
	args := []any{"peer", peer, "reason", reason}
	if client != nil {
		args = append(args, "client", client.String())
	}
	if n > 0 {
		args = append(args, "refused_before_unlogged", n)
	}
	p.log.Warn("TURN refused to relay to an internal address (allow it with --turn-allow-peer)", args...)
}

// Generator wraps pion's static relay address generator: relay sockets
// are registered with the policy (so peers may reach them on the relay's
// own address) and refuse to send where the policy forbids.
func (p *Policy) Generator(relayIP net.IP, bind string) turn.RelayAddressGenerator {
	return &generator{RelayAddressGeneratorStatic: turn.RelayAddressGeneratorStatic{RelayAddress: relayIP, Address: bind}, p: p}
}

type generator struct {
	turn.RelayAddressGeneratorStatic
	p *Policy
}

func (g *generator) AllocatePacketConn(network string, requestedPort int) (net.PacketConn, net.Addr, error) {
	conn, addr, err := g.RelayAddressGeneratorStatic.AllocatePacketConn(network, requestedPort)
	if err != nil {
		return nil, nil, err
	}
	port := conn.LocalAddr().(*net.UDPAddr).Port
	return g.p.Conn(conn, port), addr, nil
}

// Conn guards a relay socket listening on port: its writes obey the
// policy, and while it is open the relay's own addresses are reachable on
// that port.
func (p *Policy) Conn(c net.PacketConn, port int) net.PacketConn {
	p.mu.Lock()
	p.ports[port]++
	p.mu.Unlock()
	return &guardedConn{PacketConn: c, p: p, port: port}
}

type guardedConn struct {
	net.PacketConn
	p    *Policy
	port int
	once sync.Once
}

func (c *guardedConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	u, ok := addr.(*net.UDPAddr)
	if !ok || !c.p.writeOK(u) {
		return 0, fmt.Errorf("%w: %v", ErrRefused, addr)
	}
	return c.PacketConn.WriteTo(b, addr)
}

func (c *guardedConn) Close() error {
	c.once.Do(func() {
		c.p.mu.Lock()
		if c.p.ports[c.port]--; c.p.ports[c.port] <= 0 {
			delete(c.p.ports, c.port)
		}
		c.p.mu.Unlock()
	})
	return c.PacketConn.Close()
}
