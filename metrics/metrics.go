// Package metrics exposes the server's Prometheus metrics on the admin
// listener. It owns a private registry (no global state): features and
// connection layers report through small interfaces they define, and
// server wires them to a Metrics value.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the collectors.
type Metrics struct {
	reg *prometheus.Registry

	stanzasRouted *prometheus.CounterVec   // kind
	routeSeconds  *prometheus.HistogramVec // kind
}

// New returns metrics registered on a fresh registry, with the Go runtime
// and process collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.stanzasRouted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dormouse", Name: "stanzas_routed_total",
		Help: "Stanzas routed from local entities, by kind (message, presence, iq).",
	}, []string{"kind"})
	m.routeSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "dormouse", Name: "route_duration_seconds",
		Help:    "Time to route one stanza: policy, archive, copy, delivery to queues, offline storage.",
		Buckets: []float64{10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1},
	}, []string{"kind"})
	m.reg.MustRegister(m.stanzasRouted, m.routeSeconds)
	return m
}

// Routed records one routed stanza (implements router.Observer).
func (m *Metrics) Routed(kind string, d time.Duration) {
	m.stanzasRouted.WithLabelValues(kind).Inc()
	m.routeSeconds.WithLabelValues(kind).Observe(d.Seconds())
}

// GaugeFunc registers a gauge whose value is read from f at scrape time
// (connection counts and the like).
func (m *Metrics) GaugeFunc(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "dormouse", Name: name, Help: help}, f))
}

// CounterFunc registers a counter whose value is read from f at scrape
// time (for counters kept by a package that does not import Prometheus).
func (m *Metrics) CounterFunc(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "dormouse", Name: name, Help: help}, f))
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
