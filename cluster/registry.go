package cluster

import (
	"context"
	"encoding/json"
	"time"

	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"github.com/nats-io/nats.go"
	"mellium.im/xmpp/jid"
)

// entry is one bound resource in a node's registry.
type entry struct {
	JID        string `json:"jid"`
	Available  bool   `json:"available,omitempty"`
	Priority   int    `json:"priority,omitempty"`
	Interested bool   `json:"interested,omitempty"`
	Presence   string `json:"presence,omitempty"`   // last available presence, jabber:client XML
	Carbons    bool   `json:"carbons,omitempty"`    // enabled message carbons (XEP-0280)
	Inactive   bool   `json:"inactive,omitempty"`   // the client said it is inactive (XEP-0352)
	Hibernated bool   `json:"hibernated,omitempty"` // XEP-0198: connection lost, waiting for a resume
	// Bound is when the session was bound (Unix ns, on its node's clock):
	// of two nodes binding one full JID, the later bind wins (conflict.go).
	Bound  int64         `json:"bound,omitempty"`
	target router.Target // the local session (this node's entries only)
}

// clientState is what a view keeps of an entry besides its router
// Resource.
type clientState struct{ inactive, hibernated bool }

// update is one change of a node's registry: Entry bound or changed, or
// Gone unbound.
type update struct {
	Node  string `json:"node"`
	Epoch int64  `json:"epoch"`
	Seq   uint64 `json:"seq"`
	Entry *entry `json:"entry,omitempty"`
	Gone  string `json:"gone,omitempty"`
}

// snapshot is a node's whole registry.
type snapshot struct {
	Node    string  `json:"node"`
	Epoch   int64   `json:"epoch"`
	Seq     uint64  `json:"seq"`
	Entries []entry `json:"entries"`
}

// view is what this node knows of another node's registry in one epoch.
type view struct {
	epoch    int64
	number   int    // the node's number, from its heartbeats
	seq      uint64 // of the last update applied
	synced   bool   // a snapshot was applied: updates may follow it
	fetching bool   // a snapshot request is under way
	seen     time.Time
	res      map[string]*router.Resource            // by full JID string
	bound    map[string]int64                       // bind times, by full JID string
	byBare   map[string]map[string]*router.Resource // by bare, then full JID string
	states   map[string]clientState                 // by full JID string; only non-zero ones
}

func newView(epoch int64) *view {
	return &view{epoch: epoch, res: map[string]*router.Resource{}, bound: map[string]int64{}, byBare: map[string]map[string]*router.Resource{}, states: map[string]clientState{}}
}

func (v *view) set(x *router.Resource, cs clientState) {
	full, bare := x.JID.String(), x.JID.Bare().String()
	v.res[full] = x
	if cs != (clientState{}) {
		v.states[full] = cs
	} else {
		delete(v.states, full)
	}
	m := v.byBare[bare]
	if m == nil {
		m = map[string]*router.Resource{}
		v.byBare[bare] = m
	}
	m[full] = x
}

func (v *view) remove(full string) {
	x := v.res[full]
	if x == nil {
		return
	}
	delete(v.res, full)
	delete(v.states, full)
	delete(v.bound, full)
	bare := x.JID.Bare().String()
	delete(v.byBare[bare], full)
	if len(v.byBare[bare]) == 0 {
		delete(v.byBare, bare)
	}
}

func (v *view) appendAvailable(out []jid.JID) []jid.JID {
	for _, x := range v.res {
		if x.Available {
			out = append(out, x.JID)
		}
	}
	return out
}

// resource turns a peer's entry into a router Resource whose Target sends
// to that peer; nil if the entry is malformed.
func (c *Cluster) resource(node string, e entry) *router.Resource {
	full, err := jid.Parse(e.JID)
	if err != nil || full.Resourcepart() == "" {
		c.log.Warn("ignoring a malformed registry entry", "peer", node, "jid", e.JID)
		return nil
	}
	x := &router.Resource{
		JID:        full,
		Target:     &remote{c: c, node: node, full: e.JID},
		Available:  e.Available,
		Interested: e.Interested,
		Carbons:    e.Carbons,
	}
	if e.Presence != "" {
		p, err := stanza.Unpack(e.Presence, jid.JID{}, jid.JID{})
		if err != nil {
			c.log.Warn("ignoring a malformed presence in the registry", "peer", node, "jid", e.JID, "err", err)
		} else {
			x.SetLastPresence(p)
		}
	}
	x.Priority = priority(e.Priority) // as the node says
	return x
}

// RemoteResources implements router.Cluster.
func (c *Cluster) RemoteResources(bare jid.JID) []*router.Resource {
	key := bare.String()
	var out []*router.Resource
	c.mu.RLock()
	for _, v := range c.views {
		for _, x := range v.byBare[key] {
			out = append(out, x)
		}
	}
	c.mu.RUnlock()
	return out
}

// RemoteResource implements router.Cluster.
func (c *Cluster) RemoteResource(full jid.JID) (*router.Resource, bool) {
	key := full.String()
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, v := range c.views {
		if x := v.res[key]; x != nil {
			return x, true
		}
	}
	return nil, false
}

// RemoteClientState reports what the registry says of the resource full
// bound on another node: whether its client is inactive (XEP-0352) and
// whether its session is hibernated (XEP-0198); ok is false if it is not
// bound on another node.
func (c *Cluster) RemoteClientState(full jid.JID) (inactive, hibernated, ok bool) {
	key := full.String()
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, v := range c.views {
		if _, bound := v.res[key]; bound {
			cs := v.states[key]
			return cs.inactive, cs.hibernated, true
		}
	}
	return false, false, false
}

// LocalChanged implements router.Cluster: it publishes the change of a
// local resource to the other nodes.
func (c *Cluster) LocalChanged(full jid.JID) {
	key := full.String()
	c.localMu.Lock()
	defer c.localMu.Unlock()
	res, bound := c.r.Resource(full)
	old, had := c.local[key]
	u := update{Node: c.cfg.Node, Epoch: c.epoch}
	switch {
	case !bound && !had:
		return
	case !bound:
		delete(c.local, key)
		u.Gone = key
	default:
		e := entry{JID: key, Available: res.Available, Priority: int(res.Priority), Presence: res.Presence, Interested: res.Interested,
			Bound: old.Bound, target: res.Target}
		if c.cfg.State != nil {
			st := c.cfg.State(full, res)
			e.Carbons, e.Inactive, e.Hibernated = st.Carbons, st.Inactive, st.Hibernated
		}
		rebound := !had || !sameTarget(old.target, res.Target)
		if had && !rebound && old.equal(e) {
			return
		}
		if rebound {
			e.Bound = c.bindTime(key)
			defer c.checkLocalBind(full, e)
		}
		c.local[key] = e
		u.Entry = &e
	}
	c.seq++
	u.Seq = c.seq
	if c.nc != nil {
		c.publish(c.subject("reg"), u)
	}
}

// bindTime is the bind time of a session of full bound here now: this
// node's clock, but later than any bind of full this node has heard of on
// another node. A bind made knowing of another is the newer one (a client
// binding again, a session resumed or drained here from that node), so a
// clock behind the other node's must not make it lose (conflict.go).
// c.localMu is held.
func (c *Cluster) bindTime(full string) int64 {
	t := c.cfg.Now().UnixNano()
	c.mu.RLock()
	for _, v := range c.views {
		if b, ok := v.bound[full]; ok && b >= t {
			t = b + 1
		}
	}
	c.mu.RUnlock()
	return t
}

// handleSnapshot answers a peer's request for this node's registry.
func (c *Cluster) handleSnapshot(m *nats.Msg) {
	c.localMu.Lock()
	s := snapshot{Node: c.cfg.Node, Epoch: c.epoch, Seq: c.seq, Entries: make([]entry, 0, len(c.local))}
	for _, e := range c.local {
		s.Entries = append(s.Entries, e)
	}
	c.localMu.Unlock()
	b, err := json.Marshal(s)
	if err == nil {
		err = m.Respond(b)
	}
	if err != nil {
		c.log.Warn("answering a snapshot request failed", "err", err)
	}
}

// viewFor returns the view of node for a message of epoch, replacing an
// older epoch's view (whose available resources are appended to lost), or
// nil if the message is of an older epoch than the view. c.mu must be held.
func (c *Cluster) viewForLocked(node string, epoch int64, lost *[]jid.JID) *view {
	if d, ok := c.left[node]; ok {
		if c.cfg.Now().Sub(d.at) <= c.cfg.Lease {
			if epoch <= d.epoch {
				return nil // late: the node left in that epoch
			}
		} else {
			delete(c.left, node)
		}
	}
	v := c.views[node]
	switch {
	case v != nil && epoch < v.epoch:
		return nil // stale: from before the node restarted
	case v == nil || epoch > v.epoch:
		if v != nil {
			*lost = v.appendAvailable(*lost)
		}
		v = newView(epoch)
		c.views[node] = v
	}
	v.seen = c.cfg.Now()
	return v
}

func (c *Cluster) handleHeartbeat(m *nats.Msg) {
	var hb heartbeat
	if err := json.Unmarshal(m.Data, &hb); err != nil || !validToken(hb.Node) {
		c.log.Warn("ignoring a malformed heartbeat", "err", err)
		return
	}
	if hb.Node == c.cfg.Node {
		c.ownBeat(hb)
		return
	}
	var lost []jid.JID
	c.mu.Lock()
	if hb.Number != 0 && hb.Number == c.cfg.Number && c.collided[hb.Node] != hb.Epoch {
		// Once per peer and epoch, not at every heartbeat.
		c.collided[hb.Node] = hb.Epoch
		c.log.Error("another node has this node's number: archive ids may collide; set distinct cluster.node_number values",
			"peer", hb.Node, "number", hb.Number)
	}
	if hb.Leaving {
		c.leftLocked(hb.Node, hb.Epoch, &lost)
		c.mu.Unlock()
		c.lost(lost)
		return
	}
	if v := c.viewForLocked(hb.Node, hb.Epoch, &lost); v != nil {
		v.number = hb.Number
		if !v.synced || v.seq != hb.Seq {
			c.fetchLocked(hb.Node, v)
		}
	}
	c.mu.Unlock()
	c.lost(lost)
}

// leftLocked drops the view of node, which announced that it leaves in
// epoch, and ignores its later messages of that epoch; the available
// resources it still listed are appended to lost.
func (c *Cluster) leftLocked(node string, epoch int64, lost *[]jid.JID) {
	if v := c.views[node]; v != nil {
		if epoch < v.epoch {
			return // an older run of the node
		}
		*lost = v.appendAvailable(*lost)
		delete(c.views, node)
		c.log.Info("node left the cluster", "peer", node, "sessions", len(v.res))
	}
	if d, ok := c.left[node]; !ok || d.epoch < epoch {
		c.left[node] = departure{epoch: epoch, at: c.cfg.Now()}
	}
}

// departure is when a node announced it left, in which epoch.
type departure struct {
	epoch int64
	at    time.Time
}

func (c *Cluster) handleUpdate(m *nats.Msg) {
	var u update
	if err := json.Unmarshal(m.Data, &u); err != nil || !validToken(u.Node) {
		c.log.Warn("ignoring a malformed registry update", "err", err)
		return
	}
	if u.Node == c.cfg.Node {
		return
	}
	var lost []jid.JID
	c.mu.Lock()
	v := c.viewForLocked(u.Node, u.Epoch, &lost)
	switch {
	case v == nil:
	case v.synced && u.Seq == v.seq+1:
		v.seq = u.Seq
		if u.Entry != nil {
			if x := c.resource(u.Node, *u.Entry); x != nil {
				v.set(x, clientState{u.Entry.Inactive, u.Entry.Hibernated})
				v.bound[u.Entry.JID] = u.Entry.Bound
			}
		} else {
			v.remove(u.Gone)
		}
	case !v.synced || u.Seq > v.seq:
		c.fetchLocked(u.Node, v) // missed updates
	}
	c.mu.Unlock()
	c.lost(lost)
	if v != nil && u.Entry != nil {
		c.checkPeerBind(u.Node, *u.Entry)
	}
}

// fetchLocked requests a snapshot of node's registry for the view v,
// unless one is under way. c.mu must be held.
func (c *Cluster) fetchLocked(node string, v *view) {
	if v.fetching || c.ctx.Err() != nil {
		return
	}
	v.fetching = true
	c.spawn(func() {
		s, err := c.requestSnapshot(node)
		c.mu.Lock()
		defer c.mu.Unlock()
		v.fetching = false
		if err != nil {
			c.log.Warn("fetching a registry snapshot failed", "peer", node, "err", err)
			return
		}
		if c.views[node] != v || s.Epoch != v.epoch || (v.synced && s.Seq < v.seq) {
			return // superseded; the next heartbeat tells
		}
		nv := newView(v.epoch)
		for _, e := range s.Entries {
			if x := c.resource(node, e); x != nil {
				nv.set(x, clientState{e.Inactive, e.Hibernated})
				nv.bound[e.JID] = e.Bound
			}
		}
		v.res, v.bound, v.byBare, v.states, v.seq, v.synced = nv.res, nv.bound, nv.byBare, nv.states, s.Seq, true
		c.spawn(func() { // c.mu is held: check after it is released
			for _, e := range s.Entries {
				c.checkPeerBind(node, e)
			}
		})
	})
}

func (c *Cluster) requestSnapshot(node string) (snapshot, error) {
	var s snapshot
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
	defer cancel()
	m, err := c.nc.RequestWithContext(ctx, c.subject("snap", node), nil)
	if err != nil {
		return s, err
	}
	err = json.Unmarshal(m.Data, &s)
	return s, err
}

// priority is a priority as a peer sent it, in RFC 6121's range
// (§4.7.2.3: -128 to 127).
func priority(n int) int8 { return int8(min(max(n, -128), 127)) }
