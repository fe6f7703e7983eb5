package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"
)

// The admin HTTP listener: /metrics (Prometheus), /healthz, /readyz and
// /debug/pprof. It is meant for an internal network only.

func (s *Server) serveAdmin(l net.Listener) error { return s.admin.Serve(l) }

// adminHandler serves the admin listener.
func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.Metrics.Handler())
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	if s.AppServer != nil && s.cfg.Push.APIToken != "" {
		mux.Handle("/push/v1/", s.AppServer.HTTPHandler(s.cfg.Push.APIToken))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	ready := &readiness{s: s}
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := ready.check(r.Context()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("GET /s2s", s.serveS2SStatus)
	return mux
}

// Readiness (/readyz): the node takes traffic only while it can reach its
// storage and, in a cluster, NATS, and is not shutting down. /healthz is
// liveness only: it answers as long as the process serves HTTP.
const (
	// readyTTL is how long a storage check's outcome is reused: probes
	// from several load balancers cost one query a second at most.
	readyTTL = time.Second
	// readyTimeout bounds the storage check.
	readyTimeout = time.Second
)

type readiness struct {
	s  *Server
	mu sync.Mutex // held during a storage check: concurrent probes share it
	at time.Time  // of the last storage check; guarded by mu
	// err is the outcome of the last storage check; guarded by mu.
	err error
}

// check returns nil if the node is ready, or what is wrong.
func (rd *readiness) check(ctx context.Context) error {
	var errs []error
	if rd.s.draining.Load() {
		errs = append(errs, errors.New("shutting down"))
	}
	if c := rd.s.Cluster; c != nil {
		if err := c.Ready(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := rd.storage(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// storage pings the storage with a cheap query, at most once per readyTTL.
func (rd *readiness) storage(ctx context.Context) error {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if !rd.at.IsZero() && time.Since(rd.at) < readyTTL {
		return rd.err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readyTimeout)
	defer cancel()
	rd.err = nil
	if _, err := rd.s.Stores.Accounts.Accounts(ctx, "invalid.invalid"); err != nil {
		rd.err = fmt.Errorf("storage unavailable: %w", err)
	}
	rd.at = time.Now()
	return rd.err
}
