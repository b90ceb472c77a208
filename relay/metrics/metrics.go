// Package metrics holds the relay's Prometheus metrics: connected Hosts,
// live sessions, session setups and their latency, TURN allocations,
// throttled requests and dropped database writes. Its Handler is served on
// a separate, private address (serve --metrics-listen), never on the
// public one.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Gauges are read when scraped, from the relay's own state.
type Gauges struct {
	Hosts    func() int // Hosts with a live relay connection
	Sessions func() int // live sessions
}

// Metrics is one relay's set; its methods are safe for concurrent use.
type Metrics struct {
	reg          *prometheus.Registry
	setups       prometheus.Counter
	setupSeconds prometheus.Histogram
	turnAllocs   prometheus.Counter
	turnLive     prometheus.Gauge
	throttled    *prometheus.CounterVec
	dropped      *prometheus.CounterVec
}

// New registers the relay's metrics, with Go and process metrics, in a
// registry of its own (several relays in one test process do not clash).
func New(g Gauges) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		setups: prometheus.NewCounter(prometheus.CounterOpts{Name: "tandem_session_setups_total",
			Help: "Session requests granted (the Host was asked to start the session)."}),
		setupSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tandem_session_setup_seconds",
			Help:    "Time to answer a granted session request (access decision, database writes, grant sent).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}),
		turnAllocs: prometheus.NewCounter(prometheus.CounterOpts{Name: "tandem_turn_allocations_total",
			Help: "TURN allocations made by the embedded TURN server."}),
		turnLive: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tandem_turn_allocations",
			Help: "TURN allocations open on the embedded TURN server."}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_throttled_requests_total",
			Help: "Requests refused with 429, by route (its pattern) or front door."}, []string{"kind"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_dropped_writes_total",
			Help: "Database writes that failed and were only logged (should stay 0)."}, []string{"kind"}),
	}
	reg.MustRegister(m.setups, m.setupSeconds, m.turnAllocs, m.turnLive, m.throttled, m.dropped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tandem_connected_hosts",
			Help: "Hosts with a live relay connection."}, func() float64 { return float64(g.Hosts()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tandem_live_sessions",
			Help: "Sessions granted and not yet ended."}, func() float64 { return float64(g.Sessions()) }),
	)
	// Present from the start: a scrape shows 0 rather than nothing.
	for _, k := range DroppedKinds {
		m.dropped.WithLabelValues(k)
	}
	return m
}

// DroppedKinds are the writes whose failure is only logged.
var DroppedKinds = []string{"audit", "last_seen", "inventory", "session_start", "session_end"}

// SessionSetup records one granted session request and how long it took.
func (m *Metrics) SessionSetup(d time.Duration) {
	m.setups.Inc()
	m.setupSeconds.Observe(d.Seconds())
}

// Throttled counts a 429 answer; kind must come from a bounded set (a
// route pattern, never a raw path).
func (m *Metrics) Throttled(kind string) { m.throttled.WithLabelValues(kind).Inc() }

// Dropped counts a failed write of one of DroppedKinds.
func (m *Metrics) Dropped(kind string) { m.dropped.WithLabelValues(kind).Inc() }

// TURNAllocated and TURNReleased follow the TURN server's allocations.
func (m *Metrics) TURNAllocated() { m.turnAllocs.Inc(); m.turnLive.Inc() }
func (m *Metrics) TURNReleased()  { m.turnLive.Dec() }

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{MaxRequestsInFlight: 4})
}

// NewServer serves h (MetricsHandler) at /metrics, nothing else, with
// timeouts: for a private address such as 127.0.0.1:9090.
func NewServer(h http.Handler) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	return &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 8 << 10}
}
