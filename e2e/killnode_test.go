package e2e

import (
	"bytes"
	"context"
	"image"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/relay"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/relay/store/storetest"
)

// startRelayProcess builds tandem-relay and runs it as a node on db, in a
// process of its own the test can kill; it returns its host:port.
func startRelayProcess(t *testing.T, ctx context.Context, db string) (string, *exec.Cmd) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tandem-relay")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/tandem-rc/tandem/cmd/tandem-relay")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building tandem-relay: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var out bytes.Buffer
	cmd := exec.Command(bin, "serve", "--listen", addr, "--data", t.TempDir(), "--db", db, "--turn-listen", "off",
		"--public-url", "http://"+addr, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("killed node's output:\n%s", out.String())
		}
	})
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr, cmd
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("tandem-relay serve never answered on %s", addr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// A relay node killed (SIGKILL) mid-session: the peer-to-peer session goes
// on, the Host comes back through the balancer to the other node, and the
// survivor ends the dead node's session, so the audit log holds its start
// and its end.
func TestRelayNodeKilledMidSession(t *testing.T) {
	x := captest.StartX(t, 800, 600)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	log := testLogger()
	db := storetest.Postgres(t)
	b := relaytest.Start(t, log, func(c *relay.Config) { c.DB = db; c.NodeHeartbeat = 500 * time.Millisecond })
	addrA, nodeA := startRelayProcess(t, ctx, db)

	// The Host reaches node A through the balancer; the technician is on B.
	lb := newBalancer(t, addrA, hostPort(b.URL))
	h := (&env{srv: b.Srv, url: lb.url(), key: b.Key, log: log}).startHost(t, x.Display, false)
	envB := &env{srv: b.Srv, url: b.URL, key: b.Key, log: log}
	s := envB.connect(t, ctx, h.hostname, false)
	matchScreen(t, ctx, s, x)

	if err := nodeA.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	nodeA.Wait()

	// The Host comes back, to B (its second connection).
	st := b.Srv.Store()
	for {
		evs, err := st.Audit(ctx, store.AuditFilter{Event: relay.EvAgentConnected, DeviceID: h.deviceID})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) >= 2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the Host never came back through the balancer")
		case <-time.After(100 * time.Millisecond):
		}
	}
	// The session goes on peer to peer.
	movePointer(t, ctx, s, x, image.Point{50, 60}, image.Point{700, 500})
	matchScreen(t, ctx, s, x)

	// B ends the dead node's session once A's heartbeat expired.
	waitSession(t, ctx, st, s.ID, true)
	if se, _ := st.Session(ctx, s.ID); se.EndReason != "relay_node_lost" {
		t.Fatalf("session ended with %q", se.EndReason)
	}
	for _, ev := range []string{relay.EvSessionStarted, relay.EvSessionEnded} {
		evs, err := st.Audit(ctx, store.AuditFilter{Event: ev, DeviceID: h.deviceID})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range evs {
			if strings.Contains(string(e.Detail), s.ID) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d %s events for the session, want 1", n, ev)
		}
	}
}
