package router

import (
	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// Adopt binds a client resource that moved here from another node of a
// cluster (a XEP-0198 session resumed here) with the state it had there:
// availability, priority, last presence, roster interest. No lifecycle
// hook runs: for its contacts the resource never went away. A local
// resource it replaces is returned, as by Bind (the caller ends it with a
// conflict stream error); its end runs no hook either, the adopted state
// taking its place.
func (r *Router) Adopt(x Resource) (replaced Target) {
	if !x.Available {
		x.Presence, x.CapsVer, x.Priority = "", "", 0
	} else if p, err := stanza.Unpack(x.Presence, jid.JID{}, jid.JID{}); err == nil {
		x.SetLastPresence(p) // its capabilities
	}
	return r.bind(&x)
}

// Release removes a resource that moved to another node of a cluster if it
// is still bound to t, without the OnGone hooks (it did not end). It
// reports whether it removed anything.
func (r *Router) Release(full jid.JID, t Target) bool { return r.unbind(full, t) }
