package main

import (
	"flag"
	"fmt"
	"net/url"

	"dormouse.im/dormouse/sql"
)

// dbMigrateCommand: "dormouse db migrate" applies the database migrations
// (the server also applies them at start).
func dbMigrateCommand() command {
	return command{
		name: "db migrate", summary: "apply database migrations",
		setup: func(*flag.FlagSet) runFunc {
			return func(inv *invocation) error {
				ctx, cancel := signalContext()
				defer cancel()
				n, err := sql.Migrate(ctx, inv.cfg.StorageURL(), newLogger(inv.cfg, inv.stderr))
				if err != nil {
					return err
				}
				fmt.Fprintf(inv.stdout, "applied %d migration(s) to %s\n", n, redactURL(inv.cfg.StorageURL()))
				return nil
			}
		},
	}
}

// redactURL hides a password in a storage URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
