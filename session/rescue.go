package session

import (
	"context"
	"errors"
	"time"

	"dormouse.im/dormouse/stanza"
)

// Rescuable reports whether a stanza left unacknowledged in a session that
// ends without resumption is worth handing to the Rescuer: a message its
// recipient would want to see later: the rule of offline storage, through
// the same stanza.WorthKeeping:
//
//   - only messages: presence, IQs and chat-state-only messages are dropped;
//   - never groupchat, headline or error messages (RFC 6121 §8.5.2; a room
//     keeps its own history), nor a message with a XEP-0334 <no-store/>;
//   - a body, an encrypted payload (OMEMO, OpenPGP, OX), a <store/> hint, a
//     delivery receipt or chat marker, a Jingle message (call) or a room
//     invitation makes it worth keeping.
//
// A XEP-0359 stanza-id (the message is archived) does not exempt a message:
// clients that do not sync from the archive rely on offline delivery.
func Rescuable(st *stanza.Stanza) bool {
	if st.Kind != stanza.KindMessage {
		return false
	}
	switch st.Type {
	case stanza.TypeGroupchat, stanza.TypeHeadline, stanza.TypeError:
		return false
	}
	el := st.El
	if el.Child(stanza.NSHints, "no-store") != nil || el.Child(stanza.NSHints, "no-storage") != nil {
		return false
	}
	return stanza.WorthKeeping(st)
}

// encrypted reports whether a message carries an end-to-end encrypted
// payload.
func encrypted(st *stanza.Stanza) bool { return stanza.Encrypted(st.El) }

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

// beginRescue and endRescue bracket handing an account's messages to the
// Rescuer.
func (s *Server) beginRescue(bare string) {
	s.mu.Lock()
	if s.rescues == nil {
		s.rescues = map[string]int{}
	}
	s.rescues[bare]++
	s.mu.Unlock()
}

func (s *Server) endRescue(bare string) {
	s.mu.Lock()
	if s.rescues[bare]--; s.rescues[bare] <= 0 {
		delete(s.rescues, bare)
	}
	s.mu.Unlock()
}

// rescuing reports whether a rescue of the account's messages is running.
func (s *Server) rescuing(bare string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rescues[bare] > 0
}

// Rescuer takes over the messages of a session that ended with stanzas the
// client never acknowledged (XEP-0198 §4: the server treats them as if sent
// to an unavailable resource): a resume timeout, a queue overflow, a clean
// close with unacknowledged stanzas, a replaced resource, or the server
// shutting down. The session calls it only for messages Rescuable reports
// worth keeping, in queue order, after the session is unbound from the
// router. Package server connects offline storage (offline.Service.Rescue):
// delivery to another available resource of the account, else storage. It
// must not bounce the message to its sender.
type Rescuer interface {
	Rescue(ctx context.Context, st *stanza.Stanza) error
}

// RescueFunc adapts a function to the Rescuer interface.
type RescueFunc func(ctx context.Context, st *stanza.Stanza) error

// Rescue calls f(ctx, st).
func (f RescueFunc) Rescue(ctx context.Context, st *stanza.Stanza) error { return f(ctx, st) }

// ErrNoRescuer is logged for each message lost because Server.Rescuer is
// not set.
var ErrNoRescuer = errors.New("session: no rescuer configured; message dropped")
