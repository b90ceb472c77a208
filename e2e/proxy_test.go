package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/internal/nginxtest"
	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/relay"
	"github.com/tandem-rc/tandem/relay/frontdoor"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestBehindNginx runs the relay as the README deploys it behind a reverse
// proxy: Debian's nginx in front (TLS terminated there), the relay with
// --trusted-proxy 127.0.0.1/32 served by frontdoor with its connection
// cap. Clients reach nginx from their own loopback addresses. The relay
// sees each client's address (only the rightmost untrusted X-Forwarded-For
// entry counts, whatever a client put before it), links carry nginx's
// forwarded scheme and host, guessing budgets are per client and not per
// proxy, a direct client's forged headers count for nothing, and the
// agents' and guests' WebSockets work through nginx: a real session.
func TestBehindNginx(t *testing.T) {
	x := captest.StartX(t, 320, 240)
	log := testLogger()
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	r := relaytest.StartServed(t, log, relaytest.Serving{
		Server: func(h http.Handler) *http.Server { return frontdoor.NewServer(h, frontdoor.ServerConfig{}) },
		Listener: func(ln net.Listener) net.Listener {
			return frontdoor.LimitListener(ln, frontdoor.ConnLimits{PerSource: 20, Front: frontdoor.New("", trusted), Log: log})
		},
	}, func(c *relay.Config) {
		c.PublicURL, c.TrustedProxies = "", trusted
		c.Limits.EnrollBurst = 3
	})
	px := nginxtest.Start(t, strings.TrimPrefix(r.URL, "http://"), "127.0.0.1")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	call := func(c *http.Client, method, url, token string, body any, hdr ...string) (int, string) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = strings.NewReader(string(b))
		}
		req, err := http.NewRequestWithContext(ctx, method, url, rd)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			if hdr[i] == "Host" {
				req.Host = hdr[i+1]
			} else {
				req.Header.Add(hdr[i], hdr[i+1])
			}
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	forged := []string{"X-Forwarded-For", "6.6.6.6", "X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "https"}
	badKey := "/d/AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA"
	remotes := func() map[string]int {
		evs, err := r.Srv.Store().Audit(ctx, store.AuditFilter{Event: relay.EvDownloadFailed, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, ev := range evs {
			out[ev.RemoteAddr]++
		}
		return out
	}

	// A client straight to the relay (untrusted): its forged headers count
	// for nothing.
	if status, body := call(px.Client("127.0.0.2"), "GET", r.URL+badKey, "", nil, forged...); status != http.StatusNotFound {
		t.Fatalf("direct bad link: %d %s", status, body)
	}
	if got := remotes(); got["127.0.0.2"] != 1 || len(got) != 1 {
		t.Fatalf("direct client audited as %v", got)
	}
	// Through nginx: the client's own address, not what it wrote in front
	// of it, and its own budget (3 guesses here).
	alice := px.Client("127.0.0.5")
	for i := range 3 {
		if status, body := call(alice, "GET", px.URL+badKey, "", nil, forged...); status != http.StatusNotFound {
			t.Fatalf("bad link %d through nginx: %d %s", i, status, body)
		}
	}
	if status, _ := call(alice, "GET", px.URL+badKey, "", nil, forged...); status != http.StatusTooManyRequests {
		t.Fatalf("4th bad link from one client: %d, want 429", status)
	}
	if got := remotes(); got["127.0.0.5"] != 3 || got["6.6.6.6"] != 0 || got["127.0.0.1"] != 0 {
		t.Fatalf("clients through nginx audited as %v", got)
	}
	if status, body := call(px.Client("127.0.0.6"), "GET", px.URL+badKey, "", nil); status != http.StatusNotFound {
		t.Fatalf("another client through nginx after one used its budget: %d %s", status, body)
	}
	// A name nginx does not serve never reaches the relay.
	if status, _ := call(alice, "GET", px.URL+"/api/v1/health", "", nil, "Host", "evil.example"); status != 0 {
		t.Fatalf("Host evil.example through nginx: %d", status)
	}

	// Links follow nginx's scheme and host: https on its TLS port.
	for _, base := range []string{px.TLSURL, px.URL} {
		c := px.Client("127.0.0.7")
		var lr wire.LoginResponse
		status, body := call(c, "POST", base+"/api/v1/login", "", wire.LoginRequest{Email: ownerEmail, Password: ownerPassword})
		if json.Unmarshal([]byte(body), &lr); status != http.StatusOK {
			t.Fatalf("login via %s: %d %s", base, status, body)
		}
		var pkg wire.Package
		status, body = call(c, "POST", base+"/api/v1/accounts/"+lr.User.Accounts[0].ID+"/packages", lr.Token,
			wire.Package{Name: "via " + base}, forged...)
		if json.Unmarshal([]byte(body), &pkg); status != http.StatusCreated {
			t.Fatalf("package via %s: %d %s", base, status, body)
		}
		if want := base + "/d/" + pkg.Key; pkg.InstallLink != want {
			t.Errorf("install link %q, want %q", pkg.InstallLink, want)
		}
		if _, conf := call(c, "GET", base+"/d/"+pkg.Key+"/enroll.conf", "", nil); !strings.Contains(conf, "RELAY_URL="+base+"\n") {
			t.Errorf("enroll.conf via %s:\n%s", base, conf)
		}
		if _, script := call(c, "GET", base+"/d/"+pkg.Key+"/install.sh", "", nil); !strings.Contains(script, base+"/d/") || strings.Contains(script, "evil") {
			t.Errorf("install.sh via %s:\n%s", base, script)
		}
	}

	// A browser's WebSocket through nginx: its Origin is nginx's host and
	// port, while the Host header nginx passes has no port; the forwarded
	// host vouches for it. Another origin is refused.
	for origin, want := range map[string]int{px.URL: http.StatusSwitchingProtocols, "http://evil.example": http.StatusForbidden} {
		wsURL := "ws" + strings.TrimPrefix(px.URL, "http") + "/api/v1/agent/connect"
		c, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: px.Client("127.0.0.8"),
			HTTPHeader: http.Header{"Origin": {origin}}})
		if c != nil {
			c.CloseNow()
		}
		if resp == nil || resp.StatusCode != want {
			t.Fatalf("WebSocket from origin %s: %v %v, want %d", origin, resp, err, want)
		}
	}

	// The WebSockets through nginx: a Host enrolls and connects, a guest
	// opens a session and sees its screen.
	e := &env{srv: r.Srv, url: px.URL, key: r.Key, log: log}
	h := e.startHost(t, x.Display, false)
	s := e.connect(t, ctx, h.hostname, false)
	img, _, err := s.Snapshot(ctx)
	if err != nil || img.Bounds().Dx() != 320 {
		t.Fatalf("snapshot through nginx: %v %v", err, img)
	}
	evs, err := r.Srv.Store().Audit(ctx, store.AuditFilter{Event: relay.EvAgentConnected})
	if err != nil || len(evs) == 0 || evs[0].RemoteAddr != "127.0.0.1" {
		t.Fatalf("agent connections audited as %+v (%v)", evs, err)
	}
}
