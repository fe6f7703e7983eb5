package session

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"dormouse.im/dormouse/internal/wire"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/stream"
	"mellium.im/xmpp/jid"
)

// sessState is where a Session is in its life.
type sessState uint8

const (
	stateLive       sessState = iota // a connection is attached
	stateHibernated                  // resumable, connection lost, waiting for <resume/>
	stateResuming                    // detached from its old connection by a <resume/> in progress
	stateEnded                       // unbound; Deliver refuses stanzas
	stateMoved                       // handed over to another node (HandOver); Deliver forwards there
)

// endReason says why a session ended, for logs and statistics.
type endReason uint8

const (
	endClosed   endReason = iota // the stream ended (clean close, stream error, no resumption)
	endTimeout                   // hibernated longer than the resumption time
	endOverflow                  // hibernated queue over Config.SM.MaxQueue
	endReplaced                  // closed by the server (resource conflict, account removed)
	endShutdown                  // the server is shutting down
)

func (r endReason) String() string {
	switch r {
	case endTimeout:
		return "resumption timeout"
	case endOverflow:
		return "queue overflow while hibernated"
	case endReplaced:
		return "closed by the server"
	case endShutdown:
		return "server shutdown"
	}
	return "stream ended"
}

// Session is one bound client resource (RFC 6120 §7): the stanza.Target the
// router delivers to. Without stream management it lives and dies with its
// connection. With XEP-0198 resumption it outlives the connection: when the
// connection is lost without </stream:stream>, the session hibernates (a
// plain struct in the server's registry: no goroutine, no socket, no
// buffers, only its queue and a timer on the injected Clock), stays bound
// and available to contacts, and keeps queueing what is routed to it until
// the client resumes it on a new connection or the resumption time runs
// out.
//
// Outbound, every stanza is either held back (CSI inactive, or hibernated
// and not urgent: the hold queue, where newer presence from a contact
// replaces older) or appended to the XEP-0198 queue (out) of stanzas the
// client has not acknowledged, and, while a connection is attached, to that
// connection's write queue. Stanza n of the stream (h counting from 1 after
// <enabled/>) is out[n-acked-1]: sequence numbers are implicit, so
// resumption replays out after dropping what the client's h acknowledges.
//
// Concurrency. Deliver and CloseWithError are called from any goroutine.
// Inbound stanzas are handled on the reader goroutine of the attached
// connection. Lock order: resumeMu → inMu → mu → Conn.q; the server's
// registry lock is never held together with mu.
type Session struct {
	srv  *Server
	jid  jid.JID // the bound full JID; immutable
	bare string  // the account, as a bare JID string; immutable

	// resumeMu serializes <resume/> requests for this session.
	resumeMu sync.Mutex

	// inMu is held by the attached connection's reader while it handles one
	// inbound stanza and counts it (or by its messages in flight until the
	// last is counted: pipeline.go), and by a resumption while it reads inH,
	// so <resumed h='…'/> counts every stanza the old connection handed on
	// and none that it will not.
	// Its fields, counting and inH, sit with mu's small fields below
	// (sharing their words keeps the struct in its size class).
	inMu sync.Mutex
	// pipe holds the client's messages in flight (pipeline.go), made at
	// its first pipelined message (most sessions hibernate without one).
	pipe atomic.Pointer[pipeline]

	// evMu orders this session's Events calls: taken while mu is held,
	// released after the call (lock order mu, then evMu), so a later state
	// change cannot report before an earlier one.
	evMu sync.Mutex

	mu sync.Mutex // guards the fields below
	// The small fields share one word (a hibernated session is mostly
	// this struct: 256 bytes, not the next size class).
	state    sessState
	sm       bool                               // XEP-0198 enabled
	rOut     bool                               // an <r/> is outstanding
	closing  bool                               // the server is closing the stream: do not hibernate
	inactive bool                               // XEP-0352 client state
	counting bool                               // XEP-0198 enabled: inbound stanzas are counted; guarded by inMu, not mu
	acked    uint32                             // the client's last h
	inH      uint32                             // stanzas handled from the client, modulo 2^32; guarded by inMu, not mu
	conn     *Conn                              // the attached connection (stateLive only)
	id       string                             // SM-ID if resumption is enabled, else ""
	timeout  time.Duration                      // resumption time granted in <enabled max='…'/>
	out      outQueue                           // stanzas sent or to send, not acknowledged (sm only)
	sinceR   int                                // stanzas sent since the last <r/>
	ackGen   uint64                             // invalidates stale ack-request timer calls
	ackStop  func() bool                        // the pending ack-request timer
	hibGen   uint64                             // invalidates stale hibernation timer calls
	hib      *hibEntry                          // the pending resumption timeout (sm_hibernate.go)
	held     *holdQueue                         // CSI hold queue; nil while empty
	smVer    uint64                             // version of the last SMRecord written (smstore.go)
	fwd      func(jid.JID, *stanza.Stanza) bool // stateMoved: hands a stanza to the node the session moved to
}

func newSession(srv *Server, c *Conn, full jid.JID) *Session {
	s := &Session{
		srv:  srv,
		jid:  full,
		bare: full.Bare().String(),
		conn: c,
	}
	return s
}

// localpart is the account's localpart, sharing the bare JID's bytes (a
// session's account always has one, and a localpart has no '@').
func (s *Session) localpart() string {
	l, _, _ := strings.Cut(s.bare, "@")
	return l
}

// log returns a logger for the session (made when needed: sessions log
// rarely, and a hibernated one keeps nothing for it).
func (s *Session) log() *slog.Logger { return slog.New(&attrHandler{s.srv.Log.Handler(), s.logAttrs}) }

// JID returns the bound full JID.
func (s *Session) JID() jid.JID { return s.jid }

// Deliver queues a stanza for the client. It implements stanza.Target. It
// returns false if the session ended, or if a live session without stream
// management has Config.MaxQueue stanzas waiting to be written; then the
// router treats the stanza as undeliverable to this resource. A
// stream-managed session accepts every stanza: a live one past
// Config.SM.MaxUnacked unacknowledged stanzas closes its stream, a
// hibernated one past Config.SM.MaxQueue ends early, and both rescue their
// messages. In that last case Deliver returns after the session is
// unbound and its messages are rescued (so the sender's next message is
// routed after them): callers must not hold locks that the router's
// OnGone hooks or the Rescuer take (offline storage's per-account lock is
// handled: Deliver then ends the session in the background).
func (s *Session) Deliver(st *stanza.Stanza) bool {
	srv := s.srv
	s.mu.Lock()
	switch s.state {
	case stateEnded:
		s.mu.Unlock()
		return false
	case stateMoved:
		fwd := s.fwd
		s.mu.Unlock()
		return fwd(s.jid, st)
	case stateLive:
		if s.inactive {
			ok := true
			if urgent(st, s.localpart(), s.bare) {
				if s.held.len() > 0 {
					s.flushHeldLocked()
				}
				ok = s.sendLocked(queued{st: st}, true)
			} else {
				s.holdLocked(queued{st, s.now()})
			}
			if !ok {
				s.mu.Unlock()
				return false
			}
			s.evMu.Lock()
			s.mu.Unlock()
			srv.events.InactiveStanza(context.Background(), s.jid, st)
			s.evMu.Unlock()
			return true
		}
		if s.held.len() > 0 {
			s.flushHeldLocked()
		}
		ok := s.sendLocked(queued{st: st}, true)
		s.mu.Unlock()
		return ok
	}
	// Hibernated or being resumed: queue; hold what is not urgent so that
	// presence floods collapse.
	e := queued{st, s.now()}
	if urgent(st, s.localpart(), s.bare) {
		if s.held.len() > 0 {
			s.flushHeldLocked()
		}
		s.sendLocked(e, false)
	} else {
		s.holdLocked(e)
	}
	var q []queued
	overflow := s.out.len()+s.held.len() > srv.Config.SM.MaxQueue
	if overflow {
		q = s.markEndedLocked()
	}
	s.evMu.Lock()
	s.mu.Unlock()
	srv.events.StanzaQueued(context.Background(), s.jid, st)
	s.evMu.Unlock()
	if overflow {
		if srv.rescuing(s.bare) {
			// This Deliver may come from a rescue of this very account
			// (offline storage handing stored messages to this resource
			// with the account's lock held): end in the background.
			srv.startWork()
			go func() {
				defer srv.doneWork()
				s.finishEnd(q, endOverflow)
			}()
		} else {
			// Synchronously, so the sender's next message is routed after
			// the rescue and stays in order.
			s.finishEnd(q, endOverflow)
		}
	}
	return true
}

// now returns the session clock's time in Unix milliseconds.
func (s *Session) now() int64 { return s.srv.clock.Now().UnixMilli() }

// sendLocked appends a stanza to the XEP-0198 queue and, while a connection
// is attached, to its write queue. bounded applies the live queue limit.
func (s *Session) sendLocked(e queued, bounded bool) bool {
	st := e.st
	s.srv.stats.stanzasOut[st.Kind&3].Add(1)
	if !s.sm {
		if s.conn == nil {
			return false
		}
		return s.conn.enqueue(wire.Item{St: st, Force: !bounded})
	}
	if e.at == 0 {
		e.at = s.now()
	}
	s.out.push(e)
	if bounded && s.conn != nil && !s.closing && s.out.len() > s.srv.Config.SM.MaxUnacked {
		// The client reads but does not acknowledge, or reads too slowly:
		// end the stream; everything queued, this stanza included, is
		// rescued.
		s.closing = true
		s.conn.CloseWithError(&stream.Error{Condition: stream.PolicyViolation, Text: "too many unacknowledged stanzas"})
		return true
	}
	if s.conn != nil {
		// Kept in out even if the connection is closing: replayed on
		// resumption or rescued.
		s.conn.enqueue(wire.Item{St: st, Force: true})
		s.sinceR++
		s.maybeRequestAckLocked()
	}
	return true
}

// setStateLocked changes the state, keeping the hibernated gauge right.
func (s *Session) setStateLocked(st sessState) {
	if s.state == stateHibernated {
		s.srv.stats.hibernated.Add(-1)
	}
	if st == stateHibernated {
		s.srv.stats.hibernated.Add(1)
	}
	s.state = st
}

// markEndedLocked ends the session: Deliver refuses from now on. It returns
// every stanza still queued, in order, for finishEnd.
func (s *Session) markEndedLocked() []queued {
	s.setStateLocked(stateEnded)
	s.stopAckLocked()
	s.stopHibLocked()
	s.conn = nil
	q := s.out.take()
	held := s.held.take()
	s.held = nil
	return append(q, held...)
}

// finishEnd completes the end of a session marked ended: it retires the
// SM-ID (keeping h for a failed resumption), unbinds the resource (contacts
// get unavailable presence), then hands the queued messages worth keeping
// to the Rescuer and answers queued IQ requests with service-unavailable.
// Unbinding comes first so the rescued messages go to another resource or
// offline, never back here.
func (s *Session) finishEnd(q []queued, why endReason) {
	srv := s.srv
	ctx := context.Background()
	if s.id != "" {
		s.inMu.Lock()
		h := s.inH
		s.inMu.Unlock()
		srv.reg.retire(s, h, srv.clock.Now())
		s.mu.Lock()
		s.persistSMLocked(h, false)
		s.mu.Unlock()
	}
	srv.Router.Unbind(ctx, s.jid, s)
	rescued := s.rescue(ctx, q)
	switch why {
	case endTimeout:
		srv.stats.timeouts.Add(1)
	case endOverflow:
		srv.stats.overflows.Add(1)
	}
	if len(q) > 0 || why == endTimeout || why == endOverflow {
		s.log().Info("session ended", "reason", why.String(), "queued", len(q), "rescued", rescued)
	}
	if why == endTimeout || why == endOverflow {
		s.evMu.Lock()
		srv.events.TimedOut(ctx, s.jid, rescued)
		s.evMu.Unlock()
	}
}

// connEnded is called by an attached connection that ended. A lost
// connection (no </stream:stream>, no stream error) of a resumable session
// hibernates it; otherwise the session ends.
func (s *Session) connEnded(c *Conn, lost bool) {
	srv := s.srv
	s.inMu.Lock() // the reader is done: the count is final
	inH := s.inH
	s.inMu.Unlock()
	s.mu.Lock()
	if s.conn != c || s.state != stateLive {
		s.mu.Unlock() // superseded by a resumption
		return
	}
	// A draining server (Drain set) keeps the sessions whose streams it
	// closes resumable, for another node.
	if s.id != "" && !s.closing && (lost && !srv.closing.Load() || srv.closing.Load() && srv.Drain != nil) {
		s.hibernateLocked()
		s.persistSMLocked(inH, false)
		queued := s.out.len() + s.held.len()
		if queued > srv.Config.SM.MaxQueue {
			q := s.markEndedLocked()
			s.mu.Unlock()
			s.finishEnd(q, endOverflow)
			return
		}
		timeout := s.timeout
		unacked := make([]*stanza.Stanza, 0, s.out.len())
		for _, e := range s.out.items() {
			unacked = append(unacked, e.st)
		}
		s.evMu.Lock()
		s.mu.Unlock()
		srv.stats.hibernations.Add(1)
		s.log().Info("session hibernated", "queued", queued, "timeout", timeout)
		srv.events.Hibernated(context.Background(), s.jid, unacked)
		s.evMu.Unlock()
		return
	}
	q := s.markEndedLocked()
	s.mu.Unlock()
	s.finishEnd(q, endClosed)
}

// CloseWithError ends the session with a stream error: a live session's
// stream is closed after its queued stanzas (the session then ends, not
// hibernates); a hibernated one ends now. It is how the router's callers
// close a replaced resource or a removed account's sessions.
func (s *Session) CloseWithError(e *stream.Error) {
	s.mu.Lock()
	switch s.state {
	case stateLive:
		s.closing = true
		c := s.conn
		s.mu.Unlock()
		c.CloseWithError(e)
	case stateHibernated, stateResuming:
		q := s.markEndedLocked()
		s.mu.Unlock()
		s.log().Info("hibernated session closed", "condition", string(e.Condition))
		s.finishEnd(q, endReplaced)
	default:
		s.mu.Unlock()
	}
}

// endDetached ends a hibernated session (server shutdown).
func (s *Session) endDetached(why endReason) {
	s.mu.Lock()
	if s.state != stateHibernated && s.state != stateResuming {
		s.mu.Unlock()
		return
	}
	q := s.markEndedLocked()
	s.mu.Unlock()
	s.finishEnd(q, why)
}
