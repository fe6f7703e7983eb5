package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/stream"
	"mellium.im/xmpp/jid"
)

// Handover is the XEP-0198 state of a resumable session moving from one
// server (a node of a cluster) to another: the node holding the session
// gives it up with Server.HandOver, the node where the client sent
// <resume/> adopts it (Server.Remote). Package session knows nothing of the
// transport: package cluster carries it, package server connects both.
type Handover struct {
	ID      string        // the SM-ID, kept on <resumed/> (XEP-0198 §5)
	JID     jid.JID       // the bound full JID
	InH     uint32        // the server's count of the client's stanzas
	Acked   uint32        // the client's h, already applied to Queue
	Timeout time.Duration // the resumption time granted in <enabled/>
	Version uint64        // of the session's last SMRecord
	// Left is the resumption time a hibernated session had left when it
	// was given up (a draining node hands it to a peer: AdoptHibernated);
	// 0 for a session that was live.
	Left time.Duration
	// Queue is every stanza the client has not acknowledged, then those
	// queued while it was away (CSI-held ones included), in order.
	Queue []HandoverStanza
	// Extra is the state of other features (presence, carbons, the
	// router's record), owned by the Remote that fetched the handover.
	Extra any

	s *Session // the moved session (HandOver), for EndHandover
}

// HandoverStanza is one queued stanza of a Handover with the time the
// session got it (Unix milliseconds): the XEP-0203 stamp if it is rescued.
type HandoverStanza struct {
	St *stanza.Stanza
	At int64
}

// ResumeRefused is the error of a resumption that the holder of a session
// refused: the session is unknown or ended (then H is its h if Known), or
// the client's h acknowledges more stanzas than were sent (TooHigh; the
// session stays with its holder, resumable).
type ResumeRefused struct {
	H       uint32
	Known   bool
	TooHigh bool
	Sent    uint32 // with TooHigh: the stanzas the server sent
}

func (e *ResumeRefused) Error() string {
	if e.TooHigh {
		return fmt.Sprintf("session: the client acknowledged %d stanzas but the server sent %d", e.H, e.Sent)
	}
	return "session: no such resumable session"
}

// Remote resumes sessions held by other servers (the nodes of a cluster):
// a <resume/> whose SM-ID is not known here asks it.
type Remote interface {
	// Resume fetches the resumable session previd of the account from the
	// node holding it, which gives it up; the client's h has been applied.
	// It returns a *ResumeRefused when the holder refused, and another
	// error when the SM-ID is not another node's or the holder cannot be
	// reached (the resumption then fails with item-not-found and the h
	// from LostH).
	Resume(ctx context.Context, previd, account string, h uint32) (*Handover, error)
	// LostH returns the h a node that cannot be reached recorded for the
	// session previd of the account when it hibernated.
	LostH(ctx context.Context, previd, account string) (h uint32, known bool)
	// Adopt binds the adopted session t with the state of ho (presence,
	// priority, feature state) and returns the target it replaced, if the
	// full JID was bound here.
	Adopt(ctx context.Context, ho *Handover, t stanza.Target) (replaced stanza.Target)
}

// ErrNotHere reports that the SM-ID is not held by this server.
var ErrNotHere = errors.New("session: the session is not held here")

// HandOver gives up the resumable session previd of the account to
// another node where the client sent <resume h='h'/>: like a resumption, it
// detaches the session from its connection (closed with a conflict stream
// error if still open), applies h, and returns the session's state. From
// then on the session is moved: it stays bound here and every stanza
// delivered to it goes to fwd (which hands it to the new node), until the
// caller unbinds it (Router.Unbind is not called: the session lives on
// elsewhere, so no end-of-session hooks run). It fails with
// *ResumeRefused.
func (srv *Server) HandOver(_ context.Context, previd, account string, h uint32, fwd func(full jid.JID, st *stanza.Stanza) bool) (*Handover, error) {
	srv.init()
	s := srv.reg.lookup(previd, account)
	if s == nil {
		oldH, known := srv.reg.staleH(previd, account, srv.clock.Now())
		return nil, &ResumeRefused{H: oldH, Known: known}
	}
	s.resumeMu.Lock()
	defer s.resumeMu.Unlock()

	left := s.timeLeft()
	prev, inH, ok := s.detach("session resumed on another node")
	if !ok {
		return nil, &ResumeRefused{}
	}

	s.mu.Lock()
	if s.state == stateEnded || s.state == stateMoved {
		s.mu.Unlock()
		return nil, &ResumeRefused{}
	}
	n, ok := ackCount(h, s.acked, s.out.len())
	if !ok {
		err := &ResumeRefused{H: h, TooHigh: true, Sent: s.acked + uint32(s.out.len())}
		s.hibernateLocked()
		s.mu.Unlock()
		if prev == stateLive {
			srv.stats.hibernations.Add(1)
		}
		return nil, err
	}
	s.out.drop(int(n))
	s.acked = h
	if s.held.len() > 0 {
		s.flushHeldLocked()
	}
	q := s.out.take()
	ho := &Handover{ID: s.id, JID: s.jid, InH: inH, Acked: h, Timeout: s.timeout, Left: left, Queue: make([]HandoverStanza, len(q)), s: s}
	for i, e := range q {
		ho.Queue[i] = HandoverStanza{St: e.st, At: e.at}
	}
	ho.Version = s.smVer // the new node records the session live, after this
	s.fwd = fwd
	s.setStateLocked(stateMoved)
	s.evMu.Lock()
	s.mu.Unlock()
	srv.reg.remove(s.id, s)
	srv.stats.handedOver.Add(1)
	s.log().Info("session handed over to another node", "h", h, "queued", len(q))
	srv.events.Resumed(context.Background(), s.jid) // not hibernated here any more
	s.evMu.Unlock()
	return ho, nil
}

// EndHandover ends a session given up with HandOver that the new node did
// not take (its answer was lost, or came after it gave up): unbound here
// (its contacts get its unavailable presence if the caller restored its
// presence state first), its handed-over queue rescued, as for a session
// whose resumption time ran out. What was delivered to it since went to
// fwd, which refused it once the new node did not take it.
func (srv *Server) EndHandover(ho *Handover) {
	s := ho.s
	if s == nil {
		return
	}
	s.mu.Lock()
	if s.state != stateMoved {
		s.mu.Unlock()
		return
	}
	s.setStateLocked(stateEnded)
	s.fwd = nil
	s.mu.Unlock()
	q := make([]queued, len(ho.Queue))
	for i, e := range ho.Queue {
		q[i] = queued{st: e.St, at: e.At}
	}
	s.log().Warn("the node the session was handed to did not take it: ending it", "queued", len(q))
	s.finishEnd(q, endClosed)
}

// resumeRemote resumes on c a session that another node holds (see
// Remote); ok false with err nil: failed is the <failed/> to send.
func (c *Conn) resumeRemote(previd, account string, h uint32, frame func(full jid.JID) (before, after []byte)) (ok bool, failed []byte, err error) {
	srv := c.srv
	ctx := c.rctx
	ho, err := srv.Remote.Resume(ctx, previd, account, h)
	var refused *ResumeRefused
	switch {
	case errors.As(err, &refused) && refused.TooHigh:
		srv.stats.resumeFailures.Add(1)
		return false, nil, &handledTooHigh{h: refused.H, sent: refused.Sent}
	case errors.As(err, &refused):
		srv.stats.resumeFailures.Add(1)
		c.log().Info("resumption on another node failed: unknown or expired session", "known_h", refused.Known)
		return false, appendFailed(nil, "item-not-found", refused.H, refused.Known), nil
	case errors.Is(err, ErrNotHere):
		return false, nil, nil
	case err != nil:
		srv.stats.resumeFailures.Add(1)
		oldH, known := srv.Remote.LostH(ctx, previd, account)
		c.log().Info("resumption on another node failed", "err", err, "known_h", known)
		return false, appendFailed(nil, "item-not-found", oldH, known), nil
	}
	s := newSession(srv, nil, ho.JID)
	s.counting, s.inH = true, ho.InH
	// Versions: the old node ends the session with ho.Version+1 if it
	// thinks this node did not take it; this node's record must win.
	s.sm, s.id, s.timeout, s.acked, s.smVer = true, ho.ID, ho.Timeout, ho.Acked, ho.Version+1
	s.state = stateResuming
	for _, e := range ho.Queue {
		s.out.push(queued{st: e.St, at: e.At})
	}
	srv.reg.add(s.id, s)
	if old := srv.Remote.Adopt(ctx, ho, s); old != nil {
		if oc, ok := old.(interface{ CloseWithError(*stream.Error) }); ok {
			oc.CloseWithError(&stream.Error{Condition: stream.Conflict, Text: "replaced by a new session with the same resource"})
		}
	}
	var before, after []byte
	if frame != nil {
		before, after = frame(s.jid)
	}
	if err := s.resume(c, ho.Acked, before, after); err != nil {
		// Only an ended session fails here (ended by a conflict at once).
		srv.stats.resumeFailures.Add(1)
		return false, appendFailed(nil, "item-not-found", ho.InH, true), nil
	}
	c.sess.Store(s)
	c.jid, c.bound = s.jid, true
	c.who.Store(nil)
	if c.csiInactive {
		s.setInactive(true)
	}
	srv.stats.remoteResumptions.Add(1)
	return true, nil, nil
}
