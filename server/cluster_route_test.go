package server_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/internal/natstest"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/server"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// startClusterWith starts one node per NATS URL, each configuration
// changed by mod first (nil: none).
func startClusterWith(t *testing.T, mod func(*config.Config), natsURLs ...string) []*testServer {
	t.Helper()
	var out []*testServer
	for _, cfg := range clusterConfigs(t, natsURLs...) {
		cfg.C2S.StanzaRate, cfg.C2S.StanzaBurst = 1_000_000, 1_000_000
		cfg.C2S.MaxConnectionsPerIP = 0
		if mod != nil {
			mod(&cfg)
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, startWith(t, cfg))
	}
	return out
}

// carbonsSeen waits until node ts sees that full enabled carbons.
func carbonsSeen(t *testing.T, ts *testServer, full string) {
	t.Helper()
	j := jid.MustParse(full)
	waitFor(t, ts.cfg.Cluster.Node+" sees carbons of "+full, func() bool {
		for _, r := range ts.Router.Resources(j.Bare()) {
			if r.JID.Equal(j) && r.Carbons {
				return true
			}
		}
		return false
	})
}

func isCarbon(wrapper, body string) func(*xml.Element) bool {
	return func(e *xml.Element) bool {
		return e.Child(nsCarbons, wrapper) != nil && xmpptest.Contains(e, body)
	}
}

// TestClusterCarbons: alice has one resource on each node, both with
// carbons enabled (XEP-0280). What one sends is copied to the other as
// <sent/>; a message to one full JID reaches the other as <received/>;
// a message to the bare JID goes to both directly (equal priority, RFC
// 6121 §8.5.2.1.1) and is not copied on top.
func TestClusterCarbons(t *testing.T) {
	n := natstest.Addr(t)
	nodes := startClusterWith(t, nil, "nats://"+n, "nats://"+n)
	n1, n2 := nodes[0], nodes[1]
	n1.users("alice", "bob")
	phone := online(t, n1, "alice", "phone")
	laptop := online(t, n2, "alice", "laptop")
	bob := online(t, n1, "bob", "pc")
	enableCarbons(t, phone)
	enableCarbons(t, laptop)
	carbonsSeen(t, n1, "alice@localhost/laptop")
	carbonsSeen(t, n2, "alice@localhost/phone")

	// Sent by the phone (node 1): the laptop (node 2) gets a sent carbon.
	if err := phone.SendRaw("<message to='bob@localhost/pc' type='chat' id='s1'><body>from the phone</body></message>"); err != nil {
		t.Fatal(err)
	}
	expectStanza(t, bob, "message", hasBody("from the phone"))
	c := expectStanza(t, laptop, "message", isCarbon("sent", "from the phone"))
	if c.AttrValue("from") != "alice@localhost" || c.AttrValue("to") != "alice@localhost/laptop" {
		t.Errorf("sent carbon addresses: %s", c)
	}
	// Sent by the laptop (node 2) to bob on node 1: the phone gets it.
	if err := laptop.SendRaw("<message to='bob@localhost' type='chat' id='s2'><body>from the laptop</body></message>"); err != nil {
		t.Fatal(err)
	}
	expectStanza(t, bob, "message", hasBody("from the laptop"))
	expectStanza(t, phone, "message", isCarbon("sent", "from the laptop"))

	// To the phone's full JID: the laptop gets a received carbon.
	if err := bob.SendRaw("<message to='alice@localhost/phone' type='chat' id='r1'><body>to the phone</body></message>"); err != nil {
		t.Fatal(err)
	}
	expectStanza(t, phone, "message", hasBody("to the phone"))
	expectStanza(t, laptop, "message", isCarbon("received", "to the phone"))

	// To the bare JID: both get it directly, neither a carbon.
	if err := bob.SendRaw("<message to='alice@localhost' type='chat' id='r2'><body>to both</body></message>"); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*xmpptest.Client{phone, laptop} {
		m := expectStanza(t, cl, "message", hasBody("to both"))
		if m.Child(nsCarbons, "received") != nil {
			t.Errorf("a carbon instead of the message: %s", m)
		}
		if el := cl.NoMore(300 * time.Millisecond); el != nil && xmpptest.Contains(el, "to both") {
			t.Errorf("the message twice (carbon and direct): %s", el)
		}
	}

	// Disabled on the laptop: no more copies to it.
	if r, err := laptop.IQ("carbons-off", "<iq type='set' id='carbons-off'><disable xmlns='"+nsCarbons+"'/></iq>"); err != nil || r.AttrValue("type") != "result" {
		t.Fatalf("disable: %v %v", r, err)
	}
	waitFor(t, "node 1 sees carbons off", func() bool {
		for _, r := range n1.Router.Resources(jid.MustParse("alice@localhost")) {
			if r.JID.Resourcepart() == "laptop" {
				return !r.Carbons
			}
		}
		return false
	})
	if err := phone.SendRaw("<message to='bob@localhost/pc' type='chat' id='s3'><body>not copied</body></message>"); err != nil {
		t.Fatal(err)
	}
	expectStanza(t, bob, "message", hasBody("not copied"))
	if el := laptop.NoMore(500 * time.Millisecond); el != nil && xmpptest.Contains(el, "not copied") {
		t.Errorf("a carbon after <disable/>: %s", el)
	}
}

// TestClusterRosterPush: a roster change made by alice's resource on node
// 1 is pushed to her resource on node 2, which requested the roster (RFC
// 6121 §2.1.6).
func TestClusterRosterPush(t *testing.T) {
	n := natstest.Addr(t)
	nodes := startClusterWith(t, nil, "nats://"+n, "nats://"+n)
	n1, n2 := nodes[0], nodes[1]
	n1.users("alice", "carol")
	phone := online(t, n1, "alice", "phone")
	laptop := online(t, n2, "alice", "laptop")
	waitFor(t, "node 1 sees the laptop interested", func() bool {
		for _, r := range n1.Router.Resources(jid.MustParse("alice@localhost")) {
			if r.JID.Resourcepart() == "laptop" && r.Interested {
				return true
			}
		}
		return false
	})
	r, err := phone.IQ("add", "<iq type='set' id='add'><query xmlns='jabber:iq:roster'><item jid='carol@localhost' name='Carol'/></query></iq>")
	if err != nil || r.AttrValue("type") != "result" {
		t.Fatalf("roster set: %v %v", r, err)
	}
	push := expectStanza(t, laptop, "iq", func(e *xml.Element) bool {
		return e.AttrValue("type") == "set" && xmpptest.Contains(e, "carol@localhost")
	})
	if !xmpptest.Contains(push, "name='Carol'") {
		t.Errorf("roster push: %s", push)
	}
	if err := laptop.SendRaw("<iq type='result' id='" + push.AttrValue("id") + "'/>"); err != nil {
		t.Fatal(err)
	}
}

// TestClusterUnreachableNode: bob's only resource is on node 2, which
// loses NATS. Until its lease ends node 1 still sees bob there; messages
// alice sends him meanwhile cannot be handed over and go to offline
// storage (none lost), and node 1 counts the failures for peer n2.
func TestClusterUnreachableNode(t *testing.T) {
	n := natstest.Addr(t)
	proxy := newNATSProxy(t, n)
	nodes := startClusterWith(t, nil, "nats://"+n, proxy.url())
	n1, n2 := nodes[0], nodes[1]
	alice, _ := friendsOnTwoNodes(t, n1, n2)

	proxy.cut()
	const count = 3
	for i := range count {
		if err := alice.SendRaw(fmt.Sprintf("<message to='bob@localhost/pc' type='chat' id='u%d'><body>unreachable %d</body></message>", i, i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	waitFor(t, "messages stored offline", func() bool {
		c, err := n1.Stores.Offline.Count(ctx, "bob@localhost")
		return err == nil && c == count
	})
	if el := alice.NoMore(200 * time.Millisecond); el != nil && el.AttrValue("type") == "error" {
		t.Errorf("bounced instead of stored: %s", el)
	}
	body := scrape(t, n1)
	if !strings.Contains(body, `dormouse_cluster_route_failures_total{peer="n2"}`) {
		t.Errorf("no failure count for n2 in the metrics:\n%s", grepLines(body, "cluster_"))
	}
	bob2 := online(t, n1, "bob", "tablet")
	for i := range count {
		expectStanza(t, bob2, "message", hasBody(fmt.Sprintf("unreachable %d", i)))
	}
}

// scrape returns the metrics of ts's admin listener.
func scrape(t *testing.T, ts *testServer) string {
	t.Helper()
	resp, err := http.Get("http://" + ts.addr(server.ListenerAdmin) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// metricValue returns the value of the sample line that starts with
// name (with its labels), or -1.
func metricValue(body, name string) float64 {
	for l := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// TestClusterMetrics: the stanzas routed to and from each peer node and
// the size of its registry are exposed, labelled by the peer.
func TestClusterMetrics(t *testing.T) {
	n := natstest.Addr(t)
	nodes := startClusterWith(t, nil, "nats://"+n, "nats://"+n)
	n1, n2 := nodes[0], nodes[1]
	alice, bob := friendsOnTwoNodes(t, n1, n2)
	for i := range 5 {
		if err := alice.SendRaw(fmt.Sprintf("<message to='bob@localhost/pc' type='chat'><body>metered %d</body></message>", i)); err != nil {
			t.Fatal(err)
		}
		expectStanza(t, bob, "message", hasBody(fmt.Sprintf("metered %d", i)))
	}
	// Node 1 sent the 5 messages and its presence broadcasts to bob; node 2
	// took them. (Bob may read a message before node 1 has the answer.)
	var b1, b2 string
	waitFor(t, "node 1 counts the answers", func() bool {
		b1 = scrape(t, n1)
		return metricValue(b1, `dormouse_cluster_routed_to_total{peer="n2"}`) >= 5
	})
	b2 = scrape(t, n2)
	if v := metricValue(b1, `dormouse_cluster_routed_to_total{peer="n2"}`); v < 5 {
		t.Errorf("node 1 routed %v to n2:\n%s", v, grepLines(b1, "cluster_"))
	}
	if v := metricValue(b2, `dormouse_cluster_routed_from_total{peer="n1"}`); v < 5 {
		t.Errorf("node 2 took %v from n1:\n%s", v, grepLines(b2, "cluster_"))
	}
	if v := metricValue(b1, `dormouse_cluster_peer_sessions{peer="n2"}`); v != 1 {
		t.Errorf("node 1 sees %v sessions on n2", v)
	}
	if v := metricValue(b1, `dormouse_cluster_route_failures_total{peer="n2"}`); v != 0 {
		t.Errorf("%v failures", v)
	}
}

// TestClusterPushHibernated: alice's only resource hibernates on node 1
// with push enabled (XEP-0357); bob on node 2 sends her a message. Node 2
// hands it to node 1, whose session queues it and makes the push decision:
// exactly one publish, from node 1, none from node 2 (each node has the
// app server component connected). Node 2's registry shows alice's
// session hibernated, and inactive before (XEP-0352).
func TestClusterPushHibernated(t *testing.T) {
	n := natstest.Addr(t)
	nodes := startClusterWith(t, pushConfig(nil), "nats://"+n, "nats://"+n)
	n1, n2 := nodes[0], nodes[1]
	n1.users("alice", "bob")
	app1 := dialAppServer(t, n1)
	app2 := dialAppServer(t, n2)
	alice := n1.dialSM("alice", "phone")
	enablePush(t, alice, "tok-1", "")
	if err := alice.SendStanza("<presence/>"); err != nil {
		t.Fatal(err)
	}
	sees(t, n2, "alice@localhost/phone", true)
	full := jid.MustParse("alice@localhost/phone")

	if err := alice.SendRaw("<inactive xmlns='urn:xmpp:csi:0'/>"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node 2 sees alice inactive", func() bool {
		in, _, ok := n2.Cluster.RemoteClientState(full)
		return ok && in
	})
	if err := alice.SendRaw("<active xmlns='urn:xmpp:csi:0'/>"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node 2 sees alice active", func() bool {
		in, _, ok := n2.Cluster.RemoteClientState(full)
		return ok && !in
	})

	alice.Cut()
	waitFor(t, "node 2 sees alice hibernated", func() bool {
		_, hib, ok := n2.Cluster.RemoteClientState(full)
		return ok && hib
	})
	bob := n2.dial("bob", "pc")
	if err := bob.SendRaw(chat("alice@localhost", "p1", "wake up")); err != nil {
		t.Fatal(err)
	}
	p := app1.expect()
	if p.AttrValue("from") != "alice@localhost" {
		t.Errorf("publish from %q", p.AttrValue("from"))
	}
	app1.none(500 * time.Millisecond)
	app2.none(100 * time.Millisecond)
	if c, err := n1.Stores.Offline.Count(context.Background(), "alice@localhost"); err != nil || c != 0 {
		t.Errorf("offline count %d %v: the hibernated session should hold the message", c, err)
	}
}

// natsServer is a nats-server process of the test's own, which it can
// kill and start again on the same port.
type natsServer struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

func startNATSServer(t *testing.T) *natsServer {
	t.Helper()
	if _, err := exec.LookPath("/usr/sbin/nats-server"); err != nil {
		t.Skip("no /usr/sbin/nats-server")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &natsServer{t: t, port: port}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *natsServer) url() string { return "nats://127.0.0.1:" + strconv.Itoa(s.port) }

func (s *natsServer) start() {
	s.t.Helper()
	s.cmd = exec.Command("/usr/sbin/nats-server", "-a", "127.0.0.1", "-p", strconv.Itoa(s.port))
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	waitFor(s.t, "nats-server listening", func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.port))
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

func (s *natsServer) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// TestClusterNATSOutage: NATS goes away for about ten seconds while alice
// (node 1) sends bob (node 2) a message every 50 ms. Every message is
// accounted for: delivered to bob, stored offline (and delivered to his
// next resource), or bounced to alice; none is delivered twice to bob's
// session.
func TestClusterNATSOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 20 s")
	}
	ns := startNATSServer(t)
	nodes := startClusterWith(t, nil, ns.url(), ns.url())
	n1, n2 := nodes[0], nodes[1]
	n1.users("alice", "bob")
	// Clients that wait through the outage without timing out.
	patient := func(ts *testServer, user, res string) *xmpptest.Client {
		c, err := ts.clients().Dial(xmpptest.Options{User: user, Password: "secret-" + user, Resource: res, Timeout: 2 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	alice := patient(n1, "alice", "phone")
	bob := patient(n2, "bob", "pc")
	sees(t, n1, "bob@localhost/pc", false)

	var (
		mu        sync.Mutex
		delivered = map[string]int{}
		bounced   = map[string]bool{}
	)
	collect := func(c *xmpptest.Client, into func(*xml.Element)) chan struct{} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				el, err := c.Next()
				if err != nil {
					return
				}
				if el.Name.Local == "message" {
					mu.Lock()
					into(el)
					mu.Unlock()
				}
			}
		}()
		return done
	}
	const sent = 300 // 15 s at one per 50 ms
	bobDone := collect(bob, func(el *xml.Element) {
		if strings.HasPrefix(el.AttrValue("id"), "o") {
			delivered[el.AttrValue("id")]++
		}
	})
	aliceDone := collect(alice, func(el *xml.Element) {
		if el.AttrValue("type") == "error" {
			bounced[el.AttrValue("id")] = true
		}
	})
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var killedAt time.Time
	for i := range sent {
		<-tick.C
		switch i {
		case 40:
			ns.kill()
			killedAt = time.Now()
		case 240:
			ns.start()
			t.Logf("NATS down for %v", time.Since(killedAt))
		}
		if err := alice.SendRaw(fmt.Sprintf("<message to='bob@localhost/pc' type='chat' id='o%d'><body>outage %d</body></message>", i, i)); err != nil {
			t.Fatal(err)
		}
	}
	// Wait for the traffic to settle: what was queued behind the outage
	// is delivered or stored once NATS is back.
	ctx := context.Background()
	settled := func() int {
		c, _ := n1.Stores.Offline.Count(ctx, "bob@localhost")
		mu.Lock()
		defer mu.Unlock()
		return len(delivered) + len(bounced) + c
	}
	deadline := time.Now().Add(60 * time.Second)
	for settled() < sent && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	// Offline messages reach bob's next resource.
	bob2 := online(t, n2, "bob", "later")
	offline := map[string]bool{}
	for {
		el := bob2.NoMore(2 * time.Second)
		if el == nil {
			break
		}
		if el.Name.Local == "message" && strings.HasPrefix(el.AttrValue("id"), "o") {
			offline[el.AttrValue("id")] = true
		}
	}
	alice.Close()
	bob.Close()
	<-bobDone
	<-aliceDone
	mu.Lock()
	defer mu.Unlock()
	missing, twice, both := 0, 0, 0
	for i := range sent {
		id := "o" + strconv.Itoa(i)
		switch {
		case delivered[id] > 1:
			twice++
		case delivered[id] == 0 && !offline[id] && !bounced[id]:
			missing++
		}
		if delivered[id] > 0 && offline[id] {
			both++
		}
	}
	t.Logf("sent %d: delivered %d, stored offline %d, bounced %d, delivered and stored %d", sent, len(delivered), len(offline), len(bounced), both)
	if missing > 0 {
		t.Errorf("%d messages lost", missing)
	}
	if twice > 0 {
		t.Errorf("%d messages delivered twice to bob's session", twice)
	}
	if len(offline)+len(bounced) == 0 {
		t.Error("nothing was stored offline or bounced: the outage did not happen?")
	}
}

// benchClusterServers starts two nodes of a cluster for benchmarks, with
// no rate limit and mod (nil: none) applied to each configuration.
func benchClusterServers(b *testing.B, mod func(*config.Config)) []*server.Server {
	n := natstest.Addr(b)
	var srvs []*server.Server
	for _, cfg := range clusterConfigs(b, "nats://"+n, "nats://"+n) {
		cfg.C2S.StanzaRate, cfg.C2S.StanzaBurst = 1_000_000, 1_000_000
		cfg.C2S.MaxConnectionsPerIP = 0
		if mod != nil {
			mod(&cfg)
		}
		srv, err := server.New(context.Background(), cfg, "bench", xmpptest.Logger(b))
		if err != nil {
			b.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
		srvs = append(srvs, srv)
	}
	return srvs
}

// noArchive turns the archive off: benchmarks of the routing path, not of
// the archive's writes.
func noArchive(cfg *config.Config) { cfg.MAM.Default = "never" }

// BenchmarkClusterThroughput measures chat messages per second with many
// in flight: 16 senders on node 1 each send their share of b.N messages
// to their own recipient, without waiting, over real TLS sockets; the
// recipients are on node 1 (same-node) or node 2 (cross-node: every
// message crosses NATS, where the per-peer sender batches what the 16
// sessions route at once). msgs/s is wall-clock; cpu-µs/msg is this
// process's CPU (both nodes, all clients) per message; the NATS server
// runs outside.
func BenchmarkClusterThroughput(b *testing.B) {
	srvs := benchClusterServers(b, noArchive)
	const pairs = 16
	for i := range pairs {
		addBenchUser(b, srvs[0], fmt.Sprintf("s%d", i))
		addBenchUser(b, srvs[0], fmt.Sprintf("r%d", i))
	}
	dial := func(srv *server.Server, u, res string) *xmpptest.Client {
		c, err := xmpptest.Dial(context.Background(), xmpptest.Options{
			Addr: srv.Addr(server.ListenerC2S).String(), Domain: "localhost",
			User: u, Password: "secret-" + u, Resource: res, Timeout: time.Minute,
		})
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	var senders [pairs]*xmpptest.Client
	for i := range pairs {
		senders[i] = dial(srvs[0], fmt.Sprintf("s%d", i), "s")
		b.Cleanup(func() { senders[i].Close() })
	}
	for _, tc := range []struct {
		name string
		srv  *server.Server
	}{{"same-node", srvs[0]}, {"cross-node", srvs[1]}} {
		b.Run(tc.name, func(b *testing.B) {
			var recv [pairs]*xmpptest.Client
			for i := range pairs {
				recv[i] = dial(tc.srv, fmt.Sprintf("r%d", i), tc.name)
				full := jid.MustParse(fmt.Sprintf("r%d@localhost/%s", i, tc.name))
				deadline := time.Now().Add(10 * time.Second)
				for {
					_, local := srvs[0].Router.Resource(full)
					_, remote := srvs[0].Cluster.RemoteResource(full)
					if local || remote {
						break
					}
					if time.Now().After(deadline) {
						b.Fatalf("node 1 does not see %s", full)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			share := func(i int) int { return b.N/pairs + btoi(i < b.N%pairs) }
			var wg sync.WaitGroup
			errs := make(chan error, 2*pairs)
			cpu0 := cpuTime()
			b.ResetTimer()
			start := time.Now()
			for i := range pairs {
				wg.Add(2)
				go func() {
					defer wg.Done()
					msg := fmt.Sprintf("<message to='r%d@localhost/%s' type='chat'><body>The quick brown fox jumps over the lazy dog.</body></message>", i, tc.name)
					for range share(i) {
						if err := senders[i].SendRaw(msg); err != nil {
							errs <- err
							return
						}
					}
				}()
				go func() {
					defer wg.Done()
					for got := 0; got < share(i); {
						el, err := recv[i].Next()
						if err != nil {
							errs <- err
							return
						}
						if el.Name.Local == "message" {
							got++
						}
					}
				}()
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e3, "cpu-µs/msg")
			for _, c := range recv {
				c.Close()
			}
		})
	}
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestClusterPEP: alice on node 1 publishes her OMEMO device list (XEP-0163);
// bob, her contact, online on node 2 with caps asking for the node's
// +notify, gets the events through the other node.
func TestClusterPEP(t *testing.T) {
	n := natstest.Addr(t)
	nodes := startClusterWith(t, nil, "nats://"+n, "nats://"+n)
	n1, n2 := nodes[0], nodes[1]
	n1.users("alice", "bob")
	n1.befriend("alice", "bob")
	const dl = "eu.siacs.conversations.axolotl.devicelist"
	alice := capsOnline(t, n1, "alice", "phone", dl+"+notify")
	bob := capsOnline(t, n2, "bob", "laptop", dl+"+notify")
	sees(t, n1, "bob@localhost/laptop", true)
	// Node 2 learnt bob's capabilities and stored them.
	var ver string
	for _, r := range n1.Router.Resources(jid.MustParse("bob@localhost")) {
		if c := r.LastPresence(jid.JID{}).El.Child("http://jabber.org/protocol/caps", "c"); c != nil {
			ver = c.AttrValue("ver")
		}
	}
	waitFor(t, "bob's caps stored", func() bool {
		_, err := n2.Stores.PEP.Caps(context.Background(), ver)
		return ver != "" && err == nil
	})
	if err := alice.SendRaw(fmt.Sprintf(omemoDeviceList, "o1", 4242)); err != nil {
		t.Fatal(err)
	}
	isEvent := isPEPEvent(dl)
	// The first publish finds bob's capabilities unknown on node 1: node 1
	// reads them from storage (node 2 stored them) and sends him the item.
	m := expectStanza(t, bob, "message", isEvent)
	if m.AttrValue("from") != "alice@localhost" || !xmpptest.Contains(m, "device id='4242'") {
		t.Errorf("bob's event: %s", m)
	}
	// Known now: the next publish is an event at once.
	if err := alice.SendRaw(fmt.Sprintf(omemoDeviceList, "o2", 4343)); err != nil {
		t.Fatal(err)
	}
	expectStanza(t, bob, "message", func(e *xml.Element) bool { return isEvent(e) && xmpptest.Contains(e, "device id='4343'") })
}

// isPEPEvent matches a PEP event (XEP-0163) of node.
func isPEPEvent(node string) func(*xml.Element) bool {
	return func(e *xml.Element) bool {
		ev := e.Child(nsPubsubEvent, "event")
		return e.AttrValue("type") == "headline" && ev != nil && ev.Child(nsPubsubEvent, "items").AttrValue("node") == node
	}
}
