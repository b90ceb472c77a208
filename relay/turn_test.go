package relay

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/pion/turn/v4"
)

// turnEnv runs the relay's TURN server on loopback UDP and TCP sockets.
type turnEnv struct {
	*env
	udpAddr, tcpAddr string
}

func newTURNEnv(t *testing.T) *turnEnv {
	e := newEnv(t, func(c *Config) { c.Clock = nil; c.TURN.RelayIP = net.IPv4(127, 0, 0, 1) })
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
	go func() { done <- e.srv.ServeTURN(ctx, udp, tcp) }()
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
