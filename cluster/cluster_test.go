package cluster

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/natstest"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// fakeRouter is a node's local sessions.
type fakeRouter struct {
	mu  sync.Mutex
	res map[string]router.Resource
}

func (f *fakeRouter) Resource(full jid.JID) (router.Resource, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.res[full.String()]
	return r, ok
}

func (f *fakeRouter) set(r router.Resource) {
	f.mu.Lock()
	if f.res == nil {
		f.res = map[string]router.Resource{}
	}
	f.res[r.JID.String()] = r
	f.mu.Unlock()
}

func (f *fakeRouter) del(full jid.JID) {
	f.mu.Lock()
	delete(f.res, full.String())
	f.mu.Unlock()
}

// sink is a session collecting what it is given.
type sink struct {
	mu  sync.Mutex
	got []string
}

func (s *sink) Deliver(st *stanza.Stanza) bool {
	s.mu.Lock()
	s.got = append(s.got, st.String())
	s.mu.Unlock()
	return true
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

type node struct {
	*Cluster
	r *fakeRouter
}

func startNode(t testing.TB, url, pfx, name string, gone func(context.Context, jid.JID)) node {
	t.Helper()
	return startWith(t, Config{
		Node: name, URL: url, Prefix: pfx,
		Heartbeat: 50 * time.Millisecond, Lease: 300 * time.Millisecond, RequestTimeout: time.Second,
		Gone: gone,
	})
}

// startWith starts a node configured by cfg, with sessions of its own,
// closed at the test's end.
func startWith(t testing.TB, cfg Config) node {
	t.Helper()
	r := &fakeRouter{}
	c, err := New(cfg, r, xmpptest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return node{c, r}
}

// bind binds full on n, available with priority prio.
func (n node) bind(full string, prio int8, t stanza.Target) jid.JID {
	j := jid.MustParse(full)
	n.r.set(router.Resource{JID: j, Target: t, Available: true, Priority: prio})
	n.LocalChanged(j)
	return j
}

func TestRegistryAndDelivery(t *testing.T) {
	url := natstest.URL(t)
	pfx := natstest.Prefix()
	a := startNode(t, url, pfx, "a", nil)
	s := &sink{}
	full := a.bind("bob@example.org/phone", 3, s)

	// b joins later: it learns a's registry from a snapshot.
	b := startNode(t, url, pfx, "b", nil)
	xmpptest.WaitFor(t, "b sees bob", func() bool { _, ok := b.RemoteResource(full); return ok })
	x, _ := b.RemoteResource(full)
	if !x.Available || x.Priority != 3 {
		t.Errorf("remote resource = %+v", x)
	}
	if rs := b.RemoteResources(full.Bare()); len(rs) != 1 {
		t.Errorf("RemoteResources = %v", rs)
	}

	// A stanza handed to the remote target reaches the session on a.
	msg := stanza.Build(stanza.KindMessage, stanza.TypeChat, "m1", jid.MustParse("alice@example.org/x"), full)
	if !x.Target.Deliver(msg) {
		t.Fatal("remote Deliver = false")
	}
	if s.count() != 1 {
		t.Fatalf("session got %d stanzas", s.count())
	}

	// Unbound on a: b forgets it, and a stanza still in flight to the
	// old target is refused (not delivered, so the router falls back).
	a.r.del(full)
	a.LocalChanged(full)
	xmpptest.WaitFor(t, "b forgets bob", func() bool { _, ok := b.RemoteResource(full); return !ok })
	if x.Target.Deliver(msg) {
		t.Error("Deliver to an unbound resource = true")
	}
}

// TestStaleAndRestart: updates of an older epoch are ignored; a node that
// restarts (new epoch) replaces its old view, whose available resources go
// unavailable; a node whose lease ends disappears with its entries.
func TestStaleAndRestart(t *testing.T) {
	url := natstest.URL(t)
	pfx := natstest.Prefix()
	var mu sync.Mutex
	var gone []string
	onGone := func(_ context.Context, full jid.JID) {
		mu.Lock()
		gone = append(gone, full.String())
		mu.Unlock()
	}
	goneList := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(gone)
	}
	a := startNode(t, url, pfx, "a", onGone)
	b1 := startNode(t, url, pfx, "b", nil)
	old := b1.bind("bob@example.org/old", 0, &sink{})
	xmpptest.WaitFor(t, "a sees bob/old", func() bool { _, ok := a.RemoteResource(old); return ok })
	oldEpoch := b1.epoch

	// b restarts as a new epoch before its lease ends.
	if err := b1.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	b2 := startNode(t, url, pfx, "b", nil)
	fresh := b2.bind("bob@example.org/new", 0, &sink{})
	xmpptest.WaitFor(t, "a sees bob/new", func() bool { _, ok := a.RemoteResource(fresh); return ok })
	if _, ok := a.RemoteResource(old); ok {
		t.Error("the old epoch's entry survived the restart")
	}
	xmpptest.WaitFor(t, "bob/old announced gone", func() bool { return slices.Contains(goneList(), old.String()) })

	// A late update of the old epoch (a delayed cleanup) changes nothing:
	// entries are never removed by key alone.
	late, _ := json.Marshal(update{Node: "b", Epoch: oldEpoch, Seq: 99, Gone: fresh.String()})
	if err := a.nc.Publish(pfx+".reg", late); err != nil {
		t.Fatal(err)
	}
	_ = a.nc.Flush()
	time.Sleep(100 * time.Millisecond)
	if _, ok := a.RemoteResource(fresh); !ok {
		t.Error("a stale update removed the new epoch's entry")
	}

	// b dies (no more heartbeats): within the lease it is gone.
	b2.cancel()
	b2.wg.Wait()
	b2.nc.Close()
	start := time.Now()
	xmpptest.WaitFor(t, "a forgets b", func() bool { _, ok := a.RemoteResource(fresh); return !ok })
	if d := time.Since(start); d > a.cfg.Lease+2*a.cfg.Heartbeat+200*time.Millisecond {
		t.Errorf("b disappeared after %v (lease %v)", d, a.cfg.Lease)
	}
	xmpptest.WaitFor(t, "bob/new announced gone", func() bool { return slices.Contains(goneList(), fresh.String()) })
}

func TestConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Node: "", URL: "nats://x"},
		{Node: "a.b", URL: "nats://x"},
		{Node: "a", URL: ""},
		{Node: "a", URL: "nats://x", Prefix: "p..q"},
		{Node: "a", URL: "nats://x", Heartbeat: time.Second, Lease: time.Second},
	} {
		if _, err := New(cfg, &fakeRouter{}, nil); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	if _, err := New(Config{Node: "a", URL: "nats://x"}, &fakeRouter{}, nil); err != nil {
		t.Error(err)
	}
}

// batchOf encodes a delivery batch from node in epoch (see deliver.go).
func batchOf(node string, epoch int64, items ...struct {
	seq  uint64
	full string
	xml  string
}) []byte {
	b := []byte{batchMagic, batchVersion, byte(len(node))}
	b = append(b, node...)
	b = binary.BigEndian.AppendUint64(b, uint64(epoch))
	for _, it := range items {
		b = binary.BigEndian.AppendUint64(b, it.seq)
		b = binary.BigEndian.AppendUint16(b, uint16(len(it.full)))
		b = append(b, it.full...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(it.xml)))
		b = append(b, it.xml...)
	}
	return b
}

type item = struct {
	seq  uint64
	full string
	xml  string
}

// TestTakeBatch: a batch is answered per stanza; a retransmitted stanza
// (same node, epoch and sequence number) is answered from memory, not
// delivered twice; a new epoch of the sender starts afresh.
func TestTakeBatch(t *testing.T) {
	r := &fakeRouter{}
	s := &sink{}
	r.set(router.Resource{JID: jid.MustParse("bob@example.org/phone"), Target: s})
	c, err := New(Config{Node: "a", URL: "nats://unused"}, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := "<message to='bob@example.org/phone' type='chat'><body>hi</body></message>"
	b := batchOf("b", 1,
		item{1, "bob@example.org/phone", msg},
		item{2, "bob@example.org/gone", msg},
		item{3, "bob@example.org/phone", "<message><body>"},
		item{4, "bob@example.org/phone", msg})
	for _, tc := range []struct {
		name string
		data []byte
		ans  string
		got  int
	}{
		{"first", b, "1001", 2},
		{"retransmitted", b, "1001", 2},
		{"next", batchOf("b", 1, item{5, "bob@example.org/phone", msg}), "1", 3},
		{"new epoch", batchOf("b", 2, item{1, "bob@example.org/phone", msg}), "1", 4},
		{"old epoch", batchOf("b", 1, item{1, "bob@example.org/phone", msg}), "1", 5},
	} {
		node, ans, err := c.takeBatch(tc.data, false)
		if err == nil && binary.BigEndian.Uint64(ans) != binary.BigEndian.Uint64(tc.data[3+1+8:]) {
			t.Errorf("%s: the answer does not start with the first sequence number: %q", tc.name, ans)
		}
		if len(ans) >= 8 {
			ans = ans[8:]
		}
		if err != nil || node != "b" || string(ans) != tc.ans || s.count() != tc.got {
			t.Errorf("%s: node %q, answer %q, err %v, delivered %d; want %q, %d", tc.name, node, ans, err, s.count(), tc.ans, tc.got)
		}
	}
	if n := c.stats("b").dups.Load(); n != 4 {
		t.Errorf("duplicates = %d, want 4", n)
	}
	for _, bad := range [][]byte{nil, {'B'}, {'B', 9, 1, 'b'}, b[:len(b)-1], append(slices.Clone(b), 0)} {
		if _, _, err := c.takeBatch(bad, false); err == nil {
			t.Errorf("takeBatch(%q) accepted", bad)
		}
	}
}

// FuzzTakeBatch feeds arbitrary batches from other nodes to the parser:
// never a panic, and nothing delivered unless it is a stanza for a bound
// resource.
func FuzzTakeBatch(f *testing.F) {
	msg := "<message to='bob@example.org' type='chat'><body>hi</body></message>"
	f.Add(batchOf("b", 1, item{1, "bob@example.org/phone", msg}))
	f.Add(batchOf("b", 1, item{1, "bob@example.org/phone", "<presence/>"}, item{2, "", "<message/>"}))
	f.Add(batchOf("b", 1, item{1, "bob@example.org/phone", "<message><body>"}))
	f.Add([]byte("bob@example.org/phone"))
	r := &fakeRouter{}
	s := &sink{}
	r.set(router.Resource{JID: jid.MustParse("bob@example.org/phone"), Target: s})
	c, err := New(Config{Node: "a", URL: "nats://unused"}, r, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		before := s.count()
		_, ans, _ := c.takeBatch(data, false)
		if d := s.count() - before; d > len(data)/10 {
			t.Fatalf("%d stanzas delivered from %d bytes", d, len(data))
		}
		_ = ans
	})
}
