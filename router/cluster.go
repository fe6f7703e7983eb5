package router

import (
	"mellium.im/xmpp/jid"
)

// Cluster is the route to client resources bound on the other nodes of a
// cluster (package cluster implements it over NATS; the server wires it).
// Without one (the default) the router sees only its own sessions and pays
// nothing for clustering.
//
// The router consults it for a full JID that is not bound here, and adds
// its resources to the local ones for bare-JID delivery (RFC 6121 §8.5.2)
// and in Resources. A remote Resource's Target sends the stanza to the node
// holding the session; its Deliver returns false when the stanza could not
// be handed over (the node is gone, NATS is unreachable), so that the
// router falls back to the bare-JID rules, offline storage or a bounce
// exactly as for a local session that refused a stanza.
type Cluster interface {
	// RemoteResources returns the resources of the bare JID bound on other
	// nodes (nil if none). The router does not modify them.
	RemoteResources(bare jid.JID) []*Resource
	// RemoteResource returns the resource full if it is bound on another
	// node.
	RemoteResource(full jid.JID) (*Resource, bool)
	// LocalChanged tells the cluster that the local resource full was
	// bound, unbound, or changed presence. The cluster reads its current
	// state back with Router.Resource; it is called without router locks
	// held, after the change.
	LocalChanged(full jid.JID)
}

// SetCluster makes the router route to resources on other nodes of a
// cluster; call it before serving.
func (r *Router) SetCluster(c Cluster) { r.cluster = c }

// remoteResources returns the resources of st's bare 'to' on other nodes.
// It is a separate function so that the local path allocates nothing.
func (r *Router) remoteResources(to jid.JID) []*Resource {
	if r.cluster == nil {
		return nil
	}
	return r.cluster.RemoteResources(to.Bare())
}

// Changed tells the cluster, if any, that state of the local resource
// full that other nodes see changed besides its presence: message carbons
// enabled or disabled, CSI, hibernation. Without a cluster it does
// nothing.
func (r *Router) Changed(full jid.JID) { r.localChanged(full) }

func (r *Router) localChanged(full jid.JID) {
	if r.cluster != nil {
		r.cluster.LocalChanged(full)
	}
}
