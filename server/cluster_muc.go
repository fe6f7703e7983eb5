package server

import (
	"fmt"

	"dormouse.im/dormouse/cluster"
	"dormouse.im/dormouse/muc"
)

// clusterServices makes this node's in-process services take the stanzas
// that other nodes forward to them, and makes the MUC service serve each
// room on one node of the cluster at a time (muc.SetCluster), recorded in
// the shared PostgreSQL store. Called before the cluster starts.
func (s *Server) clusterServices(c *cluster.Cluster) error {
	c.ServeServices(s.Router)
	if s.muc == nil {
		return nil
	}
	owners, ok := s.Stores.MUC.(muc.OwnerStore)
	if !ok {
		return fmt.Errorf("server: the MUC store %T cannot record room owners", s.Stores.MUC)
	}
	s.muc.SetCluster(c, owners)
	return nil
}
