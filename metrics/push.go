package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// PushAppServer holds the built-in push app server's collectors. Its
// methods match the appserver.Metrics interface.
type PushAppServer struct {
	requests      *prometheus.CounterVec   // app, platform, outcome
	latency       *prometheus.HistogramVec // platform
	coalesced     *prometheus.CounterVec   // app
	registrations *prometheus.GaugeVec     // app
	breaker       *prometheus.GaugeVec     // app
}

// PushAppServer registers the push app server's collectors (call once).
func (m *Metrics) PushAppServer() *PushAppServer {
	p := &PushAppServer{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dormouse", Name: "push_provider_requests_total",
			Help: "Notifications sent to FCM or APNs by the built-in app server, by app, platform and outcome (sent, unregistered, rate_limited, provider_error, timeout; circuit_open: refused without a request while the app's circuit breaker was open).",
		}, []string{"app", "platform", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "dormouse", Name: "push_provider_request_duration_seconds",
			Help:    "Duration of one request to FCM or APNs, by platform.",
			Buckets: []float64{1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5, 10},
		}, []string{"platform"}),
		coalesced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dormouse", Name: "push_coalesced_total",
			Help: "Notifications folded into a pending one by the per-device rate limit (push.device_rate), by app.",
		}, []string{"app"}),
		registrations: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "dormouse", Name: "push_registrations",
			Help: "Devices registered with the built-in app server, by app.",
		}, []string{"app"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "dormouse", Name: "push_circuit_breaker_state",
			Help: "State of each app's circuit breaker: 0 closed, 1 open, 2 half-open.",
		}, []string{"app"}),
	}
	m.reg.MustRegister(p.requests, p.latency, p.coalesced, p.registrations, p.breaker)
	return p
}

// ProviderRequest counts one provider request and observes its duration
// (d 0: no request was made).
func (p *PushAppServer) ProviderRequest(app, platform, outcome string, d time.Duration) {
	p.requests.WithLabelValues(app, platform, outcome).Inc()
	if d > 0 {
		p.latency.WithLabelValues(platform).Observe(d.Seconds())
	}
}

// Coalesced counts one coalesced notification.
func (p *PushAppServer) Coalesced(app string) { p.coalesced.WithLabelValues(app).Inc() }

// Registrations sets the number of devices of app.
func (p *PushAppServer) Registrations(app string, n int) {
	p.registrations.WithLabelValues(app).Set(float64(n))
}

// Breaker sets the state of app's circuit breaker (0, 1, 2).
func (p *PushAppServer) Breaker(app string, state int) {
	p.breaker.WithLabelValues(app).Set(float64(state))
}
