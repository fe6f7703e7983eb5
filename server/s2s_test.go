package server_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/internal/testca"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/s2s"
	"dormouse.im/dormouse/server"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// fakeDNS resolves the test domains to loopback ports set once the
// servers listen: SRV records for _xmpp-server (STARTTLS) and, when set,
// _xmpps-server (direct TLS).
type fakeDNS struct {
	mu     sync.Mutex
	plain  map[string]int
	direct map[string]int
}

func newFakeDNS() *fakeDNS { return &fakeDNS{plain: map[string]int{}, direct: map[string]int{}} }

func (d *fakeDNS) set(domain string, plain, direct net.Addr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if plain != nil {
		d.plain[domain] = plain.(*net.TCPAddr).Port
	}
	if direct != nil {
		d.direct[domain] = direct.(*net.TCPAddr).Port
	}
}

func (d *fakeDNS) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := d.plain
	if service == "xmpps-server" {
		m = d.direct
	}
	if p, ok := m[name]; ok {
		return "", []*net.SRV{{Target: "xmpp." + name + ".", Port: uint16(p), Priority: 1, Weight: 1}}, nil
	}
	return "", nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (d *fakeDNS) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	return []net.IPAddr{{IP: net.IPv4(127, 0, 0, 1)}}, nil
}

// fedServer starts a server for domain (and push.domain) with a
// certificate issued by certCA, trusting the peers that ca issued
// certificates to, with federation on loopback resolved by dns.
func fedServer(t *testing.T, domain string, ca *testca.CA, certCA *testca.CA, dns *fakeDNS, mod func(*config.Config)) *testServer {
	t.Helper()
	cfg := config.Default()
	cfg.Domain = domain
	cfg.DataDir = t.TempDir()
	cfg.C2S.Listen = "127.0.0.1:0"
	cfg.C2S.TLSListen = "127.0.0.1:0"
	cfg.Components.Listen = ""
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.S2S.Listen = "127.0.0.1:0"
	cfg.S2S.TLSListen = "127.0.0.1:0"
	cfg.HTTP.Listen = ""
	cfg.S2S.CAFile = ca.File
	cfg.S2S.ConnectTimeout = config.Duration(5 * time.Second)
	cfg.Storage.URL = "sqlite:" + filepath.Join(cfg.DataDir, "dormouse.db")
	_, cfg.TLS.Cert, cfg.TLS.Key = certCA.Issue(t, domain, "push."+domain, "apps."+domain)
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ts := startWith(t, cfg, server.WithS2SResolver(dns))
	dns.set(domain, ts.Addr(server.ListenerS2S), nil)
	return ts
}

// fedUser creates name@domain and logs it in.
func (ts *testServer) fedUser(name, resource string) *xmpptest.Client {
	ts.t.Helper()
	c, err := auth.NewCredentials("secret-"+name, 0)
	if err != nil {
		ts.t.Fatal(err)
	}
	if err := ts.Stores.Accounts.CreateAccount(context.Background(), name+"@"+ts.cfg.Domain, c); err != nil {
		ts.t.Fatal(err)
	}
	cl, err := ts.dialErr(xmpptest.Options{User: name, Password: "secret-" + name, Resource: resource, Domain: ts.cfg.Domain})
	if err != nil {
		ts.t.Fatalf("dial %s@%s: %v", name, ts.cfg.Domain, err)
	}
	ts.t.Cleanup(func() { cl.Conn.Close() })
	if err := cl.SendRaw("<presence/>"); err != nil {
		ts.t.Fatal(err)
	}
	return cl
}

func TestS2SFederation(t *testing.T) {
	ca := testca.New(t)
	dns := newFakeDNS()
	a := fedServer(t, "a.example", ca, ca, dns, nil)
	b := fedServer(t, "b.example", ca, ca, dns, nil)
	// a.example reaches b.example over direct TLS (XEP-0368); b.example
	// reaches a.example over STARTTLS.
	dns.set("b.example", nil, b.Addr(server.ListenerS2STLS))
	alice := a.fedUser("alice", "phone")
	bob := b.fedUser("bob", "phone")

	// Messages both ways.
	if err := alice.SendRaw("<message to='bob@b.example' type='chat' id='m1'><body>hi bob</body></message>"); err != nil {
		t.Fatal(err)
	}
	m := expectStanza(t, bob, "message", nil)
	if m.AttrValue("from") != "alice@a.example/phone" || m.ChildText("jabber:client", "body") != "hi bob" {
		t.Fatalf("bob got %s", m)
	}
	if err := bob.SendRaw("<message to='alice@a.example/phone' type='chat' id='m2'><body>hi alice</body></message>"); err != nil {
		t.Fatal(err)
	}
	m = expectStanza(t, alice, "message", nil)
	if m.AttrValue("from") != "bob@b.example/phone" || m.ChildText("jabber:client", "body") != "hi alice" {
		t.Fatalf("alice got %s", m)
	}

	// IQ round trips to the other server, both ways.
	r, err := alice.IQ("v1", "<iq type='get' id='v1' to='b.example'><query xmlns='jabber:iq:version'/></iq>")
	if err != nil || r.AttrValue("type") != "result" || r.AttrValue("from") != "b.example" {
		t.Fatalf("version of b.example: %v %s", err, r)
	}
	r, err = bob.IQ("v2", "<iq type='get' id='v2' to='a.example'><query xmlns='jabber:iq:version'/></iq>")
	if err != nil || r.AttrValue("type") != "result" {
		t.Fatalf("version of a.example: %v %s", err, r)
	}

	// A presence subscription across servers (RFC 6121 §3.1).
	if err := alice.SendRaw("<presence to='bob@b.example' type='subscribe'/>"); err != nil {
		t.Fatal(err)
	}
	p := expectStanza(t, bob, "presence", func(e *xml.Element) bool { return e.AttrValue("type") == "subscribe" })
	if p.AttrValue("from") != "alice@a.example" {
		t.Fatalf("subscription request: %s", p)
	}
	if err := bob.SendRaw("<presence to='alice@a.example' type='subscribed'/>"); err != nil {
		t.Fatal(err)
	}
	expectStanza(t, alice, "presence", func(e *xml.Element) bool {
		return e.AttrValue("type") == "subscribed" && e.AttrValue("from") == "bob@b.example"
	})
	// Bob's presence follows the approval (§3.1.5).
	expectStanza(t, alice, "presence", func(e *xml.Element) bool {
		return e.AttrValue("type") == "" && e.AttrValue("from") == "bob@b.example/phone"
	})
	// A new resource of alice's probes bob's server and gets his presence
	// (RFC 6121 §4.3).
	laptop, err := a.dialErr(xmpptest.Options{User: "alice", Password: "secret-alice", Resource: "laptop", Domain: "a.example"})
	if err != nil {
		t.Fatal(err)
	}
	defer laptop.Conn.Close()
	if err := laptop.SendRaw("<presence/>"); err != nil {
		t.Fatal(err)
	}
	expectStanza(t, laptop, "presence", func(e *xml.Element) bool {
		return e.AttrValue("type") == "" && e.AttrValue("from") == "bob@b.example/phone"
	})

	for _, ts := range []*testServer{a, b} {
		for _, st := range ts.S2S.Streams() {
			if st.Auth != s2s.AuthExternal {
				t.Errorf("%s: stream %+v not authenticated with SASL EXTERNAL", ts.cfg.Domain, st)
			}
		}
	}
	// The admin listener lists the streams (dormouse s2s status).
	status := httpGet(t, "http://"+a.addr(server.ListenerAdmin)+"/s2s")
	for _, w := range []string{"out  a.example  b.example  sasl-external  TLS 1.3 direct", "in   a.example  b.example  sasl-external", "2 stream(s)"} {
		if !strings.Contains(status, w) {
			t.Errorf("GET /s2s does not show %q:\n%s", w, status)
		}
	}
	if out := outStreams(a, "b.example"); out != 1 {
		t.Errorf("a.example has %d outgoing streams to b.example, want 1", out)
	}
	for _, st := range a.S2S.Streams() {
		if st.Direction == "out" && !st.DirectTLS {
			t.Errorf("a.example's stream to b.example does not use direct TLS: %+v", st)
		}
	}
	for _, st := range b.S2S.Streams() {
		if st.Direction == "out" && st.DirectTLS {
			t.Errorf("b.example's stream to a.example uses direct TLS, want STARTTLS: %+v", st)
		}
	}
}

func outStreams(ts *testServer, remote string) int {
	n := 0
	for _, st := range ts.S2S.Streams() {
		if st.Direction == "out" && st.Remote == remote {
			n++
		}
	}
	return n
}

// A push publish (Router.SendIQ from an account's bare JID) reaches an app
// server on another domain, a router.Service there, and its answers,
// results and errors, come back.
func TestS2SPushPublishToRemoteService(t *testing.T) {
	ca := testca.New(t)
	dns := newFakeDNS()
	a := fedServer(t, "a.example", ca, ca, dns, nil)
	b := fedServer(t, "b.example", ca, ca, dns, nil)
	dns.set("apps.b.example", b.Addr(server.ListenerS2S), nil)
	dns.set("push.b.example", b.Addr(server.ListenerS2S), nil)
	err := b.Router.AddService("apps.b.example", "App server", router.ServiceFunc(func(ctx context.Context, st *stanza.Stanza) error {
		if st.Kind != stanza.KindIQ || st.Type != stanza.TypeSet {
			return nil
		}
		if st.From.String() != "alice@a.example" {
			return stanza.NewError(stanza.Forbidden, "unexpected sender "+st.From.String())
		}
		if st.To.Localpart() == "bad" {
			return stanza.NewError(stanza.ItemNotFound, "no such node")
		}
		b.Router.Route(ctx, st.Result(nil))
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	alice := jid.MustParse("alice@a.example")
	publish := func(to string) (*stanza.Stanza, error) {
		iq := stanza.Build(stanza.KindIQ, stanza.TypeSet, "", alice, jid.MustParse(to))
		item := xml.NewElement("http://jabber.org/protocol/pubsub", "item").
			AddChild(xml.NewElement("urn:xmpp:push:0", "notification"))
		pub := xml.NewElement("http://jabber.org/protocol/pubsub", "publish", "node", "no-such-node").AddChild(item)
		iq.El.AddChild(xml.NewElement("http://jabber.org/protocol/pubsub", "pubsub").AddChild(pub))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return a.Router.SendIQ(ctx, iq)
	}
	res, err := publish("apps.b.example")
	if err != nil || res.Type != stanza.TypeResult {
		t.Fatalf("publish: %v %v", res, err)
	}
	var se *stanza.Error
	if _, err = publish("bad@apps.b.example"); !errors.As(err, &se) || se.Condition != stanza.ItemNotFound {
		t.Fatalf("publish to a missing node: %v, want item-not-found", err)
	}
	// b.example's built-in push app server answers too: a node it never
	// registered.
	if _, err = publish("push.b.example"); !errors.As(err, &se) || se.Condition != stanza.ItemNotFound {
		t.Fatalf("publish to the built-in app server: %v, want item-not-found", err)
	}
}

// A peer whose certificate does not validate is refused, unless
// insecure_domains names it: then dialback authenticates both ways.
func TestS2SDialbackInsecureDomains(t *testing.T) {
	ca := testca.New(t)
	other := testca.New(t) // b.example's certificate is not from the CA a.example trusts
	for _, insecure := range []bool{false, true} {
		t.Run("insecure="+strconv.FormatBool(insecure), func(t *testing.T) {
			dns := newFakeDNS()
			a := fedServer(t, "a.example", ca, ca, dns, func(c *config.Config) {
				if insecure {
					c.S2S.InsecureDomains = []string{"b.example"}
				}
			})
			b := fedServer(t, "b.example", ca, other, dns, nil)
			alice := a.fedUser("alice", "phone")
			bob := b.fedUser("bob", "phone")
			if err := alice.SendRaw("<message to='bob@b.example' type='chat' id='d1'><body>over dialback?</body></message>"); err != nil {
				t.Fatal(err)
			}
			if !insecure {
				e := expectStanza(t, alice, "message", nil)
				if e.AttrValue("type") != "error" || xmpptest.ErrorCondition(e) != "remote-server-not-found" {
					t.Fatalf("want a remote-server-not-found bounce, got %s", e)
				}
				if n := a.S2S.Snapshot().Failures[s2s.ReasonCertificate]; n == 0 {
					t.Error("the certificate failure was not counted")
				}
				// b.example cannot reach a.example by dialback either.
				if err := bob.SendRaw("<message to='alice@a.example' type='chat' id='d2'><body>back?</body></message>"); err != nil {
					t.Fatal(err)
				}
				e = expectStanza(t, bob, "message", nil)
				if e.AttrValue("type") != "error" {
					t.Fatalf("want a bounce, got %s", e)
				}
				return
			}
			m := expectStanza(t, bob, "message", nil)
			if m.ChildText("jabber:client", "body") != "over dialback?" {
				t.Fatalf("bob got %s", m)
			}
			if err := bob.SendRaw("<message to='alice@a.example' type='chat' id='d2'><body>yes</body></message>"); err != nil {
				t.Fatal(err)
			}
			if m := expectStanza(t, alice, "message", nil); m.ChildText("jabber:client", "body") != "yes" {
				t.Fatalf("alice got %s", m)
			}
			// The connections that verified the keys (db:verify) close
			// soon after; then every stream is a dialback one.
			for _, ts := range []*testServer{a, b} {
				deadline := time.Now().Add(5 * time.Second)
				for len(ts.S2S.Streams()) != 2 && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				for _, st := range ts.S2S.Streams() {
					if st.Auth != s2s.AuthDialback {
						t.Errorf("%s: stream %+v, want dialback", ts.cfg.Domain, st)
					}
				}
			}
		})
	}
}

// Stanzas to a server that went away are bounced, not lost.
func TestS2SRemoteGoneBounces(t *testing.T) {
	ca := testca.New(t)
	dns := newFakeDNS()
	a := fedServer(t, "a.example", ca, ca, dns, nil)
	b := fedServer(t, "b.example", ca, ca, dns, nil)
	alice := a.fedUser("alice", "phone")
	bob := b.fedUser("bob", "phone")
	if err := alice.SendRaw("<message to='bob@b.example' type='chat' id='g1'><body>1</body></message>"); err != nil {
		t.Fatal(err)
	}
	expectStanza(t, bob, "message", nil)
	b.stop()
	// The stream ends with b.example's shutdown; the next messages go to
	// a new stream that cannot connect.
	deadline := time.Now().Add(5 * time.Second)
	for outStreams(a, "b.example") > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for i := range 3 {
		if err := alice.Sendf("<message to='bob@b.example' type='chat' id='g%d'><body>lost?</body></message>", i+2); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		e := expectStanza(t, alice, "message", nil)
		if e.AttrValue("type") != "error" || xmpptest.ErrorCondition(e) != "remote-server-not-found" {
			t.Fatalf("want remote-server-not-found, got %s", e)
		}
	}
}

// server.CheckS2S (dormouse s2s check) reports each step, and why it
// failed.
func TestS2SCheck(t *testing.T) {
	ca := testca.New(t)
	dns := newFakeDNS()
	b := fedServer(t, "b.example", ca, ca, dns, nil)
	a := fedServer(t, "a.example", ca, ca, dns, nil)
	cfg := a.cfg
	cfg.S2S.Hosts = map[string]string{"b.example": b.addr(server.ListenerS2S), "gone.example": "127.0.0.1:1"}
	var steps []string
	report := func(s string) { steps = append(steps, s) }
	if err := server.CheckS2S(context.Background(), cfg, "a.example", "b.example", report); err != nil {
		t.Fatalf("check: %v (%q)", err, steps)
	}
	want := []string{"endpoint 127.0.0.1:", "connect 127.0.0.1:", "STARTTLS: TLS 1.3", "certificate: valid for b.example", "SASL EXTERNAL as a.example: success", "authenticated with sasl-external"}
	if len(steps) != len(want) {
		t.Fatalf("steps %q", steps)
	}
	for i, w := range want {
		if !strings.HasPrefix(steps[i], w) {
			t.Errorf("step %d: %q, want %q…", i, steps[i], w)
		}
	}
	steps = nil
	err := server.CheckS2S(context.Background(), cfg, "a.example", "gone.example", report)
	if err == nil || !strings.HasPrefix(err.Error(), "tcp failure") || len(steps) != 2 || !strings.Contains(steps[1], "FAILED") {
		t.Fatalf("check of a server that is not there: %v %q", err, steps)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return string(b)
}
