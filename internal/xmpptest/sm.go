package xmpptest

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"dormouse.im/dormouse/xml"
)

// NSSM is the XEP-0198 namespace.
const NSSM = "urn:xmpp:sm:3"

// SMState is the client side of one XEP-0198 session, shared by the
// connections that resume it: the count of stanzas received from the
// server (the client's h) and the stanzas sent with SendStanza that the
// server has not acknowledged. Its methods are safe for concurrent use.
type SMState struct {
	ID  string // the SM-ID from <enabled/>
	Max int    // the server's max from <enabled/>

	mu       sync.Mutex
	in       uint32   // stanzas received (h)
	outAcked uint32   // the server's last h
	out      []string // sent, not acknowledged, oldest first
}

func (s *SMState) received() {
	s.mu.Lock()
	s.in++
	s.mu.Unlock()
}

// Received returns the client's h: stanzas received since <enabled/>.
func (s *SMState) Received() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.in
}

// Unacked returns the sent stanzas the server has not acknowledged.
func (s *SMState) Unacked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.out...)
}

// ServerH returns the server's last h.
func (s *SMState) ServerH() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outAcked
}

// acked drops what the server's h acknowledges (modulo 2^32).
func (s *SMState) acked(h uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := h - s.outAcked
	if uint64(n) > uint64(len(s.out)) {
		return fmt.Errorf("xmpptest: the server acknowledged %d stanzas, %d were sent", n, len(s.out))
	}
	s.out = s.out[n:]
	s.outAcked = h
	return nil
}

func (s *SMState) sent(st string) {
	s.mu.Lock()
	s.out = append(s.out, st)
	s.mu.Unlock()
}

// EnableSM sends <enable/> and waits for <enabled/>; stanzas that arrive
// before it are kept for Next (they are not counted, as XEP-0198 says).
func (c *Client) EnableSM(resume bool, max int) error {
	e := "<enable xmlns='" + NSSM + "'"
	if resume {
		e += " resume='true'"
	}
	if max > 0 {
		e += " max='" + strconv.Itoa(max) + "'"
	}
	if err := c.SendRaw(e + "/>"); err != nil {
		return err
	}
	for {
		c.deadline()
		el, err := c.Dec.Next()
		if err != nil {
			return err
		}
		if el.Name.Space == NSSM && el.Name.Local == "enabled" {
			st := &SMState{ID: el.AttrValue("id")}
			st.Max, _ = strconv.Atoi(el.AttrValue("max"))
			c.SM = st
			return nil
		}
		if el.Name.Space == NSSM && el.Name.Local == "failed" {
			return fmt.Errorf("xmpptest: enable failed: %s", el)
		}
		c.pending = append(c.pending, el)
	}
}

// SendStanza sends a stanza and, with XEP-0198 enabled, keeps it until the
// server acknowledges it (to resend it after a resumption).
func (c *Client) SendStanza(st string) error {
	if c.SM != nil {
		c.SM.sent(st)
	}
	return c.SendRaw(st)
}

// RequestAck sends <r/>.
func (c *Client) RequestAck() error { return c.SendRaw("<r xmlns='" + NSSM + "'/>") }

// Ack acknowledges every stanza received so far (<a h='…'/>), as a client
// does unasked.
func (c *Client) Ack() error {
	return c.SendRaw(fmt.Sprintf("<a xmlns='%s' h='%d'/>", NSSM, c.SM.Received()))
}

// ResumeFailed is the server's <failed/> answer to <resume/>.
type ResumeFailed struct {
	Condition string
	H         uint32 // the server's h for the old session, if HasH
	HasH      bool
	El        *xml.Element
}

func (e *ResumeFailed) Error() string {
	if e.HasH {
		return fmt.Sprintf("xmpptest: resumption failed: %s (h=%d)", e.Condition, e.H)
	}
	return "xmpptest: resumption failed: " + e.Condition
}

// ErrStreamError is returned (wrapped) when the server answers with a
// stream error.
var ErrStreamError = errors.New("xmpptest: stream error")

// resume sends <resume/> with st's h and, on <resumed/>, drops what the
// server acknowledges and sends the rest of st's unacknowledged stanzas
// again, in order.
func (c *Client) resume(st *SMState) error {
	if err := c.SendRaw(fmt.Sprintf("<resume xmlns='%s' previd='%s' h='%d'/>", NSSM, st.ID, st.Received())); err != nil {
		return err
	}
	c.deadline()
	el, err := c.Dec.Next()
	if err != nil {
		return err
	}
	switch {
	case el.Name.Space == NSSM && el.Name.Local == "resumed":
		h, err := strconv.ParseUint(el.AttrValue("h"), 10, 32)
		if err != nil {
			return fmt.Errorf("xmpptest: bad <resumed/>: %s", el)
		}
		if err := st.acked(uint32(h)); err != nil {
			return err
		}
		c.SM = st
		for _, s := range st.Unacked() {
			if err := c.SendRaw(s); err != nil {
				return err
			}
		}
		return nil
	case el.Name.Space == NSSM && el.Name.Local == "failed":
		f := &ResumeFailed{El: el}
		if v := el.AttrValue("h"); v != "" {
			h, err := strconv.ParseUint(v, 10, 32)
			if err == nil {
				f.H, f.HasH = uint32(h), true
			}
		}
		if x := el.FirstChild(); x != nil {
			f.Condition = x.Name.Local
		}
		return f
	case StreamErrorCondition(el) != "":
		return fmt.Errorf("%w: %s", ErrStreamError, el)
	}
	return fmt.Errorf("xmpptest: unexpected answer to <resume/>: %s", el)
}

// Cut drops the connection abruptly, as a phone losing its network would:
// a TCP reset (SO_LINGER 0), no </stream:stream>.
func (c *Client) Cut() error {
	if tc, ok := c.Raw.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	return c.Raw.Close()
}

// SendStanzaPartial records a stanza as sent (like SendStanza) but writes
// only its first n bytes: the connection is about to be cut in the middle
// of it.
// Nothing is written on the connection after it (a client that lost its
// network in the middle of a stanza sends nothing more on that stream).
func (c *Client) SendStanzaPartial(st string, n int) error {
	if c.SM != nil {
		c.SM.sent(st)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.frozen {
		return errFrozen
	}
	c.frozen = true
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	_, err := c.Conn.Write([]byte(st[:n]))
	return err
}

// Drop closes the connection without </stream:stream> and without a reset
// (a FIN): the server sees the stream end without being closed.
func (c *Client) Drop() error { return c.Raw.Close() }
