// Command dormouse runs the Dormouse XMPP server and manages its accounts
// and database.
//
//	dormouse [serve] [-config FILE]       run the server (defaults need no file)
//	dormouse user add|del|passwd|list     manage accounts
//	dormouse db migrate                   apply database migrations
//	dormouse mam purge -before DATE       delete old archived messages
//	dormouse cluster status                nodes of the cluster, their sessions, NATS round trip
//	dormouse version                      print the version
//	dormouse help [COMMAND]               list the commands (also --help)
//
// Every command accepts its flags before or after its arguments. Every
// configuration key can be set in the TOML file or with an environment
// variable DORMOUSE_<SECTION>_<KEY>; see README.md.
//
// Adding a command: write it in a file of its own (see user.go) as a
// function returning a command, and list it in commands (commands.go).
package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"dormouse.im/dormouse/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// Exit codes.
const (
	exitOK     = 0
	exitFail   = 1
	exitConfig = 2 // invalid configuration or command line
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Environ()))
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Log.SlogLevel()}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
