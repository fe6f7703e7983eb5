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
// registrations (XEP-0357) and how their app servers answered;
// "dormouse push devices [-app NAME]" lists the devices registered with the
// built-in app server (see appServerDevices). It works while the server
// runs (the outcomes are written as publishes happen).
func pushDevicesCommand() command {
	return command{
		name: "push devices", args: "JID | [-app NAME]",
		summary: "list an account's push registrations, or the app server's devices, and their health",
		maxArgs: 1,
		setup: func(fs *flag.FlagSet) runFunc {
			app := fs.String("app", "", "without JID: only this app's devices (built-in app server)")
			return func(inv *invocation) error {
				if len(inv.args) == 0 {
					return appServerDevices(inv, *app)
				}
				if *app != "" {
					return usageErrorf("-app lists the app server's devices: give no JID with it")
				}
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
