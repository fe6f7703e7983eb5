// Package server assembles a Dormouse server from its configuration:
// storage, TLS, the router, every feature, and the listeners. cmd/dormouse
// runs it; end-to-end tests start it on random ports.
package server

import (
	"context"
	"dormouse.im/dormouse/blocking"
	"dormouse.im/dormouse/carbons"
	"dormouse.im/dormouse/cluster"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/component"
	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/metrics"
	"dormouse.im/dormouse/muc"
	"dormouse.im/dormouse/offline"
	"dormouse.im/dormouse/pep"
	"dormouse.im/dormouse/presence"
	"dormouse.im/dormouse/push"
	"dormouse.im/dormouse/push/appserver"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/s2s"
	"dormouse.im/dormouse/session"
	"dormouse.im/dormouse/sql"
	"dormouse.im/dormouse/tlsutil"
	"dormouse.im/dormouse/upload"
	"dormouse.im/dormouse/web"
	"dormouse.im/dormouse/websocket"
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
	S2S     *s2s.Service  // nil when federation is disabled
	Push    *push.Service // nil when [push] is disabled
	// AppServer is the built-in push app server (nil if push.appserver is off).
	AppServer *appserver.Service

	offline  *offline.Service
	pep      *pep.Service
	muc      *muc.Service     // nil when [muc] is off
	carbons  *carbons.Service // also enabled inline by Bind 2
	blocking *blocking.Service
	presence *presence.Service
	// Cluster is this node's membership of a cluster (nil when [cluster]
	// is off).
	Cluster       *cluster.Cluster
	stopRetention func(context.Context) error
	stopForget    func(context.Context) error
	CertFile      string

	c2s   *session.Server
	comp  *component.Server
	admin *http.Server
	web   *web.Server // nil when [http] listen is ""
	ws    *websocket.Handler
	// upload is the XEP-0363 service (nil when off); stopExpiry its job.
	upload     *upload.Service
	stopExpiry func(context.Context) error

	mu        sync.Mutex
	listeners map[string]net.Listener // by name: c2s, c2s_tls, component, admin, s2s, s2s_tls
	wg        sync.WaitGroup
	serveErr  chan error

	shutdownOnce sync.Once
	shutdownErr  error
	draining     atomic.Bool // set when Shutdown starts (/readyz fails)
}

// Listener names, for Addr.
const (
	ListenerC2S       = "c2s"
	ListenerC2STLS    = "c2s_tls"
	ListenerComponent = "component"
	ListenerAdmin     = "admin"
	ListenerHTTP      = "http"
)

// New opens storage and builds the server; it does not listen yet.
func New(ctx context.Context, cfg config.Config, version string, log *slog.Logger, opts ...Option) (*Server, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
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
	scfg := sessionConfig(cfg, secret, tlsCfg)
	if err := s.newS2S(cfg, secret, tlsCfg, o.s2sResolver); err != nil {
		stores.Close()
		return nil, err
	}
	if err := s.registerFeatures(mux, &scfg); err != nil {
		stores.Close()
		return nil, err
	}
	if err := s.registerMUC(ctx, secret); err != nil {
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
		Carbons:  s.carbons,
		Tokens:   stores.Tokens,
		Throttle: throttle,
		Log:      log.With("component", "c2s"),
		// Messages of sessions that end unacknowledged (resume timeout,
		// overflow, shutdown) go to another resource or offline storage.
		Rescuer: s.offline,
		Metrics: s.Metrics,
		// Only messages that may wait for the archive's group commit
		// are worth a goroutine of their own.
		Pipeline: mam.Archivable,
	}
	if s.Push != nil {
		s.c2s.Events = []session.Events{s.Push}
		s.c2s.ResumePolicy = s.Push.ResumePolicy
	}
	s.comp = &component.Server{
		Router:        s.Router,
		Secrets:       cfg.Components.Secrets,
		MaxStanzaSize: cfg.C2S.MaxStanzaSize,
		Log:           log.With("component", "xep0114"),
	}
	s.registerSessionMetrics()
	s.registerCounts()
	if d := cfg.MAM.ExpireAfter.Duration(); d > 0 {
		stop, err := s.MAM.StartRetention(cfg.MAM.PurgeSchedule, d, s.onceInCluster("mam-retention")...)
		if err != nil {
			stores.Close()
			return nil, fmt.Errorf("server: mam retention: %w", err)
		}
		s.stopRetention = stop
	}
	if cfg.Push.AppServer {
		if err := s.startAppServer(ctx, o); err != nil {
			_ = s.stopAppServer(ctx)
			if s.stopRetention != nil {
				_ = s.stopRetention(ctx)
			}
			stores.Close()
			return nil, fmt.Errorf("server: push app server: %w", err)
		}
	}
	if err := s.joinCluster(ctx); err != nil {
		_ = s.stopAppServer(ctx)
		if s.stopRetention != nil {
			_ = s.stopRetention(ctx)
		}
		stores.Close()
		return nil, err
	}
	s.admin = &http.Server{Handler: s.adminHandler(), ReadHeaderTimeout: 5 * time.Second}
	if cfg.HTTP.Listen != "" {
		if err := s.newWeb(ctx, cfg, tlsCfg, secret); err != nil {
			stores.Close()
			return nil, err
		}
	}
	return s, nil
}

// Offline storage takes the messages of sessions that end unacknowledged.
var _ session.Rescuer = (*offline.Service)(nil)

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
	if s.web != nil {
		ls = append(ls, l{ListenerHTTP, s.cfg.HTTP.Listen, s.web.Serve})
	}
	if s.S2S != nil {
		ls = append(ls,
			l{ListenerS2S, s.cfg.S2S.Listen, func(nl net.Listener) error { return s.S2S.Serve(nl, false) }},
			l{ListenerS2STLS, s.cfg.S2S.TLSListen, func(nl net.Listener) error { return s.S2S.Serve(nl, true) }})
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
				!errors.Is(err, component.ErrServerClosed) && !errors.Is(err, http.ErrServerClosed) &&
				!errors.Is(err, s2s.ErrServerClosed) {
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

// Shutdown stops accepting, ends every stream with system-shutdown, waits
// for connections (bounded by ctx), and closes storage.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	// /readyz fails from now on: load balancers stop sending clients.
	s.draining.Store(true)
	var errs []error
	if s.muc != nil {
		// Occupants hear of the shutdown (status 332) before their streams end.
		if err := s.muc.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("muc: %w", err))
		}
	}
	// Drain: c2s.Shutdown stops accepting, ends every stream with
	// system-shutdown and rescues what clients did not acknowledge
	// (hibernated sessions included) to another resource or offline
	// storage. In a cluster it first hands the resumable sessions to the
	// other nodes (cluster_drain.go), before this node leaves below; it
	// rescues only what no peer took.
	if err := s.c2s.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("c2s: %w", err))
	}
	if s.Cluster != nil {
		// After the sessions, whose ends it told the other nodes about;
		// Close announces the departure, so that the peers drop this
		// node at once instead of at its lease's end.
		if err := s.Cluster.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("cluster: %w", err))
		}
	}
	if s.Push != nil {
		// After the sessions (whose messages it may be publishing about),
		// before the components it publishes to.
		if err := s.Push.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.comp.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("components: %w", err))
	}
	if s.S2S != nil {
		if err := s.S2S.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("s2s: %w", err))
		}
	}
	_ = s.admin.Shutdown(ctx)
	if s.web != nil {
		// The c2s shutdown above ended the WebSocket streams.
		_ = s.web.Shutdown(ctx)
		_ = s.ws.Wait(ctx)
	}
	if s.stopExpiry != nil {
		if err := s.stopExpiry(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	s.closeListeners()
	s.wg.Wait()
	s.pep.Close()
	if s.stopRetention != nil {
		if err := s.stopRetention(ctx); err != nil {
			errs = append(errs, fmt.Errorf("mam retention: %w", err))
		}
	}
	if err := s.stopAppServer(ctx); err != nil {
		errs = append(errs, fmt.Errorf("push app server: %w", err))
	}
	if err := s.Stores.Close(); err != nil {
		errs = append(errs, fmt.Errorf("storage: %w", err))
	}
	return errors.Join(errs...)
}
