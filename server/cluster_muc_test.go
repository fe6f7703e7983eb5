package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/internal/natstest"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/muc"
	"dormouse.im/dormouse/server"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// roomOwner returns the node recorded as serving room.
func roomOwner(t testing.TB, ts *server.Server, room string) string {
	t.Helper()
	o, ok, err := ts.Stores.MUC.(muc.OwnerStore).RoomOwner(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return ""
	}
	return o.Node
}

// roomPresences returns the presences from mucRoom in els.
func roomPresences(els []*xml.Element) []*xml.Element {
	var out []*xml.Element
	for _, e := range els {
		if e.Name.Local == "presence" && fromRoom(e) {
			out = append(out, e)
		}
	}
	return out
}

// groupchat sends body to room from c.
func groupchat(t testing.TB, c *xmpptest.Client, room, id, body string) {
	t.Helper()
	if err := c.Sendf("<message type='groupchat' to='%s' id='%s'><body>%s</body></message>", room, id, body); err != nil {
		t.Fatal(err)
	}
}

// isGroupchat matches the room's broadcast of body from nick.
func isGroupchat(room, nick, body string) func(*xml.Element) bool {
	return func(e *xml.Element) bool {
		return e.AttrValue("type") == "groupchat" && e.AttrValue("from") == room+"/"+nick &&
			e.ChildText("jabber:client", "body") == body
	}
}

// mucOnTwoNodes has alice (on n1) create a persistent room, served by n1,
// make bob a member, and bob (on n2) join it.
func mucOnTwoNodes(t *testing.T, n1, n2 *testServer) (alice, bob *xmpptest.Client) {
	t.Helper()
	n1.users("alice", "bob")
	alice = online(t, n1, "alice", "phone")
	bob = online(t, n2, "bob", "pc")
	sees(t, n1, "bob@localhost/pc", true)
	sees(t, n2, "alice@localhost/phone", true)

	joinRoom(t, alice, mucRoom, "Alice", "")
	mucConfigure(t, alice, mucRoom, map[string]string{"persistentroom": "1", "membersonly": "1", "roomname": "Coven"})
	if r := admin(t, alice, "m", mucRoom, "<item affiliation='member' jid='bob@localhost'/>"); r.AttrValue("type") != "result" {
		t.Fatalf("making bob a member: %s", r)
	}
	if o := roomOwner(t, n1.Server, mucRoom); o != "n1" {
		t.Fatalf("the room is served by %q, want n1 (where it was created)", o)
	}
	// bob joins through node 2: node 1 serves the room.
	self, before := joinRoom(t, bob, mucRoom, "Bob", "")
	if a := mucItem(self).AttrValue("affiliation"); a != "member" {
		t.Errorf("bob's affiliation: %q (%s)", a, self)
	}
	if occ := roomPresences(before); len(occ) != 1 || occ[0].AttrValue("from") != mucRoom+"/Alice" {
		t.Errorf("bob first sees the occupants: %v", before)
	}
	expectStanza(t, alice, "presence", func(e *xml.Element) bool { return e.AttrValue("from") == mucRoom+"/Bob" })
	return alice, bob
}

// TestClusterMUC: alice joins a room through node 1, bob through node 2;
// the room lives on one node (node 1, where it was created), node 2
// forwards bob's stanzas to it, and both see each other's presence and
// groupchat messages, with one stanza-id each, over real TLS streams.
func TestClusterMUC(t *testing.T) {
	n := natstest.Addr(t)
	nodes := startCluster(t, "nats://"+n, "nats://"+n)
	n1, n2 := nodes[0], nodes[1]
	alice, bob := mucOnTwoNodes(t, n1, n2)

	groupchat(t, bob, mucRoom, "b1", "from node 2")
	for _, c := range []*xmpptest.Client{alice, bob} {
		m := expectStanza(t, c, "message", isGroupchat(mucRoom, "Bob", "from node 2"))
		if m.Child(nsSID, "stanza-id") == nil || m.AttrValue("id") != "b1" {
			t.Errorf("bob's message: %s", m)
		}
	}
	groupchat(t, alice, mucRoom, "a1", "from node 1")
	for _, c := range []*xmpptest.Client{alice, bob} {
		expectStanza(t, c, "message", isGroupchat(mucRoom, "Alice", "from node 1"))
	}
	// A private message between occupants on different nodes.
	bob.Sendf("<message type='chat' to='%s/Alice' id='pm'><body>psst</body><x xmlns='%s'/></message>", mucRoom, nsMUCUser)
	pm := expectStanza(t, alice, "message", hasBody("psst"))
	if pm.AttrValue("from") != mucRoom+"/Bob" {
		t.Errorf("private message from %q", pm.AttrValue("from"))
	}
	// Self-ping (XEP-0410) through the node that does not serve the room.
	if r, err := bob.IQ("sp", "<iq type='get' id='sp' to='"+mucRoom+"/Bob'><ping xmlns='urn:xmpp:ping'/></iq>"); err != nil || r.AttrValue("type") != "result" {
		t.Errorf("self-ping: %v %v", r, err)
	}
	// A second room, created through node 2, is served there.
	const other = "cauldron@conference.localhost"
	joinRoom(t, bob, other, "Bob", "")
	mucConfigure(t, bob, other, nil) // an instant room
	if o := roomOwner(t, n1.Server, other); o != "n2" {
		t.Errorf("%s served by %q, want n2", other, o)
	}
	joinRoom(t, alice, other, "Alice", "")
	expectStanza(t, bob, "presence", func(e *xml.Element) bool { return e.AttrValue("from") == other+"/Alice" })

	// Leaving the room through node 2.
	bob.Sendf("<presence type='unavailable' to='%s/Bob'/>", mucRoom)
	selfPresence(t, bob, "unavailable")
	expectStanza(t, alice, "presence", isPresence("unavailable", mucRoom+"/Bob"))
}

// TestClusterMUCFailover: the node serving a persistent room is cut off
// from NATS (to the other node it is dead). Once its lease ends, the other
// node claims the room at its next stanza with its stored configuration
// and affiliations and no occupants: bob's self-ping answers not-acceptable
// (XEP-0410: not joined), so his client rejoins, as a member; alice, whose
// node was lost, rejoins through node 2. Then node 2 shuts down: it hands
// the room back at once (no lease to wait for).
func TestClusterMUCFailover(t *testing.T) {
	n := natstest.Addr(t)
	proxy := newNATSProxy(t, n)
	cfgs := clusterConfigs(t, proxy.url(), "nats://"+n, "nats://"+n)
	n1, n2 := startWith(t, cfgs[0]), startWith(t, cfgs[1])
	_, bob := mucOnTwoNodes(t, n1, n2)

	proxy.cut()
	start := time.Now()
	ping := "<iq type='get' id='%s' to='" + mucRoom + "/Bob'><ping xmlns='urn:xmpp:ping'/></iq>"
	var cond string
	for i := 0; ; i++ {
		id := fmt.Sprintf("sp%d", i)
		r, err := bob.IQ(id, fmt.Sprintf(ping, id))
		if err != nil {
			t.Fatal(err)
		}
		cond = xmpptest.ErrorCondition(r)
		if cond != "service-unavailable" || time.Since(start) > 20*time.Second {
			break // service-unavailable (wait): the old node's lease runs
		}
		time.Sleep(50 * time.Millisecond)
	}
	if cond != "not-acceptable" {
		t.Fatalf("self-ping after the failover: %q, want not-acceptable", cond)
	}
	failover := time.Since(start)
	if o := roomOwner(t, n2.Server, mucRoom); o != "n2" {
		t.Fatalf("after the failover the room is served by %q", o)
	}
	self, before := joinRoom(t, bob, mucRoom, "Bob", "")
	if a := mucItem(self).AttrValue("affiliation"); a != "member" || len(roomPresences(before)) != 0 {
		t.Errorf("bob's rejoin: affiliation %q, occupants %v", a, before)
	}
	t.Logf("failover: %v from cutting node 1 (lease %v) to the room answering on node 2",
		failover, cfgs[0].Cluster.Lease.Duration())

	alice2 := online(t, n2, "alice", "laptop")
	self, _ = joinRoom(t, alice2, mucRoom, "Alice", "")
	if a := mucItem(self).AttrValue("affiliation"); a != "owner" {
		t.Errorf("alice's affiliation after the failover: %q", a)
	}
	expectStanza(t, bob, "presence", func(e *xml.Element) bool { return e.AttrValue("from") == mucRoom+"/Alice" })
	r, err := alice2.IQ("ri", "<iq type='get' id='ri' to='"+mucRoom+"'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if err != nil || !xmpptest.Contains(r, "muc_membersonly") || !xmpptest.Contains(r, "muc_persistent") || !xmpptest.Contains(r, "name='Coven'") {
		t.Errorf("room info after the failover: %v %v", r, err)
	}
	groupchat(t, alice2, mucRoom, "a2", "still here")
	expectStanza(t, bob, "message", isGroupchat(mucRoom, "Alice", "still here"))

	// A third node takes over when node 2 shuts down: node 2 releases
	// the room, node 3 claims it at its next stanza, without waiting for
	// node 2's lease.
	n3 := startWith(t, cfgs[2])
	n3.users("carol")
	carol := online(t, n3, "carol", "c")
	n2.stop()
	start = time.Now()
	carol.Sendf("<presence to='%s/Carol'><x xmlns='%s'/></presence>", mucRoom, nsMUC)
	e := expectStanza(t, carol, "presence", fromRoom)
	if xmpptest.ErrorCondition(e) != "registration-required" {
		t.Errorf("carol (no member) joining the members-only room on node 3: %s", e)
	}
	if o := roomOwner(t, n3.Server, mucRoom); o != "n3" {
		t.Errorf("after node 2 shut down the room is served by %q", o)
	}
	t.Logf("handover on shutdown: %v", time.Since(start))
}

// BenchmarkClusterMUC measures a groupchat message in a room of two
// occupants, one on each node, from sending it to the sender's copy of
// the broadcast, over real sockets: sent through the node serving the
// room, and through the other node (which forwards it over NATS).
func BenchmarkClusterMUC(b *testing.B) {
	srvs := benchClusterServers(b, func(cfg *config.Config) { cfg.MUC.Archive = false })
	clients := map[string]*xmpptest.Client{}
	for i, u := range []string{"alice", "bob"} {
		addBenchUser(b, srvs[0], u)
		c, err := xmpptest.Dial(context.Background(), xmpptest.Options{
			Addr: srvs[i].Addr(server.ListenerC2S).String(), Domain: "localhost",
			User: u, Password: "secret-" + u, Resource: "r",
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		clients[u] = c
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(srvs[0].Router.Resources(jid.MustParse("bob@localhost"))) == 0 {
		if time.Now().After(deadline) {
			b.Fatal("node 1 does not see bob")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// alice (node 1) creates the room: node 1 serves it.
	for _, u := range []string{"alice", "bob"} {
		c := clients[u]
		c.Sendf("<presence to='%s/%s'/>", mucRoom, u) // an instant room (no <x/>)
		if _, _, err := c.Expect(func(e *xml.Element) bool {
			return e.Name.Local == "message" && e.Child("jabber:client", "subject") != nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	if o := roomOwner(b, srvs[0], mucRoom); o != "n1" {
		b.Fatalf("room served by %q", o)
	}
	for _, tc := range []struct{ name, user string }{{"owner-node", "alice"}, {"other-node", "bob"}} {
		b.Run(tc.name, func(b *testing.B) {
			c := clients[tc.user]
			msg := "<message to='" + mucRoom + "' type='groupchat'><body>The quick brown fox jumps over the lazy dog.</body></message>"
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := c.SendRaw(msg); err != nil {
					b.Fatal(err)
				}
				// Until both occupants have it.
				for _, r := range []*xmpptest.Client{clients["alice"], clients["bob"]} {
					for {
						el, err := r.Next()
						if err != nil {
							b.Fatal(err)
						}
						if el.Name.Local == "message" && strings.HasSuffix(el.AttrValue("from"), "/"+tc.user) {
							break
						}
					}
				}
			}
		})
	}
}
