package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/natstest"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

func testHandover(t testing.TB) *Handover {
	full := jid.MustParse("alice@example.org/phone")
	bob := jid.MustParse("bob@example.org/pc")
	var q []Queued
	for i, id := range []string{"m1", "m2", "m3"} {
		st := stanza.Build(stanza.KindMessage, stanza.TypeChat, id, bob, full)
		q = append(q, Queued{St: st, At: int64(1000 + i)})
	}
	p := stanza.Pack(stanza.Build(stanza.KindPresence, stanza.TypeAvailable, "", full, jid.JID{}))
	return &Handover{
		ID: "ABC.n1", JID: full, InH: 42, Acked: 1<<32 - 1, Timeout: 300 * time.Second, Version: 7, Queue: q,
		Available: true, Priority: -5, Presence: p, Interested: true, Carbons: true,
		Directed: []jid.JID{jid.MustParse("room@muc.example.org/alice")},
	}
}

// TestHandoverEncoding: a handover survives its encoding; a refusal too;
// malformed answers are errors, never a panic.
func TestHandoverEncoding(t *testing.T) {
	ho := testHandover(t)
	b, err := encodeHandover(ho)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeAnswer(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != ho.ID || !got.JID.Equal(ho.JID) || got.InH != ho.InH || got.Acked != ho.Acked || got.Timeout != ho.Timeout ||
		got.Version != ho.Version || got.Available != ho.Available || got.Priority != ho.Priority ||
		got.Interested != ho.Interested || got.Carbons != ho.Carbons || len(got.Directed) != 1 || !got.Directed[0].Equal(ho.Directed[0]) {
		t.Errorf("decoded %+v, want %+v", got, ho)
	}
	if got.Presence == "" || got.Presence != ho.Presence {
		t.Errorf("presence %q, want %q", got.Presence, ho.Presence)
	}
	if len(got.Queue) != len(ho.Queue) {
		t.Fatalf("queue of %d, want %d", len(got.Queue), len(ho.Queue))
	}
	for i, q := range got.Queue {
		if q.St.String() != ho.Queue[i].St.String() || q.At != ho.Queue[i].At || q.St.ID != ho.Queue[i].St.ID {
			t.Errorf("queue[%d] = %v at %d, want %v at %d", i, q.St, q.At, ho.Queue[i].St, ho.Queue[i].At)
		}
	}

	ref := &Refused{H: 9, Known: true}
	b, _ = json.Marshal(handoverAnswer{Refused: ref})
	var r *Refused
	if _, err := decodeAnswer(b); !errors.As(err, &r) || *r != *ref {
		t.Errorf("refusal decoded as %v", err)
	}

	for _, bad := range []string{
		``, `{`, `{}`, `null`,
		`{"state":{"id":"x","jid":"not a jid@@/","timeout_ms":1}}`,
		`{"state":{"id":"x","jid":"example.org","timeout_ms":1}}`,
		`{"state":{"id":"","jid":"a@example.org/r","timeout_ms":1}}`,
		`{"state":{"id":"x","jid":"a@example.org/r","timeout_ms":-1}}`,
		`{"state":{"id":"x","jid":"a@example.org/r","queue":[{"xml":"<message"}]}}`,
		`{"state":{"id":"x","jid":"a@example.org/r","queue":[{"xml":"<foo/>"}]}}`,
		`{"state":{"id":"x","jid":"a@example.org/r","presence":"<presence><"}}`,
		`{"state":{"id":"x","jid":"a@example.org/r","directed":["@@"]}}`,
	} {
		if ho, err := decodeAnswer([]byte(bad)); err == nil {
			t.Errorf("decodeAnswer(%q) = %+v, want an error", bad, ho)
		}
	}
}

// FuzzDecodeAnswer: no payload from another node makes decodeAnswer panic,
// and what it accepts encodes and decodes to the same.
func FuzzDecodeAnswer(f *testing.F) {
	b, err := encodeHandover(testHandover(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"refused":{"H":3,"Known":true}}`))
	f.Add([]byte(`{"state":{"id":"x","jid":"a@example.org/r","queue":[{"xml":"<message to='b@example.org'/>","at":1}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ho, err := decodeAnswer(data)
		if err != nil {
			return
		}
		b, err := encodeHandover(ho)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeAnswer(b)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", b, err)
		}
		if again.ID != ho.ID || !again.JID.Equal(ho.JID) || len(again.Queue) != len(ho.Queue) {
			t.Fatalf("round trip changed %+v into %+v", ho, again)
		}
	})
}

func TestSMIDNode(t *testing.T) {
	for _, c := range []struct{ id, node string }{
		{"ABCDEF.n1", "n1"},
		{"ABCDEF.node-2", "node-2"},
		{"ABCDEF", ""},
		{"ABCDEF.", ""},
		{"A.B.c", "c"},
		{"ABC.n 1", ""},
	} {
		if got := SMIDNode(c.id); got != c.node {
			t.Errorf("SMIDNode(%q) = %q, want %q", c.id, got, c.node)
		}
	}
}

// fakeSessions hands over one session.
type fakeSessions struct {
	ho       *Handover
	mu       sync.Mutex
	fwd      func(jid.JID, *stanza.Stanza) bool
	released chan bool // taken
}

func (f *fakeSessions) HandOver(_ context.Context, previd, account string, h uint32, fwd func(jid.JID, *stanza.Stanza) bool) (*Handover, func(bool), error) {
	if previd != f.ho.ID || account != f.ho.JID.Bare().String() {
		return nil, nil, &Refused{H: 5, Known: previd == "OLD.a"}
	}
	if h > f.ho.InH {
		return nil, nil, &Refused{H: h, TooHigh: true, Sent: f.ho.InH}
	}
	f.mu.Lock()
	f.fwd = fwd
	f.mu.Unlock()
	return f.ho, func(taken bool) { f.released <- taken }, nil
}

// TestHandoverOverNATS: node b resumes a session node a holds: it gets the
// state; a stanza a forwards before b has bound the session waits for the
// binding and arrives; a releases the session once b confirmed it and a
// sees it bound on b; an unconfirmed handover is ended by a.
// Unknown and ended sessions are refused with their h, an h too high too,
// and a session of a node that is not there fails as unreachable.
func TestHandoverOverNATS(t *testing.T) {
	url := natstest.URL(t)
	pfx := natstest.Prefix()
	a := startNode(t, url, pfx, "a", nil)
	b := startNode(t, url, pfx, "b", nil)
	ho := testHandover(t)
	ho.ID = "XYZ" + a.SMIDSuffix()
	fs := &fakeSessions{ho: ho, released: make(chan bool, 2)}
	if err := a.ServeHandovers(fs); err != nil {
		t.Fatal(err)
	}
	xmpptest.WaitFor(t, "b sees a", func() bool { return len(b.Status().Peers) == 1 })
	ctx := context.Background()
	account := ho.JID.Bare().String()

	var r *Refused
	if _, err := b.Resume(ctx, "a", "NOPE"+a.SMIDSuffix(), account, 0); !errors.As(err, &r) || r.Known {
		t.Errorf("unknown session: %v", err)
	}
	if _, err := b.Resume(ctx, "a", "OLD.a", account, 0); !errors.As(err, &r) || !r.Known || r.H != 5 {
		t.Errorf("ended session: %v", err)
	}
	if _, err := b.Resume(ctx, "a", ho.ID, account, ho.InH+1); !errors.As(err, &r) || !r.TooHigh {
		t.Errorf("h too high: %v", err)
	}
	if _, err := b.Resume(ctx, "b", "X"+b.SMIDSuffix(), account, 0); !errors.Is(err, ErrNotRemote) {
		t.Errorf("own session: %v", err)
	}
	if _, err := b.Resume(ctx, "c", "X.c", account, 0); !errors.Is(err, ErrUnreachable) {
		t.Errorf("unknown node: %v", err)
	}

	got, err := b.Resume(ctx, SMIDNode(ho.ID), ho.ID, account, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != ho.ID || len(got.Queue) != 3 {
		t.Fatalf("handover %+v", got)
	}
	fs.mu.Lock()
	fwd := fs.fwd
	fs.mu.Unlock()
	// A stanza reaches a after the handover, before b bound the session.
	msg := stanza.Build(stanza.KindMessage, stanza.TypeChat, "late", jid.MustParse("carol@example.org/x"), ho.JID)
	done := make(chan bool, 1)
	go func() { done <- fwd(ho.JID, msg) }()
	select {
	case <-fs.released:
		t.Fatal("a released the session before b took it")
	default:
	}
	s := &sink{}
	b.bind(ho.JID.String(), 0, s)
	b.Taken(got)
	if !<-done {
		t.Fatal("the forwarded stanza was not delivered")
	}
	if s.count() != 1 || !strings.Contains(s.got[0], "late") {
		t.Errorf("b's session got %v", s.got)
	}
	select {
	case taken := <-fs.released:
		if !taken {
			t.Error("released as not taken")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a did not release the session after b bound it")
	}

	// A handover b never confirms (its answer came too late): a ends the
	// session itself after a lease and a request timeout.
	if _, err := b.Resume(ctx, "a", ho.ID, account, 3); err != nil {
		t.Fatal(err)
	}
	select {
	case taken := <-fs.released:
		if taken {
			t.Error("released as taken")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a did not end the unconfirmed handover")
	}
}

// TestConflictAcrossNodes: the same full JID bound on a, then on b: a's
// older session is closed (Config.Conflict), b's is not; a newer session
// bound on a afterwards is not hit by the old decision, and b's, now the
// older, is closed. The same when b's clock is an hour behind a's: a bind
// made after seeing the full JID bound on the other node (a client binding
// again, a session resumed or drained there) is the newer one whatever
// the clocks say.
func TestConflictAcrossNodes(t *testing.T) {
	for _, skew := range []time.Duration{0, -time.Hour} {
		t.Run(skew.String(), func(t *testing.T) { testConflictAcrossNodes(t, skew) })
	}
}

func testConflictAcrossNodes(t *testing.T, skew time.Duration) {
	url := natstest.URL(t)
	pfx := natstest.Prefix()
	type closed struct {
		node string
		t    router.Target
	}
	ch := make(chan closed, 4)
	start := func(name string, skew time.Duration) node {
		return startWith(t, Config{
			Node: name, URL: url, Prefix: pfx,
			Heartbeat: 50 * time.Millisecond, Lease: 300 * time.Millisecond, RequestTimeout: time.Second,
			Conflict: func(_ context.Context, _ jid.JID, t router.Target) { ch <- closed{name, t} },
			Now:      func() time.Time { return time.Now().Add(skew) },
		})
	}
	a, b := start("a", 0), start("b", skew)
	xmpptest.WaitFor(t, "a and b see each other", func() bool {
		return len(a.Status().Peers) == 1 && len(b.Status().Peers) == 1
	})
	const full = "alice@example.org/phone"
	s1, s2, s3 := &sink{}, &sink{}, &sink{}
	a.bind(full, 0, s1)
	xmpptest.WaitFor(t, "b sees a's session", func() bool { _, ok := b.RemoteResource(jid.MustParse(full)); return ok })
	b.bind(full, 0, s2)
	select {
	case c := <-ch:
		if c.node != "a" || c.t != router.Target(s1) {
			t.Fatalf("closed %+v, want a's first session", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no conflict")
	}
	a.r.del(jid.MustParse(full))
	a.LocalChanged(jid.MustParse(full))
	// A third session on a, newer than b's.
	xmpptest.WaitFor(t, "a sees b's session", func() bool { _, ok := a.RemoteResource(jid.MustParse(full)); return ok })
	a.bind(full, 0, s3)
	select {
	case c := <-ch:
		if c.node != "b" || c.t != router.Target(s2) {
			t.Fatalf("closed %+v, want b's session", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no conflict for the newest bind")
	}
	select {
	case c := <-ch:
		t.Fatalf("closed %+v as well", c)
	case <-time.After(300 * time.Millisecond):
	}
}

// movedTarget is a session handed over to another node: what is delivered
// to it is forwarded there (session.Session in stateMoved). Its Deliver
// waits at the barrier first, so that two of them forward at once.
type movedTarget struct {
	full    jid.JID
	fwd     func(jid.JID, *stanza.Stanza) bool
	barrier *sync.WaitGroup
}

func (m movedTarget) Deliver(st *stanza.Stanza) bool {
	m.barrier.Done()
	m.barrier.Wait()
	return m.fwd(m.full, st)
}

// TestForwardBothWays: a session moved from a to b and another from b to
// a at the same time, each getting a stanza from c while the other one
// forwards: both stanzas are handed over (a node handling a batch that
// forwards to a node handling a batch that forwards back must not wait
// for each other until the request timeout; the stanzas would be
// refused, stored offline, and delivered as well).
func TestForwardBothWays(t *testing.T) {
	url := natstest.URL(t)
	pfx := natstest.Prefix()
	a, b, c := startNode(t, url, pfx, "a", nil), startNode(t, url, pfx, "b", nil), startNode(t, url, pfx, "c", nil)
	xmpptest.WaitFor(t, "the nodes see each other", func() bool {
		return len(a.Status().Peers) == 2 && len(b.Status().Peers) == 2 && len(c.Status().Peers) == 2
	})
	var barrier sync.WaitGroup
	barrier.Add(2)
	one, two := jid.MustParse("one@example.org/r"), jid.MustParse("two@example.org/r")
	s1, s2 := &sink{}, &sink{}
	a.r.set(router.Resource{JID: one, Target: movedTarget{one, a.ForwardTo("b"), &barrier}})
	b.r.set(router.Resource{JID: one, Target: s1})
	b.r.set(router.Resource{JID: two, Target: movedTarget{two, b.ForwardTo("a"), &barrier}})
	a.r.set(router.Resource{JID: two, Target: s2})

	from := jid.MustParse("carol@example.org/x")
	var wg sync.WaitGroup
	var ok1, ok2 bool
	wg.Add(2)
	go func() {
		defer wg.Done()
		ok1 = (&remote{c: c.Cluster, node: "a", full: one.String()}).Deliver(stanza.Build(stanza.KindMessage, stanza.TypeChat, "m1", from, one))
	}()
	go func() {
		defer wg.Done()
		ok2 = (&remote{c: c.Cluster, node: "b", full: two.String()}).Deliver(stanza.Build(stanza.KindMessage, stanza.TypeChat, "m2", from, two))
	}()
	wg.Wait()
	if !ok1 || !ok2 {
		t.Errorf("Deliver = %v, %v; want both taken", ok1, ok2)
	}
	if s1.count() != 1 || s2.count() != 1 {
		t.Errorf("delivered %d and %d, want 1 each", s1.count(), s2.count())
	}
}

// TestTakenRetried: a confirmation that does not reach the node that gave
// the session up (here: it was not listening yet; in life: the confirming
// node was cut off from NATS for a moment) is sent again, so that node
// does not end a session that lives on elsewhere (its queue rescued twice,
// its contacts told it went away).
func TestTakenRetried(t *testing.T) {
	url := natstest.URL(t)
	pfx := natstest.Prefix()
	a := startWith(t, Config{Node: "a", URL: url, Prefix: pfx,
		Heartbeat: 50 * time.Millisecond, Lease: 2 * time.Second, RequestTimeout: 200 * time.Millisecond})
	b := startNode(t, url, pfx, "b", nil)
	ho := testHandover(t)
	ho.from = "a"
	b.Taken(ho) // a does not listen yet
	if err := b.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	taken := make(chan struct{})
	if err := a.ServeHandovers(&refusingSessions{}); err != nil {
		t.Fatal(err)
	}
	a.handMu.Lock()
	a.taken[ho.ID] = taken
	a.handMu.Unlock()
	select {
	case <-taken:
	case <-time.After(10 * time.Second):
		t.Fatal("the confirmation was not sent again")
	}
}
