package e2e

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/relay"
)

// startCoturn runs Debian's coturn on 127.0.0.1 with the TURN REST secret
// (use-auth-secret), as an operator would next to the relay, and returns
// its port (UDP and TCP).
func startCoturn(t *testing.T, secret string) int {
	t.Helper()
	bin, err := exec.LookPath("turnserver")
	if err != nil {
		t.Skip("coturn is not installed (scripts/deps.sh test)")
	}
	port := freeUDPTCPPort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "turnserver.conf")
	if err := os.WriteFile(conf, []byte(
		"listening-ip=127.0.0.1\nrelay-ip=127.0.0.1\nlistening-port="+strconv.Itoa(port)+"\n"+
			"use-auth-secret\nstatic-auth-secret="+secret+"\nrealm=tandem\nfingerprint\n"+
			// The test's peers are all on 127.0.0.1, which coturn refuses by default.
			"allow-loopback-peers\nno-tls\nno-dtls\nno-cli\nno-multicast-peers\n"+
			"userdb="+filepath.Join(dir, "turndb")+"\npidfile="+filepath.Join(dir, "turnserver.pid")+"\n"+
			"log-file="+filepath.Join(dir, "turn.log")+"\nsimple-log\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "turn.log")); err == nil {
				t.Logf("coturn log:\n%s", b)
			}
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := net.DialTimeout("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err == nil {
			c.Close()
			return port
		}
		if time.Now().After(deadline) {
			t.Fatalf("coturn does not listen on %d: %v", port, err)
		}
	}
}

// freeUDPTCPPort finds a port free for UDP and TCP on 127.0.0.1 (and
// frees it for coturn to take).
func freeUDPTCPPort(t *testing.T) int {
	udp, tcp, port := relaytest.ListenTURN(t)
	udp.Close()
	tcp.Close()
	return port
}

// coturn is the only TURN server (the relay runs none, as with serve
// --turn-listen off --turn-server ...): a relay-only session goes through
// it with the relay's time-limited credentials and serves pixel-exact
// frames.
func TestCoturnOnlyTURN(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			const secret = "e2e-coturn-shared-secret-0123456789"
			port := startCoturn(t, secret)
			x := captest.StartX(t, 800, 600)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			log := testLogger()
			data := t.TempDir()
			if err := os.WriteFile(filepath.Join(data, relay.TURNSecretFile), []byte(secret+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			r := relaytest.StartServed(t, log, relaytest.Serving{NoTURN: true}, func(c *relay.Config) {
				c.DataDir = data
				c.TURN.External = []string{"turn:127.0.0.1:" + strconv.Itoa(port) + "?transport=" + transport}
			})
			env := &env{srv: r.Srv, url: r.URL, key: r.Key, log: log}
			h := env.startHost(t, x.Display, true)
			s := env.connect(t, ctx, h.hostname, true)
			if local, remote, err := s.SelectedPair(); err != nil || local != "relay" {
				t.Fatalf("relay-only session uses a %q↔%q pair (%v), want relay", local, remote, err)
			}
			matchScreen(t, ctx, s, x)
		})
	}
}
