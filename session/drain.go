package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"dormouse.im/dormouse/stream"
)

// Drainable names a hibernated session a draining server may hand to
// another node (Server.Drain, HandOver with h Acked: nothing acknowledged
// anew).
type Drainable struct {
	ID      string // the SM-ID
	Account string // bare JID
	Acked   uint32 // the client's last h
}

// Hibernated returns the hibernated resumable sessions.
func (srv *Server) Hibernated() []Drainable {
	srv.init()
	var out []Drainable
	for _, s := range srv.reg.sessions() {
		s.mu.Lock()
		if s.state == stateHibernated {
			out = append(out, Drainable{ID: s.id, Account: s.bare, Acked: s.acked})
		}
		s.mu.Unlock()
	}
	return out
}

// timeLeft returns the resumption time a hibernated session has left (0
// if it is not hibernated).
func (s *Session) timeLeft() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateHibernated || s.hib == nil {
		return 0
	}
	return max(time.Duration(s.hib.at-s.srv.clock.Now().UnixNano()), 0)
}

// errAdoptClosing: the server is shutting down and adopts nothing.
var errAdoptClosing = errors.New("session: the server is shutting down")

// AdoptHibernated binds here, hibernated, a resumable session that a
// draining node of the cluster gave up (its HandOver with the client's
// last h): same SM-ID, h, queue, full JID and (through Remote.Adopt)
// presence and feature state, its resumption time running for ho.Left.
// Its record (SMStore, written before AdoptHibernated returns) names this
// node from now on; the client resumes it here, or on another node that
// asks this one. Stanzas routed to it meanwhile are queued here (Events
// see it hibernated: push notifications). A server shutting down refuses.
func (srv *Server) AdoptHibernated(ctx context.Context, ho *Handover) error {
	srv.init()
	if srv.Remote == nil {
		return errors.New("session: no cluster to adopt sessions from")
	}
	if srv.closing.Load() {
		return errAdoptClosing
	}
	if ho.JID.Resourcepart() == "" || ho.ID == "" {
		return fmt.Errorf("session: adopting %q: no resource or SM-ID", ho.JID.String())
	}
	s := newSession(srv, nil, ho.JID)
	if srv.reg.lookup(ho.ID, s.bare) != nil {
		return fmt.Errorf("session: adopting %s: the SM-ID is held here already", ho.JID.String())
	}
	s.counting, s.inH = true, ho.InH
	// The draining node wrote ho.Version and may write ho.Version+1 when
	// it ends the session after all (EndHandover): this node's records
	// must win.
	s.sm, s.id, s.timeout, s.acked, s.smVer = true, ho.ID, ho.Timeout, ho.Acked, ho.Version+1
	s.state = stateResuming // queues what is delivered until it is hibernated
	for _, e := range ho.Queue {
		s.out.push(queued{st: e.St, at: e.At})
	}
	srv.reg.add(s.id, s)
	if old := srv.Remote.Adopt(ctx, ho, s); old != nil {
		if oc, ok := old.(interface{ CloseWithError(*stream.Error) }); ok {
			oc.CloseWithError(&stream.Error{Condition: stream.Conflict, Text: "replaced by a new session with the same resource"})
		}
	}
	s.mu.Lock()
	switch s.state {
	case stateResuming:
	case stateLive: // resumed already
		s.mu.Unlock()
		return nil
	default: // ended at once by a conflict
		s.mu.Unlock()
		return fmt.Errorf("session: adopting %s: ended at once", ho.JID.String())
	}
	s.setStateLocked(stateHibernated)
	s.stopHibLocked()
	s.hib = srv.hib.add(s, s.hibGen, ho.Left)
	// Written before the draining node lets the session go, so that a
	// <resume/> on any node finds this one from the record.
	s.smVer++
	rec := SMRecord{
		ID: s.id, Account: s.bare, Node: srv.Node, H: ho.InH, Version: s.smVer,
		Expires: srv.clock.Now().Add(ho.Left + srv.Config.SM.OldSessionTTL),
	}
	queued := s.out.len() + s.held.len()
	s.evMu.Lock()
	s.mu.Unlock()
	if srv.SMStore != nil {
		wctx, cancel := context.WithTimeout(ctx, smStoreTimeout)
		if err := srv.SMStore.PutSM(wctx, rec); err != nil {
			s.log().Warn("persisting an adopted session failed", "err", err)
		}
		cancel()
	}
	s.log().Info("adopted a hibernated session from a draining node", "queued", queued, "left", ho.Left)
	// The draining node already woke the device for what it had queued.
	srv.events.Hibernated(ctx, s.jid, nil)
	s.evMu.Unlock()
	return nil
}
