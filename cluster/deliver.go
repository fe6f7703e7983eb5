package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"github.com/nats-io/nats.go"
	"mellium.im/xmpp/jid"
)

// Limits of cross-node delivery.
const (
	// maxBatch bounds the stanzas of one batch request, maxBatchBytes its
	// size (NATS's default max_payload is 1 MiB).
	maxBatch      = 256
	maxBatchBytes = 512 << 10
	// maxQueued bounds the stanzas waiting for a peer while a batch is in
	// flight: beyond it Deliver fails at once (the router stores the
	// stanza offline or bounces it).
	maxQueued = 4096
	// dedupWindow is how many of a peer's latest sequence numbers a node
	// remembers the answer of, to answer a retransmitted batch without
	// delivering twice. It must exceed maxBatch.
	dedupWindow = 4 * maxBatch
)

// The batch format, on <prefix>.deliver.<node>:
//
//	'B' 1 | len(node) u8 | node | epoch u64 | items
//	item: seq u64 | len(jid) u16 | jid | len(stanza) u32 | stanza (jabber:client XML)
//
// The answer is the first item's seq (u64: the sender tells an answer to
// an earlier attempt from the current one), then one byte per item, in
// order: '1' the session took it, '0' not (not bound here, queue full).
const (
	batchMagic   = 'B'
	batchVersion = 1
	itemHeader   = 8 + 2 // seq, len(jid); then len(stanza) after the JID
)

var (
	errQueueFull   = errors.New("cluster: too many stanzas waiting for the peer")
	errPeerStopped = errors.New("cluster: the sender to the peer stopped")
)

// remote is the Target of a resource bound on another node.
type remote struct {
	c    *Cluster
	node string
	full string
	// fwd: a stanza forwarded by a session that moved to node (forward),
	// sent on <prefix>.fwd.<node>, which a subscription of its own
	// handles: a node forwarding while it handles a batch never waits for
	// a node that is itself forwarding back while it handles one.
	fwd bool
}

// pending is one stanza waiting to be handed to a peer; pooled, so that
// the hot path allocates nothing but the encoding's growth.
type pending struct {
	buf  []byte    // the encoded item
	done chan bool // the outcome; capacity 1
}

// Deliver hands st to the node holding the session and reports whether the
// session took it. The stanza joins the queue of that node's sender, which
// sends what is queued as one batch while the previous batch is in flight;
// Deliver waits for the answer for its stanza: false when NATS is
// unreachable (after retries), the node is gone, too much is queued for
// it, or the session refused the stanza, so that the router falls back to
// other resources, offline storage or a bounce.
func (t *remote) Deliver(st *stanza.Stanza) bool {
	c := t.c
	p := c.peer(t.node, t.fwd)
	if p == nil {
		return false // leaving the cluster
	}
	q := c.pendings.Get().(*pending)
	b := q.buf[:0]
	b = append(b, make([]byte, 8)...) // seq, set when queued
	b = binary.BigEndian.AppendUint16(b, uint16(len(t.full)))
	b = append(b, t.full...)
	n := len(b)
	b = append(b, 0, 0, 0, 0)
	b = st.AppendXML(b, stanza.NSClient)
	binary.BigEndian.PutUint32(b[n:], uint32(len(b)-n-4))
	q.buf = b
	ok := false
	err := p.enqueue(q)
	if errors.Is(err, errPeerStopped) {
		// The sender to a node that had left stopped while idle: a
		// resource of that node still listed somewhere gets a new one.
		if p = c.peer(t.node, t.fwd); p == nil {
			err = context.Canceled
		} else {
			err = p.enqueue(q)
		}
	}
	if err != nil {
		p.stats.failed.Add(1)
		c.log.Warn("handing a stanza to another node failed", "peer", t.node, "to", t.full, "err", err)
	} else {
		ok = <-q.done
	}
	if cap(q.buf) <= 64<<10 { // an odd huge stanza does not stay pinned
		c.pendings.Put(q)
	}
	return ok
}

// peerStats counts the stanzas exchanged with one peer.
type peerStats struct {
	sent     atomic.Uint64 // handed over and taken by the session
	refused  atomic.Uint64 // handed over, not taken (not bound there, queue full)
	failed   atomic.Uint64 // not handed over: NATS unreachable, peer gone, timeout, queue full here
	batches  atomic.Uint64 // batch requests answered
	retries  atomic.Uint64 // batch requests sent again
	recvd    atomic.Uint64 // received from the peer and taken by a session here
	rrefused atomic.Uint64 // received from the peer, not taken
	dups     atomic.Uint64 // retransmitted stanzas answered without delivering again
}

// peer is the sending side of this node's link to another node: one
// goroutine sends what is queued, a batch at a time.
type peer struct {
	c     *Cluster
	node  string
	key   string // in Cluster.peers: node, or node and " fwd" (peerKey)
	subj  string
	stats *peerStats

	mu     sync.Mutex
	queue  []*pending // guarded by mu
	seq    uint64     // last sequence number given; guarded by mu
	closed bool       // the sender stopped; guarded by mu
	busy   bool       // a batch is in flight; guarded by mu
	wake   chan struct{}
	stop   chan struct{} // closed when the sender stops while idle (dropIdlePeers)

	// the sender's buffers, reused batch after batch
	req   []byte
	batch []*pending

	// The sender's own reply subject and its subscription: a batch costs
	// one publish and one answer, not a NATS request's allocations.
	inbox   string
	replies chan *nats.Msg
	sub     *nats.Subscription
	timer   *time.Timer
}

// peerKey is the key of the sender to node in Cluster.peers, and of the
// memory of node's sequence numbers in Cluster.dedup: the stanzas
// forwarded to sessions that moved (fwd) have a sender, a subject and
// sequence numbers of their own. Node names have no spaces.
func peerKey(node string, fwd bool) string {
	if fwd {
		return node + " fwd"
	}
	return node
}

// peer returns the sender to node (of forwarded stanzas if fwd), starting
// it on first use; nil once the cluster is leaving.
func (c *Cluster) peer(node string, fwd bool) *peer {
	key := peerKey(node, fwd)
	c.peersMu.RLock()
	p := c.peers[key]
	c.peersMu.RUnlock()
	if p != nil {
		return p
	}
	c.peersMu.Lock()
	defer c.peersMu.Unlock()
	if p = c.peers[key]; p != nil {
		return p
	}
	if c.ctx == nil || c.ctx.Err() != nil {
		return nil // not started, or leaving
	}
	// Its sequence numbers follow those of any earlier sender to the node
	// in this epoch, which the node may remember (handleDeliver).
	subj := c.subject("deliver", node)
	if fwd {
		subj = c.subject("fwd", node)
	}
	p = &peer{c: c, node: node, key: key, subj: subj, stats: c.stats(node),
		seq: c.seqHigh, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	if !c.spawn(p.run) {
		return nil // leaving
	}
	c.peers[key] = p
	return p
}

// stats returns the counters of node, created on first use.
func (c *Cluster) stats(node string) *peerStats {
	c.statsMu.Lock()
	defer c.statsMu.Unlock()
	s := c.peerStats[node]
	if s == nil {
		s = &peerStats{}
		c.peerStats[node] = s
	}
	return s
}

func (p *peer) enqueue(q *pending) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		if p.c.ctx.Err() == nil {
			return errPeerStopped
		}
		return context.Canceled
	}
	if len(p.queue) >= maxQueued {
		p.mu.Unlock()
		return errQueueFull
	}
	p.seq++
	binary.BigEndian.PutUint64(q.buf, p.seq)
	p.queue = append(p.queue, q)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

// run sends the queued stanzas until the cluster leaves, then fails what
// is still queued.
func (p *peer) run() {
	defer func() {
		if p.replies != nil {
			_ = p.sub.Unsubscribe()
		}
	}()
	for {
		select {
		case <-p.stop:
			return // idle, its node gone: nothing queued (dropIdlePeers)
		case <-p.c.ctx.Done():
			p.mu.Lock()
			p.closed = true
			rest := p.queue
			p.queue = nil
			p.mu.Unlock()
			for _, q := range rest {
				p.stats.failed.Add(1)
				q.done <- false
			}
			return
		case <-p.wake:
		}
		for p.send() {
		}
	}
}

// send sends one batch of what is queued; false when nothing was.
func (p *peer) send() bool {
	p.mu.Lock()
	size := 0
	n := 0
	for n < len(p.queue) && n < maxBatch && (n == 0 || size+len(p.queue[n].buf) <= maxBatchBytes) {
		size += len(p.queue[n].buf)
		n++
	}
	p.batch = append(p.batch[:0], p.queue[:n]...)
	rest := copy(p.queue, p.queue[n:])
	clear(p.queue[rest:])
	p.queue = p.queue[:rest]
	p.busy = n > 0
	p.mu.Unlock()
	if n == 0 {
		return false
	}
	defer func() {
		p.mu.Lock()
		p.busy = false
		p.mu.Unlock()
	}()
	c := p.c
	b := append(p.req[:0], batchMagic, batchVersion, byte(len(c.cfg.Node)))
	b = append(b, c.cfg.Node...)
	b = binary.BigEndian.AppendUint64(b, uint64(c.epoch))
	for _, q := range p.batch {
		b = append(b, q.buf...)
	}
	p.req = b
	ans, err := p.request(b)
	for i, q := range p.batch {
		ok := err == nil && i < len(ans) && ans[i] == '1'
		switch {
		case err != nil || i >= len(ans):
			p.stats.failed.Add(1)
		case ok:
			p.stats.sent.Add(1)
		default:
			p.stats.refused.Add(1)
		}
		q.done <- ok
	}
	if err != nil {
		c.log.Warn("handing stanzas to another node failed", "peer", p.node, "stanzas", len(p.batch), "err", err)
	}
	clear(p.batch)
	return true
}

// request sends a batch and returns the answer. A request that fails
// because NATS is unreachable is sent again, with a growing pause, for up
// to Config.RequestTimeout; one that timed out is sent once more (the
// peer answers the stanzas it already took from its memory of sequence
// numbers instead of delivering them twice). A peer that is not listening
// (NATS: no responders) fails at once: it is gone.
func (p *peer) request(b []byte) ([]byte, error) {
	c := p.c
	start := time.Now()
	wait := 50 * time.Millisecond
	timeouts := 0
	for {
		ans, err := p.roundTrip(b)
		if err == nil {
			p.stats.batches.Add(1)
			if len(ans) != len(p.batch) {
				return nil, errors.New("cluster: malformed answer to a batch")
			}
			return ans, nil
		}
		switch {
		case c.ctx.Err() != nil, errors.Is(err, nats.ErrNoResponders):
			return nil, err
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
			timeouts++
			if timeouts > 1 {
				return nil, err
			}
		default: // cut off from NATS
			if time.Since(start)+wait > c.cfg.RequestTimeout {
				return nil, err
			}
			t := time.NewTimer(wait)
			select {
			case <-c.ctx.Done():
				t.Stop()
				return nil, err
			case <-t.C:
			}
			wait *= 2
		}
		p.stats.retries.Add(1)
	}
}

// roundTrip publishes the batch b with the sender's reply subject and
// waits up to Config.RequestTimeout for its answer, skipping answers to
// earlier attempts (their first sequence number differs).
func (p *peer) roundTrip(b []byte) ([]byte, error) {
	c := p.c
	if p.replies == nil {
		inbox, replies := nats.NewInbox(), make(chan *nats.Msg, 16)
		sub, err := c.nc.ChanSubscribe(inbox, replies)
		if err != nil {
			return nil, err
		}
		p.inbox, p.replies, p.sub = inbox, replies, sub
		p.timer = time.NewTimer(time.Hour)
		p.timer.Stop()
	}
	first := binary.BigEndian.Uint64(p.batch[0].buf)
	if err := c.nc.PublishRequest(p.subj, p.inbox, b); err != nil {
		return nil, err
	}
	p.timer.Reset(c.cfg.RequestTimeout)
	defer p.timer.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return nil, c.ctx.Err()
		case <-p.timer.C:
			return nil, nats.ErrTimeout
		case m := <-p.replies:
			if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
				return nil, nats.ErrNoResponders // nobody listens on the peer's subject
			}
			if len(m.Data) >= 8 && binary.BigEndian.Uint64(m.Data) == first {
				return m.Data[8:], nil
			}
		}
	}
}

// dedup remembers the answers to a peer's latest stanzas, by sequence
// number, in one epoch of that peer.
type dedup struct {
	node  string
	epoch int64
	used  time.Time // of the last batch; guarded by Cluster.dedupMu
	slots [dedupWindow]struct {
		seq uint64
		ok  bool
	}
}

// handleDeliver takes a batch of stanzas from another node for sessions
// bound here and answers, per stanza, whether the session took it.
// Handlers of one subscription run one at a time, so a retransmitted batch
// is handled after the first copy and finds its answers in the window.
func (c *Cluster) handleDeliver(m *nats.Msg) { c.handleBatch(m, false) }

// handleForwarded takes a batch of stanzas forwarded by sessions that
// moved here from another node, as handleDeliver does, on a subscription
// of its own (see remote.fwd).
func (c *Cluster) handleForwarded(m *nats.Msg) { c.handleBatch(m, true) }

func (c *Cluster) handleBatch(m *nats.Msg, fwd bool) {
	node, ans, err := c.takeBatch(m.Data, fwd)
	if err != nil {
		// No answer: the sender times out and sends it again, or the
		// stanzas go offline or bounce.
		c.log.Warn("ignoring a malformed delivery batch", "peer", node, "err", err)
		return
	}
	if err := m.Respond(ans); err != nil {
		c.log.Warn("answering a delivery failed", "peer", node, "err", err)
	}
}

var errBatch = errors.New("cluster: malformed delivery batch")

// takeBatch delivers the stanzas of a batch (see the format above),
// forwarded ones if fwd, and returns the sending node and the answer.
func (c *Cluster) takeBatch(d []byte, fwd bool) (node string, ans []byte, err error) {
	if len(d) < 3 || d[0] != batchMagic || d[1] != batchVersion {
		return "", nil, errBatch
	}
	nl := int(d[2]) // as an int: 3+d[2] in bytes wraps past 252
	if len(d) < 3+nl+8 {
		return "", nil, errBatch
	}
	node = string(d[3 : 3+nl])
	if !validToken(node) {
		return "", nil, errBatch
	}
	d = d[3+nl:]
	epoch := int64(binary.BigEndian.Uint64(d))
	d = d[8:]
	st := c.stats(node)
	key := peerKey(node, fwd)
	c.dedupMu.Lock()
	dd := c.dedup[key]
	if dd == nil || dd.epoch < epoch {
		dd = &dedup{node: node, epoch: epoch}
		c.dedup[key] = dd
	}
	dd.used = c.cfg.Now()
	c.dedupMu.Unlock()
	ans = make([]byte, 8, 8+64) // the first seq, then the answers
	for len(d) > 0 {
		if len(d) < itemHeader {
			return node, nil, errBatch
		}
		seq := binary.BigEndian.Uint64(d)
		jl := int(binary.BigEndian.Uint16(d[8:]))
		if len(d) < itemHeader+jl+4 {
			return node, nil, errBatch
		}
		full := d[itemHeader : itemHeader+jl]
		d = d[itemHeader+jl:]
		sl := int(binary.BigEndian.Uint32(d))
		if sl < 0 || len(d)-4 < sl {
			return node, nil, errBatch
		}
		xmlb := d[4 : 4+sl]
		d = d[4+sl:]
		if len(ans) == 8 {
			binary.BigEndian.PutUint64(ans, seq)
		}
		slot := &dd.slots[seq%dedupWindow]
		var ok bool
		if dd.epoch == epoch && slot.seq == seq && seq != 0 {
			ok = slot.ok // a retransmission: answered before
			st.dups.Add(1)
		} else {
			ok = c.deliverLocal(full, xmlb)
			if ok {
				st.recvd.Add(1)
			} else {
				st.rrefused.Add(1)
			}
			if dd.epoch == epoch {
				slot.seq, slot.ok = seq, ok
			}
		}
		ans = append(ans, '0')
		if ok {
			ans[len(ans)-1] = '1'
		}
	}
	return node, ans, nil
}

func (c *Cluster) deliverLocal(fullb, data []byte) bool {
	full, err := jid.Parse(string(fullb))
	if err != nil {
		c.log.Warn("ignoring a delivery to a malformed JID", "err", err)
		return false
	}
	el, err := xml.Parse(data, stanza.NSClient)
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

// dropIdlePeers forgets the nodes that are not alive (not in this node's
// view): it stops their idle senders (a stanza routed there later starts
// a new one) and, once they have sent nothing for a lease, forgets what
// it remembered of their stanzas and their counters. Called at every
// heartbeat, so that node names that come and go (a deploy naming nodes
// anew) leave nothing behind.
func (c *Cluster) dropIdlePeers(alive func(node string) bool) {
	c.peersMu.Lock()
	for key, p := range c.peers {
		if alive(p.node) {
			continue
		}
		p.mu.Lock()
		if len(p.queue) == 0 && !p.busy && !p.closed {
			p.closed = true
			c.seqHigh = max(c.seqHigh, p.seq)
			delete(c.peers, key)
			close(p.stop)
		}
		p.mu.Unlock()
	}
	// c.peersMu stays held: a sender started meanwhile (peer) would
	// count into stats forgotten below.
	defer c.peersMu.Unlock()
	sending := make(map[string]bool, len(c.peers))
	for _, p := range c.peers {
		sending[p.node] = true
	}
	now := c.cfg.Now()
	c.dedupMu.Lock()
	for key, dd := range c.dedup {
		if !alive(dd.node) && now.Sub(dd.used) > c.cfg.Lease {
			delete(c.dedup, key)
		}
	}
	receiving := make(map[string]bool, len(c.dedup))
	for _, dd := range c.dedup {
		receiving[dd.node] = true
	}
	c.dedupMu.Unlock()
	c.statsMu.Lock()
	for node := range c.peerStats {
		if !alive(node) && !sending[node] && !receiving[node] {
			delete(c.peerStats, node)
		}
	}
	c.statsMu.Unlock()
}

// inView reports whether node is in this node's view.
func (c *Cluster) inView(node string) bool {
	c.mu.RLock()
	_, ok := c.views[node]
	c.mu.RUnlock()
	return ok
}

// PeerStats counts what this node exchanged with another node since it
// started.
type PeerStats struct {
	Node string
	// Sessions is the size of the peer's registry as this node sees it
	// (0 once its lease ended).
	Sessions int
	// Routed to the peer: taken by its session, refused by it (not bound
	// there any more, queue full), failed (not handed over: NATS
	// unreachable after retries, the peer gone or not answering in time,
	// too many waiting); the router stored or bounced the refused and
	// failed ones. Batches are the requests answered, Retries those sent
	// again.
	Sent, Refused, Failed, Batches, Retries uint64
	// Routed from the peer: taken by a session here, or refused;
	// Duplicates are retransmitted stanzas answered without delivering
	// them again.
	Received, ReceivedRefused, Duplicates uint64
}

// PeerStats returns the counters of every node this node exchanged
// stanzas with or sees in its registry, by name.
func (c *Cluster) PeerStats() []PeerStats {
	sizes := map[string]int{}
	c.mu.RLock()
	for node, v := range c.views {
		sizes[node] = len(v.res)
	}
	c.mu.RUnlock()
	c.statsMu.Lock()
	for node := range c.peerStats {
		if _, ok := sizes[node]; !ok {
			sizes[node] = 0
		}
	}
	c.statsMu.Unlock()
	out := make([]PeerStats, 0, len(sizes))
	for node, n := range sizes {
		s := c.stats(node)
		out = append(out, PeerStats{
			Node: node, Sessions: n,
			Sent: s.sent.Load(), Refused: s.refused.Load(), Failed: s.failed.Load(),
			Batches: s.batches.Load(), Retries: s.retries.Load(),
			Received: s.recvd.Load(), ReceivedRefused: s.rrefused.Load(), Duplicates: s.dups.Load(),
		})
	}
	slices.SortFunc(out, func(a, b PeerStats) int { return strings.Compare(a.Node, b.Node) })
	return out
}
