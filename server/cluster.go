package server

import (
	"context"
	"fmt"

	"dormouse.im/dormouse/cluster"
	"dormouse.im/dormouse/internal/cronjob"
	"github.com/nats-io/nats.go"
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
	return s.serveHandovers(c)
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
