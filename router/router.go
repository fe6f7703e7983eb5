package router

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// Target receives stanzas: a client session or a component connection.
type Target = stanza.Target

// Resource is a snapshot of one bound client resource.
type Resource struct {
	JID    jid.JID
	Target Target
	// Presence is its last available presence, packed (stanza.Pack: XML
	// without its addresses; "" if none). LastPresence parses it. Every
	// bound resource keeps one, hibernated sessions included: the parsed
	// stanza would cost ~0.3 KiB each, an empty presence packed nothing.
	Presence string
	// CapsVer is the verification string of the XEP-0115 entity
	// capabilities (SHA-1) in that presence, "" if none: PEP looks up
	// every recipient's features by it without parsing the presence. It
	// shares Presence's bytes where it can.
	CapsVer    string
	Priority   int8 // of its last available presence (RFC 6121 §4.7.2.3: -128 to 127)
	Available  bool // sent initial presence and not unavailable since
	Interested bool // requested the roster (RFC 6121 §2.1.6)
	// Carbons is set for a resource on another node of a cluster that
	// enabled message carbons (XEP-0280), as that node's registry says;
	// package carbons keeps the state of local resources itself.
	Carbons bool
	// (Priority and the bools share a word: 96 bytes, in the 96-byte size
	// class, for every bound resource.)
}

// NSCaps is the namespace of XEP-0115 entity capabilities.
const NSCaps = "http://jabber.org/protocol/caps"

// SetLastPresence records p, an available presence, as the resource's
// last: packed, with its priority and capabilities.
func (x *Resource) SetLastPresence(p *stanza.Stanza) {
	x.Presence, x.Priority = stanza.Pack(p), presencePriority(p)
	x.CapsVer = ""
	c := p.El.Child(NSCaps, "c")
	if c == nil || c.AttrValue("hash") != "sha-1" {
		return
	}
	ver := c.AttrValue("ver")
	// The packed XML holds ver='…' as it is unless it needed escaping.
	if i := strings.Index(x.Presence, " ver='"+ver+"'"); i >= 0 && string(xml.AppendEscapedAttr(nil, ver)) == ver {
		x.CapsVer = x.Presence[i+6 : i+6+len(ver)]
	} else {
		x.CapsVer = ver
	}
}

// LastPresence returns the resource's last available presence from its
// JID to 'to', parsed anew (the caller owns it), or nil if it has none.
func (x *Resource) LastPresence(to jid.JID) *stanza.Stanza {
	if x.Presence == "" {
		return nil
	}
	p, err := stanza.Unpack(x.Presence, x.JID, to)
	if err != nil {
		return nil // packed by SetPresence or checked by the cluster: not reached
	}
	return p
}

type user struct {
	resources []*Resource // bound resources, in bind order
}

// Router routes stanzas. Its methods are safe for concurrent use.
type Router struct {
	mux   *Mux
	log   *slog.Logger
	hosts map[string]bool
	main  string // first served host

	mu       sync.RWMutex
	users    map[string]*user    // by bare JID string; guarded by mu
	services map[string]*service // by domain: services and components; guarded by mu

	pending pendingIQs // the server's IQ requests waiting for answers (SendIQ)

	accounts  AccountChecker // set before serving
	relations Relations      // set before serving; may be nil
	privacy   Privacy        // set before serving
	peers     *peerTracker   // strangers each account addressed; nil: no limit
	observer  Observer       // set before serving; may be nil
	remote    Remote         // set before serving; may be nil
	cluster   Cluster        // set before serving; nil: a single node

	// routings recycles the Routing values hooks see, so that routing a
	// stanza allocates nothing (hooks receive a pointer, which escapes).
	routings sync.Pool
}

// New returns a router for the served hosts (canonical domain strings,
// the first is the main host).
func New(hosts []string, mux *Mux, log *slog.Logger) *Router {
	r := &Router{
		mux:      mux,
		log:      log,
		hosts:    map[string]bool{},
		users:    map[string]*user{},
		services: map[string]*service{},
	}
	for _, h := range hosts {
		r.hosts[h] = true
	}
	if len(hosts) > 0 {
		r.main = hosts[0]
	}
	return r
}

// Observer is told about every routed stanza (metrics).
type Observer interface {
	Routed(kind string, d time.Duration)
}

// SetObserver sets the observer; call it before serving.
func (r *Router) SetObserver(o Observer) { r.observer = o }

// Remote carries stanzas to domains that are neither served here nor
// services or components in the process: server-to-server federation
// (package s2s).
type Remote interface {
	// Send queues st (its 'to' at a remote domain, its 'from' at a local
	// host, a service or a component) for delivery. It must not block. A
	// non-nil error (usually *stanza.Error: remote-server-not-found,
	// resource-constraint) means st was not taken; the router answers it
	// to the sender. Once Send has returned nil, the Remote answers a
	// stanza it cannot deliver itself, with Router.Bounce.
	Send(ctx context.Context, st *stanza.Stanza) error
}

// SetRemote sets the route for remote domains; call it before serving.
// Without one, stanzas to remote domains are answered
// remote-server-not-found.
func (r *Router) SetRemote(rm Remote) { r.remote = rm }

// Mux returns the router's Mux.
func (r *Router) Mux() *Mux { return r.mux }

// IsLocal reports whether domain is a host this server serves.
func (r *Router) IsLocal(domain string) bool { return r.hosts[domain] }

// Bind registers a client resource. If the full JID is already bound, the
// old target is replaced and returned so the caller can end it with a
// conflict stream error (RFC 6120 §7.7.2.2).
func (r *Router) Bind(full jid.JID, t Target) (replaced Target) {
	return r.bind(&Resource{JID: full, Target: t})
}

// bind binds x, replacing a resource of the same full JID.
func (r *Router) bind(x *Resource) (replaced Target) {
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
	u.resources = append(u.resources, x)
	r.mu.Unlock()
	r.localChanged(full)
	return replaced
}

// BindReplacing is Bind followed, when a session was replaced, by the OnGone
// hooks for the replaced session (its own Unbind will find nothing to do).
func (r *Router) BindReplacing(ctx context.Context, full jid.JID, t Target) (replaced Target) {
	replaced = r.Bind(full, t)
	if replaced != nil {
		for _, f := range r.mux.onGone {
			f(ctx, full)
		}
	}
	return replaced
}

// Unbind removes a resource if it is still bound to t, and runs the OnGone
// hooks (presence broadcasts unavailable there). It reports whether it
// removed anything.
func (r *Router) Unbind(ctx context.Context, full jid.JID, t Target) bool {
	removed := r.unbind(full, t)
	if removed {
		for _, f := range r.mux.onGone {
			f(ctx, full)
		}
	}
	return removed
}

// unbind removes a resource if it is still bound to t, without hooks.
func (r *Router) unbind(full jid.JID, t Target) bool {
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

// SetPresence records the broadcast presence of a bound resource: p is an
// available presence, or nil for unavailable. It reports whether the
// resource was available before. The first available presence runs the
// OnAvailable hooks (offline messages are delivered there).
func (r *Router) SetPresence(ctx context.Context, full jid.JID, p *stanza.Stanza) (wasAvailable bool, ok bool) {
	var last Resource // packed outside the lock
	if p != nil {
		last.SetLastPresence(p)
	}
	r.mu.Lock()
	x := r.lookupLocked(full)
	if x == nil {
		r.mu.Unlock()
		return false, false
	}
	wasAvailable = x.Available
	x.Available = p != nil
	x.Presence, x.CapsVer, x.Priority = last.Presence, last.CapsVer, last.Priority
	r.mu.Unlock()
	r.localChanged(full)
	if p != nil && !wasAvailable {
		for _, f := range r.mux.onAvailable {
			f(ctx, full)
		}
	}
	return wasAvailable, true
}

// SetInterested marks a resource as having requested the roster.
func (r *Router) SetInterested(full jid.JID) {
	r.mu.Lock()
	x := r.lookupLocked(full)
	if x != nil {
		x.Interested = true
	}
	r.mu.Unlock()
	if x != nil {
		r.localChanged(full)
	}
}

func presencePriority(p *stanza.Stanza) int8 {
	v := p.El.ChildText(stanza.NSClient, "priority")
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < -128 || n > 127 {
		return 0
	}
	return int8(n)
}

func (r *Router) lookupLocked(full jid.JID) *Resource {
	u := r.users[full.Bare().String()]
	if u == nil {
		return nil
	}
	res := full.Resourcepart()
	for _, x := range u.resources {
		if x.JID.Resourcepart() == res {
			return x
		}
	}
	return nil
}

// Resources returns snapshots of the bound resources of a bare JID: the
// local ones, then those on other nodes of a cluster.
func (r *Router) Resources(bare jid.JID) []Resource {
	remote := r.remoteResources(bare)
	r.mu.RLock()
	defer r.mu.RUnlock()
	u := r.users[bare.Bare().String()]
	if u == nil && len(remote) == 0 {
		return nil
	}
	var out []Resource
	if u != nil {
		out = make([]Resource, 0, len(u.resources)+len(remote))
		for _, x := range u.resources {
			out = append(out, *x)
		}
	}
	for _, x := range remote {
		out = append(out, *x)
	}
	return out
}

// Resource returns a snapshot of one resource bound on this node.
func (r *Router) Resource(full jid.JID) (Resource, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if x := r.lookupLocked(full); x != nil {
		return *x, true
	}
	return Resource{}, false
}
