package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
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
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := s.Stores.Accounts.Accounts(ctx, "invalid.invalid"); err != nil {
			http.Error(w, "storage unavailable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("GET /s2s", s.serveS2SStatus)
	return mux
}
