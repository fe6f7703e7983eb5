package session

import (
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/stream"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// NSCSI is the XEP-0352 Client State Indication namespace (version 1.0.0).
const NSCSI = "urn:xmpp:csi:0"

// urgent reports whether a stanza goes to an inactive client (XEP-0352) at
// once rather than waiting in the hold queue:
//
//   - every IQ (someone waits for the answer; the server's own pings too);
//   - message errors (the user's own message failed);
//   - messages with a body or an end-to-end encrypted payload, except
//     groupchat messages, which are urgent only if they mention the user
//     (the account's localpart in the body, or a XEP-0372 mention of the
//     account) or are encrypted;
//   - Jingle Message Initiation (XEP-0353: a call rings now).
//
// Presence, chat states, receipts, chat markers, PEP and other headline
// notifications wait.
func urgent(st *stanza.Stanza, local, bare string) bool {
	switch st.Kind {
	case stanza.KindIQ:
		return true
	case stanza.KindPresence:
		return false
	}
	if st.Type == stanza.TypeError {
		return true
	}
	// A carbon (XEP-0280) is as urgent as the message it carries, except
	// that a copy of what the user sent from another device only matters
	// now if it is a call signal (answering elsewhere stops the ringing).
	if w := st.El.Child(stanza.NSCarbons, "received"); w != nil {
		if inner := forwardedMessage(w); inner != nil {
			return urgent(inner, local, bare)
		}
	}
	if w := st.El.Child(stanza.NSCarbons, "sent"); w != nil {
		if inner := forwardedMessage(w); inner != nil {
			return hasChildIn(inner.El, stanza.NSJingleMsg)
		}
	}
	for _, c := range st.El.Elements() {
		if c.Name.Space == stanza.NSJingleMsg {
			return true
		}
	}
	if encrypted(st) {
		return true
	}
	if !st.HasBody() {
		return false
	}
	if st.Type != stanza.TypeGroupchat {
		return true
	}
	return stanza.Mentions(st.El, st.Body(), bare, local)
}

// holdQueue is the CSI hold queue of an inactive (or hibernated) session:
// stanzas in arrival order, where a newer presence from the same full JID
// supersedes the held one (only the latest state of a contact matters).
// Superseded entries are nil until the queue is taken. Guarded by the
// session's mu.
type holdQueue struct {
	items []queued
	n     int            // entries with a stanza
	pres  map[string]int // 'from' of a held presence → its index in items
}

// add holds st and reports whether it superseded a held presence.
func (q *holdQueue) add(e queued) (superseded bool) {
	st := e.st
	if st.Kind == stanza.KindPresence && (st.Type == stanza.TypeAvailable || st.Type == stanza.TypeUnavailable) {
		from := st.El.AttrValue("from")
		if q.pres == nil {
			q.pres = map[string]int{}
		}
		if i, ok := q.pres[from]; ok {
			q.items[i] = queued{}
			q.n--
			superseded = true
		}
		q.pres[from] = len(q.items)
	}
	q.items = append(q.items, e)
	q.n++
	return superseded
}

// len returns the number of held stanzas.
func (q *holdQueue) len() int {
	if q == nil {
		return 0
	}
	return q.n
}

// take returns the held stanzas in order and empties the queue, releasing
// its memory.
func (q *holdQueue) take() []queued {
	if q == nil {
		return nil
	}
	if q.n == 0 {
		*q = holdQueue{}
		return nil
	}
	out := make([]queued, 0, q.n)
	for _, e := range q.items {
		if e.st != nil {
			out = append(out, e)
		}
	}
	*q = holdQueue{}
	return out
}

// forwardedMessage returns the message inside a carbons wrapper's
// <forwarded/>, or nil.
func forwardedMessage(wrapper *xml.Element) *stanza.Stanza {
	m := wrapper.Child(stanza.NSForward, "forwarded").Child(stanza.NSClient, "message")
	if m == nil {
		return nil
	}
	st, err := stanza.New(m)
	if err != nil {
		return nil
	}
	return st
}

func hasChildIn(el *xml.Element, space string) bool {
	for _, c := range el.Elements() {
		if c.Name.Space == space {
			return true
		}
	}
	return false
}

// setInactive applies a XEP-0352 <inactive/> or <active/>.
func (s *Session) setInactive(v bool) {
	s.mu.Lock()
	if s.state != stateLive {
		s.mu.Unlock()
		return
	}
	changed := s.inactive != v
	s.inactive = v
	if !v && s.held.len() > 0 {
		s.flushHeldLocked()
	}
	s.mu.Unlock()
	if c, ok := s.srv.Router.(stateChanger); ok && changed {
		c.Changed(s.jid) // a cluster's registry carries the state
	}
}

// stateChanger is implemented by router.Router: it tells a cluster that a
// session's state changed.
type stateChanger interface{ Changed(full jid.JID) }

// ClientState reports whether the client said it is inactive (XEP-0352)
// and whether the session is hibernated (XEP-0198): a cluster's registry
// carries both for the other nodes.
func (s *Session) ClientState() (inactive, hibernated bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inactive, s.state == stateHibernated
}

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

// csiElement handles XEP-0352 <active/> and <inactive/>; they get no
// reply.
func (c *Conn) csiElement(el *xml.Element) error {
	if c.superseded.Load() {
		return errSuperseded
	}
	var inactive bool
	switch el.Name.Local {
	case "active":
	case "inactive":
		inactive = true
	default:
		return &stream.Error{Condition: stream.UnsupportedStanzaType, Text: "unsupported element {" + NSCSI + "}" + el.Name.Local}
	}
	if s := c.sess.Load(); s != nil {
		s.setInactive(inactive)
	} else {
		c.csiInactive = inactive // applied at bind
	}
	return nil
}
