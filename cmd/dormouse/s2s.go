package main

import (
	"context"
	"flag"
	"fmt"
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
