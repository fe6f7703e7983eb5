package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/internal/natstest"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/roster"
	"dormouse.im/dormouse/sql"
	"dormouse.im/dormouse/sql/sqltest"
	"dormouse.im/dormouse/xml"
)

// serveEnv, set to 1, makes the test binary run the command line it was
// given instead of the tests: TestKillNode starts nodes as processes of
// this very binary (built with the test's flags, -race included), so that
// no go build runs during go test.
const serveEnv = "DORMOUSE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Environ()))
	}
	os.Exit(m.Run())
}

// freePort returns a loopback address with a port free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// nodeProc is a dormouse serve process.
type nodeProc struct {
	name       string
	c2s, admin string
	cmd        *exec.Cmd
	log        string // its output
	exited     chan error
}

// startNodeProc writes a configuration for node number n of a cluster and
// runs dormouse serve with it.
func startNodeProc(t *testing.T, n int, storage, natsURL, subject string) *nodeProc {
	t.Helper()
	dir := t.TempDir()
	p := &nodeProc{name: fmt.Sprintf("node%d", n), c2s: freePort(t), admin: freePort(t), exited: make(chan error, 1)}
	conf := fmt.Sprintf(`domain = "localhost"
data_dir = %q
[log]
level = "info"
[storage]
url = %q
[c2s]
listen = %q
tls_listen = ""
[components]
listen = ""
[s2s]
enabled = false
[admin]
listen = %q
[http]
listen = ""
[mam]
max_page = 500
[cluster]
enabled = true
node = %q
node_number = %d
nats_url = %q
subject = %q
heartbeat = "200ms"
lease = "2s"
request_timeout = "1s"
`, dir, storage, p.c2s, p.admin, p.name, n, natsURL, subject)
	file := filepath.Join(dir, "dormouse.toml")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p.log = filepath.Join(dir, "out.log")
	out, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(exe, "serve", "-config", file)
	p.cmd.Env = append(os.Environ(), serveEnv+"=1")
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait(); out.Close() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("%s output:\n%s", p.name, b)
		}
	})
	// Ready: its /readyz answers 200 (storage and NATS reachable).
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + p.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			t.Fatalf("%s exited at start: %v", p.name, err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 60 s", p.name)
		}
	}
}

var bodyRE = regexp.MustCompile(`\[[ab]-\d+\]`)

// peer is a client of one node: a writer sending messages numbered
// [tag-i] and a reader recording the server's acknowledgements and what
// arrives.
type peer struct {
	c   *xmpptest.Client
	tag string
	to  string

	mu      sync.Mutex
	sent    []string // every stanza sent since <enable/>, in order (h counts them)
	h       int      // the server's last <a h/>
	got     []string // bodies received
	elems   []*xml.Element
	readErr error
	done    chan struct{} // the reader ended
}

func dialPeer(t *testing.T, addr, user, res, tag, to string) *peer {
	t.Helper()
	c, err := xmpptest.Dial(context.Background(), xmpptest.Options{Addr: addr, Domain: "localhost",
		User: user, Password: "secret-" + user, Resource: res, Timeout: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Raw.Close() })
	if err := c.EnableSM(false, 0); err != nil {
		t.Fatal(err)
	}
	c.ManualSM = true
	return &peer{c: c, tag: tag, to: to, done: make(chan struct{})}
}

func (p *peer) send(st string) error {
	p.mu.Lock()
	p.sent = append(p.sent, st)
	p.mu.Unlock()
	return p.c.SendRaw(st)
}

// read records until the connection ends.
func (p *peer) read() {
	defer close(p.done)
	for {
		el, err := p.c.Next()
		if err != nil {
			p.mu.Lock()
			p.readErr = err
			p.mu.Unlock()
			return
		}
		switch {
		case el.Name.Space == xmpptest.NSSM && el.Name.Local == "r":
			_ = p.c.SendRaw(fmt.Sprintf("<a xmlns='%s' h='%d'/>", xmpptest.NSSM, p.c.SM.Received()))
		case el.Name.Space == xmpptest.NSSM && el.Name.Local == "a":
			var h int
			fmt.Sscan(el.AttrValue("h"), &h)
			p.mu.Lock()
			p.h = max(p.h, h)
			p.mu.Unlock()
		default:
			p.mu.Lock()
			p.got = append(p.got, bodyRE.FindAllString(el.String(), -1)...)
			p.elems = append(p.elems, el)
			p.mu.Unlock()
		}
	}
}

// acked returns the bodies of the messages the server acknowledged, and
// whether every stanza sent was acknowledged.
func (p *peer) acked() (bodies []string, all bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, st := range p.sent[:min(p.h, len(p.sent))] {
		bodies = append(bodies, bodyRE.FindAllString(st, -1)...)
	}
	return bodies, p.h >= len(p.sent)
}

// write sends numbered messages, each followed by <r/>, until stop is
// closed or a write fails.
func (p *peer) write(stop <-chan struct{}) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
		if p.send(fmt.Sprintf("<message type='chat' to='%s' id='%s%d'><body>[%s-%d]</body></message>", p.to, p.tag, i, p.tag, i)) != nil ||
			p.c.SendRaw("<r xmlns='"+xmpptest.NSSM+"'/>") != nil {
			return
		}
	}
}

// history logs user in on addr, sends initial presence (offline messages
// flow), queries the whole archive and returns every body received.
func history(t *testing.T, addr, user string) []string {
	t.Helper()
	c, err := xmpptest.Dial(context.Background(), xmpptest.Options{Addr: addr, Domain: "localhost",
		User: user, Password: "secret-" + user, Resource: "again", Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendRaw("<presence/>"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendRaw("<iq type='set' id='mam'><query xmlns='urn:xmpp:mam:2' queryid='all'>" +
		"<set xmlns='http://jabber.org/protocol/rsm'><max>500</max></set></query></iq>"); err != nil {
		t.Fatal(err)
	}
	var bodies []string
	_, skipped, err := c.Expect(func(e *xml.Element) bool { return e.Name.Local == "iq" && e.AttrValue("id") == "mam" })
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range skipped {
		bodies = append(bodies, bodyRE.FindAllString(e.String(), -1)...)
	}
	return bodies
}

// TestKillNode runs two nodes as processes (PostgreSQL and NATS of CI),
// alice on node 1 and bob on node 2 messaging each other with XEP-0198
// acknowledgements, and kills node 2 (SIGKILL) during the exchange. After
// the lease, alice sees bob unavailable; every message acknowledged to
// either sender is in the archive or offline storage, as bob finds on
// node 1; node 1 leaves on SIGTERM and exits 0.
func TestKillNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two server processes")
	}
	natsURL := natstest.URL(t)
	storage := sqltest.PostgresURL(t)
	subject := natstest.Prefix()

	ctx := context.Background()
	st, err := sql.Open(ctx, storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		cr, err := auth.NewCredentials("secret-"+u, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Accounts.CreateAccount(ctx, u+"@localhost", cr); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range [][2]string{{"alice", "bob"}, {"bob", "alice"}} {
		if _, err := st.Roster.Put(ctx, p[0]+"@localhost", roster.Item{Contact: p[1] + "@localhost", Subscription: roster.SubBoth}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	n1 := startNodeProc(t, 1, storage, natsURL, subject)
	n2 := startNodeProc(t, 2, storage, natsURL, subject)

	alice := dialPeer(t, n1.c2s, "alice", "phone", "a", "bob@localhost")
	bob := dialPeer(t, n2.c2s, "bob", "pc", "b", "alice@localhost")
	for _, p := range []*peer{alice, bob} {
		if err := p.send("<presence/>"); err != nil {
			t.Fatal(err)
		}
		go p.read()
	}
	seen := func(p *peer, what string, cond func(*xml.Element) bool) {
		t.Helper()
		xmpptest.WaitFor(t, what, func() bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			return slices.ContainsFunc(p.elems, cond)
		})
	}
	presenceOf := func(from, typ string) func(*xml.Element) bool {
		return func(e *xml.Element) bool {
			return e.Name.Local == "presence" && e.AttrValue("from") == from && e.AttrValue("type") == typ
		}
	}
	// Each hears the other across the nodes.
	seen(alice, "alice hears bob", presenceOf("bob@localhost/pc", ""))
	seen(bob, "bob hears alice", presenceOf("alice@localhost/phone", ""))

	stopAlice, stopBob := make(chan struct{}), make(chan struct{})
	var writers sync.WaitGroup
	writers.Go(func() { alice.write(stopAlice) })
	writers.Go(func() { bob.write(stopBob) })
	xmpptest.WaitFor(t, "messages acknowledged both ways", func() bool {
		a, _ := alice.acked()
		b, _ := bob.acked()
		return len(a) >= 10 && len(b) >= 10
	})

	// Node 2 dies in the middle of the exchange.
	killed := time.Now()
	if err := n2.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-n2.exited
	n2.exited <- nil
	<-bob.done
	close(stopBob)
	// alice goes on writing to bob for a while, then waits for the
	// acknowledgement of everything she sent.
	time.Sleep(500 * time.Millisecond)
	close(stopAlice)
	writers.Wait()
	if err := alice.c.SendRaw("<r xmlns='" + xmpptest.NSSM + "'/>"); err != nil {
		t.Fatal(err)
	}
	xmpptest.WaitFor(t, "node 1 acknowledges everything alice sent", func() bool { _, all := alice.acked(); return all })
	// After the lease (2 s), node 1 has bob's unavailable presence sent.
	seen(alice, "alice sees bob unavailable", presenceOf("bob@localhost/pc", "unavailable"))
	t.Logf("bob unavailable for alice %v after the kill (lease 2 s)", time.Since(killed).Round(time.Millisecond))

	aliceAcked, _ := alice.acked()
	bobAcked, _ := bob.acked()
	alice.mu.Lock()
	aliceLive := slices.Clone(alice.got)
	alice.mu.Unlock()
	_ = alice.c.Close()
	<-alice.done

	// bob logs in again, on node 1: offline messages and his archive.
	bobHas := history(t, n1.c2s, "bob")
	aliceHas := history(t, n1.c2s, "alice")
	for _, tc := range []struct {
		who   string
		acked []string
		has   []string
	}{
		{"alice's messages to bob (in bob's archive or offline)", aliceAcked, bobHas},
		{"bob's messages to alice (in alice's archive)", bobAcked, aliceHas},
	} {
		var lost []string
		for _, b := range tc.acked {
			if !slices.Contains(tc.has, b) {
				lost = append(lost, b)
			}
		}
		if len(lost) > 0 {
			t.Errorf("%s: %d of %d acknowledged messages lost: %v", tc.who, len(lost), len(tc.acked), lost)
		}
		t.Logf("%s: %d acknowledged, all found", tc.who, len(tc.acked))
	}
	// What alice received live from bob is in her archive too.
	for _, b := range aliceLive {
		if !slices.Contains(aliceHas, b) {
			t.Errorf("alice received %s live, but it is not in her archive", b)
		}
	}

	// The survivor leaves on SIGTERM and exits cleanly.
	if err := n1.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-n1.exited:
		n1.exited <- err
		if err != nil {
			t.Errorf("node 1 after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("node 1 did not exit within 30 s of SIGTERM")
	}
	b, _ := os.ReadFile(n1.log)
	if !strings.Contains(string(b), "left the cluster") {
		t.Errorf("node 1 did not announce its departure; its log:\n%s", b)
	}
}
