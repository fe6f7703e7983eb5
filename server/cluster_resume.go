package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"dormouse.im/dormouse/cluster"
	"dormouse.im/dormouse/presence"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/session"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/stream"
	"mellium.im/xmpp/jid"
)

// clusterSessions connects XEP-0198 resumption on any node: package
// session asks it for sessions other nodes hold (session.Remote), package
// cluster asks it to give up sessions held here (cluster.Sessions).
type clusterSessions struct {
	s *Server
	c *cluster.Cluster
}

var (
	_ session.Remote   = clusterSessions{}
	_ cluster.Sessions = clusterSessions{}
)

// serveHandovers makes the SM-IDs made here name this node and lets the
// other nodes resume them.
func (s *Server) serveHandovers(c *cluster.Cluster) error {
	cs := clusterSessions{s: s, c: c}
	s.c2s.SMIDSuffix = c.SMIDSuffix()
	s.c2s.Remote = cs
	// The h of hibernated and ended sessions, for the other nodes if this
	// one dies; what expired meanwhile goes now.
	s.c2s.SMStore = s.Stores.SM
	s.c2s.Node = c.Node()
	if n, err := s.Stores.SM.PurgeSM(context.Background(), time.Now()); err != nil {
		s.log.Warn("purging expired stream management records failed", "err", err)
	} else if n > 0 {
		s.log.Info("purged expired stream management records", "count", n)
	}
	if err := c.ServeHandovers(cs); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if err := cs.serveDrain(); err != nil { // cluster_drain.go
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

// Resume implements session.Remote: it asks the node named in the SM-ID
// and, if that node does not hold the session (it was resumed on another
// node since) or is gone, the node that last persisted the session.
func (cs clusterSessions) Resume(ctx context.Context, previd, account string, h uint32) (*session.Handover, error) {
	node := cluster.SMIDNode(previd)
	ho, err := cs.c.Resume(ctx, node, previd, account, h)
	var refused *cluster.Refused
	if err != nil && !(errors.As(err, &refused) && (refused.TooHigh || refused.Known)) {
		r, ok, lerr := cs.s.Stores.SM.LostSM(ctx, previd, account, time.Now())
		switch {
		case lerr != nil:
			cs.s.log.Warn("reading a stream management record failed", "err", lerr)
		case ok && r.Node != node && r.Node != cs.c.Node():
			ho, err = cs.c.Resume(ctx, r.Node, previd, account, h)
		}
	}
	refused = nil
	switch {
	case errors.Is(err, cluster.ErrNotRemote):
		return nil, session.ErrNotHere
	case errors.As(err, &refused):
		return nil, &session.ResumeRefused{H: refused.H, Known: refused.Known, TooHigh: refused.TooHigh, Sent: refused.Sent}
	case err != nil:
		return nil, err
	}
	return sessionHandover(ho), nil
}

// LostH implements session.Remote: the h the holding node persisted
// when the session hibernated or ended (unknown if it was live).
func (cs clusterSessions) LostH(ctx context.Context, previd, account string) (uint32, bool) {
	r, ok, err := cs.s.Stores.SM.LostSM(ctx, previd, account, time.Now())
	if err != nil {
		cs.s.log.Warn("reading a stream management record failed", "err", err)
		return 0, false
	}
	return r.H, ok && !r.Live
}

// Adopt implements session.Remote: the resource is bound with the state
// it had on the node it comes from, as are its presence and carbons.
func (cs clusterSessions) Adopt(ctx context.Context, ho *session.Handover, t stanza.Target) stanza.Target {
	s := cs.s
	x, _ := ho.Extra.(*cluster.Handover)
	if x == nil {
		x = &cluster.Handover{}
	}
	replaced := s.Router.Adopt(router.Resource{
		JID: ho.JID, Target: t, Available: x.Available, Priority: x.Priority,
		Presence: x.Presence, Interested: x.Interested,
	})
	cs.c.Taken(x) // the old node lets the session go
	s.presence.MoveIn(ho.JID, presenceMoved(x))
	if x.BlockList {
		s.blocking.SetInterested(ho.JID, t)
	}
	if x.Carbons {
		if err := s.carbons.EnableCarbons(ctx, ho.JID); err != nil {
			s.log.Warn("enabling carbons for a resumed session failed", "jid", ho.JID.String(), "err", err)
		}
	}
	return replaced
}

// HandOver implements cluster.Sessions.
func (cs clusterSessions) HandOver(ctx context.Context, previd, account string, h uint32, fwd func(jid.JID, *stanza.Stanza) bool) (*cluster.Handover, func(bool), error) {
	s := cs.s
	ho, err := s.c2s.HandOver(ctx, previd, account, h, fwd)
	var refused *session.ResumeRefused
	switch {
	case errors.As(err, &refused):
		return nil, nil, &cluster.Refused{H: refused.H, Known: refused.Known, TooHigh: refused.TooHigh, Sent: refused.Sent}
	case err != nil:
		return nil, nil, err
	}
	full := ho.JID
	out := &cluster.Handover{
		ID: ho.ID, JID: full, InH: ho.InH, Acked: ho.Acked, Timeout: ho.Timeout, Version: ho.Version, Left: ho.Left,
		Queue: make([]cluster.Queued, len(ho.Queue)),
	}
	for i, q := range ho.Queue {
		out.Queue[i] = cluster.Queued{St: q.St, At: q.At}
	}
	res, bound := s.Router.Resource(full)
	if bound {
		out.Available, out.Priority, out.Presence, out.Interested = res.Available, res.Priority, res.Presence, res.Interested
		out.Carbons = s.carbons.Enabled(full)
		out.BlockList = s.blocking.Interested(full)
	}
	m := s.presence.MoveOut(full)
	out.Directed = m.Directed
	release := func(taken bool) {
		if !taken {
			// The session ends here after all: its contacts must hear
			// of it.
			s.presence.MoveIn(full, m)
			s.c2s.EndHandover(ho)
			return
		}
		// Only if the moved session is still the one bound: the session
		// may have come back meanwhile (resumed here again), and its
		// carbons and block list interest are then the new session's.
		if bound && s.Router.Release(full, res.Target) {
			s.carbons.Released(context.Background(), full)
			s.blocking.Released(full)
		}
	}
	return out, release, nil
}

func presenceMoved(x *cluster.Handover) presence.Moved {
	return presence.Moved{Available: x.Available, Directed: x.Directed}
}

// closeConflicting closes a local session whose full JID another node of
// the cluster bound later (RFC 6120 §7.7.2.2), as a local bind would.
func closeConflicting(_ context.Context, full jid.JID, t router.Target) {
	if c, ok := t.(interface{ CloseWithError(*stream.Error) }); ok {
		c.CloseWithError(&stream.Error{Condition: stream.Conflict, Text: "replaced by a new session with the same resource"})
	}
}
