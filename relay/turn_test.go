package relay

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v4"

	"github.com/tandem-rc/tandem/internal/tlstest"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/transport/wire"
)

// turnEnv runs the relay's TURN server on loopback UDP and TCP sockets.
type turnEnv struct {
	*env
	udpAddr, tcpAddr string
}

// loopbackPeers lets TURN tests relay to peers on 127.0.0.1.
var loopbackPeers = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// newTURNEnv runs a relay on the real clock with TURN relaying to
// loopback peers allowed; mods come after those defaults.
func newTURNEnv(t *testing.T, mods ...func(*Config)) *turnEnv {
	def := func(c *Config) {
		c.Clock = nil
		c.TURN.RelayIP = net.IPv4(127, 0, 0, 1)
		c.TURN.AllowPeers = loopbackPeers
	}
	return serveTURN(newEnv(t, append([]func(*Config){def}, mods...)...))
}

// serveTURN runs e's TURN server on fresh loopback UDP and TCP sockets
// (and extra stream listeners) until the test ends.
func serveTURN(e *env, extra ...net.Listener) *turnEnv {
	t := e.t
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.ServeTURN(ctx, udp, append([]net.Listener{tcp}, extra...)...) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeTURN: %v", err)
		}
	})
	return &turnEnv{env: e, udpAddr: udp.LocalAddr().String(), tcpAddr: tcp.Addr().String()}
}

// allocate runs a TURN client over conn and tries to allocate a relay.
func (e *turnEnv) allocate(conn net.PacketConn, server, user, pass string) (*turn.Client, net.PacketConn, error) {
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server, TURNServerAddr: server, Conn: conn,
		Username: user, Password: pass, Realm: TURNRealm,
		LoggerFactory: slogFactory{testLogger(e.t)},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(c.Close)
	if err := c.Listen(); err != nil {
		e.t.Fatal(err)
	}
	relayConn, err := c.Allocate()
	if err == nil {
		e.t.Cleanup(func() { relayConn.Close() })
	}
	return c, relayConn, err
}

func udpConn(t *testing.T) net.PacketConn {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestTURNAllocateUDP(t *testing.T) {
	e := newTURNEnv(t)
	user, pass := TURNCredentials(e.srv.turnSecret, "s1.guest", time.Now().Add(time.Hour))
	_, relayConn, err := e.allocate(udpConn(t), e.udpAddr, user, pass)
	if err != nil {
		t.Fatalf("allocate with valid credentials: %v", err)
	}
	ra := relayConn.LocalAddr().(*net.UDPAddr)
	if !ra.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("relayed address %v, want 127.0.0.1", ra)
	}

	// Data really flows through the relay, both ways.
	peer := udpConn(t)
	if _, err := relayConn.WriteTo([]byte("ping"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	peer.SetReadDeadline(time.Now().Add(waitLimit))
	n, from, err := peer.ReadFrom(buf)
	if err != nil || !bytes.Equal(buf[:n], []byte("ping")) || from.String() != ra.String() {
		t.Fatalf("peer got %q from %v (%v), want ping from %v", buf[:n], from, err, ra)
	}
	if _, err := peer.WriteTo([]byte("pong"), ra); err != nil {
		t.Fatal(err)
	}
	relayConn.SetReadDeadline(time.Now().Add(waitLimit))
	n, _, err = relayConn.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("client got %q (%v), want pong", buf[:n], err)
	}
}

func TestTURNRefusesBadCredentials(t *testing.T) {
	e := newTURNEnv(t)
	user, pass := TURNCredentials(e.srv.turnSecret, "s1.host", time.Now().Add(time.Hour))
	if _, _, err := e.allocate(udpConn(t), e.udpAddr, user, pass+"x"); err == nil {
		t.Fatal("allocated with a wrong password")
	}
	// Correctly signed, but expired.
	user, pass = TURNCredentials(e.srv.turnSecret, "s1.host", time.Now().Add(-time.Second))
	if _, _, err := e.allocate(udpConn(t), e.udpAddr, user, pass); err == nil {
		t.Fatal("allocated with an expired username")
	}
	// Signed with another secret.
	user, pass = TURNCredentials("not-the-secret-at-all", "s1.host", time.Now().Add(time.Hour))
	if _, _, err := e.allocate(udpConn(t), e.udpAddr, user, pass); err == nil {
		t.Fatal("allocated with another secret")
	}
	if _, _, err := e.allocate(udpConn(t), e.udpAddr, "no-timestamp", "x"); err == nil {
		t.Fatal("allocated with a malformed username")
	}
}

func TestTURNOverTCP(t *testing.T) {
	e := newTURNEnv(t)
	dial := func() net.PacketConn {
		c, err := net.Dial("tcp4", e.tcpAddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return turn.NewSTUNConn(c)
	}
	user, pass := TURNCredentials(e.srv.turnSecret, "s2.guest", time.Now().Add(time.Hour))
	if _, _, err := e.allocate(dial(), e.tcpAddr, user, pass); err != nil {
		t.Fatalf("allocate over TCP: %v", err)
	}
	user, pass = TURNCredentials(e.srv.turnSecret, "s2.guest", time.Now().Add(-time.Minute))
	if _, _, err := e.allocate(dial(), e.tcpAddr, user, pass); err == nil {
		t.Fatal("allocated over TCP with an expired username")
	}
}

func TestTURNCredentialsMatchPion(t *testing.T) {
	// The REST convention as pion implements it (and coturn).
	exp := time.Now().Add(time.Hour)
	user, pass := TURNCredentials("secret", "abc", exp)
	key, ok := turn.LongTermTURNRESTAuthHandler("secret", nil)(user, TURNRealm, &net.UDPAddr{})
	if !ok || !bytes.Equal(key, turn.GenerateAuthKey(user, TURNRealm, pass)) {
		t.Fatal("credentials differ from pion's TURN REST handler")
	}
}

// The embedded TURN server must not be a way into the relay's network:
// permissions towards loopback, private, link-local, shared, multicast and
// broadcast peers are refused, and nothing is relayed there, unless the
// operator allow-lists them.
func TestTURNRefusesInternalPeers(t *testing.T) {
	internal := []string{"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
		"100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255"}
	peer := udpConn(t)
	peerPort := peer.LocalAddr().(*net.UDPAddr).Port

	e := newTURNEnv(t, func(c *Config) { c.TURN.AllowPeers = nil })
	user, pass := TURNCredentials(e.srv.turnSecret, "s1.guest", time.Now().Add(time.Hour))
	c, relayConn, err := e.allocate(udpConn(t), e.udpAddr, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range internal {
		to := &net.UDPAddr{IP: net.ParseIP(ip), Port: peerPort}
		if err := c.CreatePermission(to); err == nil {
			t.Errorf("permission towards %v granted", to)
		}
		if _, err := relayConn.WriteTo([]byte("knock"), to); err == nil {
			t.Errorf("relayed to %v", to)
		}
	}
	// A peer out on the internet (TEST-NET-1, nothing is sent) is fine.
	if err := c.CreatePermission(&net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 9}); err != nil {
		t.Fatalf("permission towards a public address: %v", err)
	}

	// Allow-listed by the operator: granted, and data flows.
	e = newTURNEnv(t, func(c *Config) {
		c.TURN.AllowPeers = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	})
	user, pass = TURNCredentials(e.srv.turnSecret, "s2.guest", time.Now().Add(time.Hour))
	c, relayConn, err = e.allocate(udpConn(t), e.udpAddr, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CreatePermission(&net.UDPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 9}); err != nil {
		t.Fatalf("allow-listed 10.1.2.3: %v", err)
	}
	if err := c.CreatePermission(&net.UDPAddr{IP: net.IPv4(192, 168, 1, 1), Port: 9}); err == nil {
		t.Fatal("192.168.1.1 is not allow-listed, yet permitted")
	}
	if _, err := relayConn.WriteTo([]byte("ping"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	peer.SetReadDeadline(time.Now().Add(waitLimit))
	if n, _, err := peer.ReadFrom(buf); err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("allow-listed loopback peer got %q, %v", buf[:n], err)
	}
}

// TURN credentials carry the grant's expiry, not 12 h: past it they serve
// only while the session is live, and die with it.
func TestTURNCredentialsFollowSession(t *testing.T) {
	e := newSessionEnv(t, func(c *Config) {
		c.TURN.RelayIP = net.IPv4(127, 0, 0, 1)
		c.TURN.AllowPeers = loopbackPeers
	})
	te := serveTURN(e.env)
	sr, g := e.open()
	grant, err := policy.Verify(g.Grant, e.srv.PublicKey(), e.dev.id, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	h := grant.ICEServers[1]
	guestCred, hostCred := sr.ICEServers[1], wire.ICEServer{URLs: h.URLs, Username: h.Username, Credential: h.Credential}
	for _, u := range []string{guestCred.Username, hostCred.Username} {
		if ts, _, _ := strings.Cut(u, ":"); ts != strconv.FormatInt(sr.ExpiresAt, 10) || sr.ExpiresAt != grant.ExpiresAt {
			t.Fatalf("TURN username %q: want the grant's expiry %d", u, grant.ExpiresAt)
		}
	}
	allocates := func(cred wire.ICEServer) bool {
		_, _, err := te.allocate(udpConn(t), te.udpAddr, cred.Username, cred.Credential)
		return err == nil
	}
	if !allocates(guestCred) || !allocates(hostCred) {
		t.Fatal("fresh credentials refused")
	}

	// The guest joins; long after the grant's expiry the live session's
	// credentials still work (allocations are refreshed with them).
	gs := e.guest(sr)
	e.clock.Advance(time.Hour)
	e.srv.sweep()
	if !allocates(guestCred) || !allocates(hostCred) {
		t.Fatal("a live session's credentials refused")
	}

	// The session ends: its credentials are dead.
	gs.send(&wire.Signal{Type: wire.SigBye, Code: "done"})
	e.agent.expect(wire.SigBye, "done")
	if allocates(guestCred) || allocates(hostCred) {
		t.Fatal("an ended session's TURN credentials still allocate")
	}

	// A session whose guest never came dies at the grant's expiry too.
	sr2, _ := e.open()
	e.clock.Advance(2*time.Minute + time.Second)
	e.srv.sweep()
	e.agent.expect(wire.SigBye, "expired")
	if allocates(sr2.ICEServers[1]) {
		t.Fatal("an expired grant's TURN credentials still allocate")
	}
}

// TURN over TLS (turns:) for networks that let only TLS out: advertised in
// the ICE servers, and a client trusting the relay's CA allocates through it.
func TestTURNOverTLS(t *testing.T) {
	ca, err := tlstest.NewCA("turns test CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.TLSCert("relay.example.test")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := raw.Addr().(*net.TCPAddr).Port
	ln := tls.NewListener(raw, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	e := serveTURN(newEnv(t, func(c *Config) {
		c.Clock = nil
		c.TURN.RelayIP = net.IPv4(127, 0, 0, 1)
		c.TURN.AllowPeers = loopbackPeers
		c.TURN.TLSHost, c.TURN.TLSPort = "relay.example.test", port
	}), ln)

	ice := e.srv.iceServers("s3", "guest", time.Now().Add(time.Minute))
	want := "turns:relay.example.test:" + strconv.Itoa(port) + "?transport=tcp"
	if len(ice) != 2 || !slices.Contains(ice[1].URLs, want) {
		t.Fatalf("ICE servers %+v, want %s among them", ice, want)
	}
	dial := func(roots *x509.CertPool) (net.PacketConn, error) {
		c, err := tls.Dial("tcp4", raw.Addr().String(), &tls.Config{ServerName: "relay.example.test", RootCAs: roots})
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { c.Close() })
		return turn.NewSTUNConn(c), nil
	}
	conn, err := dial(ca.Pool())
	if err != nil {
		t.Fatal(err)
	}
	_, relayConn, err := e.allocate(conn, raw.Addr().String(), ice[1].Username, ice[1].Credential)
	if err != nil {
		t.Fatalf("allocate over TLS: %v", err)
	}
	peer := udpConn(t)
	if _, err := relayConn.WriteTo([]byte("over tls"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	peer.SetReadDeadline(time.Now().Add(waitLimit))
	if n, _, err := peer.ReadFrom(buf); err != nil || string(buf[:n]) != "over tls" {
		t.Fatalf("peer got %q, %v", buf[:n], err)
	}
	// A client that does not trust the CA gets no further than the handshake.
	if _, err := dial(x509.NewCertPool()); err == nil {
		t.Fatal("TLS handshake with an untrusted certificate succeeded")
	}
}

// TestTURNMetrics: the embedded TURN server's allocations show in the
// metrics while open, and the open count drops when the client releases.
func TestTURNMetrics(t *testing.T) {
	e := newTURNEnv(t)
	user, pass := TURNCredentials(e.srv.turnSecret, "s1.guest", time.Now().Add(time.Hour))
	_, relayConn, err := e.allocate(udpConn(t), e.udpAddr, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	waitMetric := func(name string, want float64) {
		t.Helper()
		deadline := time.Now().Add(waitLimit)
		for {
			got := scrape(t, e.srv)[name]
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s = %v, want %v", name, got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitMetric("tandem_turn_allocations_total", 1)
	waitMetric("tandem_turn_allocations", 1)
	relayConn.Close() // a refresh with lifetime 0: the server deletes it
	waitMetric("tandem_turn_allocations", 0)
	waitMetric("tandem_turn_allocations_total", 1)
}
