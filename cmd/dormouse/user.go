package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/sql"
	"mellium.im/xmpp/jid"
)

// userCmd implements "dormouse user add|del|passwd|list". It works while a
// server runs on the same storage: SQLite in WAL mode takes a second
// process, and the server reads credentials at each login.
func userCmd(args []string, stdout, stderr io.Writer, environ []string) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "dormouse user: want add, del, passwd or list")
		return exitConfig
	}
	sub := args[0]
	cfg, rest, code := loadConfig("user "+sub, args[1:], stderr, environ)
	if code != exitOK {
		return code
	}
	ctx, cancel := signalContext()
	defer cancel()
	want := map[string]int{"add": 2, "passwd": 2, "del": 1, "list": -1}
	n, ok := want[sub]
	if !ok {
		fmt.Fprintf(stderr, "dormouse user: unknown subcommand %q (want add, del, passwd or list)\n", sub)
		return exitConfig
	}
	if (n >= 0 && len(rest) != n) || (n < 0 && len(rest) > 1) {
		fmt.Fprintf(stderr, "dormouse user %s: wrong number of arguments\n", sub)
		usage(stderr)
		return exitConfig
	}
	var account string
	if sub != "list" {
		a, err := accountName(cfg, rest[0])
		if err != nil {
			fmt.Fprintf(stderr, "dormouse user %s: %v\n", sub, err)
			return exitConfig
		}
		account = a
	}
	stores, err := sql.Open(ctx, cfg.StorageURL(), slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintf(stderr, "dormouse user %s: opening storage %s: %v\n", sub, redactURL(cfg.StorageURL()), err)
		return exitFail
	}
	defer stores.Close()
	if err := userDo(ctx, stores.Accounts, sub, account, rest, stdout); err != nil {
		fmt.Fprintf(stderr, "dormouse user %s: %v\n", sub, err)
		return exitFail
	}
	return exitOK
}

func userDo(ctx context.Context, accounts auth.Store, sub, account string, rest []string, stdout io.Writer) error {
	switch sub {
	case "add", "passwd":
		creds, err := auth.NewCredentials(rest[1], 0)
		if err != nil {
			return fmt.Errorf("unusable password: %w", err)
		}
		if sub == "add" {
			err = accounts.CreateAccount(ctx, account, creds)
			if errors.Is(err, auth.ErrExists) {
				return fmt.Errorf("%s already exists (use 'dormouse user passwd' to change its password)", account)
			}
		} else {
			err = accounts.SetCredentials(ctx, account, creds)
			if errors.Is(err, auth.ErrNotFound) {
				return fmt.Errorf("%s does not exist (use 'dormouse user add')", account)
			}
		}
		if err != nil {
			return err
		}
		verb := map[string]string{"add": "created", "passwd": "password changed for"}[sub]
		fmt.Fprintf(stdout, "%s %s\n", verb, account)
	case "del":
		err := accounts.DeleteAccount(ctx, account)
		if errors.Is(err, auth.ErrNotFound) {
			return fmt.Errorf("%s does not exist", account)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %s and all its data\n", account)
	case "list":
		domain := ""
		if len(rest) == 1 {
			domain = rest[0]
		}
		list, err := accounts.Accounts(ctx, domain)
		if err != nil {
			return err
		}
		for _, a := range list {
			fmt.Fprintln(stdout, a)
		}
	}
	return nil
}

// accountName checks that s is a bare JID at a served host.
func accountName(cfg config.Config, s string) (string, error) {
	j, err := jid.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%q is not a valid JID: %w", s, err)
	}
	if j.Localpart() == "" || j.Resourcepart() != "" {
		return "", fmt.Errorf("%q is not an account address: want user@domain", s)
	}
	for _, h := range cfg.ServedHosts() {
		if h == j.Domainpart() {
			return j.Bare().String(), nil
		}
	}
	return "", fmt.Errorf("%s is not served here (served: %v); set domain or hosts in the configuration", j.Domainpart(), cfg.ServedHosts())
}

// dbCmd implements "dormouse db migrate".
func dbCmd(args []string, stdout, stderr io.Writer, environ []string) int {
	if len(args) == 0 || args[0] != "migrate" {
		fmt.Fprintln(stderr, "dormouse db: want migrate")
		return exitConfig
	}
	cfg, _, code := loadConfig("db migrate", args[1:], stderr, environ)
	if code != exitOK {
		return code
	}
	ctx, cancel := signalContext()
	defer cancel()
	n, err := sql.Migrate(ctx, cfg.StorageURL(), newLogger(cfg, stderr))
	if err != nil {
		fmt.Fprintf(stderr, "dormouse db migrate: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "applied %d migration(s) to %s\n", n, redactURL(cfg.StorageURL()))
	return exitOK
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
