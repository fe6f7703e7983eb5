package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/sql"
)

// mamCmd implements "dormouse mam purge -before DATE [-user JID]": delete
// archived messages older than DATE (RFC 3339 or YYYY-MM-DD, UTC), for one
// user or everyone. It works while the server runs.
func mamCmd(args []string, stdout, stderr io.Writer, environ []string) int {
	if len(args) == 0 || args[0] != "purge" {
		fmt.Fprintln(stderr, "dormouse mam: want purge -before DATE [-user JID]")
		return exitConfig
	}
	fs := flag.NewFlagSet("dormouse mam purge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (TOML)")
	before := fs.String("before", "", "delete messages archived before this time (2026-01-02 or RFC 3339)")
	user := fs.String("user", "", "only this account's archive (default: every account)")
	if err := fs.Parse(args[1:]); err != nil {
		return exitConfig
	}
	t, err := parseDate(*before)
	if err != nil {
		fmt.Fprintf(stderr, "dormouse mam purge: -before: %v\n", err)
		return exitConfig
	}
	cfg, _, code := loadConfig("mam purge", configArgs(*path), stderr, environ)
	if code != exitOK {
		return code
	}
	owner := ""
	if *user != "" {
		if owner, err = accountName(cfg, *user); err != nil {
			fmt.Fprintf(stderr, "dormouse mam purge: -user: %v\n", err)
			return exitConfig
		}
	}
	ctx, cancel := signalContext()
	defer cancel()
	stores, err := sql.Open(ctx, cfg.StorageURL(), slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintf(stderr, "dormouse mam purge: opening storage %s: %v\n", redactURL(cfg.StorageURL()), err)
		return exitFail
	}
	defer stores.Close()
	n, err := mam.New(stores.MAM, nil, mam.Config{}, slog.New(slog.DiscardHandler)).Purge(ctx, t, owner)
	if err != nil {
		fmt.Fprintf(stderr, "dormouse mam purge: %v (deleted %d before the error)\n", err, n)
		return exitFail
	}
	who := "all accounts"
	if owner != "" {
		who = owner
	}
	fmt.Fprintf(stdout, "deleted %d archived message(s) before %s (%s)\n", n, t.Format(time.RFC3339), who)
	return exitOK
}

func configArgs(path string) []string {
	if path == "" {
		return nil
	}
	return []string{"-config", path}
}

func parseDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, fmt.Errorf("required (for example -before 2026-01-01)")
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither YYYY-MM-DD nor RFC 3339", s)
	}
	return t, nil
}
