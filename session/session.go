package session

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

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
// connection. Lock order: resumeMu → inMu → mu → Conn.mu; the server's
// registry lock is never held together with mu.
type Session struct {
	srv   *Server
	jid   jid.JID // the bound full JID; immutable
	bare  string  // the account, as a bare JID string; immutable
	local string  // its localpart; immutable

	// resumeMu serializes <resume/> requests for this session.
	resumeMu sync.Mutex

	// inMu is held by the attached connection's reader while it handles one
	// inbound stanza and counts it, and by a resumption while it reads inH,
	// so <resumed h='…'/> counts every stanza the old connection handed on
	// and none that it will not.
	inMu     sync.Mutex
	counting bool   // XEP-0198 enabled: inbound stanzas are counted; guarded by inMu
	inH      uint32 // stanzas handled from the client, modulo 2^32; guarded by inMu

	mu       sync.Mutex // guards the fields below
	state    sessState
	conn     *Conn         // the attached connection (stateLive only)
	sm       bool          // XEP-0198 enabled
	id       string        // SM-ID if resumption is enabled, else ""
	timeout  time.Duration // resumption time granted in <enabled max='…'/>
	out      outQueue      // stanzas sent or to send, not acknowledged (sm only)
	acked    uint32        // the client's last h
	rOut     bool          // an <r/> is outstanding
	sinceR   int           // stanzas sent since the last <r/>
	ackGen   uint64        // invalidates stale ack-request timer calls
	ackStop  func() bool   // the pending ack-request timer
	hibGen   uint64        // invalidates stale hibernation timer calls
	hib      *hibEntry     // the pending resumption timeout (hibtimer.go)
	closing  bool          // the server is closing the stream: do not hibernate
	inactive bool          // XEP-0352 client state
	held     *holdQueue    // CSI hold queue; nil while empty
}

func newSession(srv *Server, c *Conn, full jid.JID) *Session {
	s := &Session{
		srv:  srv,
		jid:  full,
		bare: full.Bare().String(),
		conn: c,
	}
	// The localpart shares the bare JID's bytes.
	if l, ok := strings.CutSuffix(s.bare, "@"+full.Domainpart()); ok {
		s.local = l
	} else {
		s.local = full.Localpart()
	}
	return s
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
	case stateLive:
		if s.inactive {
			ok := true
			if urgent(st, s.local, s.bare) {
				if s.held.len() > 0 {
					s.flushHeldLocked()
				}
				ok = s.sendLocked(queued{st: st}, true)
			} else {
				s.holdLocked(queued{st, s.now()})
			}
			s.mu.Unlock()
			if ok {
				srv.events.InactiveStanza(context.Background(), s.jid, st)
			}
			return ok
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
	if urgent(st, s.local, s.bare) {
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
	s.mu.Unlock()
	srv.events.StanzaQueued(context.Background(), s.jid, st)
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

// holdLocked puts a stanza in the CSI hold queue; a full hold queue is
// flushed.
func (s *Session) holdLocked(e queued) {
	st0 := &s.srv.stats
	if s.held == nil {
		s.held = &holdQueue{}
	}
	if s.held.add(e) {
		st0.csiSuperseded.Add(1)
	}
	st0.csiHeld.Add(1)
	if s.held.len() >= s.srv.Config.CSI.MaxHeld {
		s.flushHeldLocked()
	}
}

// flushHeldLocked sends the held stanzas in order.
func (s *Session) flushHeldLocked() {
	items := s.held.take()
	s.held = nil
	for _, e := range items {
		s.sendLocked(e, false)
	}
	if len(items) > 0 {
		s.srv.stats.csiFlushes.Add(1)
	}
}

// sendLocked appends a stanza to the XEP-0198 queue and, while a connection
// is attached, to its write queue. bounded applies the live queue limit.
func (s *Session) sendLocked(e queued, bounded bool) bool {
	st := e.st
	s.srv.stats.stanzasOut[st.Kind&3].Add(1)
	if !s.sm {
		if s.conn == nil {
			return false
		}
		return s.conn.enqueue(item{st: st, force: !bounded})
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
		s.conn.enqueue(item{st: st, force: true})
		s.sinceR++
		s.maybeRequestAckLocked()
	}
	return true
}

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
	s.conn.enqueue(item{raw: []byte(smRequest)})
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
		srv.events.TimedOut(ctx, s.jid, rescued)
	}
}

// rescue hands the messages worth keeping to the Rescuer, stamped with the
// time the session got them (XEP-0203, unless the server stamped them
// already), and bounces IQ requests; it drops the rest (presence, chat
// states, errors, results).
func (s *Session) rescue(ctx context.Context, q []queued) int {
	srv := s.srv
	if len(q) == 0 {
		return 0
	}
	srv.beginRescue(s.bare)
	defer srv.endRescue(s.bare)
	n := 0
	for _, e := range q {
		st := e.st
		switch {
		case st.Kind == stanza.KindIQ && (st.Type == stanza.TypeGet || st.Type == stanza.TypeSet):
			// RFC 6121 §8.5.3.1: the resource is gone.
			srv.Router.Route(ctx, st.ErrorReply(stanza.NewError(stanza.ServiceUnavailable, "")))
		case Rescuable(st):
			if srv.Rescuer == nil {
				s.log().Error("message lost", "stanza", st.Describe(), "err", ErrNoRescuer)
				srv.stats.rescueErrors.Add(1)
				continue
			}
			if err := srv.Rescuer.Rescue(ctx, stamped(st, s.jid.Domainpart(), e.at)); err != nil {
				s.log().Error("rescuing a message failed", "stanza", st.Describe(), "err", err)
				srv.stats.rescueErrors.Add(1)
				continue
			}
			n++
		}
	}
	srv.stats.rescued.Add(uint64(n))
	return n
}

// connEnded is called by an attached connection that ended. A lost
// connection (no </stream:stream>, no stream error) of a resumable session
// hibernates it; otherwise the session ends.
func (s *Session) connEnded(c *Conn, lost bool) {
	srv := s.srv
	s.mu.Lock()
	if s.conn != c || s.state != stateLive {
		s.mu.Unlock() // superseded by a resumption
		return
	}
	if lost && s.id != "" && !s.closing && !srv.closing.Load() {
		s.hibernateLocked()
		queued := s.out.len() + s.held.len()
		if queued > srv.Config.SM.MaxQueue {
			q := s.markEndedLocked()
			s.mu.Unlock()
			s.finishEnd(q, endOverflow)
			return
		}
		timeout := s.timeout
		s.mu.Unlock()
		srv.stats.hibernations.Add(1)
		s.log().Info("session hibernated", "queued", queued, "timeout", timeout)
		srv.events.Hibernated(context.Background(), s.jid, queued)
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

// setInactive applies a XEP-0352 <inactive/> or <active/>.
func (s *Session) setInactive(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateLive {
		return
	}
	s.inactive = v
	if !v && s.held.len() > 0 {
		s.flushHeldLocked()
	}
}

// enable turns on XEP-0198 for the session (the connection answers
// <enable/>): with resume, it registers an SM-ID. The <enabled/> answer is
// queued under the same lock as the first counted stanza, so the count
// starts exactly after it.
func (s *Session) enable(resume bool, max time.Duration) {
	srv := s.srv
	s.inMu.Lock()
	s.counting = true
	s.inH = 0
	s.inMu.Unlock()
	var id string
	var timeout time.Duration
	if resume {
		id = newSMID()
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
	s.conn.enqueue(item{raw: appendEnabled(nil, id, timeout)})
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

// resume attaches the new connection c to the session after the client's
// <resume h='h'/>: the old connection, if still open, is closed with a
// conflict stream error; <resumed/> is queued with the server's h, then
// every stanza the client's h does not acknowledge, in order, then what CSI
// held (XEP-0352: the resumed stream starts active).
func (s *Session) resume(c *Conn, h uint32) error {
	srv := s.srv
	s.resumeMu.Lock()
	defer s.resumeMu.Unlock()

	s.mu.Lock()
	if s.state == stateEnded {
		s.mu.Unlock()
		return errSessionGone
	}
	old := s.conn
	s.conn = nil
	prev := s.state
	s.setStateLocked(stateResuming)
	s.stopHibLocked()
	s.stopAckLocked()
	if old != nil {
		old.superseded.Store(true)
	}
	s.mu.Unlock()
	if old != nil {
		old.log().Info("session resumed on another connection")
		old.CloseWithError(&stream.Error{Condition: stream.Conflict, Text: "the session was resumed on another connection"})
		old.interruptRead()
	}

	// Wait for the old reader to finish the stanza it is handling.
	s.inMu.Lock()
	inH := s.inH
	s.inMu.Unlock()

	s.mu.Lock()
	if s.state == stateEnded {
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
	s.inactive = false
	s.rOut = false
	c.enqueue(item{raw: appendResumed(nil, s.id, inH)})
	for _, e := range s.out.items() {
		c.enqueue(item{st: e.st, force: true})
	}
	replayed := s.out.len()
	if s.held.len() > 0 {
		s.flushHeldLocked()
	}
	if s.out.len() > 0 && !s.rOut {
		s.requestAckLocked()
	}
	s.mu.Unlock()
	srv.stats.resumptions.Add(1)
	c.log().Info("session resumed", "h", h, "replayed", replayed)
	srv.events.Resumed(context.Background(), s.jid)
	return nil
}

// stamped returns st with a XEP-0203 <delay/> from the server at the time
// at (Unix milliseconds), unless the server already stamped it. st is
// shared, so a copy is changed.
func stamped(st *stanza.Stanza, domain string, at int64) *stanza.Stanza {
	for _, d := range st.El.ChildrenNamed(stanza.NSDelay, "delay") {
		if f := d.AttrValue("from"); f == "" || f == domain {
			return st
		}
	}
	st = st.Copy()
	st.El.AddChild(stanza.Delay(domain, time.UnixMilli(at).UTC().Format("2006-01-02T15:04:05.000Z")))
	return st
}
