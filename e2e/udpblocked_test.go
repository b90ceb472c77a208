package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ptransport "github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"

	"github.com/tandem-rc/tandem/agent"
	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/internal/tlstest"
	"github.com/tandem-rc/tandem/relay"
	"github.com/tandem-rc/tandem/transport"
)

var errUDPBlocked = errors.New("udp blocked by the test's firewall")

// turnsCA signs the embedded TURN server's TLS certificate. pion's ICE
// agent checks a turns: server against the system's roots only, so this
// test binary trusts the CA through SSL_CERT_FILE, set before anything
// loads the roots.
var turnsCA *tlstest.CA

func init() {
	ca, err := tlstest.NewCA("e2e turns CA")
	if err != nil {
		panic(err)
	}
	bundle, _ := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	f, err := os.CreateTemp("", "e2e-roots-*.pem")
	if err != nil {
		panic(err)
	}
	f.Write(append(bundle, ca.PEM...))
	f.Close()
	os.Setenv("SSL_CERT_FILE", f.Name())
	turnsCA = ca
}

// noUDP is the network of a machine whose firewall drops UDP (as many
// corporate networks do): every UDP socket fails, TCP works. blocked
// counts the refusals, so a test sees that the peer did try UDP.
type noUDP struct {
	ptransport.Net
	blocked *atomic.Int64
}

func isUDP(network string) bool { return strings.HasPrefix(network, "udp") }

func (n noUDP) refuse() error { n.blocked.Add(1); return errUDPBlocked }

func (n noUDP) ListenPacket(network, address string) (net.PacketConn, error) {
	if isUDP(network) {
		return nil, n.refuse()
	}
	return n.Net.ListenPacket(network, address)
}

func (n noUDP) ListenUDP(string, *net.UDPAddr) (ptransport.UDPConn, error) { return nil, n.refuse() }

func (n noUDP) DialUDP(string, *net.UDPAddr, *net.UDPAddr) (ptransport.UDPConn, error) {
	return nil, n.refuse()
}

func (n noUDP) Dial(network, address string) (net.Conn, error) {
	if isUDP(network) {
		return nil, n.refuse()
	}
	return n.Net.Dial(network, address)
}

func (n noUDP) CreateDialer(d *net.Dialer) ptransport.Dialer {
	return noUDPDialer{n.Net.CreateDialer(d), n}
}

type noUDPDialer struct {
	ptransport.Dialer
	n noUDP
}

func (d noUDPDialer) Dial(network, address string) (net.Conn, error) {
	if isUDP(network) {
		return nil, d.n.refuse()
	}
	return d.Dialer.Dial(network, address)
}

func (n noUDP) CreateListenConfig(c *net.ListenConfig) ptransport.ListenConfig {
	return noUDPListen{n.Net.CreateListenConfig(c), n}
}

type noUDPListen struct {
	ptransport.ListenConfig
	n noUDP
}

func (l noUDPListen) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	if isUDP(network) {
		return nil, l.n.refuse()
	}
	return l.ListenConfig.ListenPacket(ctx, network, address)
}

// udpBlocked is a peer transport on a network without UDP.
func udpBlocked(t *testing.T, blocked *atomic.Int64) *webrtc.SettingEngine {
	t.Helper()
	n, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	se := &webrtc.SettingEngine{}
	se.SetNet(noUDP{Net: n, blocked: blocked})
	return se
}

// TestUDPBlockedSessionOverTURNTCP: both peers sit on networks that drop
// UDP, with no relay-only setting: the only way is TURN over TCP, through
// the relay's embedded TURN server or Debian's coturn (use-auth-secret on
// the relay's secret), or TURN over TLS (turns:) where the embedded
// server's only port speaks TLS. The session selects a relayed pair and
// serves pixel-exact frames.
func TestUDPBlockedSessionOverTURNTCP(t *testing.T) {
	cases := []struct {
		name  string
		serve func(t *testing.T) *relaytest.Relay
	}{
		{"embedded", func(t *testing.T) *relaytest.Relay {
			return relaytest.StartServed(t, testLogger(), relaytest.Serving{})
		}},
		{"embedded TLS", func(t *testing.T) *relaytest.Relay {
			cert, err := turnsCA.TLSCert("127.0.0.1")
			if err != nil {
				t.Fatal(err)
			}
			raw, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			port := raw.Addr().(*net.TCPAddr).Port
			// One port, TLS only: the turn: URLs name it too, and plain
			// TURN over TCP fails its handshake.
			r := relaytest.StartServed(t, testLogger(), relaytest.Serving{NoTURN: true}, func(c *relay.Config) {
				c.TURN = relay.TURNConfig{Host: "127.0.0.1", Port: port, TLSPort: port, RelayIP: net.IPv4(127, 0, 0, 1),
					AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
			})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				_ = r.Srv.ServeTURN(ctx, nil, tls.NewListener(raw, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
			}()
			t.Cleanup(func() { cancel(); <-done })
			return r
		}},
		{"coturn", func(t *testing.T) *relaytest.Relay {
			const secret = "e2e-coturn-shared-secret-0123456789"
			port := startCoturn(t, secret)
			data := t.TempDir()
			if err := os.WriteFile(filepath.Join(data, relay.TURNSecretFile), []byte(secret+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			hp := "127.0.0.1:" + strconv.Itoa(port)
			return relaytest.StartServed(t, testLogger(), relaytest.Serving{NoTURN: true}, func(c *relay.Config) {
				c.DataDir = data
				c.TURN.External = []string{"turn:" + hp + "?transport=udp", "turn:" + hp + "?transport=tcp"}
			})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.serve(t)
			x := captest.StartX(t, 640, 480)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			log := testLogger()
			env := &env{srv: r.Srv, url: r.URL, key: r.Key, log: log}
			var hostBlocked, guestBlocked atomic.Int64
			h := env.startHost(t, x.Display, false, func(o *agent.Options) { o.Transport.Setting = udpBlocked(t, &hostBlocked) })
			s := env.connectOver(t, ctx, h.hostname, transport.Config{Loopback: true, Logger: log, Setting: udpBlocked(t, &guestBlocked)}, nil)
			if local, remote, err := s.SelectedPair(); err != nil || local != "relay" {
				t.Fatalf("session without UDP uses a %q↔%q pair (%v), want relay", local, remote, err)
			}
			if hostBlocked.Load() == 0 || guestBlocked.Load() == 0 {
				t.Fatalf("the peers never tried UDP (host %d, guest %d refusals): the test proves nothing", hostBlocked.Load(), guestBlocked.Load())
			}
			matchScreen(t, ctx, s, x)
		})
	}
}
