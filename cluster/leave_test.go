package cluster

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/natstest"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// TestLeave: a node that closes announces it; its peers drop it at once
// (long before its lease), send the unavailable presence of what it still
// listed, and ignore its late heartbeats.
func TestLeave(t *testing.T) {
	url := natstest.URL(t)
	pfx := natstest.Prefix()
	var mu sync.Mutex
	var gone []string
	start := func(name string, onGone func(context.Context, jid.JID)) *Cluster {
		c, err := New(Config{Node: name, URL: url, Prefix: pfx,
			Heartbeat: 100 * time.Millisecond, Lease: 30 * time.Second, Gone: onGone}, &fakeRouter{}, xmpptest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close(context.Background()) })
		return c
	}
	a := start("a", func(_ context.Context, full jid.JID) {
		mu.Lock()
		gone = append(gone, full.String())
		mu.Unlock()
	})
	r := &fakeRouter{}
	b, err := New(Config{Node: "b", URL: url, Prefix: pfx,
		Heartbeat: 100 * time.Millisecond, Lease: 30 * time.Second}, r, xmpptest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	bn := node{b, r}
	full := bn.bind("bob@example.org/phone", 0, &sink{})
	xmpptest.WaitFor(t, "a sees bob", func() bool { _, ok := a.RemoteResource(full); return ok })
	epoch := b.epoch

	left := time.Now()
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	xmpptest.WaitFor(t, "a forgets b", func() bool { return len(a.Status().Peers) == 0 })
	if d := time.Since(left); d > 10*time.Second {
		t.Errorf("a dropped b after %v; the lease is 30 s", d)
	}
	if _, ok := a.RemoteResource(full); ok {
		t.Error("a still routes to bob on b")
	}
	xmpptest.WaitFor(t, "bob announced gone", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(gone, full.String())
	})

	// A heartbeat of b's closed epoch arriving late does not bring it back.
	late, _ := json.Marshal(heartbeat{Node: "b", Epoch: epoch, Seq: 1, Sessions: 1})
	if err := a.nc.Publish(pfx+".hb", late); err != nil {
		t.Fatal(err)
	}
	if err := a.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// a handles its subscriptions in order: its own heartbeat after the
	// late one proves the late one was handled.
	own, _ := json.Marshal(heartbeat{Node: "c", Epoch: 1})
	_ = a.nc.Publish(pfx+".hb", own)
	xmpptest.WaitFor(t, "a hears c", func() bool { return len(a.Status().Peers) == 1 })
	if p := a.Status().Peers; len(p) != 1 || p[0].Node != "c" {
		t.Errorf("peers after a late heartbeat of a node that left: %+v", p)
	}
}

// countHandler counts the records whose message contains a string.
type countHandler struct {
	slog.Handler
	substr string
	n      *atomic.Int32
}

func (h countHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.substr) {
		h.n.Add(1)
	}
	return nil
}

func (h countHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countHandler) WithGroup(string) slog.Handler      { return h }

// TestNumberCollision: two nodes with one number: each logs it once
// (not at every heartbeat) and shows it in its Status.
func TestNumberCollision(t *testing.T) {
	url := natstest.URL(t)
	pfx := natstest.Prefix()
	var errs atomic.Int32
	log := slog.New(countHandler{Handler: slog.DiscardHandler, substr: "this node's number", n: &errs})
	var nodes []*Cluster
	for _, name := range []string{"a", "b"} {
		c, err := New(Config{Node: name, Number: 7, URL: url, Prefix: pfx,
			Heartbeat: 20 * time.Millisecond, Lease: time.Second}, &fakeRouter{}, log)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close(context.Background()) })
		nodes = append(nodes, c)
	}
	for i, c := range nodes {
		other := nodes[1-i].cfg.Node
		xmpptest.WaitFor(t, c.cfg.Node+" sees the collision", func() bool {
			st := c.Status()
			return len(st.Collisions) == 1 && st.Collisions[0] == other && st.Number == 7 &&
				len(st.Peers) == 1 && st.Peers[0].Number == 7
		})
	}
	// Many heartbeats later: still one error per node.
	for range 10 {
		time.Sleep(30 * time.Millisecond)
	}
	if n := errs.Load(); n != 2 {
		t.Errorf("the collision was logged %d times by two nodes, want 2", n)
	}
}

// TestDepartedPeerForgotten: the sender to a node that left, its
// subscription and the memory of its stanzas' sequence numbers do not stay
// for ever (node names change at every deploy on some platforms); a
// stanza routed to the node after its sender stopped is still handed
// over, and its sequence numbers are not mistaken for those of stanzas
// delivered before.
func TestDepartedPeerForgotten(t *testing.T) {
	url := natstest.URL(t)
	pfx := natstest.Prefix()
	start := func(name string) node {
		return startWith(t, Config{Node: name, URL: url, Prefix: pfx,
			Heartbeat: 20 * time.Millisecond, Lease: 200 * time.Millisecond})
	}
	a, b := start("a"), start("b")
	s := &sink{}
	full := b.bind("bob@example.org/phone", 0, s)
	xmpptest.WaitFor(t, "a sees bob", func() bool { _, ok := a.RemoteResource(full); return ok })
	x, _ := a.RemoteResource(full)
	msg := stanza.Build(stanza.KindMessage, stanza.TypeChat, "m1", jid.MustParse("alice@example.org/x"), full)
	if !x.Target.Deliver(msg) {
		t.Fatal("Deliver = false")
	}
	c := start("c")
	xmpptest.WaitFor(t, "c sees b", func() bool { return len(c.Status().Peers) == 2 })
	cs := &sink{}
	cfull := c.bind("carol@example.org/pc", 0, cs)
	xmpptest.WaitFor(t, "b sees carol", func() bool { _, ok := b.RemoteResource(cfull); return ok })
	y, _ := b.RemoteResource(cfull)
	if !y.Target.Deliver(msg) {
		t.Fatal("Deliver to c = false")
	}
	// c leaves: a forgets its sender to... nothing (a never sent to c);
	// b forgets its sender to c and what it remembered of c's stanzas.
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	forgotten := func(n node, peer string) bool {
		n.peersMu.RLock()
		_, sending := n.peers[peerKey(peer, false)]
		n.peersMu.RUnlock()
		n.statsMu.Lock()
		_, counted := n.peerStats[peer]
		n.statsMu.Unlock()
		return !sending && !counted
	}
	xmpptest.WaitFor(t, "b forgets c", func() bool { return forgotten(b, "c") })
	xmpptest.WaitFor(t, "b forgets that c left, after a lease", func() bool {
		b.mu.RLock()
		defer b.mu.RUnlock()
		_, ok := b.left["c"]
		return !ok
	})

	// b is still known to a: its sender stays; a stanza after a stopped
	// sender (b's entry outliving b's view in a router) is delivered.
	a.peersMu.RLock()
	_, sending := a.peers["b"]
	a.peersMu.RUnlock()
	if !sending {
		t.Error("a's sender to b, alive, stopped")
	}
	a.dropIdlePeers(func(string) bool { return false }) // as if b had gone: the sender stops
	a.peersMu.RLock()
	_, sending = a.peers["b"]
	a.peersMu.RUnlock()
	if sending {
		t.Fatal("the idle sender to b did not stop")
	}
	for i := range 3 {
		if !x.Target.Deliver(msg) {
			t.Fatalf("Deliver %d after the sender stopped = false", i)
		}
	}
	if got := s.count(); got != 4 {
		t.Errorf("bob got %d stanzas, want 4", got)
	}
}

// TestLeaveWithoutDeadline: Close with a context without a deadline still
// waits for NATS to have the departure (bounded by the request timeout)
// instead of failing to.
func TestLeaveWithoutDeadline(t *testing.T) {
	var failed, left atomic.Int32
	log := slog.New(countHandler{Handler: slog.DiscardHandler, substr: "announcing the departure failed", n: &failed})
	c, err := New(Config{Node: "a", URL: natstest.URL(t), Prefix: natstest.Prefix(),
		Heartbeat: 100 * time.Millisecond, Lease: time.Second}, &fakeRouter{},
		slog.New(multiHandler{log.Handler(), countHandler{Handler: slog.DiscardHandler, substr: "left the cluster", n: &left}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if failed.Load() != 0 || left.Load() != 1 {
		t.Errorf("departure failed %d times, announced %d times", failed.Load(), left.Load())
	}
}

// multiHandler hands each record to every handler.
type multiHandler []slog.Handler

func (m multiHandler) Handle(ctx context.Context, r slog.Record) error {
	for _, h := range m {
		_ = h.Handle(ctx, r)
	}
	return nil
}

func (m multiHandler) Enabled(context.Context, slog.Level) bool { return true }
func (m multiHandler) WithAttrs([]slog.Attr) slog.Handler       { return m }
func (m multiHandler) WithGroup(string) slog.Handler            { return m }
