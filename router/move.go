package router

import (
	"slices"

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
	full := x.JID
	bare := full.Bare().String()
	res := full.Resourcepart()
	r.mu.Lock()
	u := r.users[bare]
	if u == nil {
		u = &user{}
		r.users[bare] = u
	}
	for i, y := range u.resources {
		if y.JID.Resourcepart() == res {
			replaced = y.Target
			u.resources = slices.Delete(u.resources, i, i+1)
			break
		}
	}
	if !x.Available {
		x.Presence, x.Priority = nil, 0
	}
	u.resources = append(u.resources, &x)
	r.mu.Unlock()
	r.localChanged(full)
	return replaced
}

// Release removes a resource that moved to another node of a cluster if it
// is still bound to t, without the OnGone hooks (it did not end). It
// reports whether it removed anything.
func (r *Router) Release(full jid.JID, t Target) bool {
	bare := full.Bare().String()
	res := full.Resourcepart()
	r.mu.Lock()
	u := r.users[bare]
	removed := false
	if u != nil {
		for i, x := range u.resources {
			if x.JID.Resourcepart() == res && x.Target == t {
				u.resources = slices.Delete(u.resources, i, i+1)
				removed = true
				break
			}
		}
		if len(u.resources) == 0 {
			delete(r.users, bare)
		}
	}
	r.mu.Unlock()
	if removed {
		r.localChanged(full)
	}
	return removed
}
