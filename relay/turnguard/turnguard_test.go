package turnguard

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	for _, c := range []struct{ ip, want string }{
		{"127.0.0.1", "loopback"}, {"127.255.0.9", "loopback"}, {"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"}, {"::ffff:10.0.0.1", "private"},
		{"10.9.8.7", "private"}, {"172.31.255.1", "private"}, {"192.168.0.1", "private"},
		{"fd00::1", "private"}, {"fc00::1", "private"},
		{"169.254.169.254", "link-local"}, {"fe80::1", "link-local"},
		{"0.0.0.0", "unspecified"}, {"::", "unspecified"}, {"0.1.2.3", "unspecified"},
		{"224.0.0.1", "multicast"}, {"ff02::1", "multicast"}, {"239.1.1.1", "multicast"},
		{"255.255.255.255", "reserved"}, {"240.0.0.1", "reserved"},
		{"100.64.0.1", "shared address space"}, {"fec0::1", "site-local"},
		{"64:ff9b::a00:1", "private (via NAT64)"}, {"64:ff9b::7f00:1", "loopback (via NAT64)"},
		{"2002:c0a8:0101::1", "private (via 6to4)"},
		// Out on the internet.
		{"192.0.2.1", ""}, {"8.8.8.8", ""}, {"2001:db8::1", ""}, {"64:ff9b::808:808", ""},
		{"2002:0808:0808::1", ""}, {"172.32.0.1", ""}, {"100.128.0.1", ""},
	} {
		if got := Classify(netip.MustParseAddr(c.ip)); got != c.want {
			t.Errorf("Classify(%s) = %q, want %q", c.ip, got, c.want)
		}
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := ParsePrefixes([]string{"10.1.2.3/8", " 127.0.0.1 ", "fd00::/8", "::ffff:192.168.0.0/112"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "127.0.0.1/32", "fd00::/8", "192.168.0.0/16"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("prefix %d: %v, want %s", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "banana", "10.0.0/8", "::ffff:0:0/90"} {
		if _, err := ParsePrefixes([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestPermit(t *testing.T) {
	p := New(Config{Allow: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")},
		Own: []netip.Addr{netip.MustParseAddr("192.0.2.10")}})
	client := &net.UDPAddr{IP: net.IPv4(198, 51, 100, 7), Port: 5000}
	for ip, want := range map[string]bool{
		"10.20.3.4": true, "10.21.0.1": false, "127.0.0.1": false, "::ffff:10.20.1.1": true,
		"192.0.2.10": true, // own: decided per port when relayed
		"192.0.2.11": true, "fe80::1": false,
	} {
		if got := p.Permit(client, net.ParseIP(ip)); got != want {
			t.Errorf("Permit(%s) = %v, want %v", ip, got, want)
		}
	}
	if p.Permit(client, net.IP{1, 2, 3}) {
		t.Error("a malformed IP was permitted")
	}
}

// The relay's own address is reachable only on its live relay sockets'
// ports (a documentation address stands for the relay's public one).
func TestOwnAddressOnlyOnRelayPorts(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	own := netip.MustParseAddr("192.0.2.10")
	p := New(Config{Own: []netip.Addr{own}})
	relaySock, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := relaySock.LocalAddr().(*net.UDPAddr).Port
	c := p.Conn(relaySock, port)
	if !p.writeOK(&net.UDPAddr{IP: own.AsSlice(), Port: port}) {
		t.Fatal("own address on a live relay port refused")
	}
	if p.writeOK(&net.UDPAddr{IP: own.AsSlice(), Port: 22}) {
		t.Fatal("own address on another port allowed")
	}
	c.Close()
	c.Close() // idempotent
	if p.writeOK(&net.UDPAddr{IP: own.AsSlice(), Port: port}) {
		t.Fatal("own address on a closed relay port still allowed")
	}

	// A guarded socket really refuses what the policy refuses, and sends
	// what it allows.
	allowLo := New(Config{Allow: []netip.Prefix{netip.PrefixFrom(lo, 32)}})
	s2, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	g := allowLo.Conn(s2, s2.LocalAddr().(*net.UDPAddr).Port)
	defer g.Close()
	if _, err := g.WriteTo([]byte("hi"), peer.LocalAddr()); err != nil {
		t.Fatalf("allowed write: %v", err)
	}
	buf := make([]byte, 8)
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, _, err := peer.ReadFrom(buf); err != nil || string(buf[:n]) != "hi" {
		t.Fatalf("peer got %q, %v", buf[:n], err)
	}
	if _, err := g.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 9}); !errors.Is(err, ErrRefused) {
		t.Fatalf("write to 10.0.0.1: %v, want ErrRefused", err)
	}
}

// Refusals are logged once per window, the rest counted: a client cannot
// flood the log.
func TestRefusalLogIsRateLimited(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	now := time.Unix(1_000_000, 0)
	p := New(Config{Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, nil)),
		Clock: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	client := &net.UDPAddr{IP: net.IPv4(198, 51, 100, 7), Port: 5000}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 250 {
				p.Permit(client, net.IPv4(10, 0, 0, 1))
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	lines := strings.Count(buf.String(), "\n")
	now = now.Add(logWindow)
	mu.Unlock()
	if lines != 1 {
		t.Fatalf("2000 refusals logged %d lines:\n%s", lines, buf.String())
	}
	p.Permit(client, net.IPv4(127, 0, 0, 1))
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, "refused_before_unlogged=1999") ||
		!strings.Contains(out, "peer=127.0.0.1") || !strings.Contains(out, "reason=loopback") {
		t.Fatalf("log:\n%s", out)
	}
}

type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(b)
}
