package server_test

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/internal/natstest"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/server"
	"dormouse.im/dormouse/sql/sqltest"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// natsProxy forwards TCP connections to NATS until cut: a node behind it
// loses NATS (or, seen from the others, dies) when the test cuts it.
type natsProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newNATSProxy(tb testing.TB, target string) *natsProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &natsProxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(u, c); u.Close() }()
			go func() { defer p.wg.Done(); _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
	tb.Cleanup(p.cut)
	return p
}

func (p *natsProxy) url() string { return "nats://" + p.ln.Addr().String() }

// cut closes the listener and every forwarded connection.
func (p *natsProxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// clusterConfigs returns the configurations of nodes n1, n2, ... sharing
// one new PostgreSQL schema and a NATS subject prefix of their own, with
// short heartbeats and leases; natsURLs[i] is node i's NATS.
func clusterConfigs(tb testing.TB, natsURLs ...string) []config.Config {
	tb.Helper()
	storage := sqltest.PostgresURL(tb)
	subject := natstest.Prefix()
	var out []config.Config
	for i, u := range natsURLs {
		cfg := loopbackConfig(tb)
		cfg.Storage.URL = storage
		cfg.Cluster = config.Cluster{
			Enabled:        true,
			Node:           "n" + string(rune('1'+i)),
			NodeNumber:     i + 1,
			NATSURL:        u,
			Subject:        subject,
			Heartbeat:      config.Duration(100 * time.Millisecond),
			Lease:          config.Duration(600 * time.Millisecond),
			RequestTimeout: config.Duration(time.Second),
		}
		if err := cfg.Validate(); err != nil {
			tb.Fatal(err)
		}
		out = append(out, cfg)
	}
	return out
}

// startCluster starts one node per NATS URL (see clusterConfigs).
func startCluster(t *testing.T, natsURLs ...string) []*testServer {
	t.Helper()
	var out []*testServer
	for _, cfg := range clusterConfigs(t, natsURLs...) {
		out = append(out, startWith(t, cfg))
	}
	return out
}

// sees waits until node ts sees full bound (anywhere in the cluster) with
// the given availability.
func sees(t *testing.T, ts *testServer, full string, available bool) {
	t.Helper()
	j := jid.MustParse(full)
	waitFor(t, ts.cfg.Cluster.Node+" sees "+full, func() bool {
		for _, r := range ts.Router.Resources(j.Bare()) {
			if r.JID.Equal(j) && r.Available == available {
				return true
			}
		}
		return false
	})
}

// friendsOnTwoNodes puts alice/phone online on n1 and bob/pc on n2, with a
// mutual subscription, and waits until they have each other's presence:
// bob's probe is answered from node 2's copy of node 1's registry, and
// alice hears bob's broadcast through node 1.
func friendsOnTwoNodes(t *testing.T, n1, n2 *testServer) (alice, bob *xmpptest.Client) {
	t.Helper()
	n1.users("alice", "bob")
	n1.befriend("alice", "bob")
	alice = online(t, n1, "alice", "phone")
	sees(t, n2, "alice@localhost/phone", true)
	bob = online(t, n2, "bob", "pc")
	expectStanza(t, bob, "presence", isPresence("", "alice@localhost/phone"))
	expectStanza(t, alice, "presence", isPresence("", "bob@localhost/pc"))
	sees(t, n1, "bob@localhost/pc", true)
	return alice, bob
}

func hasBody(body string) func(*xml.Element) bool {
	return func(e *xml.Element) bool { return xmpptest.Contains(e, body) }
}

// TestClusterMessageAndPresence: alice on node 1, bob on node 2 exchange
// presence (broadcasts and probe answers across nodes) and messages to
// full and bare JIDs, over real TLS sockets.
func TestClusterMessageAndPresence(t *testing.T) {
	n := natstest.Addr(t)
	nodes := startCluster(t, "nats://"+n, "nats://"+n)
	n1, n2 := nodes[0], nodes[1]
	alice, bob := friendsOnTwoNodes(t, n1, n2)

	if err := alice.SendRaw("<message to='bob@localhost/pc' type='chat' id='m1'><body>over NATS</body></message>"); err != nil {
		t.Fatal(err)
	}
	m := expectStanza(t, bob, "message", hasBody("over NATS"))
	if m.AttrValue("from") != "alice@localhost/phone" {
		t.Errorf("from = %q", m.AttrValue("from"))
	}
	if err := bob.SendRaw("<message to='alice@localhost' type='chat' id='m2'><body>and back</body></message>"); err != nil {
		t.Fatal(err)
	}
	expectStanza(t, alice, "message", hasBody("and back"))

	bob.Close()
	expectStanza(t, alice, "presence", isPresence("unavailable", "bob@localhost/pc"))
	sees(t, n2, "alice@localhost/phone", true)
	waitFor(t, "node 1 forgets bob", func() bool { return len(n1.Router.Resources(jid.MustParse("bob@localhost"))) == 0 })
}

// TestClusterBareJID: a message to a bare JID goes to the highest-priority
// available resources across both nodes (RFC 6121 §8.5.2.1.1).
func TestClusterBareJID(t *testing.T) {
	n := natstest.Addr(t)
	nodes := startCluster(t, "nats://"+n, "nats://"+n)
	n1, n2 := nodes[0], nodes[1]
	n1.users("carol", "bob")

	carol := online(t, n1, "carol", "c")
	b1 := online(t, n1, "bob", "one")
	b2 := online(t, n2, "bob", "two")
	sees(t, n1, "bob@localhost/two", true)
	sees(t, n2, "bob@localhost/one", true)

	if err := carol.SendRaw("<message to='bob@localhost' type='chat'><body>to both</body></message>"); err != nil {
		t.Fatal(err)
	}
	expectStanza(t, b1, "message", hasBody("to both"))
	expectStanza(t, b2, "message", hasBody("to both"))

	// bob/two (node 2) now has the highest priority: only it gets the next.
	if err := b2.SendRaw("<presence><priority>5</priority></presence>"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node 1 sees bob/two's priority", func() bool {
		r := n1.Router.Resources(jid.MustParse("bob@localhost"))
		for _, x := range r {
			if x.JID.Resourcepart() == "two" && x.Priority == 5 {
				return true
			}
		}
		return false
	})
	if err := carol.SendRaw("<message to='bob@localhost' type='chat'><body>to two only</body></message>"); err != nil {
		t.Fatal(err)
	}
	expectStanza(t, b2, "message", hasBody("to two only"))
	for {
		el := b1.NoMore(300 * time.Millisecond)
		if el == nil {
			break
		}
		if xmpptest.Contains(el, "to two only") {
			t.Fatalf("bob/one got a message for the highest-priority resource: %v", el)
		}
	}
}

// TestClusterNodeLost: node 1 loses NATS (to node 2 it is dead). Within the
// lease, bob on node 2 sees alice on node 1 go unavailable; messages each
// side sends the other meanwhile go to offline storage, not lost, and
// arrive when the recipient comes online again.
func TestClusterNodeLost(t *testing.T) {
	n := natstest.Addr(t)
	proxy := newNATSProxy(t, n)
	nodes := startCluster(t, proxy.url(), "nats://"+n)
	n1, n2 := nodes[0], nodes[1]
	alice, bob := friendsOnTwoNodes(t, n1, n2)

	proxy.cut()
	start := time.Now()
	expectStanza(t, bob, "presence", isPresence("unavailable", "alice@localhost/phone"))
	if d, lease := time.Since(start), n2.cfg.Cluster.Lease.Duration(); d > lease+time.Second {
		t.Errorf("alice went unavailable after %v, lease %v", d, lease)
	}

	// Node 1 cannot reach node 2: its message to bob is stored offline.
	if err := alice.SendRaw("<message to='bob@localhost/pc' type='chat'><body>while cut off</body></message>"); err != nil {
		t.Fatal(err)
	}
	// Node 2 no longer sees alice: its message is stored offline too.
	if err := bob.SendRaw("<message to='alice@localhost/phone' type='chat'><body>are you there</body></message>"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	waitFor(t, "both messages stored offline", func() bool {
		a, err1 := n1.Stores.Offline.Count(ctx, "alice@localhost")
		b, err2 := n1.Stores.Offline.Count(ctx, "bob@localhost")
		return err1 == nil && err2 == nil && a == 1 && b == 1
	})
	bob2 := online(t, n2, "bob", "tablet")
	expectStanza(t, bob2, "message", hasBody("while cut off"))
	alice2 := online(t, n1, "alice", "laptop")
	expectStanza(t, alice2, "message", hasBody("are you there"))
}

// BenchmarkClusterMessage measures the latency of one chat message, sent
// and received over real sockets, to a resource on the same node and to
// one on the other node (one message in flight: a batch of one).
func BenchmarkClusterMessage(b *testing.B) {
	srvs := benchClusterServers(b, noArchive)
	for _, u := range []string{"alice", "bob"} {
		addBenchUser(b, srvs[0], u)
	}
	dial := func(srv *server.Server, u, res string) *xmpptest.Client {
		c, err := xmpptest.Dial(context.Background(), xmpptest.Options{
			Addr: srv.Addr(server.ListenerC2S).String(), Domain: "localhost",
			User: u, Password: "secret-" + u, Resource: res,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		return c
	}
	alice := dial(srvs[0], "alice", "a")
	for _, tc := range []struct {
		name string
		srv  *server.Server
	}{{"same-node", srvs[0]}, {"cross-node", srvs[1]}} {
		b.Run(tc.name, func(b *testing.B) {
			bob := dial(tc.srv, "bob", tc.name)
			full := "bob@localhost/" + tc.name
			deadline := time.Now().Add(5 * time.Second)
			for {
				if _, ok := srvs[0].Router.Resource(jid.MustParse(full)); ok {
					break
				}
				if len(srvs[0].Router.Resources(jid.MustParse("bob@localhost"))) > 0 && tc.srv != srvs[0] {
					break
				}
				if time.Now().After(deadline) {
					b.Fatal("node 1 does not see " + full)
				}
				time.Sleep(10 * time.Millisecond)
			}
			msg := "<message to='" + full + "' type='chat'><body>The quick brown fox jumps over the lazy dog.</body></message>"
			b.ResetTimer()
			for range b.N {
				if err := alice.SendRaw(msg); err != nil {
					b.Fatal(err)
				}
				for {
					el, err := bob.Next()
					if err != nil {
						b.Fatal(err)
					}
					if el.Name.Local == "message" {
						break
					}
				}
			}
			b.StopTimer()
			bob.Close()
		})
	}
}

func addBenchUser(b *testing.B, srv *server.Server, u string) {
	b.Helper()
	c, err := auth.NewCredentials("secret-"+u, 0)
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Stores.Accounts.CreateAccount(context.Background(), u+"@localhost", c); err != nil {
		b.Fatal(err)
	}
}
