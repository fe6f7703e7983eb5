package pep

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// capsTimeout bounds one disco#info query to a client.
const capsTimeout = 15 * time.Second

// maxKnownCaps bounds the verification strings kept in memory (each
// client version has one; they are few).
const maxKnownCaps = 10000

// caps is a resource's XEP-0115 <c/> element.
type caps struct{ node, ver string }

// capsOf returns the entity capabilities a resource announced in its
// presence, if hashed with SHA-1 (XEP-0115 §5; legacy caps are ignored):
// the verification string, which the router keeps, and with node the node
// too, parsed from the presence (only needed to ask the client).
func capsOf(res router.Resource, node bool) caps {
	c := caps{ver: res.CapsVer}
	if c.ver != "" && node {
		if p := res.LastPresence(jid.JID{}); p != nil {
			c.node = p.El.Child(NSCaps, "c").AttrValue("node")
		}
	}
	return c
}

// capsCache holds the features of verification strings, and the resources
// waiting for one being resolved.
type capsCache struct {
	mu      sync.Mutex
	known   map[string]map[string]bool // ver → features; guarded by mu
	waiting map[string][]jid.JID       // ver being resolved → resources to tell; guarded by mu
	bad     map[string]bool            // vers whose answer did not verify; guarded by mu
}

func newCapsCache() capsCache {
	return capsCache{known: map[string]map[string]bool{}, waiting: map[string][]jid.JID{}, bad: map[string]bool{}}
}

func (c *capsCache) get(ver string) (map[string]bool, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.known[ver]
	return f, ok
}

// wait records that full waits for ver and reports whether the caller
// should start resolving it (nobody does yet, and not too many are).
func (c *capsCache) wait(ver string, full jid.JID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.known[ver]; ok || c.bad[ver] {
		return false
	}
	if w, ok := c.waiting[ver]; ok {
		for _, j := range w {
			if j.Equal(full) {
				return false
			}
		}
		c.waiting[ver] = append(w, full)
		return false
	}
	if len(c.waiting) >= DefaultMaxResolving {
		return false
	}
	c.waiting[ver] = []jid.JID{full}
	return true
}

// errCapsElsewhere: the features of a resource on another node of a
// cluster are not stored yet.
var errCapsElsewhere = errors.New("pep: capabilities of a resource on another node not stored yet")

// forget drops the resolution of ver under way, without an outcome.
func (c *capsCache) forget(ver string) {
	c.mu.Lock()
	delete(c.waiting, ver)
	c.mu.Unlock()
}

// done records the outcome of resolving ver and returns who waited.
func (c *capsCache) done(ver string, feats map[string]bool, ok bool) []jid.JID {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.waiting[ver]
	delete(c.waiting, ver)
	if !ok {
		if len(c.bad) >= maxKnownCaps {
			clear(c.bad)
		}
		c.bad[ver] = true
		return w
	}
	if len(c.known) >= maxKnownCaps {
		for k := range c.known {
			delete(c.known, k)
			break
		}
	}
	c.known[ver] = feats
	return w
}

// resolve learns the features of c in the background (from storage, else
// by asking the resource full), then sends the last published items to
// the resources that waited for them.
func (s *Service) resolve(full jid.JID, c caps) {
	if s.cfg.CapsVer == nil || !s.caps.wait(c.ver, full) {
		return
	}
	s.goTrack(func(ctx context.Context) {
		feats, err := s.lookupCaps(ctx, full, c)
		if errors.Is(err, errCapsElsewhere) {
			s.caps.forget(c.ver) // asked again at the next publish
			return
		}
		if err != nil {
			s.log.Info("entity capabilities not learnt", "jid", full.String(), "ver", c.ver, "err", err)
		}
		for _, w := range s.caps.done(c.ver, feats, err == nil) {
			if err == nil {
				s.sendLast(ctx, w, feats)
			}
		}
	})
}

// lookupCaps returns the features of c: stored, or asked of full with a
// disco#info query (XEP-0115 §6.2) whose answer must hash to c.ver.
func (s *Service) lookupCaps(ctx context.Context, full jid.JID, c caps) (map[string]bool, error) {
	data, err := s.store.Caps(ctx, c.ver)
	if err == nil {
		q, err := xml.Parse(data, "")
		if err != nil {
			return nil, fmt.Errorf("pep: stored caps %s: %w", c.ver, err)
		}
		return features(q), nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("pep: stored caps: %w", err)
	}
	if _, local := s.r.Resource(full); !local {
		// Bound on another node of a cluster, which asks the client and
		// stores the answer (an answer to a query from here would reach
		// that node, not this one).
		return nil, errCapsElsewhere
	}
	iq := stanza.Build(stanza.KindIQ, stanza.TypeGet, "", full.Bare(), full)
	iq.El.AddChild(xml.NewElement(NSInfo, "query", "node", c.node+"#"+c.ver))
	ctx, cancel := context.WithTimeout(ctx, capsTimeout)
	defer cancel()
	reply, err := s.r.SendIQ(ctx, iq)
	if err != nil {
		return nil, fmt.Errorf("pep: caps query: %w", err)
	}
	q := reply.El.Child(NSInfo, "query")
	if q == nil {
		return nil, errors.New("pep: caps answer without a query")
	}
	if got := s.cfg.CapsVer(q); got != c.ver {
		return nil, fmt.Errorf("pep: caps answer hashes to %s, not %s", got, c.ver)
	}
	if err := s.store.SetCaps(ctx, c.ver, q.AppendXML(nil, "")); err != nil {
		s.log.Error("storing caps failed", "ver", c.ver, "err", err)
	}
	return features(q), nil
}

// features returns the features of a disco#info <query/>.
func features(q *xml.Element) map[string]bool {
	f := map[string]bool{}
	for _, e := range q.ChildrenNamed(NSInfo, "feature") {
		f[e.AttrValue("var")] = true
	}
	return f
}
