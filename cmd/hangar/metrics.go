package main

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/egress"
	"github.com/hangar-dev/hangar/internal/runner"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics is the server's Prometheus registry (its own, never the global default) and the
// instruments the runner reports to. GET /metrics serves it, behind the admin API key like
// /v1 (Prometheus: `authorization: {credentials: <key>}`), since session counts and
// traffic are not for anyone who can reach the port. docs/deployment.md lists the series.
type metrics struct {
	reg       *prometheus.Registry
	turns     *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	takeovers prometheus.Counter
	egress    *egressMeter
}

var _ runner.Metrics = (*metrics)(nil)

// newMetrics registers every series. subscribers reports the live SSE subscribers of this
// instance (pubsub.Hub.Subscribers).
func newMetrics(store hangar.Store, subscribers func() int, instance string) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		turns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hangar_turns_total",
			Help: "Turns this instance ran to their end, by outcome (end_turn, interrupted, error).",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hangar_turn_duration_seconds",
			Help:    "Time from a turn's first session.status_running to its end, by outcome.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800},
		}, []string{"outcome"}),
		takeovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hangar_lease_takeovers_total",
			Help: "Sessions this instance took over from an expired or released lease with work left.",
		}),
		egress: &egressMeter{live: map[string]*egress.Proxy{}},
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.turns, m.latency, m.takeovers,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hangar_sse_subscribers",
			Help: "Open event streams (SSE) on this instance.",
		}, func() float64 { return float64(subscribers()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "hangar_instance_info",
			Help:        "Always 1; its label is this process's lease owner ID.",
			ConstLabels: prometheus.Labels{"instance_id": instance},
		}, func() float64 { return 1 }),
		&sessionCollector{store: store},
		m.egress,
	)
	return m
}

// TurnEnded implements runner.Metrics.
func (m *metrics) TurnEnded(outcome string, d time.Duration) {
	m.turns.WithLabelValues(outcome).Inc()
	m.latency.WithLabelValues(outcome).Observe(d.Seconds())
}

// Takeover implements runner.Metrics.
func (m *metrics) Takeover() { m.takeovers.Inc() }

// handler serves /metrics, checking the admin key as the API does (x-api-key or bearer),
// and everything else with next.
func (m *metrics) handler(next http.Handler, apiKey string) http.Handler {
	prom := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("x-api-key")
		if auth := r.Header.Get("Authorization"); key == "" && len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
			key = strings.TrimSpace(auth[7:])
		}
		if key == "" || subtle.ConstantTimeCompare([]byte(key), []byte(apiKey)) != 1 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`))
			return
		}
		prom.ServeHTTP(w, r)
	}))
	mux.Handle("/", next)
	return mux
}

// sessionCollector counts the store's sessions by status at scrape time. It pages through
// the sessions (a few reads per thousand), so the numbers are the whole deployment's, the
// same on every instance: aggregate them with max(), not sum().
type sessionCollector struct{ store hangar.Store }

var sessionsDesc = prometheus.NewDesc("hangar_sessions", "Sessions in the store by status (all instances).", []string{"status"}, nil)

func (c *sessionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- sessionsDesc }

func (c *sessionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	counts := map[string]int{hangar.StatusIdle: 0, hangar.StatusRunning: 0, hangar.StatusRescheduling: 0, hangar.StatusTerminated: 0}
	f := hangar.SessionFilter{IncludeArchived: true, Page: hangar.Page{Limit: 1000}}
	for {
		list, page, err := c.store.ListSessions(ctx, f)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(sessionsDesc, err)
			return
		}
		for _, s := range list {
			counts[s.Status]++
		}
		if page.Next == "" || len(list) == 0 {
			break
		}
		cur, err := hangar.DecodeCursor(page.Next)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(sessionsDesc, err)
			return
		}
		f.Page.Cursor = &cur
	}
	for status, n := range counts {
		ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(n), status)
	}
}

// egressMeter counts the bytes sandboxes moved through the egress proxy: those of
// detached sessions plus the live counters of attached ones.
type egressMeter struct {
	mu             sync.Mutex
	sent, received int64
	live           map[string]*egress.Proxy
}

var egressDesc = prometheus.NewDesc("hangar_egress_bytes_total", "Bytes sandboxes sent and received through the egress proxy of this instance.", []string{"direction"}, nil)

func (e *egressMeter) Describe(ch chan<- *prometheus.Desc) { ch <- egressDesc }

func (e *egressMeter) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	sent, received := e.sent, e.received
	for id, p := range e.live {
		s, r := p.Bytes(id)
		sent, received = sent+s, received+r
	}
	e.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(egressDesc, prometheus.CounterValue, float64(sent), "sent")
	ch <- prometheus.MustNewConstMetric(egressDesc, prometheus.CounterValue, float64(received), "received")
}

// meteredEgress wraps the runner's egress attacher so that the meter sees every
// attachment and adds its bytes when it closes.
type meteredEgress struct {
	next  runner.Egress
	proxy *egress.Proxy
	m     *egressMeter
}

func (e meteredEgress) Attach(ctx context.Context, sessionID string, policy hangar.Networking, opts runner.EgressOptions) (*runner.EgressAttachment, error) {
	a, err := e.next.Attach(ctx, sessionID, policy, opts)
	if err != nil {
		return nil, err
	}
	e.m.mu.Lock()
	e.m.live[sessionID] = e.proxy
	e.m.mu.Unlock()
	closeNext := a.Close
	var once sync.Once
	a.Close = func() error {
		once.Do(func() {
			e.m.mu.Lock()
			s, r := e.proxy.Bytes(sessionID)
			e.m.sent, e.m.received = e.m.sent+s, e.m.received+r
			delete(e.m.live, sessionID)
			e.m.mu.Unlock()
		})
		if closeNext != nil {
			return closeNext()
		}
		return nil
	}
	return a, nil
}
