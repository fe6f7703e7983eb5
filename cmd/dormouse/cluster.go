package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"dormouse.im/dormouse/cluster"
	"github.com/nats-io/nats.go"
)

// clusterStatusCommand: "dormouse cluster status" lists the nodes of the
// cluster heard on NATS, with their numbers and sessions, and the NATS
// round trip; it fails if two nodes share a number.
func clusterStatusCommand() command {
	return command{
		name: "cluster status", summary: "list the nodes of the cluster (number, sessions) and the NATS round trip",
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
				byNumber := map[int]int{}
				for _, n := range o.Nodes {
					byNumber[n.Number]++
				}
				w := tabwriter.NewWriter(inv.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(w, "NODE\tNUMBER\tSESSIONS\tSTARTED\t")
				collisions := false
				for _, n := range o.Nodes {
					num, note := "-", ""
					if n.Number != 0 {
						num = strconv.Itoa(n.Number)
					}
					if n.Number != 0 && byNumber[n.Number] > 1 {
						note, collisions = "number collision", true
					}
					fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", n.Node, num, n.Sessions, time.Unix(0, n.Epoch).UTC().Format(time.RFC3339), note)
				}
				if err := w.Flush(); err != nil {
					return err
				}
				if collisions {
					return errors.New("two nodes share a cluster.node_number: archive ids may collide; give each node its own")
				}
				return nil
			}
		},
	}
}
