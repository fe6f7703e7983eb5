// Package server assembles a Dormouse server from its configuration:
// storage, TLS, the router, every feature, and the listeners. cmd/dormouse
// runs it; end-to-end tests start it on random ports.
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"sync"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/component"
	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/metrics"
	"dormouse.im/dormouse/offline"
	"dormouse.im/dormouse/pep"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/session"
	"dormouse.im/dormouse/sm"
	"dormouse.im/dormouse/sql"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/tlsutil"
	"mellium.im/xmpp/jid"
)

// Server is a running Dormouse.
type Server struct {
	cfg     config.Config
	log     *slog.Logger
	version string

	Stores  *sql.Stores
	Router  *router.Router
	Metrics *metrics.Metrics
	MAM     *mam.Service

	offline       *offline.Service
	pep           *pep.Service
	stopRetention func(context.Context) error
	CertFile      string

	c2s   *session.Server
	comp  *component.Server
	admin *http.Server

	mu        sync.Mutex
	listeners map[string]net.Listener // by name: c2s, c2s_tls, component, admin
	wg        sync.WaitGroup
	serveErr  chan error

	shutdownOnce sync.Once
	shutdownErr  error
}

// Listener names, for Addr.
const (
	ListenerC2S       = "c2s"
	ListenerC2STLS    = "c2s_tls"
	ListenerComponent = "component"
	ListenerAdmin     = "admin"
)

// New opens storage and builds the server; it does not listen yet.
func New(ctx context.Context, cfg config.Config, version string, log *slog.Logger) (*Server, error) {
	hosts := cfg.ServedHosts()
	stores, err := sql.Open(ctx, cfg.StorageURL(), log.With("component", "storage"))
	if err != nil {
		return nil, fmt.Errorf("server: storage: %w", err)
	}
	tlsCfg, certFile, err := tlsutil.LoadOrCreate(cfg.TLS.Cert, cfg.TLS.Key, cfg.DataDir, hosts, log.With("component", "tls"))
	if err != nil {
		stores.Close()
		return nil, fmt.Errorf("server: tls: %w", err)
	}
	s := &Server{
		cfg: cfg, log: log, version: version,
		Stores: stores, CertFile: certFile,
		listeners: map[string]net.Listener{},
		serveErr:  make(chan error, 4),
	}
	mux := router.NewMux()
	s.Router = router.New(hosts, mux, log.With("component", "router"))
	s.Router.SetAccounts(accountChecker{stores.Accounts})
	s.Metrics = metrics.New()
	s.Router.SetObserver(s.Metrics)

	secret, err := loadSecret(cfg.DataDir)
	if err != nil {
		stores.Close()
		return nil, err
	}
	scfg := session.Config{
		AuthSecret:    secret,
		Hosts:         hosts,
		TLS:           tlsCfg,
		RequireTLS:    cfg.C2S.RequireTLS,
		MaxStanzaSize: cfg.C2S.MaxStanzaSize,
		AuthTimeout:   cfg.C2S.AuthTimeout.Duration(),
		IdleTimeout:   cfg.C2S.IdleTimeout.Duration(),
		ParkAfter:     cfg.C2S.ParkAfter.Duration(),
		MaxQueue:      cfg.C2S.MaxQueue,
		StanzaRate:    float64(cfg.C2S.StanzaRate),
		StanzaBurst:   cfg.C2S.StanzaBurst,
		MaxConnsPerIP: cfg.C2S.MaxConnectionsPerIP,
	}
	scfg.SM = session.SMConfig{
		ResumeTimeout:    cfg.StreamManagement.ResumeTimeout.Duration(),
		MaxResumeTimeout: cfg.StreamManagement.MaxResumeTimeout.Duration(),
		MaxQueue:         cfg.StreamManagement.MaxQueue,
	}
	if scfg.MaxConnsPerIP == 0 {
		scfg.MaxConnsPerIP = -1 // config: 0 means no limit
	}
	if err := s.registerFeatures(mux, &scfg); err != nil {
		stores.Close()
		return nil, err
	}
	var throttle *auth.Throttle
	if cfg.Auth.MaxFailuresPerIP > 0 {
		throttle = newThrottle(cfg)
	}
	s.c2s = &session.Server{
		Config:   scfg,
		Router:   s.Router,
		Accounts: stores.Accounts,
		Throttle: throttle,
		Log:      log.With("component", "c2s"),
		// Messages of sessions that end unacknowledged (resume timeout,
		// overflow, shutdown) go to another resource or offline storage.
		Rescuer: sm.NewRescuer(s.offline, offline.ErrSkipped, log.With("component", "sm")),
		Metrics: s.Metrics,
	}
	s.comp = &component.Server{
		Router:        s.Router,
		Secrets:       cfg.Components.Secrets,
		MaxStanzaSize: cfg.C2S.MaxStanzaSize,
		Log:           log.With("component", "xep0114"),
	}
	s.registerSessionMetrics()
	if d := cfg.MAM.ExpireAfter.Duration(); d > 0 {
		stop, err := s.MAM.StartRetention(cfg.MAM.PurgeSchedule, d)
		if err != nil {
			stores.Close()
			return nil, fmt.Errorf("server: mam retention: %w", err)
		}
		s.stopRetention = stop
	}
	s.admin = &http.Server{Handler: s.adminHandler(), ReadHeaderTimeout: 5 * time.Second}
	return s, nil
}

// accountChecker adapts the account store for the router.
type accountChecker struct{ accounts auth.Store }

func (a accountChecker) AccountExists(ctx context.Context, bare jid.JID) (bool, error) {
	_, err := a.accounts.Credentials(ctx, bare.Bare().String())
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, auth.ErrNotFound):
		return false, nil
	}
	return false, err
}

// Start opens the listeners and serves in the background.
func (s *Server) Start() error {
	type l struct {
		name, addr string
		serve      func(net.Listener) error
	}
	ls := []l{
		{ListenerC2S, s.cfg.C2S.Listen, func(nl net.Listener) error { return s.c2s.Serve(nl, false) }},
		{ListenerC2STLS, s.cfg.C2S.TLSListen, func(nl net.Listener) error { return s.c2s.Serve(nl, true) }},
		{ListenerComponent, s.cfg.Components.Listen, s.comp.Serve},
		{ListenerAdmin, s.cfg.Admin.Listen, s.serveAdmin},
	}
	for _, x := range ls {
		if x.addr == "" {
			continue
		}
		nl, err := net.Listen("tcp", x.addr)
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("server: cannot listen on %s for %s: %w (is another server running? change the address in the configuration)", x.addr, x.name, err)
		}
		s.mu.Lock()
		s.listeners[x.name] = nl
		s.mu.Unlock()
		s.wg.Add(1)
		go func(name string, serve func(net.Listener) error, nl net.Listener) {
			defer s.wg.Done()
			if err := serve(nl); err != nil && !errors.Is(err, session.ErrServerClosed) &&
				!errors.Is(err, component.ErrServerClosed) && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("listener failed", "listener", name, "err", err)
				s.serveErr <- err
			}
		}(x.name, x.serve, nl)
	}
	return nil
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.listeners {
		l.Close()
	}
}

// Err returns a channel that receives a listener's fatal error.
func (s *Server) Err() <-chan error { return s.serveErr }

// Addr returns the address of a listener (nil if it is not open).
func (s *Server) Addr(name string) net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.listeners[name]; l != nil {
		return l.Addr()
	}
	return nil
}

func (s *Server) serveAdmin(l net.Listener) error { return s.admin.Serve(l) }

func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.Metrics.Handler())
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := s.Stores.Accounts.Accounts(ctx, "invalid.invalid"); err != nil {
			http.Error(w, "storage unavailable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// Shutdown stops accepting, ends every stream with system-shutdown, waits
// for connections (bounded by ctx), and closes storage.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	var errs []error
	if err := s.c2s.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("c2s: %w", err))
	}
	if err := s.comp.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("components: %w", err))
	}
	_ = s.admin.Shutdown(ctx)
	s.closeListeners()
	s.wg.Wait()
	s.pep.Close()
	if s.stopRetention != nil {
		if err := s.stopRetention(ctx); err != nil {
			errs = append(errs, fmt.Errorf("mam retention: %w", err))
		}
	}
	if err := s.Stores.Close(); err != nil {
		errs = append(errs, fmt.Errorf("storage: %w", err))
	}
	return errors.Join(errs...)
}

func newThrottle(cfg config.Config) *auth.Throttle {
	return auth.NewThrottle(auth.ThrottleConfig{
		Burst:    cfg.Auth.MaxFailuresPerIP,
		HalfLife: cfg.Auth.FailureWindow.Duration(),
	}, time.Now)
}

// loadSecret reads the server's persistent random secret from the data
// directory, creating it on first start.
func loadSecret(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, "secret.key")
	b, err := os.ReadFile(path)
	if err == nil && len(b) >= 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("server: reading %s: %w", path, err)
	}
	b = make([]byte, 32)
	_, _ = rand.Read(b)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("server: creating data directory: %w", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("server: writing %s: %w", path, err)
	}
	return b, nil
}

// registerSessionMetrics exposes the client sessions' counters.
func (s *Server) registerSessionMetrics() {
	m, c := s.Metrics, s.c2s
	m.GaugeFunc("c2s_connections", "Open client connections.", func() float64 { return float64(c.Count()) })
	m.CounterVecFunc("c2s_stanzas_out_total", "Stanzas queued for writing to clients, by kind.", "kind",
		[]string{"message", "presence", "iq"}, func() []float64 {
			by := c.Stats().StanzasOutBy
			return []float64{float64(by[stanza.KindMessage]), float64(by[stanza.KindPresence]), float64(by[stanza.KindIQ])}
		})
	m.GaugeGroup([]metrics.Gauge{
		{Name: "c2s_sessions_live", Help: "Bound client sessions with a connection."},
		{Name: "c2s_sessions_inactive", Help: "Live sessions whose client is inactive (XEP-0352)."},
		{Name: "sm_unacked_stanzas", Help: "Stanzas sent or queued and not yet acknowledged (XEP-0198), all sessions."},
		{Name: "sm_unacked_stanzas_max", Help: "The most unacknowledged stanzas of one session."},
		{Name: "csi_held_stanzas", Help: "Stanzas held back now for inactive or hibernated clients."},
	}, func() []float64 {
		n := c.Census()
		return []float64{float64(n.Live), float64(n.Inactive), float64(n.Unacked), float64(n.MaxUnacked), float64(n.Held)}
	})
	gauges := []struct {
		name, help string
		f          func(session.Stats) float64
	}{
		{"sm_resumable_sessions", "Resumable (XEP-0198) sessions, live or hibernated.", func(st session.Stats) float64 { return float64(st.Resumable) }},
		{"sm_hibernated_sessions", "Hibernated sessions waiting for a resume.", func(st session.Stats) float64 { return float64(st.Hibernated) }},
		{"c2s_parked_connections", "Idle client connections holding no goroutine and no read buffer.", func(st session.Stats) float64 { return float64(st.Parked) }},
	}
	for _, g := range gauges {
		m.GaugeFunc(g.name, g.help, func() float64 { return g.f(c.Stats()) })
	}
	counters := []struct {
		name, help string
		f          func(session.Stats) uint64
	}{
		{"sm_hibernations_total", "Connections lost by resumable sessions.", func(st session.Stats) uint64 { return st.Hibernations }},
		{"sm_resumptions_total", "Successful resumptions.", func(st session.Stats) uint64 { return st.Resumptions }},
		{"sm_resume_failures_total", "Failed resumptions.", func(st session.Stats) uint64 { return st.ResumeFailures }},
		{"sm_timeouts_total", "Hibernated sessions not resumed in time.", func(st session.Stats) uint64 { return st.Timeouts }},
		{"sm_overflows_total", "Hibernated sessions ended because their queue overflowed.", func(st session.Stats) uint64 { return st.Overflows }},
		{"sm_rescued_total", "Messages of ended sessions handed to another resource or offline storage.", func(st session.Stats) uint64 { return st.Rescued }},
		{"sm_rescue_errors_total", "Messages of ended sessions that could not be rescued (lost).", func(st session.Stats) uint64 { return st.RescueErrors }},
		{"c2s_parks_total", "Times an idle client connection parked.", func(st session.Stats) uint64 { return st.Parks }},
		{"csi_held_total", "Stanzas held while a client was inactive (XEP-0352) or hibernated.", func(st session.Stats) uint64 { return st.CSIHeld }},
		{"csi_superseded_total", "Held presence replaced by a newer one.", func(st session.Stats) uint64 { return st.CSISuperseded }},
		{"csi_flushes_total", "Hold queue flushes.", func(st session.Stats) uint64 { return st.CSIFlushes }},
	}
	for _, x := range counters {
		m.CounterFunc(x.name, x.help, func() float64 { return float64(x.f(c.Stats())) })
	}
}
