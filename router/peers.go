package router

import (
	"context"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"

	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// peerTracker counts, per local account, the distinct strangers it sent
// IQs, messages or subscription requests to in the current window
// (Privacy.MaxNewPeers): probing which accounts exist takes many of them,
// talking to people very few. Memory is bounded: MaxSenders accounts
// (rounded down to a multiple of the number of shards, at least one per
// shard), each with at most MaxNewPeers strangers and MaxContacts
// contacts, kept as 64-bit hashes. Senders are spread over shards so that
// sessions do not all wait for one lock.
type peerTracker struct {
	p        Privacy
	seed     maphash.Seed
	perShard int // senders per shard
	shards   [peerShards]peerShard
}

const peerShards = 16

type peerShard struct {
	mu      sync.Mutex
	senders map[uint64]*peerWindow // by the hash of the sender's bare JID
}

type peerWindow struct {
	start     time.Time
	strangers map[uint64]struct{}
	contacts  map[uint64]struct{}
	excess    int  // stanzas to further strangers in this window
	logged    bool // the excess was logged in this window
}

func newPeerTracker(p Privacy) *peerTracker {
	t := &peerTracker{p: p, seed: maphash.MakeSeed(), perShard: max(1, p.MaxSenders/peerShards)}
	for i := range t.shards {
		t.shards[i].senders = map[uint64]*peerWindow{}
	}
	return t
}

func (t *peerTracker) shard(sender uint64) *peerShard { return &t.shards[sender%peerShards] }

// hash returns the key of a bare JID (without allocating).
func (t *peerTracker) hash(bare jid.JID) uint64 {
	var h maphash.Hash
	h.SetSeed(t.seed)
	h.WriteString(bare.Localpart())
	h.WriteByte('@')
	h.WriteString(bare.Domainpart())
	return h.Sum64()
}

// countsAsPeer returns the local sender and peer of st if st is a stanza the
// throttle counts: an IQ request, a message (not an error) or a
// subscription request from a local account to another local account.
func (r *Router) countsAsPeer(st *stanza.Stanza) (sender, peer jid.JID, ok bool) {
	switch st.Kind {
	case stanza.KindIQ:
		ok = st.Type == stanza.TypeGet || st.Type == stanza.TypeSet
	case stanza.KindMessage:
		ok = st.Type != stanza.TypeError
	case stanza.KindPresence:
		ok = st.Type == stanza.TypeSubscribe
	}
	from, to := st.From, st.To
	if !ok || from.Localpart() == "" || to.Localpart() == "" || !r.IsLocal(to.Domainpart()) || !r.IsLocal(from.Domainpart()) {
		return sender, peer, false
	}
	sender, peer = from.Bare(), to.Bare()
	return sender, peer, !sender.Equal(peer)
}

// throttlePeers delays st if its sender has addressed more than
// MaxNewPeers strangers in the current window; the first time in a window
// it logs the sender. It returns an error only if ctx ended while waiting
// (the stanza is then dropped: its session is closing).
func (r *Router) throttlePeers(ctx context.Context, st *stanza.Stanza) error {
	sender, peer, ok := r.countsAsPeer(st)
	if !ok {
		return nil
	}
	t := r.peers
	skey, pkey := t.hash(sender), t.hash(peer)
	// known and add each take the shard's lock: the subscription lookup
	// between them goes to storage and must not hold up the shard's other
	// senders.
	if t.known(skey, pkey) {
		return nil
	}
	contact, err := r.knows(ctx, sender, peer)
	if err != nil {
		r.log.LogAttrs(ctx, slog.LevelError, "checking a subscription failed",
			slog.String("user", sender.String()), slog.Any("err", err))
		return nil // no delay for a storage failure
	}
	d, first, n := t.add(skey, pkey, contact)
	if first {
		r.log.LogAttrs(ctx, slog.LevelWarn, "account addresses many strangers: slowed down (probing for accounts?)",
			slog.String("user", sender.String()), slog.Int("strangers", n), slog.Duration("window", t.p.Window))
	}
	if d <= 0 {
		return nil
	}
	return sleep(ctx, t.p.Clock, d)
}

// knows reports whether a and b have a subscription in either direction.
func (r *Router) knows(ctx context.Context, a, b jid.JID) (bool, error) {
	if r.relations == nil {
		return false, nil
	}
	if ok, err := r.relations.Subscribed(ctx, b, a); err != nil || ok {
		return ok, err
	}
	return r.relations.Subscribed(ctx, a, b)
}

// known reports whether sender addressed peer in the current window.
func (t *peerTracker) known(sender, peer uint64) bool {
	now := t.p.Clock.Now()
	sh := t.shard(sender)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	w := sh.senders[sender]
	if w == nil || now.Sub(w.start) >= t.p.Window {
		return false
	}
	_, s := w.strangers[peer]
	_, c := w.contacts[peer]
	return s || c
}

// add records that sender addressed peer, a contact or not, and returns
// the delay for the stanza, whether the sender just went beyond the limit
// in this window (to log it once), and its number of strangers.
func (t *peerTracker) add(sender, peer uint64, contact bool) (d time.Duration, first bool, n int) {
	now := t.p.Clock.Now()
	sh := t.shard(sender)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	w := sh.senders[sender]
	switch {
	case w == nil:
		if len(sh.senders) >= t.perShard {
			sh.evictLocked(now, t.p.Window)
		}
		w = &peerWindow{start: now, strangers: map[uint64]struct{}{}, contacts: map[uint64]struct{}{}}
		sh.senders[sender] = w
	case now.Sub(w.start) >= t.p.Window:
		clear(w.strangers)
		clear(w.contacts)
		w.start, w.excess, w.logged = now, 0, false
	}
	if contact {
		if len(w.contacts) < t.p.MaxContacts {
			w.contacts[peer] = struct{}{}
		}
		return 0, false, len(w.strangers)
	}
	if _, ok := w.strangers[peer]; ok {
		return 0, false, len(w.strangers)
	}
	if len(w.strangers) < t.p.MaxNewPeers {
		w.strangers[peer] = struct{}{}
		return 0, false, len(w.strangers)
	}
	// Beyond the limit: the peer is not remembered, so every stanza to a
	// further stranger waits, longer each time.
	w.excess++
	first = !w.logged
	w.logged = true
	d = t.p.MaxDelay
	if w.excess <= 30 {
		d = min(t.p.BaseDelay<<(w.excess-1), t.p.MaxDelay)
	}
	return d, first, len(w.strangers) + w.excess
}

// evictLocked makes room for a sender: it removes the expired windows
// among a few entries (map order is random), else one that is not over
// the limit, else any.
func (sh *peerShard) evictLocked(now time.Time, window time.Duration) {
	const scan = 64
	var victim, calm uint64
	i, removed := 0, false
	for k, w := range sh.senders {
		switch {
		case now.Sub(w.start) >= window:
			delete(sh.senders, k)
			removed = true
		case calm == 0 && w.excess == 0:
			calm = k
		case victim == 0:
			victim = k
		}
		if i++; i == scan {
			break
		}
	}
	switch {
	case removed:
	case calm != 0:
		delete(sh.senders, calm)
	default:
		delete(sh.senders, victim)
	}
}

// tracked returns the number of senders tracked (tests).
func (t *peerTracker) tracked() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += len(sh.senders)
		sh.mu.Unlock()
	}
	return n
}

// sleep waits d on c, or until ctx ends.
func sleep(ctx context.Context, c Clock, d time.Duration) error {
	done := make(chan struct{})
	stop := c.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		stop()
		return ctx.Err()
	}
}
