package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"text/tabwriter"
	"time"

	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/metrics"
	"dormouse.im/dormouse/push/appserver"
	"dormouse.im/dormouse/push/appserver/provider"
	"dormouse.im/dormouse/push/appserver/standalone"
	"dormouse.im/dormouse/sql"
)

// The built-in push app server's commands: its apps (provider
// credentials), a test notification, its registered devices, and running it
// standalone as a component of another XMPP server. They work while a
// server runs on the same storage: servers pick up changed apps within
// seconds.

func pushAppAddCommand() command {
	return command{
		name: "push app add", args: "NAME -platform fcm -credentials FILE | -platform apns (-key FILE -key-id ID -team-id ID | -cert FILE.p12) -topic BUNDLE [-sandbox]",
		summary: "add or replace a push app (its FCM or APNs credentials)",
		minArgs: 1, maxArgs: 1,
		setup: func(fs *flag.FlagSet) runFunc {
			platform := fs.String("platform", "", "fcm or apns")
			creds := fs.String("credentials", "", "FCM: the service-account key `FILE` (JSON)")
			key := fs.String("key", "", "APNs token authentication: the .p8 key `FILE`")
			keyID := fs.String("key-id", "", "APNs: the key's id")
			teamID := fs.String("team-id", "", "APNs: the team id")
			cert := fs.String("cert", "", "APNs certificate authentication: the .p12 `FILE`")
			certPW := fs.String("cert-password", "", "APNs: the .p12 file's password")
			topic := fs.String("topic", "", "APNs: the app's bundle id")
			voip := fs.String("voip-topic", "", "APNs: the VoIP topic (usually BUNDLE.voip); empty: no VoIP pushes")
			sandbox := fs.Bool("sandbox", false, "APNs: the development environment")
			return func(inv *invocation) error {
				p, err := appserver.ParsePlatform(*platform)
				if err != nil {
					return usageErrorf("-platform: want fcm or apns")
				}
				a := appserver.App{Name: inv.args[0], Platform: p}
				read := func(flag, path string) ([]byte, error) {
					if path == "" {
						return nil, nil
					}
					b, err := os.ReadFile(path)
					if err != nil {
						return nil, usageErrorf("-%s: %v", flag, err)
					}
					return b, nil
				}
				c := &a.Credentials
				if c.ServiceAccount, err = read("credentials", *creds); err != nil {
					return err
				}
				if c.KeyP8, err = read("key", *key); err != nil {
					return err
				}
				if c.CertP12, err = read("cert", *cert); err != nil {
					return err
				}
				c.KeyID, c.TeamID, c.CertPassword, c.Topic, c.VoIPTopic, c.Sandbox = *keyID, *teamID, *certPW, *topic, *voip, *sandbox
				if err := a.Validate(); err != nil {
					return usageErrorf("%v", err)
				}
				return withPushStore(inv, func(ctx context.Context, store appserver.Store, keys *appserver.Keyring) error {
					if err := appserver.PutApp(ctx, store, keys, a, time.Now(), newProviderFunc(inv.cfg)); err != nil {
						return err
					}
					fmt.Fprintf(inv.stdout, "stored app %s (%s)\n", a.Name, a.Platform)
					return nil
				})
			}
		},
	}
}

func pushAppListCommand() command {
	return command{
		name: "push app list", summary: "list the push apps",
		setup: func(*flag.FlagSet) runFunc {
			return func(inv *invocation) error {
				return withPushStore(inv, func(ctx context.Context, store appserver.Store, keys *appserver.Keyring) error {
					apps, err := store.Apps(ctx)
					if err != nil {
						return err
					}
					counts, err := store.CountRegistrations(ctx)
					if err != nil {
						return err
					}
					w := tabwriter.NewWriter(inv.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "NAME\tPLATFORM\tDEVICES\tUPDATED\tCREDENTIALS")
					for _, sa := range apps {
						desc := "(cannot be opened: check push.credentials_key)"
						if c, err := keys.Open(sa.Name, sa.Credentials); err == nil {
							desc = c.LogValue().String()
						}
						fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", sa.Name, sa.Platform, counts[sa.Name], sa.Updated.Format(time.RFC3339), desc)
					}
					return w.Flush()
				})
			}
		},
	}
}

func pushAppRemoveCommand() command {
	return command{
		name: "push app remove", args: "NAME", summary: "remove a push app and its devices",
		minArgs: 1, maxArgs: 1,
		setup: func(*flag.FlagSet) runFunc {
			return func(inv *invocation) error {
				return withPushStore(inv, func(ctx context.Context, store appserver.Store, _ *appserver.Keyring) error {
					err := store.DeleteApp(ctx, inv.args[0])
					if errors.Is(err, appserver.ErrNotFound) {
						return fmt.Errorf("no app %q (see 'dormouse push app list')", inv.args[0])
					}
					if err != nil {
						return err
					}
					fmt.Fprintf(inv.stdout, "removed app %s\n", inv.args[0])
					return nil
				})
			}
		},
	}
}

func pushTestCommand() command {
	return command{
		name: "push test", args: "-app NAME -token TOKEN", summary: "send a test notification and print the provider's answer",
		setup: func(fs *flag.FlagSet) runFunc {
			app := fs.String("app", "", "the app to send through")
			token := fs.String("token", "", "the device's FCM or APNs token")
			return func(inv *invocation) error {
				if *app == "" || *token == "" {
					return usageErrorf("-app and -token are required")
				}
				return withPushStore(inv, func(ctx context.Context, store appserver.Store, keys *appserver.Keyring) error {
					a, err := appserver.LoadApp(ctx, store, keys, *app)
					if err != nil {
						return err
					}
					ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					defer cancel()
					r, err := appserver.TestPush(ctx, a, *token, newProviderFunc(inv.cfg))
					if err != nil {
						return err
					}
					fmt.Fprintf(inv.stdout, "%s: %s (HTTP %d)", a.Platform, r.Outcome, r.Status)
					if r.Reason != "" {
						fmt.Fprintf(inv.stdout, " reason %q", r.Reason)
					}
					if r.ID != "" {
						fmt.Fprintf(inv.stdout, " id %s", r.ID)
					}
					fmt.Fprintln(inv.stdout)
					if r.Outcome != provider.Sent {
						return errQuiet
					}
					return nil
				})
			}
		},
	}
}

// appServerDevices prints the app server's registrations, with each one's
// last success and last error.
func appServerDevices(inv *invocation, app string) error {
	return withPushStore(inv, func(ctx context.Context, store appserver.Store, _ *appserver.Keyring) error {
		regs, err := store.Registrations(ctx, app)
		if err != nil {
			return err
		}
		ts := func(t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			return t.Format(time.RFC3339)
		}
		w := tabwriter.NewWriter(inv.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "APP\tNODE\tACCOUNT\tDOMAIN\tLAST USED\tLAST SUCCESS\tLAST ERROR")
		for _, r := range regs {
			node := r.Node
			if len(node) > 16 {
				node = node[:16] + "…" // token-in-node: the node is the token
			}
			account := r.Account
			if account == "" {
				account = "-"
			}
			lastErr := ts(r.LastError)
			if r.LastErrorText != "" {
				lastErr += " " + r.LastErrorText
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.App, node, account, r.Domain, ts(r.LastUsed), ts(r.LastSuccess), lastErr)
		}
		return w.Flush()
	})
}

// appServerCommand: "dormouse appserver -config FILE" runs the push app
// server alone, as an XEP-0114 component of any XMPP server: it connects to
// components.listen, as push.appserver_domain, with that domain's secret in
// components.secrets; apps and registrations are in storage.url; the admin
// listener serves /metrics and, with push.api_token, the registration API.
func appServerCommand() command {
	return command{
		name: "appserver", summary: "run the push app server as a component of another XMPP server",
		setup: func(*flag.FlagSet) runFunc { return runAppServer },
	}
}

func runAppServer(inv *invocation) error {
	cfg := inv.cfg
	domain := cfg.AppServerDomain()
	secret, ok := cfg.Components.Secrets[domain]
	if !ok || cfg.Components.Listen == "" {
		return usageErrorf("set components.listen to the XMPP server's component address and components.secrets[%q] to the shared secret", domain)
	}
	log := newLogger(cfg, inv.stderr).With("component", "appserver")
	ctx, cancel := signalContext()
	defer cancel()
	stores, err := sql.Open(ctx, cfg.StorageURL(), log)
	if err != nil {
		return fmt.Errorf("opening storage %s: %w", redactURL(cfg.StorageURL()), err)
	}
	defer stores.Close()
	keys, err := appserver.LoadKeyring(cfg.Push.CredentialsKey)
	if err != nil {
		return err
	}
	m := metrics.New()
	conn := standalone.New(standalone.Config{Addr: cfg.Components.Listen, Domain: domain, Secret: secret,
		MaxStanzaSize: cfg.C2S.MaxStanzaSize}, log)
	svc, err := appserver.New(appServerConfig(cfg), stores.PushApps, keys, conn, m.PushAppServer(), log)
	if err != nil {
		return err
	}
	if err := svc.Start(ctx); err != nil {
		return err
	}
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = svc.Close(sctx)
	}()
	if d := cfg.Push.ForgetAfter.Duration(); d > 0 {
		stop, err := svc.StartForget(cfg.MAM.PurgeSchedule, d)
		if err != nil {
			return err
		}
		defer func() { _ = stop(context.Background()) }()
	}
	if cfg.Admin.Listen != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		if cfg.Push.APIToken != "" {
			mux.Handle("/push/v1/", svc.HTTPHandler(cfg.Push.APIToken))
		}
		l, err := net.Listen("tcp", cfg.Admin.Listen)
		if err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = hs.Serve(l) }() // ends with Shutdown below
		defer func() { _ = hs.Shutdown(context.Background()) }()
		fmt.Fprintf(inv.stdout, "  listening on %-22s admin HTTP (/metrics, /push/v1/register)\n", l.Addr())
	}
	fmt.Fprintf(inv.stdout, "Dormouse %s push app server %s, component of %s\n", version, domain, cfg.Components.Listen)
	err = conn.Run(ctx, svc)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// appServerConfig is the app server's configuration from [push].
func appServerConfig(cfg config.Config) appserver.Config {
	return appserver.Config{Domain: cfg.AppServerDomain(), DeviceRate: cfg.Push.DeviceRate.Duration(),
		Endpoints: appserver.Endpoints{FCM: cfg.Push.FCMEndpoint, APNs: cfg.Push.APNsEndpoint}}
}

// withPushStore opens storage and the credentials key.
func withPushStore(inv *invocation, f func(ctx context.Context, store appserver.Store, keys *appserver.Keyring) error) error {
	keys, err := appserver.LoadKeyring(inv.cfg.Push.CredentialsKey)
	if err != nil {
		return err
	}
	return withStores(inv, func(ctx context.Context, stores *sql.Stores) error {
		return f(ctx, stores.PushApps, keys)
	})
}

// newProviderFunc builds provider clients with the configured endpoints.
func newProviderFunc(cfg config.Config) func(context.Context, appserver.App) (provider.Provider, error) {
	ep := appServerConfig(cfg).Endpoints
	return func(ctx context.Context, a appserver.App) (provider.Provider, error) {
		return appserver.NewProvider(ctx, a, ep)
	}
}
