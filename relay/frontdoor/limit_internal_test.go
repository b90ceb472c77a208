package frontdoor

import (
	"net"
	"net/netip"
	"testing"
)

// TestSourceKey: IPv4 addresses count one by one, IPv6 by /64 (one
// subscriber's network holds 2^64 addresses), mapped IPv4 as IPv4.
func TestSourceKey(t *testing.T) {
	key := func(s string) string {
		_, p, ok := sourceKey(net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)))
		if !ok {
			t.Fatalf("%s: no key", s)
		}
		return p.String()
	}
	for addr, want := range map[string]string{
		"192.0.2.7:1":                 "192.0.2.7/32",
		"[::ffff:192.0.2.7]:2":        "192.0.2.7/32",
		"[2001:db8:1:2::1]:3":         "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff:1:2:3]:4": "2001:db8:1:2::/64",
		"[2001:db8:1:3::1]:5":         "2001:db8:1:3::/64",
		"[fe80::1%lo]:6":              "fe80::/64",
	} {
		if got := key(addr); got != want {
			t.Errorf("%s: key %s, want %s", addr, got, want)
		}
	}
}
