package cluster

import (
	"reflect"

	"dormouse.im/dormouse/router"
	"mellium.im/xmpp/jid"
)

// Resource conflicts across nodes (RFC 6120 §7.7.2.2). Each node records
// when it bound each of its resources (entry.Bound, on its clock) and
// publishes it with the entry. When two nodes hold the same full JID, the
// later bind wins: the node holding the earlier one (ties broken by the
// node name: the smaller loses) closes its session through
// Config.Conflict, as a local bind would (a <conflict/> stream error, or a
// hibernated session ended and its messages rescued). Both nodes compare
// the same two (time, node) pairs, so exactly one of them gives way,
// whichever hears of the other first; a session is closed only if it is
// still the one bound when the conflict was seen (its target), so a newer
// session of the same JID is never hit by a late decision.

// loses reports whether a bind at (at, node) loses to one at (than, other).
func loses(at int64, node string, than int64, other string) bool {
	return at < than || (at == than && node < other)
}

// checkPeerBind closes the local session of e's full JID if node bound it
// later.
func (c *Cluster) checkPeerBind(node string, e entry) {
	c.localMu.Lock()
	l, ok := c.local[e.JID]
	c.localMu.Unlock()
	if ok && loses(l.Bound, c.cfg.Node, e.Bound, node) {
		c.conflict(e.JID, l.target, node)
	}
}

// checkLocalBind closes the session just bound here, e, if another node
// holds the full JID with a later bind (clocks that disagree). c.localMu
// is held.
func (c *Cluster) checkLocalBind(full jid.JID, e entry) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for node, v := range c.views {
		if _, ok := v.res[e.JID]; ok && loses(e.Bound, c.cfg.Node, v.bound[e.JID], node) {
			c.conflict(e.JID, e.target, node)
			return
		}
	}
}

// conflict has Config.Conflict close the local session t of full, in the
// background (closing a hibernated session unbinds it, which publishes).
func (c *Cluster) conflict(full string, t router.Target, winner string) {
	if c.cfg.Conflict == nil || t == nil {
		return
	}
	j, err := jid.Parse(full)
	if err != nil {
		return
	}
	c.log.Info("resource bound again on another node: closing this one", "jid", full, "peer", winner)
	c.spawn(func() {
		if x, ok := c.r.Resource(j); ok && sameTarget(x.Target, t) {
			c.cfg.Conflict(c.ctx, j, t)
		}
	})
}

// sameTarget compares two targets without panicking on targets of an
// incomparable type (never equal then).
func sameTarget(a, b router.Target) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if !reflect.TypeOf(a).Comparable() || !reflect.TypeOf(b).Comparable() {
		return false
	}
	return a == b
}

// equal compares two entries, their targets aside.
func (e entry) equal(o entry) bool {
	e.target, o.target = nil, nil
	return e == o
}
