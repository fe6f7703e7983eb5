package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/sql"
	"dormouse.im/dormouse/upload"
	"mellium.im/xmpp/jid"
)

// The "dormouse user" commands work while a server runs on the same
// storage: SQLite in WAL mode takes a second process, and the server reads
// credentials at each login.

func userAddCommand() command {
	return accountCommand("user add", "JID PASSWORD", "create an account", func(ctx context.Context, _ config.Config, accounts auth.Store, account string, args []string) (string, error) {
		creds, err := credentials(args[0])
		if err != nil {
			return "", err
		}
		err = accounts.CreateAccount(ctx, account, creds)
		if errors.Is(err, auth.ErrExists) {
			return "", fmt.Errorf("%s already exists (use 'dormouse user passwd' to change its password)", account)
		}
		return "created " + account, err
	})
}

func userPasswdCommand() command {
	return accountCommand("user passwd", "JID PASSWORD", "change an account's password", func(ctx context.Context, _ config.Config, accounts auth.Store, account string, args []string) (string, error) {
		creds, err := credentials(args[0])
		if err != nil {
			return "", err
		}
		err = accounts.SetCredentials(ctx, account, creds)
		if errors.Is(err, auth.ErrNotFound) {
			return "", fmt.Errorf("%s does not exist (use 'dormouse user add')", account)
		}
		return "password changed for " + account, err
	})
}

func userDelCommand() command {
	return accountCommand("user del", "JID", "delete an account and all its data", func(ctx context.Context, cfg config.Config, accounts auth.Store, account string, _ []string) (string, error) {
		err := accounts.DeleteAccount(ctx, account)
		if errors.Is(err, auth.ErrNotFound) {
			return "", fmt.Errorf("%s does not exist", account)
		}
		if err != nil {
			return "", err
		}
		// Its uploaded files (XEP-0363) too.
		if _, err := upload.DeleteWhere(ctx, upload.DiskStore{Dir: cfg.UploadDir()}, upload.OwnedBy(account), nil); err != nil {
			return "", fmt.Errorf("deleted %s, but not all of its uploaded files: %w", account, err)
		}
		return "deleted " + account + " and all its data", nil
	})
}

// accountCommand is a "user" command on the account its first argument
// names: do gets the other arguments and returns what to print.
func accountCommand(name, args, summary string, do func(ctx context.Context, cfg config.Config, accounts auth.Store, account string, args []string) (string, error)) command {
	n := len(strings.Fields(args))
	return command{
		name: name, args: args, summary: summary, minArgs: n, maxArgs: n,
		setup: func(*flag.FlagSet) runFunc {
			return func(inv *invocation) error {
				account, err := accountName(inv.cfg, inv.args[0])
				if err != nil {
					return err
				}
				return withStores(inv, func(ctx context.Context, stores *sql.Stores) error {
					msg, err := do(ctx, inv.cfg, stores.Accounts, account, inv.args[1:])
					if err != nil {
						return err
					}
					fmt.Fprintln(inv.stdout, msg)
					return nil
				})
			}
		},
	}
}

// credentials derives the stored credentials of a password.
func credentials(password string) (auth.Credentials, error) {
	creds, err := auth.NewCredentials(password, 0)
	if err != nil {
		return auth.Credentials{}, fmt.Errorf("unusable password: %w", err)
	}
	return creds, nil
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
