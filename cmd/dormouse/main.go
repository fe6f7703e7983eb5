// Command dormouse runs the Dormouse XMPP server and manages its accounts
// and database.
//
//	dormouse [serve] [-config FILE]       run the server (defaults need no file)
//	dormouse user add|del|passwd|list     manage accounts
//	dormouse db migrate                   apply database migrations
//	dormouse version                      print the version
//
// Every configuration key can be set in the TOML file or with an
// environment variable DORMOUSE_<SECTION>_<KEY>; see README.md.
package main

import (
	"context"
	"flag"
	"fmt"
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
	exitConfig = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Environ()))
}

// run is main without the process: it returns the exit code.
func run(args []string, stdout, stderr io.Writer, environ []string) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(args, stdout, stderr, environ)
	case "user":
		return userCmd(args, stdout, stderr, environ)
	case "db":
		return dbCmd(args, stdout, stderr, environ)
	case "mam":
		return mamCmd(args, stdout, stderr, environ)
	case "version":
		fmt.Fprintln(stdout, "dormouse", version)
		return exitOK
	case "help", "-h", "--help":
		usage(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "dormouse: unknown command %q\n\n", cmd)
	usage(stderr)
	return exitConfig
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  dormouse [serve] [-config FILE]               run the server
  dormouse user add [-config FILE] JID PASSWORD  create an account
  dormouse user passwd [-config FILE] JID PASSWORD
  dormouse user del [-config FILE] JID          delete an account and all its data
  dormouse user list [-config FILE] [DOMAIN]    list accounts
  dormouse db migrate [-config FILE]            apply database migrations
  dormouse mam purge -before DATE [-user JID] [-config FILE]
                                                delete archived messages older than DATE
  dormouse version

Configuration: a TOML file (-config) and DORMOUSE_<SECTION>_<KEY> environment
variables; with neither, the server serves "localhost" with data in
./dormouse-data.
`)
}

// loadConfig parses -config from args and loads and validates the
// configuration. It returns the remaining arguments.
func loadConfig(name string, args []string, stderr io.Writer, environ []string) (config.Config, []string, int) {
	fs := flag.NewFlagSet("dormouse "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (TOML)")
	if err := fs.Parse(args); err != nil {
		return config.Config{}, nil, exitConfig
	}
	cfg, err := config.Load(*path, environ)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "dormouse: invalid configuration:\n%v\n", err)
		return cfg, nil, exitConfig
	}
	return cfg, fs.Args(), exitOK
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
