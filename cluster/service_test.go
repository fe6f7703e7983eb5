package cluster

import (
	"context"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/natstest"
	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// fakeServices is a node's in-process services: it takes stanzas to
// conference.example.org and remembers them.
type fakeServices struct {
	c         *Cluster
	mu        sync.Mutex
	got       []string
	forwarded bool
}

func (f *fakeServices) Deliver(ctx context.Context, st *stanza.Stanza) int {
	if st.To.Domainpart() != "conference.example.org" {
		return 0
	}
	f.mu.Lock()
	f.got = append(f.got, st.From.String()+" "+st.To.String())
	f.forwarded = f.c.Forwarded(ctx)
	f.mu.Unlock()
	return 1
}

// TestForward: a stanza forwarded to another node's services arrives there
// with its 'from', marked forwarded; one the services decline, and one to
// a node that is not there, are reported.
func TestForward(t *testing.T) {
	url, pfx := natstest.URL(t), natstest.Prefix()
	a := startNode(t, url, pfx, "a", nil)
	b := startNode(t, url, pfx, "b", nil)
	svc := &fakeServices{c: b.Cluster}
	b.ServeServices(svc)

	st := routertest.Parse(t, `<message from='alice@example.org/phone' to='coven@conference.example.org' type='groupchat'><body>hi</body></message>`)
	taken, err := a.Forward(t.Context(), "b", st)
	if err != nil || !taken {
		t.Fatalf("Forward: %v %v", taken, err)
	}
	svc.mu.Lock()
	got, fwd := svc.got, svc.forwarded
	svc.mu.Unlock()
	if len(got) != 1 || got[0] != "alice@example.org/phone coven@conference.example.org" || !fwd {
		t.Errorf("b's services got %q (forwarded %v)", got, fwd)
	}
	if a.Forwarded(t.Context()) {
		t.Error("a context of this node counts as forwarded")
	}
	st.SetTo(jid.MustParse("upload.example.org"))
	if taken, err := a.Forward(t.Context(), "b", st); err != nil || taken {
		t.Errorf("Forward to a service b has not: %v %v", taken, err)
	}
	if taken, err := a.Forward(t.Context(), "nobody", st); err == nil || taken {
		t.Errorf("Forward to a node that is not there: %v %v", taken, err)
	}
}

// TestAliveAndServing: a node sees itself and its peers alive in their
// epochs, its own lease runs once it hears its heartbeats, and a peer that
// left is dead after its lease.
func TestAliveAndServing(t *testing.T) {
	url, pfx := natstest.URL(t), natstest.Prefix()
	a := startNode(t, url, pfx, "a", nil)
	b := startNode(t, url, pfx, "b", nil)
	xmpptest.WaitFor(t, "a's lease runs", func() bool { _, ok := a.Serving(); return ok })
	an, ae := a.Self()
	bn, be := b.Self()
	if !a.Alive(an, ae) || a.Alive(an, ae-1) {
		t.Error("a's view of itself")
	}
	xmpptest.WaitFor(t, "a sees b", func() bool {
		a.mu.RLock()
		defer a.mu.RUnlock()
		return a.views[bn] != nil
	})
	if !a.Alive(bn, be) || a.Alive(bn, be-1) {
		t.Error("a's view of b")
	}
	if err := b.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	xmpptest.WaitFor(t, "b's lease ends for a", func() bool { return !a.Alive(bn, be) })
}

// TestOwnLease: this node's lease as seen by the others runs until Lease
// minus one heartbeat after the last heartbeat heard back was sent; a gap
// starts a new run (since).
func TestOwnLease(t *testing.T) {
	now := time.Unix(1000, 0)
	c, err := New(Config{Node: "a", URL: "nats://127.0.0.1:1", Heartbeat: time.Second, Lease: 5 * time.Second,
		Now: func() time.Time { return now }}, &fakeRouter{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Serving(); ok {
		t.Fatal("serving before any heartbeat")
	}
	beat := func(sent time.Time) { c.ownBeat(heartbeat{Node: "a", Epoch: c.epoch, Sent: sent.UnixNano()}) }
	t0 := now
	beat(t0)
	now = t0.Add(3 * time.Second)
	beat(t0.Add(time.Second))
	since, ok := c.Serving()
	if !ok || !since.Equal(t0) {
		t.Errorf("after two beats: %v %v, want since %v", since, ok, t0)
	}
	now = t0.Add(5 * time.Second) // 4 s after the last beat sent: lapsed
	if _, ok := c.Serving(); ok {
		t.Error("serving 4 s after the last heartbeat (lease 5 s, heartbeat 1 s)")
	}
	c.ownBeat(heartbeat{Node: "a", Epoch: c.epoch + 1, Sent: now.UnixNano()}) // another process's epoch
	if _, ok := c.Serving(); ok {
		t.Error("another epoch's heartbeat counts")
	}
	beat(now)
	since, ok = c.Serving()
	if !ok || !since.Equal(now) {
		t.Errorf("after the gap: %v %v, want since %v", since, ok, now)
	}
	// A heartbeat sent in time but heard back after the lease's end: a
	// lapse all the same.
	t1 := now
	now = t1.Add(4500 * time.Millisecond)
	beat(t1.Add(3 * time.Second))
	if since, ok = c.Serving(); !ok || !since.Equal(now) {
		t.Errorf("after a late heartbeat: %v %v, want since %v", since, ok, now)
	}
}

// TestLeaseTooShort: with a lease of two heartbeats, this node's own lease
// would lapse at every heartbeat that takes any time at all to come back
// from NATS (MUC rooms answering service-unavailable, claims restarted), so
// New refuses a lease shorter than three heartbeats: a heartbeat may then
// take up to one interval to come back.
func TestLeaseTooShort(t *testing.T) {
	if _, err := New(Config{Node: "a", URL: "nats://x", Heartbeat: time.Second, Lease: 2 * time.Second}, &fakeRouter{}, nil); err == nil {
		t.Error("New accepted a lease of two heartbeats")
	}
	now := time.Unix(1000, 0)
	c, err := New(Config{Node: "a", URL: "nats://x", Heartbeat: time.Second, Lease: 3 * time.Second,
		Now: func() time.Time { return now }}, &fakeRouter{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := now
	for i := range 5 { // each heartbeat heard back 900 ms after it was sent
		sent := t0.Add(time.Duration(i) * time.Second)
		now = sent.Add(900 * time.Millisecond)
		c.ownBeat(heartbeat{Node: "a", Epoch: c.epoch, Sent: sent.UnixNano()})
		now = sent.Add(1899 * time.Millisecond) // just before the next one is heard
		if since, ok := c.Serving(); !ok || !since.Equal(t0.Add(900*time.Millisecond)) {
			t.Fatalf("heartbeat %d: serving %v since %v", i, ok, since)
		}
	}
}
