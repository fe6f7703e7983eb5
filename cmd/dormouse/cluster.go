package main

import (
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"dormouse.im/dormouse/cluster"
	"github.com/nats-io/nats.go"
)

// clusterStatusCommand: "dormouse cluster status" lists the nodes of the
// cluster heard on NATS, with their sessions, and the NATS round trip.
func clusterStatusCommand() command {
	return command{
		name: "cluster status", summary: "list the nodes of the cluster, their sessions and the NATS round trip",
		setup: func(*flag.FlagSet) runFunc {
			return func(inv *invocation) error {
				cc := inv.cfg.Cluster
				if !cc.Enabled {
					return errors.New("clustering is off (set [cluster] enabled = true)")
				}
				var opts []nats.Option
				if cc.NATSCredentials != "" {
					opts = append(opts, nats.UserCredentials(cc.NATSCredentials))
				}
				ctx, cancel := signalContext()
				defer cancel()
				// Two heartbeats and a margin hear every live node.
				o, err := cluster.Observe(ctx, cc.NATSURL, cc.Subject, 2*cc.Heartbeat.Duration()+500*time.Millisecond, opts...)
				if err != nil {
					return err
				}
				fmt.Fprintf(inv.stdout, "NATS %s, round trip %v\n", o.Server, o.RTT)
				if len(o.Nodes) == 0 {
					fmt.Fprintln(inv.stdout, "no node heard")
					return nil
				}
				w := tabwriter.NewWriter(inv.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(w, "NODE\tSESSIONS\tSTARTED")
				for _, n := range o.Nodes {
					fmt.Fprintf(w, "%s\t%d\t%s\n", n.Node, n.Sessions, time.Unix(0, n.Epoch).UTC().Format(time.RFC3339))
				}
				return w.Flush()
			}
		},
	}
}
