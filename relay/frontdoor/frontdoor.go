// Package frontdoor is how the relay reads who is calling and which URL
// they reached it by, when reverse proxies may stand in front of it, and
// how its HTTP side is served: server timeouts, header limits and a cap on
// concurrent connections per source.
//
// X-Forwarded-For, X-Forwarded-Proto and X-Forwarded-Host count only when
// the TCP peer is a trusted proxy; X-Forwarded-For is walked from the
// right, skipping trusted hops, and the first untrusted address is the
// client. RFC 7239 Forwarded is ignored on purpose: a proxy that sets the
// X-Forwarded-* headers but passes a client's Forwarded header through
// would let that client choose its address.
//
// Links the relay writes come from the configured public URL, else the
// trusted proxy's forwarded host and scheme, else the local address the
// visitor's connection reached (an address of this machine, never the
// Host header).
package frontdoor

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Bounds on the forwarded headers' parsing: a longer X-Forwarded-For is
// read only from its right end, a longer host is ignored.
const (
	maxHops     = 32
	maxHostLen  = 261 // 253 for the name, ":" and a port
	maxProtoLen = 8
)

// ParsePrefixes parses --trusted-proxy values: CIDRs or single addresses.
func ParsePrefixes(specs []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range specs {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("trusted proxy %q: want a CIDR (10.0.0.0/8) or an address", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Front resolves requests against a public URL and the trusted proxies.
// The zero value trusts nobody and has no public URL.
type Front struct {
	public  string // without a trailing slash
	trusted []netip.Prefix
}

// New returns a Front; public is "" or an http(s) URL without a path.
func New(public string, trusted []netip.Prefix) *Front {
	t := make([]netip.Prefix, 0, len(trusted))
	for _, p := range trusted {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		t = append(t, p.Masked())
	}
	return &Front{public: strings.TrimRight(public, "/"), trusted: t}
}

// Trusted reports whether a is a trusted proxy's address.
func (f *Front) Trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range f.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// View is what a request says about its client once the trusted proxies
// are accounted for.
type View struct {
	ClientIP string // the client's address, without port
	Scheme   string // "http" or "https" as the client used it
	Host     string // the trusted proxy's X-Forwarded-Host (validated), or ""
	Proxied  bool   // the TCP peer is a trusted proxy
}

type viewKey struct{}

// Resolve reads r's client address, scheme and forwarded host.
func (f *Front) Resolve(r *http.Request) View {
	v := View{Scheme: "http"}
	if r.TLS != nil {
		v.Scheme = "https"
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, ok := parseAddr(host)
	if !ok {
		v.ClientIP = host
		return v
	}
	v.ClientIP = peer.String()
	if !f.Trusted(peer) {
		return v
	}
	v.Proxied = true
	v.ClientIP = f.walk(r.Header.Values("X-Forwarded-For"), peer).String()
	if p, ok := last(r.Header.Values("X-Forwarded-Proto"), maxProtoLen); ok {
		if p = strings.ToLower(p); p == "http" || p == "https" {
			v.Scheme = p
		}
	}
	if h, ok := last(r.Header.Values("X-Forwarded-Host"), maxHostLen); ok && validHost(h) {
		v.Host = strings.ToLower(h)
	}
	return v
}

// walk reads X-Forwarded-For from the right: each trusted hop vouches for
// the address left of it; the first untrusted address is the client. A
// malformed entry stops the walk at the last trusted hop (only a trusted
// proxy could have written it, so the client is unknown beyond it).
func (f *Front) walk(values []string, peer netip.Addr) netip.Addr {
	client := peer
	hops := 0
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for {
			if hops++; hops > maxHops {
				return client
			}
			elem := v
			j := strings.LastIndexByte(v, ',')
			if j >= 0 {
				elem, v = v[j+1:], v[:j]
			}
			a, ok := parseAddr(strings.TrimSpace(elem))
			if !ok {
				return client
			}
			client = a
			if !f.Trusted(a) {
				return client
			}
			if j < 0 {
				break
			}
		}
	}
	return client
}

// last is the rightmost comma-separated element of a header's values (what
// the nearest proxy wrote), if it is at most max bytes.
func last(values []string, max int) (string, bool) {
	if len(values) == 0 {
		return "", false
	}
	v := values[len(values)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	v = strings.TrimSpace(v)
	return v, v != "" && len(v) <= max
}

// parseAddr reads an address as proxies write them: 192.0.2.1,
// 192.0.2.1:port, 2001:db8::1, [2001:db8::1] or [2001:db8::1]:port.
// Zones are refused; IPv4-mapped IPv6 becomes IPv4.
func parseAddr(s string) (netip.Addr, bool) {
	if len(s) > 64 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err2 := netip.ParseAddrPort(s)
		if err2 != nil {
			if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
				a, err = netip.ParseAddr(s[1 : len(s)-1])
			}
			if err != nil {
				return netip.Addr{}, false
			}
		} else {
			a = ap.Addr()
		}
	}
	if a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// validHost accepts host[:port] where host is a DNS name, an IPv4 address
// or a bracketed IPv6 address: nothing that could carry a path, user info
// or markup into a link.
func validHost(h string) bool {
	if h == "" || len(h) > maxHostLen {
		return false
	}
	name, port := h, ""
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return false
		}
		a, err := netip.ParseAddr(h[1:end])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return false
		}
		rest := h[end+1:]
		if rest != "" {
			p, ok := strings.CutPrefix(rest, ":")
			if !ok {
				return false
			}
			port = p
		}
		return port == "" || validPort(port)
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		name, port = h[:i], h[i+1:]
		if !validPort(port) {
			return false
		}
	}
	if name == "" || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n > 0 && n < 65536 && len(p) <= 5 && p[0] != '+'
}

// Wrap resolves each request once and keeps the View in its context for
// ClientIP and the link builders.
func (f *Front) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := f.Resolve(r)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), viewKey{}, v)))
	})
}

// ViewOf is the View Wrap stored in r, or r read with nobody trusted.
func ViewOf(r *http.Request) View {
	if v, ok := r.Context().Value(viewKey{}).(View); ok {
		return v
	}
	return (&Front{}).Resolve(r)
}

// ClientIP is r's client address without port (throttles, audit).
func ClientIP(r *http.Request) string { return ViewOf(r).ClientIP }

// Base is the relay URL links carry, without a trailing slash: the public
// URL; else the trusted proxy's forwarded host and scheme; else the local
// address r's connection reached. "" when none is known (a request that
// did not come through an http.Server).
func (f *Front) Base(r *http.Request) string {
	if f.public != "" {
		return f.public
	}
	v := ViewOf(r)
	if v.Host != "" {
		return v.Scheme + "://" + v.Host
	}
	la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return ""
	}
	ap, err := netip.ParseAddrPort(la.String())
	if err != nil {
		return ""
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	a := ap.Addr().Unmap()
	host := a.WithZone("").String()
	if a.Is6() {
		host = "[" + host
		if z := a.Zone(); z != "" {
			host += "%25" + url.PathEscape(z)
		}
		host += "]"
	}
	return scheme + "://" + host + ":" + strconv.Itoa(int(ap.Port()))
}

// OriginHosts are the WebSocket origins to accept besides the request's
// own Host: the public URL's and the trusted proxy's forwarded host (the
// proxy may rewrite Host to its upstream's), as path.Match patterns.
func (f *Front) OriginHosts(r *http.Request) []string {
	var out []string
	if u, err := url.Parse(f.public); err == nil && u.Host != "" {
		out = append(out, matchQuote(u.Host))
	}
	if h := ViewOf(r).Host; h != "" {
		out = append(out, matchQuote(h))
	}
	return out
}

// matchQuote escapes path.Match's metacharacters ([ of IPv6 literals).
func matchQuote(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}
