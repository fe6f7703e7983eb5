// Package metrics exposes the server's Prometheus metrics on the admin
// listener. It owns a private registry (no global state). No other package
// imports it; package server wires them to it, in one style:
//
//   - counts and gauges are kept by the package that does the work (atomic
//     counters, or a walk over its state) and read at scrape time:
//     server registers them with CounterFunc, CounterVecFunc, GaugeFunc
//     and GaugeGroup (session.Stats and Census, offline.Stats, mam.Stats);
//   - durations, which a histogram must see one by one, are pushed through
//     a small interface the package defines (router.Observer,
//     session.Metrics, offline.Metrics, mam.Metrics), which Metrics
//     implements.
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

	stanzasRouted  *prometheus.CounterVec   // kind
	routeSeconds   *prometheus.HistogramVec // kind
	storageSeconds *prometheus.HistogramVec // op
	storageErrors  *prometheus.CounterVec   // op
	mamQuery       prometheus.Histogram
	pushes         *prometheus.CounterVec // outcome
	pushLatency    prometheus.Histogram
}

// latencyBuckets returns the histogram buckets for in-process latencies,
// from 10 µs to 1 s.
func latencyBuckets() []float64 {
	return []float64{10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1}
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
		Buckets: latencyBuckets(),
	}, []string{"kind"})
	m.storageSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "dormouse", Name: "storage_duration_seconds",
		Help:    "Time of one storage operation, by operation (e.g. offline_store, archive_commit, mam_query, credentials).",
		Buckets: latencyBuckets(),
	}, []string{"op"})
	m.storageErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dormouse", Name: "storage_errors_total",
		Help: "Storage operations that failed, by operation.",
	}, []string{"op"})
	m.mamQuery = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "dormouse", Name: "mam_query_duration_seconds",
		Help:    "Time to answer one archive query (XEP-0313), from the request to the last result queued.",
		Buckets: latencyBuckets(),
	})
	m.pushes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dormouse", Name: "push_publishes_total",
		Help: "Push notifications (XEP-0357) published to app servers, by outcome (ok, rejected, wait, timeout, remote-server-not-found, error).",
	}, []string{"outcome"})
	m.pushLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "dormouse", Name: "push_latency_seconds",
		Help:    "Time from the stanza that causes a push notification to its publish leaving for the app server (coalesced and retried publishes included).",
		Buckets: append(latencyBuckets(), 2.5, 10, 60, 600),
	})
	m.reg.MustRegister(m.stanzasRouted, m.routeSeconds, m.storageSeconds, m.storageErrors, m.mamQuery, m.pushes, m.pushLatency)
	return m
}

// StorageDone records one storage operation: op names it, d is how long it
// took, err its result.
func (m *Metrics) StorageDone(op string, d time.Duration, err error) {
	m.storageSeconds.WithLabelValues(op).Observe(d.Seconds())
	if err != nil {
		m.storageErrors.WithLabelValues(op).Inc()
	}
}

// MAMQueried records the duration of one archive query.
func (m *Metrics) MAMQueried(d time.Duration) { m.mamQuery.Observe(d.Seconds()) }

// PushSent records the latency of one push notification publish.
func (m *Metrics) PushSent(d time.Duration) { m.pushLatency.Observe(d.Seconds()) }

// PushOutcome counts one push notification publish by outcome. (The one
// count pushed rather than read at scrape time; see the package doc.)
func (m *Metrics) PushOutcome(outcome string) { m.pushes.WithLabelValues(outcome).Inc() }

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

// Gauge names and describes one gauge of a GaugeGroup.
type Gauge struct{ Name, Help string }

// CounterVecFunc registers a counter with one label, whose values are read
// from read at scrape time: one per label value, in the order of values.
func (m *Metrics) CounterVecFunc(name, help, label string, values []string, read func() []float64) {
	m.reg.MustRegister(&counterVecFunc{
		desc:   prometheus.NewDesc("dormouse_"+name, help, []string{label}, nil),
		values: values, read: read, typ: prometheus.CounterValue,
	})
}

// GaugeVecFunc is CounterVecFunc for a gauge (connection counts by kind).
func (m *Metrics) GaugeVecFunc(name, help, label string, values []string, read func() []float64) {
	m.reg.MustRegister(&counterVecFunc{
		desc:   prometheus.NewDesc("dormouse_"+name, help, []string{label}, nil),
		values: values, read: read, typ: prometheus.GaugeValue,
	})
}

type counterVecFunc struct {
	desc   *prometheus.Desc
	values []string
	read   func() []float64
	typ    prometheus.ValueType
}

func (c *counterVecFunc) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *counterVecFunc) Collect(ch chan<- prometheus.Metric) {
	for i, v := range c.read() {
		if i < len(c.values) {
			ch <- prometheus.MustNewConstMetric(c.desc, c.typ, v, c.values[i])
		}
	}
}

// GaugeGroup registers gauges whose values are read together, by one call
// of read at scrape time (it returns one value per gauge, in order), for
// figures that cost a walk over many objects to compute.
func (m *Metrics) GaugeGroup(gauges []Gauge, read func() []float64) {
	g := &gaugeGroup{read: read}
	for _, x := range gauges {
		g.descs = append(g.descs, prometheus.NewDesc("dormouse_"+x.Name, x.Help, nil, nil))
	}
	m.reg.MustRegister(g)
}

type gaugeGroup struct {
	descs []*prometheus.Desc
	read  func() []float64
}

func (g *gaugeGroup) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range g.descs {
		ch <- d
	}
}

func (g *gaugeGroup) Collect(ch chan<- prometheus.Metric) {
	for i, v := range g.read() {
		if i < len(g.descs) {
			ch <- prometheus.MustNewConstMetric(g.descs[i], prometheus.GaugeValue, v)
		}
	}
}

// Series is the values of one label value of a LabeledGroup, one per
// metric, in order.
type Series struct {
	Label  string
	Values []float64
}

// Labeled names and describes one metric of a LabeledGroup.
type Labeled struct {
	Name, Help string
	Counter    bool // a counter; otherwise a gauge
}

// LabeledGroup registers metrics with one label whose values are not
// known in advance (the peer nodes of a cluster), read together by one
// call of read at scrape time.
func (m *Metrics) LabeledGroup(label string, ms []Labeled, read func() []Series) {
	g := &labeledGroup{read: read}
	for _, x := range ms {
		g.descs = append(g.descs, prometheus.NewDesc("dormouse_"+x.Name, x.Help, []string{label}, nil))
		t := prometheus.GaugeValue
		if x.Counter {
			t = prometheus.CounterValue
		}
		g.types = append(g.types, t)
	}
	m.reg.MustRegister(g)
}

type labeledGroup struct {
	descs []*prometheus.Desc
	types []prometheus.ValueType
	read  func() []Series
}

func (g *labeledGroup) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range g.descs {
		ch <- d
	}
}

func (g *labeledGroup) Collect(ch chan<- prometheus.Metric) {
	for _, s := range g.read() {
		for i, v := range s.Values {
			if i < len(g.descs) {
				ch <- prometheus.MustNewConstMetric(g.descs[i], g.types[i], v, s.Label)
			}
		}
	}
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
