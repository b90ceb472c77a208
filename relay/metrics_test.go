package relay

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/transport/wire"
)

// scrape reads the relay's /metrics (its private handler) into
// "name{labels}" → value.
func scrape(t *testing.T, s *Server) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	s.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(rec.Body.Bytes()))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetrics: after a real session setup on an in-process relay the
// metrics show the connected Host, the live session, one setup in the
// latency histogram, a throttled enrollment by its route, and no dropped
// writes; the public handler does not serve them.
func TestMetrics(t *testing.T) {
	e := newSessionEnv(t, func(c *Config) { c.Limits.EnrollBurst = 1; c.Limits.EnrollEvery = time.Hour })
	m := scrape(t, e.srv)
	want := func(name string, v float64) {
		t.Helper()
		if got, ok := m[name]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, v)
		}
	}
	want("tandem_connected_hosts", 1)
	want("tandem_live_sessions", 0)
	want("tandem_session_setups_total", 0)
	want("tandem_session_setup_seconds_count", 0)

	sr, _ := e.open()
	e.guest(sr)
	for range 2 { // the second guess is throttled
		e.do("POST", "/api/v1/enroll", "", wire.EnrollRequest{Key: "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA", PublicKey: pubB64(newKey(t))})
	}
	m = scrape(t, e.srv)
	want("tandem_connected_hosts", 1)
	want("tandem_live_sessions", 1)
	want("tandem_session_setups_total", 1)
	want("tandem_session_setup_seconds_count", 1)
	want(`tandem_session_setup_seconds_bucket{le="+Inf"}`, 1)
	want(`tandem_throttled_requests_total{kind="POST /api/v1/enroll"}`, 1)
	for _, k := range []string{"audit", "last_seen", "inventory", "session_start", "session_end"} {
		want(`tandem_dropped_writes_total{kind="`+k+`"}`, 0)
	}
	if _, ok := m["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	if status, _ := e.do("GET", "/metrics", "", nil); status == http.StatusOK {
		t.Error("the public handler serves /metrics")
	}
}

// TestHealthReady: /healthz answers without the database, /readyz only
// while the database answers.
func TestHealthReady(t *testing.T) {
	e := newEnv(t)
	get := func(path string) int {
		status, _ := e.do("GET", path, "", nil)
		return status
	}
	if h, r := get("/healthz"), get("/readyz"); h != 200 || r != 200 {
		t.Fatalf("healthz %d, readyz %d", h, r)
	}
	if err := e.srv.Store().Close(); err != nil {
		t.Fatal(err)
	}
	if h, r := get("/healthz"), get("/readyz"); h != 200 || r != http.StatusServiceUnavailable {
		t.Fatalf("database closed: healthz %d, readyz %d", h, r)
	}
}
