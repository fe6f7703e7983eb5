package cluster

import (
	"context"
	"fmt"
	"sync"
	"time"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"github.com/nats-io/nats.go"
)

// ServiceDeliverer hands a stanza forwarded by another node to a service
// of this node (router.Router.Deliver: the answer to a SendIQ of this
// node, else the service's HandleStanza, without the policy hooks, which
// ran on the node that received the stanza).
type ServiceDeliverer interface {
	Deliver(ctx context.Context, st *stanza.Stanza) int
}

// services is the state of service forwarding and of this node's own
// lease (see Serving).
type services struct {
	mu        sync.Mutex
	d         ServiceDeliverer // set by ServeServices
	validTill time.Time        // this node's lease as the others see it at worst
	since     time.Time        // start of the current unbroken run of own heartbeats
}

type forwardedKey struct{}

// ServeServices makes this node take the stanzas other nodes forward to
// its services (Forward) and hand them to d. Call it before Start.
func (c *Cluster) ServeServices(d ServiceDeliverer) {
	c.svc.mu.Lock()
	c.svc.d = d
	c.svc.mu.Unlock()
}

// Self returns this node's name and epoch.
func (c *Cluster) Self() (node string, epoch int64) { return c.cfg.Node, c.epoch }

// Alive reports whether node, in epoch, is a member of the cluster as this
// node sees it: this node itself, or a peer whose lease runs in that
// epoch. During this node's first lease after Start, when it may not have
// heard every peer's heartbeat yet, a node it has not heard of counts as
// alive (never wrongly dead).
func (c *Cluster) Alive(node string, epoch int64) bool {
	if node == c.cfg.Node {
		return epoch == c.epoch
	}
	c.mu.RLock()
	v := c.views[node]
	c.mu.RUnlock()
	switch {
	case v == nil:
		return c.cfg.Now().Sub(time.Unix(0, c.epoch)) < c.cfg.Lease
	case v.epoch > epoch:
		return false // restarted since
	}
	return true // that epoch, or a newer one not heard of yet
}

// Serving reports whether this node's own lease runs: the last heartbeat
// this node heard back from NATS was published less than Lease minus one
// heartbeat ago, so no peer can have ended this node's lease yet. since is
// when the current unbroken run of such heartbeats began: anything this
// node decided before since may have been taken over by another node while
// its lease had lapsed.
func (c *Cluster) Serving() (since time.Time, ok bool) {
	now := c.cfg.Now()
	c.svc.mu.Lock()
	defer c.svc.mu.Unlock()
	return c.svc.since, now.Before(c.svc.validTill)
}

// ownBeat notes a heartbeat of this node heard back from NATS.
func (c *Cluster) ownBeat(hb heartbeat) {
	if hb.Epoch != c.epoch || hb.Sent == 0 {
		return
	}
	now, sent := c.cfg.Now(), time.Unix(0, hb.Sent)
	till := sent.Add(c.cfg.Lease - c.cfg.Heartbeat)
	c.svc.mu.Lock()
	if !now.Before(c.svc.validTill) || !sent.Before(c.svc.validTill) {
		// The lease had lapsed (or never ran): peers may have ended it
		// meanwhile, even if this heartbeat reached them later.
		c.svc.since = now
	}
	if till.After(c.svc.validTill) {
		c.svc.validTill = till
	}
	c.svc.mu.Unlock()
}

// Forward hands st, unchanged ('from' included), to the service at its
// 'to' domain on node, over NATS (<prefix>.svc.<node>), and waits until
// that node's service has handled it (at most Config.RequestTimeout), so
// that a sender's stanzas stay in order. The other node treats it as
// received there, with Forwarded true in its context. taken is false if
// that node's service declined it (or it has no such service); err
// reports that the node could not be reached or did not answer in time.
func (c *Cluster) Forward(ctx context.Context, node string, st *stanza.Stanza) (taken bool, err error) {
	b := st.AppendXML(make([]byte, 0, 512), stanza.NSClient)
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	m, err := c.nc.RequestWithContext(ctx, c.subject("svc", node), b)
	if err != nil {
		return false, fmt.Errorf("cluster: forwarding to %s: %w", node, err)
	}
	return len(m.Data) == 1 && m.Data[0] == '1', nil
}

// Forwarded reports whether ctx is that of a stanza another node forwarded
// to this one (a service does not forward it again).
func (c *Cluster) Forwarded(ctx context.Context) bool {
	return ctx.Value(forwardedKey{}) != nil
}

// handleService takes a stanza another node forwarded to a service here;
// it answers "1" once the service has it, "0" if not.
func (c *Cluster) handleService(m *nats.Msg) {
	ans := []byte{'0'}
	if c.serveForwarded(m.Data) {
		ans[0] = '1'
	}
	if err := m.Respond(ans); err != nil {
		c.log.Warn("answering a forwarded stanza failed", "err", err)
	}
}

func (c *Cluster) serveForwarded(data []byte) bool {
	c.svc.mu.Lock()
	d := c.svc.d
	c.svc.mu.Unlock()
	if d == nil {
		return false
	}
	el, err := xml.Parse(data, stanza.NSClient)
	if err != nil {
		c.log.Warn("ignoring a malformed forwarded stanza", "err", err)
		return false
	}
	st, err := stanza.New(el)
	if err != nil || st.To.Domainpart() == "" {
		c.log.Warn("ignoring a malformed forwarded stanza", "err", err)
		return false
	}
	ctx := context.WithValue(c.ctx, forwardedKey{}, true)
	return d.Deliver(ctx, st) > 0
}
