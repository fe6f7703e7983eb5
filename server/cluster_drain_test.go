package server_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/internal/natstest"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/server"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// drainTimeout is cluster.drain_timeout in these tests (clusterConfigs
// leaves it 0: no handover, as the tests of a node leaving expect).
const drainTimeout = config.Duration(10 * time.Second)

// TestClusterDrainHandover: alice's stream-managed session is on node 1,
// hibernated (her TCP connection cut) or live, with messages from bob (on
// node 2) she has not acknowledged. Node 1 shuts down: before it leaves it
// hands her session to a live peer (closing her live stream with
// system-shutdown first), which holds it hibernated with the same SM-ID,
// queue and h; its record names the new holder. Messages bob sends
// meanwhile are queued there. Alice resumes with the SM-ID naming node 1:
// on the adopting node itself, or (three nodes) on another node, which
// finds the holder from the session's record since node 1 is gone. She
// gets <resumed h='1'/> (her presence) and every message exactly once, in
// order, and stayed available for her contacts.
func TestClusterDrainHandover(t *testing.T) {
	for _, tc := range []struct {
		name      string
		nodes     int
		live      bool
		adopter   int // index of the node expected to adopt
		resumeVia int // index of the node alice resumes on
	}{
		{"hibernated", 2, false, 1, 1},
		{"live", 2, true, 1, 1},
		// n3 holds fewest sessions (bob is on n2): it adopts; alice
		// resumes on n2, which asks n1 (gone), then n3 from the record.
		{"resume elsewhere", 3, false, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := natstest.Addr(t)
			urls := make([]string, tc.nodes)
			for i := range urls {
				urls[i] = "nats://" + n
			}
			var nodes []*testServer
			for _, cfg := range clusterConfigs(t, urls...) {
				cfg.Cluster.DrainTimeout = drainTimeout
				nodes = append(nodes, startWith(t, cfg))
			}
			n1, n2, adopter := nodes[0], nodes[1], nodes[tc.adopter]
			n1.users("alice", "bob")
			n1.befriend("alice", "bob")
			const full = "alice@localhost/phone"
			alice := n1.dialSM("alice", "phone")
			if err := alice.SendStanza("<presence/>"); err != nil {
				t.Fatal(err)
			}
			for _, ts := range nodes {
				sees(t, ts, full, true)
			}
			bob := online(t, n2, "bob", "pc")
			expectStanza(t, bob, "presence", isPresence("", full))
			for _, id := range seq("b", 0, 3) {
				if err := bob.SendRaw(chat(full, id, id)); err != nil {
					t.Fatal(err)
				}
			}
			if got := readIDs(t, alice, 3); !slices.Equal(got, seq("b", 0, 3)) {
				t.Fatalf("before the drain: %v", got)
			}
			if !tc.live {
				alice.Cut()
				waitFor(t, "hibernation on node 1", func() bool { return n1.SessionsForTest().Stats().Hibernated == 1 })
			}
			before := n1.SessionsForTest().Census().Unacked
			for _, id := range seq("b", 3, 6) {
				if err := bob.SendRaw(chat(full, id, id)); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "b3-b5 queued on node 1", func() bool { return n1.SessionsForTest().Census().Unacked == before+3 })

			n1.stop()
			if got := n1.SessionsForTest().Stats().HandedOver; got != 1 {
				t.Errorf("node 1 handed over %d sessions, want 1", got)
			}
			if got := n1.SessionsForTest().Stats().Rescued; got != 0 {
				t.Errorf("node 1 rescued %d messages, want 0 (handed over)", got)
			}
			if got := adopter.SessionsForTest().Stats().Hibernated; got != 1 {
				t.Fatalf("the adopting node holds %d hibernated sessions, want 1", got)
			}
			for _, ts := range nodes[1:] {
				sees(t, ts, full, true) // no unavailable presence went out
			}
			rec, ok, err := n2.Stores.SM.LostSM(context.Background(), alice.SM.ID, "alice@localhost", time.Now())
			if err != nil || !ok || rec.Node != adopter.cfg.Cluster.Node || rec.Live {
				t.Fatalf("session record %+v, %v, %v: want it hibernated on %s", rec, ok, err, adopter.cfg.Cluster.Node)
			}

			// Bob goes on writing while she is away: queued on the adopter.
			queued := adopter.SessionsForTest().Census().Unacked
			for _, id := range seq("b", 6, 9) {
				if err := bob.SendRaw(chat(full, id, id)); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "b6-b8 queued on the adopter", func() bool {
				return adopter.SessionsForTest().Census().Unacked == queued+3
			})

			r, err := nodes[tc.resumeVia].resume("alice", alice.SM, false)
			if err != nil {
				t.Fatalf("resume on %s: %v", nodes[tc.resumeVia].cfg.Cluster.Node, err)
			}
			if got := r.SM.ServerH(); got != 1 {
				t.Errorf("<resumed h='%d'/>, want 1 (her presence)", got)
			}
			if err := bob.SendRaw(chat(full, "last", "last")); err != nil {
				t.Fatal(err)
			}
			var got []string
			for {
				el, err := r.Next()
				if err != nil {
					t.Fatalf("after %v: %v", got, err)
				}
				if el.Name.Local != "message" {
					continue
				}
				if id := el.AttrValue("id"); id != "last" {
					got = append(got, id)
					continue
				}
				break
			}
			if want := seq("b", 3, 9); !slices.Equal(got, want) {
				t.Fatalf("after the resumption: %v, want %v (each once, in order)", got, want)
			}
			if _, ok := nodes[tc.resumeVia].Router.Resource(jid.MustParse(full)); !ok {
				t.Fatal("alice is not bound where she resumed")
			}
		})
	}
}

// TestClusterDrainNoPeer: the last node of a cluster shuts down with a
// hibernated session holding unacknowledged messages: no peer can take
// it, so the messages are rescued to offline storage, as on a single
// server, and alice gets them at her next login.
func TestClusterDrainNoPeer(t *testing.T) {
	n := natstest.Addr(t)
	cfgs := clusterConfigs(t, "nats://"+n, "nats://"+n)
	for i := range cfgs {
		cfgs[i].Cluster.DrainTimeout = drainTimeout
	}
	n1, n2 := startWith(t, cfgs[0]), startWith(t, cfgs[1])
	n1.users("alice", "bob")
	const full = "alice@localhost/phone"
	alice := n1.dialSM("alice", "phone")
	if err := alice.SendStanza("<presence/>"); err != nil {
		t.Fatal(err)
	}
	sees(t, n2, full, true)
	n2.stop()
	waitFor(t, "node 1 sees node 2 leave", func() bool { return len(n1.Cluster.Status().Peers) == 0 })
	bob := n1.dial("bob", "pc")
	for _, id := range seq("b", 0, 3) {
		if err := bob.SendRaw(chat(full, id, id)); err != nil {
			t.Fatal(err)
		}
	}
	if got := readIDs(t, alice, 3); !slices.Equal(got, seq("b", 0, 3)) {
		t.Fatalf("before the cut: %v", got)
	}
	alice.Cut() // b0-b2 unacknowledged
	waitFor(t, "hibernation on node 1", func() bool { return n1.SessionsForTest().Stats().Hibernated == 1 })
	n1.stop()
	st := n1.SessionsForTest().Stats()
	if st.HandedOver != 0 || st.Rescued != 3 || st.RescueErrors != 0 {
		t.Fatalf("handed over %d, rescued %d (errors %d), want 0, 3, 0", st.HandedOver, st.Rescued, st.RescueErrors)
	}
	// A node started again on the same storage gives them to alice.
	n3 := startWith(t, cfgs[0])
	c := n3.dial("alice", "pc")
	if err := c.SendRaw("<presence/>"); err != nil {
		t.Fatal(err)
	}
	if got := readIDs(t, c, 3); !slices.Equal(got, seq("b", 0, 3)) {
		t.Fatalf("offline messages: %v", got)
	}
}

// BenchmarkClusterDrain measures a node's shutdown handing b.N hibernated
// sessions (one queued message each) to the other node: the whole
// Shutdown, after which the peer holds them all (ms-shutdown; allocations
// are both nodes'). Run with -benchtime 1000x.
func BenchmarkClusterDrain(b *testing.B) {
	n := natstest.Addr(b)
	cfgs := clusterConfigs(b, "nats://"+n, "nats://"+n)
	var srvs []*server.Server
	for _, cfg := range cfgs {
		cfg.C2S.StanzaRate, cfg.C2S.StanzaBurst = 1_000_000, 1_000_000
		cfg.C2S.MaxConnectionsPerIP = 1_000_000
		cfg.Privacy.MaxNewPeers = 0 // one sender writes to every user
		cfg.Cluster.DrainTimeout = cfg.Cluster.RequestTimeout * 60
		srv, err := server.New(context.Background(), cfg, "bench", xmpptest.Logger(b))
		if err != nil {
			b.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			b.Fatal(err)
		}
		srvs = append(srvs, srv)
		b.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
		})
	}
	n1, n2 := srvs[0], srvs[1]
	cs := xmpptest.Server{Addr: n1.Addr(server.ListenerC2S).String(), TLSAddr: n1.Addr(server.ListenerC2STLS).String()}
	addBenchUser(b, n1, "sender")
	sender := cs.DialUser(b, "sender", "s")
	for i := range b.N {
		u := fmt.Sprintf("u%d", i)
		addBenchUser(b, n1, u)
		c := cs.DialSM(b, u, "phone")
		if err := sender.SendRaw(chat(u+"@localhost/phone", "m", "hello")); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Next(); err != nil {
			b.Fatal(err)
		}
		c.Cut()
	}
	// No live stream left: Shutdown does not wait for a client to close.
	if err := sender.Close(); err != nil {
		b.Fatal(err)
	}
	xmpptest.WaitFor(b, "all hibernated", func() bool {
		return n1.SessionsForTest().Stats().Hibernated == int64(b.N) && n1.SessionsForTest().Count() == 0
	})
	b.ReportAllocs()
	b.ResetTimer()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	if err := n1.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	b.StopTimer()
	if got := n2.SessionsForTest().Stats().Hibernated; got != int64(b.N) {
		b.Fatalf("node 2 holds %d hibernated sessions, want %d", got, b.N)
	}
	b.ReportMetric(float64(took.Milliseconds()), "ms-shutdown")
}

// TestClusterResumeBlockList: alice retrieved her block list (XEP-0191) on
// node 1; her session moves to node 2 (resumed there, or handed over by
// node 1 shutting down). Blocking a contact on node 2 pushes the change
// to her session there: the interest moved with the session.
func TestClusterResumeBlockList(t *testing.T) {
	for _, drain := range []bool{false, true} {
		t.Run(map[bool]string{false: "resume", true: "drain"}[drain], func(t *testing.T) {
			n := natstest.Addr(t)
			var nodes []*testServer
			for _, cfg := range clusterConfigs(t, "nats://"+n, "nats://"+n) {
				cfg.Cluster.DrainTimeout = drainTimeout
				nodes = append(nodes, startWith(t, cfg))
			}
			n1, n2 := nodes[0], nodes[1]
			n1.users("alice")
			alice := n1.dialSM("alice", "phone")
			if _, err := alice.IQ("b1", "<iq type='get' id='b1'><blocklist xmlns='urn:xmpp:blocking'/></iq>"); err != nil {
				t.Fatal(err)
			}
			sees(t, n2, "alice@localhost/phone", false)
			alice.Cut()
			waitFor(t, "hibernation on node 1", func() bool { return n1.SessionsForTest().Stats().Hibernated == 1 })
			if drain {
				n1.stop()
			}
			r, err := n2.resume("alice", alice.SM, false)
			if err != nil {
				t.Fatalf("resume on node 2: %v", err)
			}
			if err := r.SendRaw("<iq type='set' id='b2'><block xmlns='urn:xmpp:blocking'><item jid='eve@example.net'/></block></iq>"); err != nil {
				t.Fatal(err)
			}
			expectStanza(t, r, "iq", func(e *xml.Element) bool {
				return e.AttrValue("type") == "set" && e.Child("urn:xmpp:blocking", "block") != nil
			})
		})
	}
}

// TestClusterDrainPush: alice enabled push (XEP-0357, the built-in app
// server, FCM) and hibernated on node 1, which shuts down and hands her
// session to node 2. A message to her then wakes her device from node 2.
func TestClusterDrainPush(t *testing.T) {
	fcm, apns, ep := providers(t)
	n := natstest.Addr(t)
	var nodes []*testServer
	for _, cfg := range clusterConfigs(t, "nats://"+n, "nats://"+n) {
		cfg.Cluster.DrainTimeout = drainTimeout
		cfg.Push.DeviceRate = config.Duration(time.Millisecond)
		nodes = append(nodes, startWith(t, cfg, server.WithPushEndpoints(ep)))
	}
	n1, n2 := nodes[0], nodes[1]
	addApps(t, n1.Stores.PushApps, fcm, apns, ep)
	for _, ts := range nodes {
		if err := ts.AppServer.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	hibernatedWithPush(t, n1, "register-push-fcm",
		`<field var='token'><value>fcm-drain-token</value></field><field var='android-id'><value>a1b2</value></field>`)
	n1.stop()
	if got := n2.SessionsForTest().Stats().Hibernated; got != 1 {
		t.Fatalf("node 2 holds %d hibernated sessions, want 1", got)
	}
	before := len(fcm.Requests())
	bob := n2.dial("bob", "pc")
	if err := bob.SendRaw(chat("alice@localhost/phone", "m1", "hello")); err != nil {
		t.Fatal(err)
	}
	reqs, err := fcm.Await(before+1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if q := reqs[len(reqs)-1]; q.Token != "fcm-drain-token" {
		t.Errorf("FCM got %+v", q)
	}
}
