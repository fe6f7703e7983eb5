package session

import (
	"time"

	"dormouse.im/dormouse/internal/wire"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/stream"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// stanza handles a message, presence or iq from the client.
func (c *Conn) stanza(el *xml.Element) error {
	if !c.authed {
		if el.Name.Local == "iq" && c.srv.Config.PreAuth != nil && c.secure {
			return c.preAuthIQ(el)
		}
		return &stream.Error{Condition: stream.NotAuthorized, Text: "authenticate first"}
	}
	c.rateLimit()
	s := c.sess.Load()
	if s == nil {
		return c.handleStanza(el)
	}
	if pipelined(el) && (c.srv.Pipeline == nil || c.srv.Pipeline(el)) {
		return c.pipeline(s, el)
	}
	// XEP-0198: count the stanza once it is handled (routed: archived,
	// stored or queued), under inMu so a resumption sees the count. Chat
	// and normal messages the archive may keep are pipelined
	// (pipeline.go); inMu waits for those in flight.
	s.inMu.Lock()
	defer s.inMu.Unlock()
	if c.superseded.Load() {
		return errSuperseded
	}
	err := c.handleStanza(el)
	if err == nil && s.counting {
		s.inH++
	}
	return err
}

// handleStanza handles one stanza from an authenticated client.
func (c *Conn) handleStanza(el *xml.Element) error {
	st, err := c.handleMessage(el)
	if err != nil || st == nil {
		return err
	}
	c.srv.Router.Route(c.rctx, st)
	return nil
}

// handleMessage handles one stanza from an authenticated client up to its
// routing: it returns the stanza to route, 'from' stamped, or nil if it was
// answered (bind, errors).
func (c *Conn) handleMessage(el *xml.Element) (*stanza.Stanza, error) {
	st, err := stanza.New(el)
	if err != nil {
		if se, ok := err.(*stanza.Error); ok && st != nil {
			// A malformed 'to' is the sender's problem: answer the stanza
			// (RFC 6120 §8.3.3.8). A malformed 'from' is a stream error.
			if el.AttrValue("from") != "" && st.From.Domainpart() == "" {
				return nil, &stream.Error{Condition: stream.InvalidFrom, Text: "malformed 'from' address"}
			}
			c.replyError(st, se)
			return nil, nil
		}
		return nil, &stream.Error{Condition: stream.UnsupportedStanzaType}
	}
	if !c.bound {
		if st.Kind == stanza.KindIQ && st.Type == stanza.TypeSet {
			if p := st.Payload(); p != nil && p.Name.Space == stream.NSBind && p.Name.Local == "bind" {
				return nil, c.bind(st, p)
			}
		}
		return nil, &stream.Error{Condition: stream.NotAuthorized, Text: "bind a resource first"}
	}
	// RFC 6120 §8.1.2.1: the server adds or overrides 'from' with the
	// bound full JID. A 'from' naming the client's own account (another
	// resource: Converse.js after resuming a session on a page reload
	// stamps the resource it would have bound) is overridden; one naming
	// anyone else is an invalid-from stream error.
	if st.From.Domainpart() != "" && !st.From.Bare().Equal(c.jid.Bare()) {
		return nil, &stream.Error{Condition: stream.InvalidFrom, Text: "'from' does not match the bound address"}
	}
	st.SetFrom(c.jid)
	if st.Kind == stanza.KindIQ && st.Type == stanza.TypeSet {
		if p := st.Payload(); p != nil && p.Name.Space == stream.NSSession && p.Name.Local == "session" {
			// RFC 3921 session establishment: a no-op kept for old clients.
			c.Deliver(st.Result(nil))
			return nil, nil
		}
		if p := st.Payload(); p != nil && p.Name.Space == stream.NSBind {
			c.replyError(st, stanza.NewError(stanza.NotAllowed, "a resource is already bound"))
			return nil, nil
		}
	}
	return st, nil
}

// replyError answers st with a stanza error from the server.
func (c *Conn) replyError(st *stanza.Stanza, e *stanza.Error) {
	if st.IsError() || (st.Kind == stanza.KindIQ && st.Type == stanza.TypeResult) {
		return
	}
	r := st.ErrorReply(e)
	if c.bound {
		r.SetTo(c.jid)
		c.Deliver(r)
		return
	}
	r.SetTo(jid.JID{})
	_ = c.writeNow(r.AppendXML(nil, stanza.NSClient))
}

// bind implements RFC 6120 §7.
func (c *Conn) bind(iq *stanza.Stanza, p *xml.Element) error {
	res := p.ChildText(stream.NSBind, "resource")
	if res == "" {
		res = stream.NewID()
	}
	full, err := jid.New(c.user, c.host, res)
	if err != nil {
		c.replyError(iq, stanza.NewError(stanza.BadRequest, "invalid resource"))
		return nil
	}
	// Queue the result before the resource becomes routable, so nothing
	// routed to it can overtake the bind result.
	r := stanza.Build(stanza.KindIQ, stanza.TypeResult, iq.ID, jid.JID{}, full)
	b := xml.NewElement(stream.NSBind, "bind")
	b.AddChild(xml.NewElement(stream.NSBind, "jid").AddText(full.String()))
	r.El.AddChild(b)
	c.enqueue(wire.Item{St: r})
	c.jid, c.bound = full, true
	s := newSession(c.srv, c, full)
	s.inactive = c.csiInactive
	c.sess.Store(s)
	c.who.Store(nil) // the session names it now (log.go)
	if old := c.srv.Router.BindReplacing(c.rctx, full, s); old != nil {
		if oc, ok := old.(interface{ CloseWithError(*stream.Error) }); ok {
			oc.CloseWithError(&stream.Error{Condition: stream.Conflict, Text: "replaced by a new session with the same resource"})
		}
	}
	c.log().Info("resource bound")
	return nil
}

// preAuthIQ lets the PreAuth handler answer an IQ before authentication
// (XEP-0077 registration).
func (c *Conn) preAuthIQ(el *xml.Element) error {
	st, err := stanza.New(el)
	if err != nil {
		return &stream.Error{Condition: stream.NotAuthorized, Text: "authenticate first"}
	}
	st.SetFrom(jid.JID{})
	if r := c.srv.Config.PreAuth(c.ctx, c.host, st); r != nil {
		return c.writeNow(r.AppendXML(nil, stanza.NSClient))
	}
	return nil
}

// rateLimit blocks the reader while the session exceeds its stanza rate:
// reading slower pushes back on the client without dropping anything.
func (c *Conn) rateLimit() {
	now := time.Now().UnixNano()
	cfg := &c.srv.Config
	if c.lastFill != 0 {
		elapsed := time.Duration(max(now-c.lastFill, 0))
		c.tokens = min(float64(cfg.StanzaBurst), c.tokens+elapsed.Seconds()*cfg.StanzaRate)
	}
	c.lastFill = now
	if c.tokens >= 1 {
		c.tokens--
		return
	}
	wait := time.Duration((1 - c.tokens) / cfg.StanzaRate * float64(time.Second))
	time.Sleep(wait)
	c.lastFill = time.Now().UnixNano()
	c.tokens = 0
}
