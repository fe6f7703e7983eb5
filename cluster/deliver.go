package cluster

import (
	"bytes"
	"context"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"github.com/nats-io/nats.go"
	"mellium.im/xmpp/jid"
)

// remote is the Target of a resource bound on another node.
type remote struct {
	c    *Cluster
	node string
	full string
}

// Deliver hands st to the node holding the session and reports whether the
// session took it. It waits for the node's answer (at most
// Config.RequestTimeout): false when NATS is unreachable, the node is gone
// or the session refused the stanza, so that the router falls back to
// other resources, offline storage or a bounce.
func (t *remote) Deliver(st *stanza.Stanza) bool {
	c := t.c
	b := make([]byte, 0, len(t.full)+1+256)
	b = append(b, t.full...)
	b = append(b, 0)
	b = st.AppendXML(b, stanza.NSClient)
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
	defer cancel()
	m, err := c.nc.RequestWithContext(ctx, c.subject("deliver", t.node), b)
	if err != nil {
		c.log.Warn("handing a stanza to another node failed", "peer", t.node, "to", t.full, "err", err)
		return false
	}
	return len(m.Data) == 1 && m.Data[0] == '1'
}

// handleDeliver takes a stanza from another node for a session bound here:
// "<full JID>\x00<stanza>"; it answers "1" if the session took it, "0"
// otherwise (not bound here any more, queue full, malformed).
func (c *Cluster) handleDeliver(m *nats.Msg) {
	ok := c.deliverLocal(m.Data)
	ans := []byte{'0'}
	if ok {
		ans[0] = '1'
	}
	if err := m.Respond(ans); err != nil {
		c.log.Warn("answering a delivery failed", "err", err)
	}
}

func (c *Cluster) deliverLocal(data []byte) bool {
	i := bytes.IndexByte(data, 0)
	if i < 0 {
		c.log.Warn("ignoring a malformed delivery")
		return false
	}
	full, err := jid.Parse(string(data[:i]))
	if err != nil {
		c.log.Warn("ignoring a delivery to a malformed JID", "err", err)
		return false
	}
	el, err := xml.Parse(data[i+1:], stanza.NSClient)
	if err != nil {
		c.log.Warn("ignoring a malformed stanza from another node", "err", err)
		return false
	}
	st, err := stanza.New(el)
	if err != nil {
		c.log.Warn("ignoring a malformed stanza from another node", "err", err)
		return false
	}
	res, bound := c.r.Resource(full)
	return bound && res.Target.Deliver(st)
}
