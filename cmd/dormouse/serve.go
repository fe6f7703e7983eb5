package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"dormouse.im/dormouse/server"
)

// serveCommand: "dormouse [serve]" runs the server until SIGINT or SIGTERM.
func serveCommand() command {
	return command{
		name: "serve", summary: "run the server (the default command)",
		setup: func(*flag.FlagSet) runFunc { return serve },
	}
}

func serve(inv *invocation) error {
	cfg := inv.cfg
	log := newLogger(cfg, inv.stderr)
	ctx, cancel := signalContext()
	defer cancel()

	srv, err := server.New(ctx, cfg, version, log)
	if err != nil {
		fmt.Fprintf(inv.stderr, "dormouse: %v\n", err)
		return errQuiet
	}
	if err := srv.Start(); err != nil {
		fmt.Fprintf(inv.stderr, "dormouse: %v\n", err)
		_ = srv.Shutdown(context.Background())
		return errQuiet
	}
	printStartup(inv.stdout, srv, cfg.ServedHosts(), cfg.DataDir)
	log.Info("server started", "version", version, "hosts", cfg.ServedHosts(), "storage", srv.Stores.Location)

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-srv.Err():
		log.Error("a listener failed; shutting down", "err", err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("shutdown incomplete", "err", err)
		return errQuiet
	}
	log.Info("stopped")
	return nil
}

func printStartup(w io.Writer, srv *server.Server, hosts []string, dataDir string) {
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}
	fmt.Fprintf(w, "Dormouse %s serving %v\n", version, hosts)
	for _, l := range []struct{ name, what string }{
		{server.ListenerC2S, "clients (STARTTLS)"},
		{server.ListenerC2STLS, "clients (direct TLS, XEP-0368)"},
		{server.ListenerComponent, "components (XEP-0114)"},
		{server.ListenerS2S, "servers (federation, STARTTLS)"},
		{server.ListenerS2STLS, "servers (federation, direct TLS)"},
		{server.ListenerAdmin, "admin HTTP (/healthz, /readyz)"},
		{server.ListenerHTTP, "HTTPS: WebSocket (/xmpp-websocket), upload, host-meta"},
	} {
		if a := srv.Addr(l.name); a != nil {
			fmt.Fprintf(w, "  listening on %-22s %s\n", a.String(), l.what)
		}
	}
	if srv.AppServer != nil {
		fmt.Fprintf(w, "  push:        app server at %s (FCM, APNs; apps: dormouse push app add)\n", srv.AppServer.JID())
	}
	fmt.Fprintf(w, "  storage:     %s %s\n", srv.Stores.Backend, srv.Stores.Location)
	fmt.Fprintf(w, "  data dir:    %s\n", abs(dataDir))
	fmt.Fprintf(w, "  certificate: %s\n", abs(srv.CertFile))
	fmt.Fprintf(w, "Add a user:    dormouse user add alice@%s PASSWORD   (or: go run ./cmd/dormouse user add ...)\n", hosts[0])
}
