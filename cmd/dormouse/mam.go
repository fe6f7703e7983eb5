package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/sql"
)

// mamPurgeCommand: "dormouse mam purge -before DATE [-user JID]" deletes
// archived messages older than DATE (RFC 3339 or YYYY-MM-DD, UTC), for one
// user or everyone. It works while the server runs.
func mamPurgeCommand() command {
	return command{
		name: "mam purge", args: "-before DATE [-user JID]", summary: "delete archived messages older than DATE",
		setup: func(fs *flag.FlagSet) runFunc {
			before := fs.String("before", "", "delete messages archived before `DATE` (2026-01-02 or RFC 3339)")
			user := fs.String("user", "", "only the archive of the account `JID` (default: every account)")
			return func(inv *invocation) error {
				t, err := parseDate(*before)
				if err != nil {
					return usageErrorf("-before: %v", err)
				}
				owner := ""
				if *user != "" {
					if owner, err = accountName(inv.cfg, *user); err != nil {
						return usageErrorf("-user: %v", err)
					}
				}
				return withStores(inv, func(ctx context.Context, stores *sql.Stores) error {
					n, err := mam.New(mam.Config{}, stores.MAM, nil, slog.New(slog.DiscardHandler)).Purge(ctx, t, owner)
					if err != nil {
						return fmt.Errorf("%w (deleted %d before the error)", err, n)
					}
					who := "all accounts"
					if owner != "" {
						who = owner
					}
					fmt.Fprintf(inv.stdout, "deleted %d archived message(s) before %s (%s)\n", n, t.Format(time.RFC3339), who)
					return nil
				})
			}
		},
	}
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
