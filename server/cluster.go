package server

import (
	"context"
	"fmt"

	"dormouse.im/dormouse/cluster"
	"dormouse.im/dormouse/internal/cronjob"
	"dormouse.im/dormouse/metrics"
	"dormouse.im/dormouse/router"
	"github.com/nats-io/nats.go"
	"mellium.im/xmpp/jid"
)

// joinCluster connects this node to the other nodes of a cluster over NATS
// when [cluster] is on (config.Validate made sure storage is PostgreSQL,
// shared by the nodes). Off, the router has no cluster route and nothing
// about NATS runs.
func (s *Server) joinCluster(ctx context.Context) error {
	cc := s.cfg.Cluster
	if !cc.Enabled {
		return nil
	}
	var opts []nats.Option
	if cc.NATSCredentials != "" {
		opts = append(opts, nats.UserCredentials(cc.NATSCredentials))
	}
	c, err := cluster.New(cluster.Config{
		Node:           s.cfg.ClusterNode(),
		Number:         s.clusterNodeNumber(),
		URL:            cc.NATSURL,
		Prefix:         cc.Subject,
		Heartbeat:      cc.Heartbeat.Duration(),
		Lease:          cc.Lease.Duration(),
		RequestTimeout: cc.RequestTimeout.Duration(),
		Options:        opts,
		// The users of a node that died go unavailable for their contacts.
		Gone: s.presence.Vanished,
		// A full JID bound again on another node closes the older session.
		Conflict: closeConflicting,
		// Other nodes copy carbons to this node's resources and see
		// their client state.
		State: s.clusterState,
	}, s.Router, s.log)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.Router.SetCluster(c)
	if err := s.clusterServices(c); err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.Cluster = c
	// Hibernation and resumption change what the registry says.
	s.c2s.Events = append(s.c2s.Events, c)
	s.registerClusterMetrics(c)
	return s.serveHandovers(c)
}

// registerClusterMetrics exposes the stanzas routed to and from each peer
// node and the size of its registry, labelled by the peer's name.
func (s *Server) registerClusterMetrics(c *cluster.Cluster) {
	s.Metrics.LabeledGroup("peer", []metrics.Labeled{
		{Name: "cluster_peer_sessions", Help: "Resources bound on the peer node, as this node's registry sees them."},
		{Name: "cluster_routed_to_total", Help: "Stanzas handed to the peer node and taken by its session.", Counter: true},
		{Name: "cluster_refused_by_total", Help: "Stanzas handed to the peer node that its session did not take (stored offline or bounced here).", Counter: true},
		{Name: "cluster_route_failures_total", Help: "Stanzas that could not be handed to the peer node (NATS unreachable after retries, peer gone or silent, queue full); stored offline or bounced.", Counter: true},
		{Name: "cluster_batches_total", Help: "Batch requests to the peer node answered.", Counter: true},
		{Name: "cluster_batch_retries_total", Help: "Batch requests to the peer node sent again.", Counter: true},
		{Name: "cluster_routed_from_total", Help: "Stanzas from the peer node taken by a session here.", Counter: true},
		{Name: "cluster_refused_from_total", Help: "Stanzas from the peer node no session here took.", Counter: true},
		{Name: "cluster_duplicates_total", Help: "Stanzas the peer node sent again, answered without delivering twice.", Counter: true},
	}, func() []metrics.Series {
		ps := c.PeerStats()
		out := make([]metrics.Series, 0, len(ps))
		for _, p := range ps {
			out = append(out, metrics.Series{Label: p.Node, Values: []float64{
				float64(p.Sessions), float64(p.Sent), float64(p.Refused), float64(p.Failed),
				float64(p.Batches), float64(p.Retries), float64(p.Received), float64(p.ReceivedRefused), float64(p.Duplicates),
			}})
		}
		return out
	})
}

// clusterState is what the cluster's registry carries of a local resource
// besides the router's view.
func (s *Server) clusterState(full jid.JID, res router.Resource) cluster.LocalState {
	st := cluster.LocalState{Carbons: s.carbons.Enabled(full)}
	if cs, ok := res.Target.(interface{ ClientState() (bool, bool) }); ok {
		st.Inactive, st.Hibernated = cs.ClientState()
	}
	return st
}

// clusterNodeNumber is this node's number in a cluster (in archive ids),
// or 0 when clustering is off.
func (s *Server) clusterNodeNumber() int {
	if !s.cfg.Cluster.Enabled {
		return 0
	}
	return s.cfg.ClusterNodeNumber()
}

// onceInCluster makes one node of a cluster run each pass of the
// scheduled job name (a PostgreSQL advisory lock, sql.Stores.Jobs); off a
// cluster every pass runs, as on a single node.
//
// The upload expiry job is not among them: each node expires the files
// of its own upload directory (deleting is idempotent, so a directory
// shared by the nodes is merely scanned by each).
func (s *Server) onceInCluster(name string) []cronjob.Option {
	if !s.cfg.Cluster.Enabled || s.Stores.Jobs == nil {
		return nil
	}
	return []cronjob.Option{cronjob.Once(s.Stores.Jobs, name)}
}
