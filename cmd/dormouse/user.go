package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/sql"
	"mellium.im/xmpp/jid"
)

// The "dormouse user" commands work while a server runs on the same
// storage: SQLite in WAL mode takes a second process, and the server reads
// credentials at each login.

func userAddCommand() command {
	return command{
		name: "user add", args: "JID PASSWORD", summary: "create an account",
		minArgs: 2, maxArgs: 2,
		setup: func(*flag.FlagSet) runFunc {
			return withAccount(func(ctx context.Context, inv *invocation, accounts auth.Store, account string) error {
				creds, err := auth.NewCredentials(inv.args[1], 0)
				if err != nil {
					return fmt.Errorf("unusable password: %w", err)
				}
				err = accounts.CreateAccount(ctx, account, creds)
				if errors.Is(err, auth.ErrExists) {
					return fmt.Errorf("%s already exists (use 'dormouse user passwd' to change its password)", account)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(inv.stdout, "created %s\n", account)
				return nil
			})
		},
	}
}

func userPasswdCommand() command {
	return command{
		name: "user passwd", args: "JID PASSWORD", summary: "change an account's password",
		minArgs: 2, maxArgs: 2,
		setup: func(*flag.FlagSet) runFunc {
			return withAccount(func(ctx context.Context, inv *invocation, accounts auth.Store, account string) error {
				creds, err := auth.NewCredentials(inv.args[1], 0)
				if err != nil {
					return fmt.Errorf("unusable password: %w", err)
				}
				err = accounts.SetCredentials(ctx, account, creds)
				if errors.Is(err, auth.ErrNotFound) {
					return fmt.Errorf("%s does not exist (use 'dormouse user add')", account)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(inv.stdout, "password changed for %s\n", account)
				return nil
			})
		},
	}
}

func userDelCommand() command {
	return command{
		name: "user del", args: "JID", summary: "delete an account and all its data",
		minArgs: 1, maxArgs: 1,
		setup: func(*flag.FlagSet) runFunc {
			return withAccount(func(ctx context.Context, inv *invocation, accounts auth.Store, account string) error {
				err := accounts.DeleteAccount(ctx, account)
				if errors.Is(err, auth.ErrNotFound) {
					return fmt.Errorf("%s does not exist", account)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(inv.stdout, "deleted %s and all its data\n", account)
				return nil
			})
		},
	}
}

func userListCommand() command {
	return command{
		name: "user list", args: "[DOMAIN]", summary: "list accounts",
		minArgs: 0, maxArgs: 1,
		setup: func(*flag.FlagSet) runFunc {
			return func(inv *invocation) error {
				domain := ""
				if len(inv.args) == 1 {
					domain = inv.args[0]
				}
				return withStores(inv, func(ctx context.Context, stores *sql.Stores) error {
					list, err := stores.Accounts.Accounts(ctx, domain)
					if err != nil {
						return err
					}
					for _, a := range list {
						fmt.Fprintln(inv.stdout, a)
					}
					return nil
				})
			}
		},
	}
}

// withAccount checks the account named by the first argument, opens
// storage and calls f.
func withAccount(f func(ctx context.Context, inv *invocation, accounts auth.Store, account string) error) runFunc {
	return func(inv *invocation) error {
		account, err := accountName(inv.cfg, inv.args[0])
		if err != nil {
			return err
		}
		return withStores(inv, func(ctx context.Context, stores *sql.Stores) error {
			return f(ctx, inv, stores.Accounts, account)
		})
	}
}

// withStores opens the configured storage and calls f with a context that
// ends on SIGINT or SIGTERM.
func withStores(inv *invocation, f func(ctx context.Context, stores *sql.Stores) error) error {
	ctx, cancel := signalContext()
	defer cancel()
	stores, err := sql.Open(ctx, inv.cfg.StorageURL(), slog.New(slog.DiscardHandler))
	if err != nil {
		return fmt.Errorf("opening storage %s: %w", redactURL(inv.cfg.StorageURL()), err)
	}
	defer stores.Close()
	return f(ctx, stores)
}

// accountName checks that s is a bare JID at a served host.
func accountName(cfg config.Config, s string) (string, error) {
	j, err := jid.Parse(s)
	if err != nil {
		return "", usageErrorf("%q is not a valid JID: %v", s, err)
	}
	if j.Localpart() == "" || j.Resourcepart() != "" {
		return "", usageErrorf("%q is not an account address: want user@domain", s)
	}
	for _, h := range cfg.ServedHosts() {
		if h == j.Domainpart() {
			return j.Bare().String(), nil
		}
	}
	return "", usageErrorf("%s is not served here (served: %v); set domain or hosts in the configuration", j.Domainpart(), cfg.ServedHosts())
}
