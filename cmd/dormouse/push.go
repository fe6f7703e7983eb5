package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/sql"
)

// pushDevicesCommand: "dormouse push devices JID" lists an account's push
// registrations (XEP-0357) and how their app servers answered. It works
// while the server runs (the outcomes are written as publishes happen).
func pushDevicesCommand() command {
	return command{
		name: "push devices", args: "JID", summary: "list an account's push registrations and their health",
		minArgs: 1, maxArgs: 1,
		setup: func(*flag.FlagSet) runFunc {
			return func(inv *invocation) error {
				account, err := accountName(inv.cfg, inv.args[0])
				if err != nil {
					return err
				}
				return withStores(inv, func(ctx context.Context, stores *sql.Stores) error {
					if _, err := stores.Accounts.Credentials(ctx, account); errors.Is(err, auth.ErrNotFound) {
						return fmt.Errorf("account %s does not exist", account)
					} else if err != nil {
						return err
					}
					regs, err := stores.Push.Registrations(ctx, account)
					if err != nil {
						return err
					}
					if len(regs) == 0 {
						fmt.Fprintf(inv.stdout, "%s has no push registrations\n", account)
						return nil
					}
					w := tabwriter.NewWriter(inv.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "APP SERVER\tNODE\tRESOURCE\tSINCE\tLAST SUCCESS\tLAST ERROR\tERRORS\tENCRYPTED")
					for _, r := range regs {
						lastErr := stamp(r.LastError)
						if r.LastErrorText != "" && !r.LastError.IsZero() {
							lastErr += " (" + r.LastErrorText + ")"
						}
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%v\n", r.JID, shortNode(r.Node), r.Resource,
							stamp(r.Since), stamp(r.LastSuccess), lastErr, r.Errors, r.EncryptKey != nil)
					}
					return w.Flush()
				})
			}
		},
	}
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

// shortNode shows the start of a node: it is often the device's push
// token, which the listing need not reveal whole.
func shortNode(n string) string {
	const keep = 12
	if len(n) <= keep+3 {
		return n
	}
	return n[:keep] + "…"
}
