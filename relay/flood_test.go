package relay

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/transport/wire"
)

// heapPeak samples the process's heap in use until stop is called and
// returns the highest value seen (bytes).
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return peak.Load() }
}

func heapNow() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

const mib = 1 << 20

// TestFloodAdversarial runs what a hostile outsider would against a real
// relay: 200 simultaneous logins (100 wrong passwords for the owner, 100
// for unknown users) and 2,000 bad agent handshakes over real WebSockets,
// and checks the counts (attempts evaluated, audit rows) and the memory
// (the heap of this process, relay and clients both). Today's code hashed
// every login at once (19 MiB of argon2id each: ~920 MB for 100) and wrote
// one audit row per refused handshake.
func TestFloodAdversarial(t *testing.T) {
	// A per-address budget large enough that the hashing cap, not the
	// budget, is what bounds the logins.
	e := newEnv(t, func(c *Config) { c.Limits.LoginIPBurst = 10_000 })
	owner := e.accountUser(e.acme().ID, ownerEmail).UserID

	base := heapNow()
	stop := heapPeak()
	counts := e.storm(200, func(i int) (string, any) {
		if i%2 == 0 {
			return "/api/v1/login", wire.LoginRequest{Email: ownerEmail, Password: "Wr0ngPassword"}
		}
		return "/api/v1/login", wire.LoginRequest{Email: fmt.Sprintf("guess%d@example.com", i), Password: "Wr0ngPassword"}
	})
	peak := stop()
	t.Logf("200 logins: answers %v; heap in use %d MiB before, peak %d MiB during, %d MiB after; %d hashes computed",
		counts, base/mib, peak/mib, heapNow()/mib, e.srv.gd.hash.Ran())
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "VmHWM:") || strings.HasPrefix(l, "VmRSS:") {
				t.Logf("test process %s", strings.Join(strings.Fields(l), " "))
			}
		}
	}
	if counts[http.StatusUnauthorized]+counts[http.StatusTooManyRequests]+counts[http.StatusServiceUnavailable] != 200 {
		t.Fatalf("unexpected answers %v", counts)
	}
	var ownerChecked, total int
	for _, ev := range e.audit(EvLoginFailed) {
		total++
		if ev.ActorUserID == owner {
			ownerChecked++
		}
	}
	// At most the limit: attempts that found the hashing queue full (503)
	// were never evaluated, so fewer is possible.
	if ownerChecked < 1 || ownerChecked > e.srv.cfg.Limits.LockAfter {
		t.Fatalf("%d of the owner's wrong passwords evaluated, want 1 to %d", ownerChecked, e.srv.cfg.Limits.LockAfter)
	}
	if total != counts[http.StatusUnauthorized] {
		t.Fatalf("%d failed logins audited, %d answered 401", total, counts[http.StatusUnauthorized])
	}
	// The cap: a few hashes at once (19 MiB each) and small waiters, not
	// one hash per request. Generous for the GC's slack.
	if grew := int64(peak) - int64(base); grew > 256*mib {
		t.Fatalf("heap grew by %d MiB during 200 logins, want < 256 MiB", grew/mib)
	}

	// 2,000 bad agent handshakes from one client, 20 at a time.
	base = heapNow()
	stop = heapPeak()
	var refused, throttled, other atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				switch badHandshake(e) {
				case "refused":
					refused.Add(1)
				case "throttled":
					throttled.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	peak = stop()
	e.clock.Advance(agentFailWindow)
	e.srv.flushAgentFailures(false)
	evs := e.audit(EvAgentAuthFailed)
	sum := 0
	for _, ev := range evs {
		var d struct {
			Count int `json:"count"`
		}
		json.Unmarshal(ev.Detail, &d)
		sum += d.Count
	}
	t.Logf("2000 bad handshakes: %d refused after the handshake, %d throttled before it, %d other; %d audit rows counting %d; heap %d MiB before, peak %d MiB",
		refused.Load(), throttled.Load(), other.Load(), len(evs), sum, base/mib, peak/mib)
	if other.Load() != 0 {
		t.Fatalf("%d handshakes ended otherwise", other.Load())
	}
	if len(evs) > 2 || sum != 2000 {
		t.Fatalf("%d audit rows counting %d refusals, want at most 2 rows counting all 2000", len(evs), sum)
	}
	if max := int64(agentFailBurst); refused.Load() > max+20 {
		t.Fatalf("%d handshakes evaluated from one throttled source, want about %d", refused.Load(), max)
	}
	if grew := int64(peak) - int64(base); grew > 128*mib {
		t.Fatalf("heap grew by %d MiB during 2000 handshakes", grew/mib)
	}
	if n := e.srv.gd.agentFail.Len(); n != 0 {
		t.Fatalf("%d aggregation records left after the flush", n)
	}
	if evs[0].RemoteAddr != "127.0.0.1" {
		t.Fatalf("aggregated by %q, want the source", evs[0].RemoteAddr)
	}
}

// badHandshake is one agent authenticating as an unknown device with a
// garbage signature: "refused" (the relay answered after the handshake),
// "throttled" (429 before the WebSocket) or what else happened.
func badHandshake(e *env) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, e.wsURL("/api/v1/agent/connect"), nil)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
			return "throttled"
		}
		return "dial: " + err.Error()
	}
	defer c.CloseNow()
	send := func(s *wire.Signal) error {
		b, _ := wire.EncodeSignal(s)
		return c.Write(ctx, websocket.MessageText, b)
	}
	if err := send(&wire.Signal{Type: wire.SigHello, Role: "agent", Version: wire.Version}); err != nil {
		return err.Error()
	}
	if _, _, err := c.Read(ctx); err != nil {
		return err.Error()
	}
	sig := make([]byte, 64)
	rand.Read(sig)
	id := make([]byte, 8)
	rand.Read(id)
	if err := send(&wire.Signal{Type: wire.SigAuth, DeviceID: fmt.Sprintf("%x", id), Signature: base64.StdEncoding.EncodeToString(sig)}); err != nil {
		return err.Error()
	}
	_, b, err := c.Read(ctx)
	if err != nil {
		return err.Error()
	}
	s, err := wire.DecodeSignal(b)
	if err != nil || s.Type != wire.SigError || s.Code != api.CodeUnknownDevice {
		return fmt.Sprintf("answer %s", b)
	}
	return "refused"
}
