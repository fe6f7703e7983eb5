package server

import (
	"context"
	"sync"
	"time"

	"dormouse.im/dormouse/cluster"
	"dormouse.im/dormouse/session"
)

// drainWorkers bounds the sessions handed to peers at once.
const drainWorkers = 32

// serveDrain lets a node that shuts down hand its resumable sessions to the
// other nodes (cluster.drain_timeout > 0), and this node adopt theirs.
func (cs clusterSessions) serveDrain() error {
	if err := cs.c.ServeAdoptions(adopter(cs)); err != nil {
		return err
	}
	if cs.s.cfg.Cluster.DrainTimeout > 0 {
		cs.s.c2s.Drain = cs.drain
	}
	return nil
}

// drain hands every hibernated session (those whose streams the shutdown
// just closed included) to a live peer, each to the peer holding fewest
// sessions counting those already handed, within cluster.drain_timeout.
// What no peer took stays here: c2s.Shutdown ends it and rescues its
// queue to offline storage.
func (cs clusterSessions) drain(context.Context) {
	start := time.Now()
	list := cs.s.c2s.Hibernated()
	if len(list) == 0 {
		return
	}
	peers := cs.c.DrainPeers()
	if len(peers) == 0 {
		cs.s.log.Info("no other node to hand sessions to: rescuing them", "sessions", len(list))
		return
	}
	// Its own bound: the shutdown's context may have ended already (the
	// clients were slow to go).
	ctx, cancel := context.WithTimeout(context.Background(), cs.s.cfg.Cluster.DrainTimeout.Duration())
	defer cancel()
	type job struct {
		d    session.Drainable
		peer string
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	var mu sync.Mutex
	handed := 0
	for range min(drainWorkers, len(list)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if ctx.Err() == nil && cs.handTo(ctx, j.d, j.peer) {
					mu.Lock()
					handed++
					mu.Unlock()
				}
			}
		}()
	}
	load := make([]int, len(peers))
	for i, p := range peers {
		load[i] = p.Sessions
	}
	for _, d := range list {
		best := 0
		for i := range load {
			if load[i] < load[best] {
				best = i
			}
		}
		load[best]++
		jobs <- job{d, peers[best].Node}
	}
	close(jobs)
	wg.Wait()
	cs.s.log.Info("handed sessions to other nodes", "handed", handed, "sessions", len(list), "peers", len(peers), "took", time.Since(start))
}

// handTo gives the hibernated session d up to peer: the peer binds it,
// hibernated, then this node lets it go once it sees it there (stanzas
// that reach it here meanwhile are forwarded to peer). If the peer does
// not take it, the session ends here and its queue is rescued.
func (cs clusterSessions) handTo(ctx context.Context, d session.Drainable, peer string) bool {
	ho, release, err := cs.HandOver(ctx, d.ID, d.Account, d.Acked, cs.c.ForwardTo(peer))
	if err != nil {
		return false // resumed or ended meanwhile
	}
	if err := cs.c.HandTo(ctx, peer, ho); err != nil {
		cs.s.log.Warn("handing a session to another node failed: rescuing it", "peer", peer, "jid", ho.JID.String(), "err", err)
		release(false)
		return false
	}
	cs.c.WaitBound(ctx, ho.JID, peer)
	release(true)
	return true
}

// adopter adopts the sessions of draining nodes (cluster.Adopter).
type adopter clusterSessions

var _ cluster.Adopter = adopter{}

// Adopt implements cluster.Adopter.
func (a adopter) Adopt(ctx context.Context, ho *cluster.Handover) error {
	return a.s.c2s.AdoptHibernated(ctx, sessionHandover(ho))
}

// sessionHandover is ho for package session (Extra keeps ho, for Adopt).
func sessionHandover(ho *cluster.Handover) *session.Handover {
	out := &session.Handover{
		ID: ho.ID, JID: ho.JID, InH: ho.InH, Acked: ho.Acked, Timeout: ho.Timeout, Version: ho.Version, Left: ho.Left,
		Queue: make([]session.HandoverStanza, len(ho.Queue)), Extra: ho,
	}
	for i, q := range ho.Queue {
		out.Queue[i] = session.HandoverStanza{St: q.St, At: q.At}
	}
	return out
}
