package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"time"

	"dormouse.im/dormouse/server"
	"mellium.im/xmpp/jid"
)

// s2sCheckCommand: "dormouse s2s check [-from HOST] DOMAIN" sets up a
// server-to-server stream to DOMAIN as the server would, printing each
// step (DNS, connection, TLS, certificate, authentication) and what
// failed.
func s2sCheckCommand() command {
	return command{
		name: "s2s check", args: "[-from HOST] DOMAIN", summary: "test federation with DOMAIN step by step",
		minArgs: 1, maxArgs: 1,
		setup: func(fs *flag.FlagSet) runFunc {
			from := fs.String("from", "", "the served host to connect from (default: the main domain)")
			return func(inv *invocation) error {
				remote, err := jid.Parse(inv.args[0])
				if err != nil || remote.Localpart() != "" || remote.Resourcepart() != "" {
					return usageErrorf("%q is not a domain", inv.args[0])
				}
				hosts := inv.cfg.ServedHosts()
				local := hosts[0]
				if *from != "" {
					j, err := jid.Parse(*from)
					if err != nil || !slices.Contains(hosts, j.Domainpart()) {
						return usageErrorf("-from: %q is not a served host", *from)
					}
					local = j.Domainpart()
				}
				fmt.Fprintf(inv.stdout, "checking federation %s -> %s\n", local, remote.Domainpart())
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				err = server.CheckS2S(ctx, inv.cfg, local, remote.Domainpart(), func(step string) {
					fmt.Fprintln(inv.stdout, "  "+step)
				})
				if err != nil {
					fmt.Fprintf(inv.stdout, "FAILED: %v\n", err)
					return errQuiet
				}
				fmt.Fprintln(inv.stdout, "OK")
				return nil
			}
		},
	}
}

// s2sStatusCommand: "dormouse s2s status" lists the running server's
// server-to-server streams, from the admin listener (GET /s2s).
func s2sStatusCommand() command {
	return command{
		name: "s2s status", summary: "list the running server's federation streams",
		setup: func(*flag.FlagSet) runFunc {
			return func(inv *invocation) error {
				addr := inv.cfg.Admin.Listen
				if addr == "" {
					return fmt.Errorf("admin.listen is empty: the status comes from the admin listener")
				}
				host, port, err := net.SplitHostPort(addr)
				if err != nil {
					return err
				}
				if host == "" || host == "0.0.0.0" || host == "::" {
					host = "127.0.0.1"
				}
				c := &http.Client{Timeout: 10 * time.Second}
				resp, err := c.Get("http://" + net.JoinHostPort(host, port) + "/s2s")
				if err != nil {
					return fmt.Errorf("is the server running? %w", err)
				}
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("GET /s2s: %s", resp.Status)
				}
				_, err = io.Copy(inv.stdout, resp.Body)
				return err
			}
		},
	}
}
