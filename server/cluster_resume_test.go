package server_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/natstest"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/server"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// TestClusterResumeOtherNode: alice's session hibernates on node 1; she
// resumes it on node 2 (XEP-0198 <resume/> to a node that does not hold
// it). Node 1 hands the session over: <resumed/> carries node 1's h, the
// client's h is applied (what she had received is not sent again), and
// every message sent to her before the resumption (queued on node 1) and
// while it happens (from bob on node 2 and carol on node 1, routed to
// node 1, then to node 2) arrives exactly once, in each sender's order.
// Her contacts never see her go unavailable, and node 2 now holds her
// resource with its presence.
func TestClusterResumeOtherNode(t *testing.T) {
	n := natstest.Addr(t)
	nodes := startCluster(t, "nats://"+n, "nats://"+n)
	n1, n2 := nodes[0], nodes[1]
	n1.users("alice", "bob", "carol")
	n1.befriend("alice", "bob")
	const full = "alice@localhost/phone"

	alice := n1.dialSM("alice", "phone")
	if err := alice.SendStanza("<presence><priority>3</priority></presence>"); err != nil {
		t.Fatal(err)
	}
	sees(t, n2, full, true)
	if !strings.HasSuffix(alice.SM.ID, ".n1") {
		t.Fatalf("SM-ID %q does not name node n1", alice.SM.ID)
	}
	bob := online(t, n2, "bob", "pc")
	expectStanza(t, bob, "presence", isPresence("", full))
	carol := n1.dial("carol", "c")

	for _, id := range seq("b", 0, 3) {
		if err := bob.SendRaw(chat(full, id, id)); err != nil {
			t.Fatal(err)
		}
	}
	if got := readIDs(t, alice, 3); !slices.Equal(got, seq("b", 0, 3)) {
		t.Fatalf("before the cut: %v", got)
	}
	alice.Cut()
	waitFor(t, "hibernation on node 1", func() bool { return n1.SessionsForTest().Stats().Hibernated == 1 })
	before := n1.SessionsForTest().Census().Unacked // what alice did not acknowledge
	for _, id := range seq("b", 3, 6) {
		if err := bob.SendRaw(chat(full, id, id)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "b3-b5 queued on node 1", func() bool { return n1.SessionsForTest().Census().Unacked == before+3 })

	// Messages keep coming from both nodes while alice resumes on node 2.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	sent := map[string][]string{}
	var sentMu sync.Mutex
	for _, s := range []struct {
		name string
		c    *xmpptest.Client
	}{{"bob", bob}, {"carol", carol}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := s.name + string(rune('A'+i/26)) + string(rune('a'+i%26))
				if i >= 60 || s.c.SendRaw(chat(full, id, id)) != nil {
					return
				}
				sentMu.Lock()
				sent[s.name] = append(sent[s.name], id)
				sentMu.Unlock()
				time.Sleep(2 * time.Millisecond) // a steady stream, not a sync
			}
		}()
	}
	r, err := n2.resume("alice", alice.SM, false)
	if err != nil {
		close(stop)
		wg.Wait()
		t.Fatalf("resume on node 2: %v", err)
	}
	if got := r.SM.ServerH(); got != 1 {
		t.Errorf("<resumed h='%d'/>, want 1 (her presence)", got)
	}
	// The senders go on a little after the resumption, then stop.
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	// A last message from each, after everything: when it arrives, all
	// before it did.
	for _, c := range []*xmpptest.Client{bob, carol} {
		if err := c.SendRaw(chat(full, "last", "last")); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	lasts := 0
	for lasts < 2 {
		el, err := r.Next()
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		if el.Name.Local != "message" {
			continue
		}
		if id := el.AttrValue("id"); id == "last" {
			lasts++
		} else {
			got = append(got, id)
		}
	}
	want := seq("b", 3, 6)
	var fromBob, fromCarol []string
	for _, id := range got {
		switch {
		case strings.HasPrefix(id, "bob"):
			fromBob = append(fromBob, id)
		case strings.HasPrefix(id, "carol"):
			fromCarol = append(fromCarol, id)
		default:
			if len(fromBob)+len(fromCarol) > 0 {
				t.Errorf("queued message %s after newer ones: %v", id, got)
			}
		}
	}
	if len(got) < 3 || !slices.Equal(got[:3], want) {
		t.Errorf("queued messages: got %v, want %v first", got, want)
	}
	sentMu.Lock()
	defer sentMu.Unlock()
	if !slices.Equal(fromBob, sent["bob"]) {
		t.Errorf("bob's messages: got %v, sent %v", fromBob, sent["bob"])
	}
	if !slices.Equal(fromCarol, sent["carol"]) {
		t.Errorf("carol's messages: got %v, sent %v", fromCarol, sent["carol"])
	}
	if len(sent["bob"]) == 0 || len(sent["carol"]) == 0 {
		t.Errorf("no message sent during the resumption: %v", sent)
	}

	waitFor(t, "node 2 holds alice/phone", func() bool {
		res, ok := n2.Router.Resource(jid.MustParse(full))
		return ok && res.Available && res.Priority == 3
	})
	waitFor(t, "node 1 released alice/phone", func() bool {
		_, ok := n1.Router.Resource(jid.MustParse(full))
		return !ok
	})
	sees(t, n1, full, true)
	if st := n1.SessionsForTest().Stats(); st.HandedOver != 1 || st.Hibernated != 0 || st.Resumable != 0 {
		t.Errorf("node 1 stats after the handover: %+v", st)
	}
	waitFor(t, "node 2 counts the resumption", func() bool { return n2.SessionsForTest().Stats().RemoteResumptions == 1 })
	// bob never saw alice go unavailable.
	for el := bob.NoMore(200 * time.Millisecond); el != nil; el = bob.NoMore(200 * time.Millisecond) {
		if isPresence("unavailable", full)(el) {
			t.Fatalf("bob saw alice go unavailable: %v", el)
		}
	}
	// The session on node 2 ends like any: her contacts see it.
	if err := r.SendRaw("<presence type='unavailable'/>"); err != nil {
		t.Fatal(err)
	}
	expectStanza(t, bob, "presence", isPresence("unavailable", full))
}

// TestClusterResumeNodeGone: alice's session hibernated on node 1, which
// then dies (cut from NATS) or shuts down. Her <resume/> on node 2 fails with
// item-not-found and the h node 1 persisted in PostgreSQL when the session
// hibernated (so she knows which of her stanzas were handled), and she can
// bind a new session there at once.
func TestClusterResumeNodeGone(t *testing.T) {
	for _, how := range []string{"cut", "shutdown"} {
		t.Run(how, func(t *testing.T) { testResumeNodeGone(t, how == "shutdown") })
	}
}

func testResumeNodeGone(t *testing.T, shutdown bool) {
	n := natstest.Addr(t)
	proxy := newNATSProxy(t, n)
	nodes := startCluster(t, proxy.url(), "nats://"+n)
	n1, n2 := nodes[0], nodes[1]
	n1.users("alice")
	alice := n1.dialSM("alice", "phone")
	if err := alice.SendStanza("<presence/>"); err != nil {
		t.Fatal(err)
	}
	if err := alice.SendStanza("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>"); err != nil {
		t.Fatal(err)
	}
	expectStanza(t, alice, "iq", func(e *xml.Element) bool { return e.AttrValue("id") == "r1" })
	sees(t, n2, "alice@localhost/phone", true)
	alice.Cut()
	waitFor(t, "hibernation on node 1", func() bool { return n1.SessionsForTest().Stats().Hibernated == 1 })
	ctx := context.Background()
	waitFor(t, "node 1 persisted the session", func() bool {
		_, ok, err := n2.Stores.SM.LostSM(ctx, alice.SM.ID, "alice@localhost", time.Now())
		return ok && err == nil
	})
	if shutdown {
		// Shutdown ends the hibernated session (its messages rescued to
		// offline storage) and records its h.
		n1.stop()
	} else {
		proxy.cut()
	}
	waitFor(t, "node 2 forgets node 1", func() bool {
		return len(n2.Router.Resources(jid.MustParse("alice@localhost"))) == 0
	})
	_, err := n2.resume("alice", alice.SM, false)
	var f *xmpptest.ResumeFailed
	if !errors.As(err, &f) || f.Condition != "item-not-found" || !f.HasH || f.H != 2 {
		t.Fatalf("resume on node 2 after node 1 died: %v, want <failed h='2'><item-not-found/>", err)
	}
	c := n2.dial("alice", "phone")
	if err := c.SendRaw("<presence/>"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice bound on node 2", func() bool { return available(n2, "alice@localhost/phone") })
}

// TestClusterConflict: alice/phone is bound on node 1, then bound again on
// node 2 (RFC 6120 §7.7.2.2 across nodes): the newer session wins. Node 1
// closes its live session with a <conflict/> stream error, or ends its
// hibernated one; node 2's session stays bound and is where messages go.
func TestClusterConflict(t *testing.T) {
	for _, hibernated := range []bool{false, true} {
		t.Run(map[bool]string{false: "live", true: "hibernated"}[hibernated], func(t *testing.T) {
			n := natstest.Addr(t)
			nodes := startCluster(t, "nats://"+n, "nats://"+n)
			n1, n2 := nodes[0], nodes[1]
			n1.users("alice", "bob")
			const full = "alice@localhost/phone"
			var old *xmpptest.Client
			if hibernated {
				old = n1.dialSM("alice", "phone")
			} else {
				old = n1.dial("alice", "phone")
			}
			if err := old.SendRaw("<presence/>"); err != nil {
				t.Fatal(err)
			}
			sees(t, n2, full, true)
			if hibernated {
				old.Cut()
				waitFor(t, "hibernation on node 1", func() bool { return n1.SessionsForTest().Stats().Hibernated == 1 })
			}
			newer := n2.dial("alice", "phone")
			if !hibernated {
				el := expectStanza(t, old, "error", func(*xml.Element) bool { return true })
				if c := xmpptest.StreamErrorCondition(el); c != "conflict" {
					t.Fatalf("stream error %q, want conflict: %v", c, el)
				}
			}
			waitFor(t, "node 1 closed its session", func() bool {
				_, ok := n1.Router.Resource(jid.MustParse(full))
				return !ok && n1.SessionsForTest().Stats().Hibernated == 0
			})
			if _, ok := n2.Router.Resource(jid.MustParse(full)); !ok {
				t.Fatal("node 2 lost the newer session")
			}
			bob := n1.dial("bob", "pc")
			if err := bob.SendRaw(chat(full, "m1", "to the newer")); err != nil {
				t.Fatal(err)
			}
			expectStanza(t, newer, "message", hasBody("to the newer"))
		})
	}
}

// TestClusterResumeEndedElsewhere: alice's stream-managed session on node 1
// ended (she closed the stream); a late <resume/> on node 2 is answered by
// node 1 over NATS with <failed h='…'><item-not-found/>: its old h.
func TestClusterResumeEndedElsewhere(t *testing.T) {
	n := natstest.Addr(t)
	nodes := startCluster(t, "nats://"+n, "nats://"+n)
	n1, n2 := nodes[0], nodes[1]
	n1.users("alice")
	alice := n1.dialSM("alice", "phone")
	for _, st := range []string{"<presence/>", "<presence type='unavailable'/>", "<presence/>"} {
		if err := alice.SendStanza(st); err != nil {
			t.Fatal(err)
		}
	}
	sees(t, n2, "alice@localhost/phone", true)
	if err := alice.SendRaw("</stream:stream>"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the session ended on node 1", func() bool {
		_, ok := n1.Router.Resource(jid.MustParse("alice@localhost/phone"))
		return !ok
	})
	_, err := n2.resume("alice", alice.SM, false)
	var f *xmpptest.ResumeFailed
	if !errors.As(err, &f) || f.Condition != "item-not-found" || !f.HasH || f.H != 3 {
		t.Fatalf("late resume on node 2: %v, want <failed h='3'><item-not-found/>", err)
	}
}

// BenchmarkClusterResume measures one XEP-0198 resumption, from the TCP
// connection to <resumed/> (STARTTLS, SCRAM-SHA-256, <resume/>), of a
// session hibernated on node 1 with 3 queued messages: resumed on node 1
// itself, and on node 2 (a NATS request for the handover, node 1 giving
// the session up, node 2 binding it).
func BenchmarkClusterResume(b *testing.B) {
	srvs := benchClusterServers(b, nil)
	for _, u := range []string{"alice", "bob"} {
		addBenchUser(b, srvs[0], u)
	}
	clients := func(srv *server.Server) xmpptest.Server {
		return xmpptest.Server{Addr: srv.Addr(server.ListenerC2S).String()}
	}
	bob, err := clients(srvs[0]).Dial(xmpptest.Options{User: "bob", Password: "secret-bob", Resource: "pc"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bob.Close() })
	wait := func(what string, cond func() bool) {
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				b.Fatal("timed out waiting for " + what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	for _, tc := range []struct {
		name string
		to   *server.Server
	}{{"same-node", srvs[0]}, {"other-node", srvs[1]}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := range b.N {
				b.StopTimer()
				res := fmt.Sprintf("%s%d", tc.name, i)
				c, err := clients(srvs[0]).Dial(xmpptest.Options{User: "alice", Password: "secret-alice", Resource: res, SM: true})
				if err != nil {
					b.Fatal(err)
				}
				c.Cut()
				wait("hibernation", func() bool { return srvs[0].SessionsForTest().Stats().Hibernated == 1 })
				for j := range 3 {
					if err := bob.SendRaw(chat("alice@localhost/"+res, fmt.Sprint(j), "queued")); err != nil {
						b.Fatal(err)
					}
				}
				wait("queued", func() bool { return srvs[0].SessionsForTest().Census().Unacked == 3 })
				b.StartTimer()
				r, err := clients(tc.to).Dial(xmpptest.Options{User: "alice", Password: "secret-alice", Resume: c.SM})
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				r.Close()
				wait("the end of the session", func() bool {
					return srvs[0].SessionsForTest().Stats().Resumable == 0 && srvs[1].SessionsForTest().Stats().Resumable == 0
				})
			}
		})
	}
}

// TestClusterResumeSASL2: a XEP-0388 login with an inline <resume/> on the
// node that does not hold the session: <success/> carries <resumed/> (and
// no <bound/>), then the messages queued on the other node.
func TestClusterResumeSASL2(t *testing.T) {
	n := natstest.Addr(t)
	nodes := startCluster(t, "nats://"+n, "nats://"+n)
	n1, n2 := nodes[0], nodes[1]
	n1.users("alice", "bob")
	s2 := xmpptest.SASL2Options{UserAgentID: uaPhone, Bind: true, Tag: "T"}
	a := mustSASL2(t, n1, "alice", xmpptest.Options{SM: true}, s2)
	if err := a.SendStanza("<presence/>"); err != nil {
		t.Fatal(err)
	}
	bob := n1.dial("bob", "pc")
	a.Cut()
	waitFor(t, "hibernation on node 1", func() bool { return n1.SessionsForTest().Stats().Hibernated == 1 })
	before := n1.SessionsForTest().Census().Unacked
	for _, id := range seq("q", 0, 2) {
		if err := bob.SendRaw(chat(a.JID, id, id)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "queued on node 1", func() bool { return n1.SessionsForTest().Census().Unacked == before+2 })
	r := mustSASL2(t, n2, "alice", xmpptest.Options{Resume: a.SM}, s2)
	if r.Success.Child(xmpptest.NSSM, "resumed") == nil || r.Success.Child(xmpptest.NSBind2, "bound") != nil {
		t.Fatalf("success %s: want <resumed/> and no <bound/>", r.Success)
	}
	if r.JID != a.JID {
		t.Errorf("resumed as %s, want %s", r.JID, a.JID)
	}
	if got := readIDs(t, r, 2); !slices.Equal(got, seq("q", 0, 2)) {
		t.Errorf("replayed %v", got)
	}
}

// TestClusterResumeBack: a session made on node 1 and resumed on node 2
// hibernates there; its SM-ID still names node 1, which no longer holds
// it: a <resume/> on node 1 finds node 2 from the session's record in
// PostgreSQL and takes the session back, with what node 2 had queued.
func TestClusterResumeBack(t *testing.T) {
	n := natstest.Addr(t)
	nodes := startCluster(t, "nats://"+n, "nats://"+n)
	n1, n2 := nodes[0], nodes[1]
	n1.users("alice", "bob")
	const full = "alice@localhost/phone"
	alice := n1.dialSM("alice", "phone")
	if err := alice.SendStanza("<presence/>"); err != nil {
		t.Fatal(err)
	}
	bob := n1.dial("bob", "pc")
	alice.Cut()
	waitFor(t, "hibernation on node 1", func() bool { return n1.SessionsForTest().Stats().Hibernated == 1 })
	r, err := n2.resume("alice", alice.SM, false)
	if err != nil {
		t.Fatalf("resume on node 2: %v", err)
	}
	waitFor(t, "node 1 sees alice on node 2", func() bool {
		_, local := n1.Router.Resource(jid.MustParse(full))
		_, remote := n1.Cluster.RemoteResource(jid.MustParse(full))
		return !local && remote
	})
	r.Cut()
	waitFor(t, "hibernation on node 2", func() bool { return n2.SessionsForTest().Stats().Hibernated == 1 })
	before := n2.SessionsForTest().Census().Unacked
	if err := bob.SendRaw(chat(full, "q1", "queued on node 2")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "queued on node 2", func() bool { return n2.SessionsForTest().Census().Unacked == before+1 })
	back, err := n1.resume("alice", alice.SM, false)
	if err != nil {
		t.Fatalf("resume back on node 1: %v", err)
	}
	if got := readIDs(t, back, 1); got[0] != "q1" {
		t.Errorf("replayed %v", got)
	}
	waitFor(t, "node 1 counts the handover and the resumption", func() bool {
		st := n1.SessionsForTest().Stats()
		return st.RemoteResumptions == 1 && st.HandedOver == 1
	})
}

// TestClusterHandoverNotTaken: node 1 hands alice's session over, but the
// asking node never takes it (as if its request had timed out before the
// answer came): node 1 ends the session itself after a lease and a
// request timeout, as if its resumption time had run out. Her contacts
// see her go unavailable and the handed-over messages are rescued to
// offline storage: nothing is lost.
func TestClusterHandoverNotTaken(t *testing.T) {
	n := natstest.Addr(t)
	nodes := startCluster(t, "nats://"+n, "nats://"+n)
	n1, n2 := nodes[0], nodes[1]
	n1.users("alice", "bob")
	n1.befriend("alice", "bob")
	const full = "alice@localhost/phone"
	alice := n1.dialSM("alice", "phone")
	if err := alice.SendStanza("<presence/>"); err != nil {
		t.Fatal(err)
	}
	bob := online(t, n2, "bob", "pc")
	expectStanza(t, bob, "presence", isPresence("", full))
	alice.Cut()
	waitFor(t, "hibernation on node 1", func() bool { return n1.SessionsForTest().Stats().Hibernated == 1 })
	before := n1.SessionsForTest().Census().Unacked
	for _, id := range seq("q", 0, 2) {
		if err := bob.SendRaw(chat(full, id, id)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "queued on node 1", func() bool { return n1.SessionsForTest().Census().Unacked == before+2 })

	ho, err := n2.Cluster.Resume(context.Background(), "n1", alice.SM.ID, "alice@localhost", alice.SM.Received())
	if err != nil || len(ho.Queue) < 2 {
		t.Fatalf("handover: %+v, %v", ho, err)
	}
	expectStanza(t, bob, "presence", isPresence("unavailable", full))
	ctx := context.Background()
	waitFor(t, "the messages rescued to offline storage", func() bool {
		c, err := n1.Stores.Offline.Count(ctx, "alice@localhost")
		return err == nil && c == 2
	})
	if _, ok := n1.Router.Resource(jid.MustParse(full)); ok {
		t.Error("node 1 still has alice/phone bound")
	}
}
