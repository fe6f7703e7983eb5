package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"dormouse.im/dormouse/stanza"
	"github.com/nats-io/nats.go"
	"mellium.im/xmpp/jid"
)

// Adopter is what a node's sessions do for a draining peer: take a
// resumable session that node gives up before it leaves. Package server
// implements it over package session.
type Adopter interface {
	// Adopt binds the session of ho here, hibernated (its client will
	// resume it), with its resumption time running for ho.Left.
	Adopt(ctx context.Context, ho *Handover) error
}

// adoptConcurrency bounds the adoptions a node handles at once.
const adoptConcurrency = 32

// adoptRequest carries a session a draining node hands to a peer:
// "<prefix>.adopt.<node>".
type adoptRequest struct {
	From  string        `json:"from"`
	State *handoverWire `json:"state"`
}

// adoptAnswer is "" when the session was adopted, else why not.
type adoptAnswer struct {
	Err string `json:"err,omitempty"`
}

// ServeAdoptions lets draining peers hand their sessions to this node
// (HandTo); call it once, after Start.
func (c *Cluster) ServeAdoptions(a Adopter) error {
	// Adoptions write to storage: several at once, as many as a draining
	// node sends at once.
	sem := make(chan struct{}, adoptConcurrency)
	_, err := c.nc.Subscribe(c.subject("adopt", c.cfg.Node), func(m *nats.Msg) {
		sem <- struct{}{}
		if !c.spawn(func() {
			defer func() { <-sem }()
			c.handleAdopt(a, m)
		}) {
			<-sem // leaving: the draining peer gets no answer and rescues the session
		}
	})
	if err == nil {
		err = c.nc.Flush()
	}
	if err != nil {
		return fmt.Errorf("cluster: subscribe to adoptions: %w", err)
	}
	return nil
}

func (c *Cluster) handleAdopt(a Adopter, m *nats.Msg) {
	var req adoptRequest
	var ans adoptAnswer
	err := json.Unmarshal(m.Data, &req)
	if err == nil && (req.State == nil || !validToken(req.From) || req.From == c.cfg.Node) {
		err = errors.New("no state or bad node")
	}
	var ho *Handover
	if err == nil {
		ho, err = fromWire(req.State)
	}
	if err != nil {
		c.log.Warn("ignoring a malformed session adoption", "err", err)
		ans.Err = "malformed"
	} else if err := a.Adopt(c.ctx, ho); err != nil {
		c.log.Warn("adopting a session of a draining node failed", "peer", req.From, "jid", ho.JID.String(), "err", err)
		ans.Err = err.Error()
	}
	b, _ := json.Marshal(ans) // a struct of one string cannot fail
	if err := m.Respond(b); err != nil {
		c.log.Warn("answering a session adoption failed", "peer", req.From, "err", err)
	}
}

// HandTo hands the session ho, given up here (Sessions.HandOver), to the
// live peer node, which binds it hibernated. It fails with ErrUnreachable
// when the node is gone or did not answer within Config.RequestTimeout (it
// may have adopted the session all the same), or with the node's reason.
func (c *Cluster) HandTo(ctx context.Context, node string, ho *Handover) error {
	b, err := json.Marshal(adoptRequest{From: c.cfg.Node, State: wireOf(ho)})
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	m, err := c.nc.RequestWithContext(ctx, c.subject("adopt", node), b)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, node, err)
	}
	var ans adoptAnswer
	if err := json.Unmarshal(m.Data, &ans); err != nil {
		return fmt.Errorf("cluster: malformed adoption answer from %s: %w", node, err)
	}
	if ans.Err != "" {
		return fmt.Errorf("cluster: %s did not adopt the session: %s", node, ans.Err)
	}
	return nil
}

// DrainPeers returns the live peers, those holding fewest sessions first,
// with their session counts: where a draining node hands its sessions.
func (c *Cluster) DrainPeers() []Peer {
	c.mu.RLock()
	out := make([]Peer, 0, len(c.views))
	for node, v := range c.views {
		out = append(out, Peer{Node: node, Number: v.number, Epoch: v.epoch, Sessions: len(v.res), LastSeen: v.seen})
	}
	c.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Sessions != out[j].Sessions {
			return out[i].Sessions < out[j].Sessions
		}
		return out[i].Node < out[j].Node
	})
	return out
}

// ForwardTo returns what a session given up to node hands the stanzas
// still delivered here to (as for a resumption on node: retried until
// node has bound the session, at most Config.RequestTimeout).
func (c *Cluster) ForwardTo(node string) func(jid.JID, *stanza.Stanza) bool {
	return func(full jid.JID, st *stanza.Stanza) bool { return c.forward(node, full.String(), st) }
}

// WaitBound waits until this node sees full bound on node (then stanzas
// routed here for it go there directly), or ctx ends.
func (c *Cluster) WaitBound(ctx context.Context, full jid.JID, node string) bool {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if x, ok := c.RemoteResource(full); ok {
			if r, ok := x.Target.(*remote); ok && r.node == node {
				return true
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-c.ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// boundOnPeerLocked reports whether full is bound in the view of a live
// node (a session a departed node handed over before leaving): its
// unavailable presence must not be sent. c.mu is held.
func (c *Cluster) boundOnPeerLocked(full jid.JID) bool {
	k := full.String()
	for _, v := range c.views {
		if _, ok := v.res[k]; ok {
			return true
		}
	}
	return false
}
