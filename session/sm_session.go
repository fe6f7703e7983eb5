package session

import (
	"context"
	"time"

	"dormouse.im/dormouse/internal/wire"
	"dormouse.im/dormouse/stream"
)

// maybeRequestAckLocked sends <r/> once Config.SM.AckAfter stanzas are
// unacknowledged, or arms the timer that sends it after
// Config.SM.AckDelay. At most one <r/> is outstanding.
func (s *Session) maybeRequestAckLocked() {
	if !s.sm || s.rOut || s.conn == nil || s.out.len() == 0 {
		return
	}
	if s.sinceR >= s.srv.Config.SM.AckAfter {
		s.requestAckLocked()
		return
	}
	if s.ackStop == nil {
		gen := s.ackGen
		s.ackStop = s.srv.clock.AfterFunc(s.srv.Config.SM.AckDelay, func() { s.ackTimer(gen) })
	}
}

func (s *Session) requestAckLocked() {
	s.stopAckLocked()
	s.conn.enqueue(wire.Item{Raw: []byte(smRequest)})
	s.rOut = true
	s.sinceR = 0
}

func (s *Session) ackTimer(gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.ackGen {
		return
	}
	s.ackStop = nil
	if s.state == stateLive && s.sm && !s.rOut && s.out.len() > 0 {
		s.requestAckLocked()
	}
}

func (s *Session) stopAckLocked() {
	s.ackGen++
	if s.ackStop != nil {
		s.ackStop()
		s.ackStop = nil
	}
}

func (s *Session) stopHibLocked() {
	s.hibGen++
	if s.hib != nil {
		s.srv.hib.cancel(s.hib)
		s.hib = nil
	}
}

// hibernateLocked detaches the lost connection and starts the resumption
// timer.
func (s *Session) hibernateLocked() {
	s.conn = nil
	s.setStateLocked(stateHibernated)
	s.stopAckLocked()
	s.rOut = false
	s.sinceR = 0
	s.stopHibLocked()
	s.hib = s.srv.hib.add(s, s.hibGen, s.timeout)
	s.out.compact()
}

// expire ends a session whose resumption time ran out.
func (s *Session) expire(gen uint64) {
	srv := s.srv
	srv.startWork()
	defer srv.doneWork()
	s.mu.Lock()
	if s.state != stateHibernated || gen != s.hibGen {
		s.mu.Unlock()
		return
	}
	s.hib = nil
	q := s.markEndedLocked()
	s.mu.Unlock()
	s.finishEnd(q, endTimeout)
}

// requestAckBeforeClose sends <r/> on a live stream-managed session, so a
// client that answers before closing has fewer stanzas rescued (and later
// delivered again).
func (s *Session) requestAckBeforeClose() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateLive && s.sm && s.out.len() > 0 && !s.rOut {
		s.requestAckLocked()
	}
}

// enable turns on XEP-0198 for the session (the connection answers
// <enable/>): with resume, it registers an SM-ID. The <enabled/> answer is
// queued under the same lock as the first counted stanza, so the count
// starts exactly after it. With !send it is returned instead, for a
// session not yet routable (Bind 2 puts it in <bound/>).
func (s *Session) enable(resume bool, max time.Duration, send bool) []byte {
	srv := s.srv
	s.inMu.Lock()
	s.counting = true
	s.inH = 0
	s.inMu.Unlock()
	var id string
	var timeout time.Duration
	if resume {
		id = newSMID(srv.SMIDSuffix)
		timeout = srv.Config.SM.ResumeTimeout
		if max > 0 {
			timeout = min(max, srv.Config.SM.MaxResumeTimeout)
		}
		if srv.ResumePolicy != nil {
			if d := srv.ResumePolicy(context.Background(), s.jid, max, timeout); d > 0 {
				timeout = d
			}
		}
		srv.reg.add(id, s)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sm, s.id, s.timeout = true, id, timeout
	b := appendEnabled(nil, id, timeout)
	if send {
		s.conn.enqueue(wire.Item{Raw: b})
	}
	return b
}

// smEnabled reports whether XEP-0198 is enabled.
func (s *Session) smEnabled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sm
}

// ack processes <a h='…'/> from the client.
func (s *Session) ack(h uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := ackCount(h, s.acked, s.out.len())
	if !ok {
		return &handledTooHigh{h: h, sent: s.acked + uint32(s.out.len())}
	}
	s.out.drop(int(n))
	s.acked = h
	s.rOut = false
	if s.out.len() == 0 {
		s.stopAckLocked()
	} else {
		s.maybeRequestAckLocked()
	}
	return nil
}

// detach detaches the session from its connection for a resumption
// (s.resumeMu is held): the connection, if any, is closed with a conflict
// stream error (why is logged), and detach waits for its reader to finish
// the stanza it is handling, so inH counts every stanza the connection
// handed on. ok is false if the session ended or moved to another node.
func (s *Session) detach(why string) (prev sessState, inH uint32, ok bool) {
	s.mu.Lock()
	if s.state == stateEnded || s.state == stateMoved {
		s.mu.Unlock()
		return s.state, 0, false
	}
	old := s.conn
	s.conn = nil
	prev = s.state
	s.setStateLocked(stateResuming)
	s.stopHibLocked()
	s.stopAckLocked()
	if old != nil {
		old.superseded.Store(true)
	}
	s.mu.Unlock()
	if old != nil {
		old.log().Info(why)
		old.CloseWithError(&stream.Error{Condition: stream.Conflict, Text: "the session was resumed on another connection"})
		old.interruptRead()
	}
	s.inMu.Lock()
	inH = s.inH
	s.inMu.Unlock()
	return prev, inH, true
}

// resume attaches the new connection c to the session after the client's
// <resume h='h'/>: the old connection, if still open, is closed with a
// conflict stream error; <resumed/> is queued with the server's h, then
// every stanza the client's h does not acknowledge, in order, then what CSI
// held (XEP-0352: the resumed stream starts active). before and after
// frame <resumed/> in the same write (SASL2 puts it in <success/>); nil for
// a top-level <resumed/>.
func (s *Session) resume(c *Conn, h uint32, before, after []byte) error {
	srv := s.srv
	s.resumeMu.Lock()
	defer s.resumeMu.Unlock()

	prev, inH, ok := s.detach("session resumed on another connection")
	if !ok {
		return errSessionGone
	}

	s.mu.Lock()
	if s.state == stateEnded || s.state == stateMoved {
		s.mu.Unlock()
		return errSessionGone
	}
	n, ok := ackCount(h, s.acked, s.out.len())
	if !ok {
		err := &handledTooHigh{h: h, sent: s.acked + uint32(s.out.len())}
		// The session stays resumable for a correct client.
		s.hibernateLocked()
		s.mu.Unlock()
		if prev == stateLive {
			srv.stats.hibernations.Add(1)
		}
		return err
	}
	s.out.drop(int(n))
	s.acked = h
	s.conn = c
	s.setStateLocked(stateLive)
	s.persistSMLocked(inH, true)
	s.inactive = false
	s.rOut = false
	c.enqueue(wire.Item{Raw: append(appendResumed(before, s.id, inH), after...)})
	for _, e := range s.out.items() {
		c.enqueue(wire.Item{St: e.st, Force: true})
	}
	replayed := s.out.len()
	if s.held.len() > 0 {
		s.flushHeldLocked()
	}
	if s.out.len() > 0 && !s.rOut {
		s.requestAckLocked()
	}
	s.evMu.Lock()
	s.mu.Unlock()
	srv.stats.resumptions.Add(1)
	c.log().Info("session resumed", "h", h, "replayed", replayed)
	srv.events.Resumed(context.Background(), s.jid)
	s.evMu.Unlock()
	return nil
}
