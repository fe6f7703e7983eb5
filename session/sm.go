package session

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"time"

	"dormouse.im/dormouse/internal/wire"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/stream"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// NSSM is the XEP-0198 Stream Management namespace (version 1.6 semantics).
const NSSM = "urn:xmpp:sm:3"

// Nonzas written as they are.
const (
	smRequest = "<r xmlns='" + NSSM + "'/>"
)

var errSessionGone = errors.New("session: the session to resume has ended")

// errSuperseded ends the reader of a connection whose session was resumed
// on another connection.
var errSuperseded = errors.New("session: resumed on another connection")

// handledTooHigh is the XEP-0198 §4 error for an <a/> or <resume/> whose
// h acknowledges more stanzas than the server sent: a stream error
// <undefined-condition/> with <handled-count-too-high h='…' send-count='…'/>.
type handledTooHigh struct{ h, sent uint32 }

func (e *handledTooHigh) Error() string {
	return fmt.Sprintf("session: the client acknowledged %d stanzas but the server sent %d", e.h, e.sent)
}

func (e *handledTooHigh) appendXML(b []byte) []byte {
	b = append(b, "<stream:error><undefined-condition xmlns='"+stream.NSErrors+"'/><handled-count-too-high xmlns='"+NSSM+"' h='"...)
	b = strconv.AppendUint(b, uint64(e.h), 10)
	b = append(b, "' send-count='"...)
	b = strconv.AppendUint(b, uint64(e.sent), 10)
	b = append(b, "'/><text xmlns='"+stream.NSErrors+"' xml:lang='en'>"...)
	b = xml.AppendEscapedText(b, "h acknowledges more stanzas than were sent")
	return append(b, "</text></stream:error>"...)
}

// ackCount returns how many queued stanzas an h from the client
// acknowledges, given the previous h (acked) and the number of stanzas
// sent since then (unacked). h counts modulo 2^32 (XEP-0198 §4), so the
// difference is taken in uint32 arithmetic and wraps correctly. ok is false
// if h acknowledges more than was sent.
func ackCount(h, acked uint32, unacked int) (n uint32, ok bool) {
	n = h - acked
	return n, uint64(n) <= uint64(unacked)
}

// parseH parses an 'h' attribute: an xs:unsignedInt.
func parseH(v string) (uint32, error) {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("session: invalid h %q: %w", v, err)
	}
	return uint32(n), nil
}

// newSMID returns a new SM-ID: 130 random bits (crypto/rand), base32,
// then the suffix (in a cluster, the node that holds the session).
func newSMID(suffix string) string { return rand.Text() + suffix }

// queued is a stanza in a session queue with the time the session got it
// (Unix milliseconds on the session clock): the XEP-0203 stamp it gets if
// it is rescued.
type queued struct {
	st *stanza.Stanza
	at int64
}

// outQueue is the XEP-0198 queue: stanzas sent (or to be sent) and not yet
// acknowledged, oldest first.
type outQueue struct {
	buf  []queued
	head int
}

func (q *outQueue) len() int        { return len(q.buf) - q.head }
func (q *outQueue) push(e queued)   { q.buf = append(q.buf, e) }
func (q *outQueue) items() []queued { return q.buf[q.head:] }

// drop removes the n oldest stanzas (n <= len).
func (q *outQueue) drop(n int) {
	clear(q.buf[q.head : q.head+n])
	q.head += n
	if q.head == len(q.buf) {
		q.buf, q.head = q.buf[:0], 0
		if cap(q.buf) > 256 {
			q.buf = nil
		}
		return
	}
	if q.head >= 64 && 2*q.head >= len(q.buf) {
		m := copy(q.buf, q.buf[q.head:])
		clear(q.buf[m:])
		q.buf, q.head = q.buf[:m], 0
	}
}

// take returns the queued stanzas and empties the queue.
func (q *outQueue) take() []queued {
	out := q.buf[q.head:]
	*q = outQueue{}
	if len(out) == 0 {
		return nil
	}
	return out
}

// compact shrinks the buffer to its contents (a hibernated session keeps
// no spare capacity).
func (q *outQueue) compact() {
	n := q.len()
	if n == 0 {
		*q = outQueue{}
		return
	}
	if cap(q.buf) > 2*n {
		b := make([]queued, n)
		copy(b, q.buf[q.head:])
		q.buf, q.head = b, 0
	}
}

func appendEnabled(b []byte, id string, max time.Duration) []byte {
	b = append(b, "<enabled xmlns='"+NSSM+"'"...)
	if id != "" {
		b = append(b, " id='"...)
		b = xml.AppendEscapedAttr(b, id)
		b = append(b, "' resume='true' max='"...)
		b = strconv.AppendInt(b, int64(max/time.Second), 10)
		b = append(b, '\'')
	}
	return append(b, "/>"...)
}

func appendResumed(b []byte, id string, h uint32) []byte {
	b = append(b, "<resumed xmlns='"+NSSM+"' previd='"...)
	b = xml.AppendEscapedAttr(b, id)
	b = append(b, "' h='"...)
	b = strconv.AppendUint(b, uint64(h), 10)
	return append(b, "'/>"...)
}

func appendAck(b []byte, h uint32) []byte {
	b = append(b, "<a xmlns='"+NSSM+"' h='"...)
	b = strconv.AppendUint(b, uint64(h), 10)
	return append(b, "'/>"...)
}

// appendFailed appends <failed/> with a stanza error condition and, if
// withH, the h of the session the client tried to resume.
func appendFailed(b []byte, cond string, h uint32, withH bool) []byte {
	b = append(b, "<failed xmlns='"+NSSM+"'"...)
	if withH {
		b = append(b, " h='"...)
		b = strconv.AppendUint(b, uint64(h), 10)
		b = append(b, '\'')
	}
	b = append(b, "><"...)
	b = append(b, cond...)
	return append(b, " xmlns='"+stanza.NSStanzas+"'/></failed>"...)
}

// smElement handles a top-level element in the XEP-0198 namespace.
func (c *Conn) smElement(el *xml.Element) error {
	if c.superseded.Load() {
		return errSuperseded
	}
	switch el.Name.Local {
	case "enable":
		return c.smEnable(el)
	case "resume":
		return c.smResume(el)
	case "r":
		s := c.sess.Load()
		if s == nil {
			return nil // XEP-0198 not enabled: nothing to acknowledge
		}
		s.inMu.Lock()
		h, on := s.inH, s.counting
		s.inMu.Unlock()
		if on {
			c.enqueue(wire.Item{Raw: appendAck(nil, h)})
		}
		return nil
	case "a":
		s := c.sess.Load()
		if s == nil || !s.smEnabled() {
			return nil
		}
		h, err := parseH(el.AttrValue("h"))
		if err != nil {
			return &stream.Error{Condition: stream.InvalidXML, Text: "the 'h' attribute must be an unsigned 32-bit integer"}
		}
		return s.ack(h)
	}
	return &stream.Error{Condition: stream.UnsupportedStanzaType, Text: "unsupported element {" + NSSM + "}" + el.Name.Local}
}

// smFailed queues <failed/>; the stream goes on.
func (c *Conn) smFailed(cond string, h uint32, withH bool) error {
	c.enqueue(wire.Item{Raw: appendFailed(nil, cond, h, withH)})
	return nil
}

// smEnable answers <enable/> (XEP-0198 §3).
func (c *Conn) smEnable(el *xml.Element) error {
	if !c.authed {
		return c.smFailed("not-authorized", 0, false)
	}
	s := c.sess.Load()
	if s == nil {
		// §3: the client must bind (or resume) first.
		return c.smFailed("unexpected-request", 0, false)
	}
	if s.smEnabled() {
		// §3: a client makes at most one attempt; a second <enable/>
		// gets a stream error.
		return &stream.Error{Condition: stream.PolicyViolation, Text: "stream management is already enabled"}
	}
	resume := false
	switch el.AttrValue("resume") {
	case "true", "1":
		resume = true
	}
	var max time.Duration
	if v := el.AttrValue("max"); v != "" {
		if n, err := strconv.ParseUint(v, 10, 32); err == nil {
			max = time.Duration(n) * time.Second
		}
	}
	s.enable(resume, max, true)
	c.log().Debug("stream management enabled", "resume", resume)
	return nil
}

// smResume answers <resume previd='…' h='…'/> (XEP-0198 §5).
func (c *Conn) smResume(el *xml.Element) error {
	if !c.authed {
		return c.smFailed("not-authorized", 0, false)
	}
	if c.bound {
		return c.smFailed("unexpected-request", 0, false)
	}
	h, err := parseH(el.AttrValue("h"))
	if err != nil {
		return c.smFailed("bad-request", 0, false)
	}
	ok, failed, err := c.resumeSession(el.AttrValue("previd"), h, nil)
	if ok || err != nil {
		return err
	}
	c.enqueue(wire.Item{Raw: failed})
	return nil
}

// resumeSession resumes the session previd of the authenticated account
// on this connection (XEP-0198 §5). frame, if not nil, gives what goes
// before and after <resumed/> for the session's full JID (SASL2 puts it in
// <success/>). When it cannot (ok false, err nil), failed is the <failed/>
// element to send, with the old h when the session ended recently. A
// non-nil err ends the stream (an h acknowledging more than was sent).
func (c *Conn) resumeSession(previd string, h uint32, frame func(full jid.JID) (before, after []byte)) (ok bool, failed []byte, err error) {
	bare, err := jid.New(c.user, c.host, "")
	if err != nil {
		return false, appendFailed(nil, "item-not-found", 0, false), nil
	}
	account := bare.String() // as bind would make it
	srv := c.srv
	s := srv.reg.lookup(previd, account)
	if s != nil {
		var before, after []byte
		if frame != nil {
			before, after = frame(s.jid)
		}
		err = s.resume(c, h, before, after)
		var tooHigh *handledTooHigh
		switch {
		case err == nil:
			c.sess.Store(s)
			c.jid, c.bound = s.jid, true
			c.who.Store(nil) // the session names it now (log.go)
			if c.csiInactive {
				s.setInactive(true) // sent between SASL and <resume/>
			}
			return true, nil, nil
		case errors.As(err, &tooHigh):
			srv.stats.resumeFailures.Add(1)
			return false, nil, err
		}
	}
	if s == nil && srv.Remote != nil {
		if ok, failed, err := c.resumeRemote(previd, account, h, frame); ok || failed != nil || err != nil {
			return ok, failed, err
		}
	}
	srv.stats.resumeFailures.Add(1)
	oldH, known := srv.reg.staleH(previd, account, srv.clock.Now())
	c.log().Info("resumption failed: unknown or expired session", "known_h", known)
	return false, appendFailed(nil, "item-not-found", oldH, known), nil
}
