package s2s

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/testca"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/stream"
	"dormouse.im/dormouse/xml"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTwoServersIdleStreamCloses(t *testing.T) {
	ca := testca.New(t)
	b := startPeer(t, ca, "b.example", nil)
	a := startPeer(t, ca, "a.example", func(c *Config) {
		c.Hosts["b.example"] = b.addr
		c.IdleTimeout = 300 * time.Millisecond
	})
	for range 2 {
		if err := a.s.Send(context.Background(), msg(t, "alice@a.example/x", "bob@b.example")); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		select {
		case st := <-b.r.routed:
			if st.From.String() != "alice@a.example/x" || st.Body() != "hi" {
				t.Fatalf("routed %s", st)
			}
		case bo := <-a.r.bounced:
			t.Fatalf("bounced: %v", bo.err)
		case <-time.After(5 * time.Second):
			t.Fatal("nothing arrived")
		}
	}
	out := a.s.Streams()
	if len(out) != 1 || out[0].Auth != AuthExternal || out[0].Direction != "out" {
		t.Fatalf("streams of a.example: %+v", out)
	}
	waitFor(t, "the stanzas to be counted", func() bool { return a.s.Snapshot().StanzasOut == 2 })
	if sn := a.s.Snapshot(); sn.Streams[[2]string{"out", AuthExternal}] != 1 {
		t.Errorf("a.example's counters: %+v", sn)
	}
	if sn := b.s.Snapshot(); sn.StanzasIn != 2 {
		t.Errorf("b.example's counters: %+v", sn)
	}
	// Idle: the outgoing stream closes, and so does b.example's side.
	waitFor(t, "the idle stream to close", func() bool { return len(a.s.Streams()) == 0 && len(b.s.Streams()) == 0 })
	// A new stanza opens a new stream.
	if err := a.s.Send(context.Background(), msg(t, "alice@a.example/x", "bob@b.example")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.r.routed:
	case <-time.After(5 * time.Second):
		t.Fatal("nothing arrived after the idle close")
	}
}

// authedRaw connects to p as b.example with a valid certificate and
// authenticates with SASL EXTERNAL.
func authedRaw(t *testing.T, ca *testca.CA, p *peer, authzid string) *rawPeer {
	cert, _, _ := ca.Issue(t, "b.example")
	rp, f := dialRaw(t, p.addr, "b.example", "a.example", &cert)
	if !strings.Contains(f.String(), "EXTERNAL") {
		t.Fatalf("EXTERNAL not offered: %s", f)
	}
	rp.send("<auth xmlns='" + stream.NSSASL + "' mechanism='EXTERNAL'>" + authzid + "</auth>")
	if el := rp.next(); el.Name.Local != "success" {
		t.Fatalf("SASL EXTERNAL: %s", el)
	}
	rp.dec.Reset(rp.nc)
	if f := rp.open("b.example", "a.example"); len(f.Elements()) != 0 {
		t.Fatalf("features after SASL: %s", f)
	}
	return rp
}

func TestIncomingAddressChecks(t *testing.T) {
	ca := testca.New(t)
	a := startPeer(t, ca, "a.example", nil)
	for _, tc := range []struct {
		name, stanza, want string
	}{
		{"no from", "<message to='alice@a.example'/>", string(stream.ImproperAddressing)},
		{"no to", "<message from='bob@b.example'/>", string(stream.ImproperAddressing)},
		{"spoofed from", "<message from='eve@c.example' to='alice@a.example'/>", string(stream.InvalidFrom)},
		{"relaying", "<message from='bob@b.example' to='carol@c.example'/>", string(stream.HostUnknown)},
		{"malformed", "<message from='bob@b.example' to='@a.example'/>", string(stream.ImproperAddressing)},
		{"unknown element", "<foo xmlns='urn:example'/>", string(stream.UnsupportedStanzaType)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rp := authedRaw(t, ca, a, base64.StdEncoding.EncodeToString([]byte("b.example")))
			rp.send(tc.stanza)
			if got := rp.streamError(); got != tc.want {
				t.Errorf("stream error %s, want %s", got, tc.want)
			}
		})
	}
	t.Run("accepted", func(t *testing.T) {
		rp := authedRaw(t, ca, a, "=")
		rp.send("<message from='bob@b.example/x' to='alice@a.example' id='1'><body>yo</body></message>")
		select {
		case st := <-a.r.routed:
			if st.From.String() != "bob@b.example/x" || st.El.Name.Space != stanza.NSClient {
				t.Fatalf("routed %s", st)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("not routed")
		}
	})
	t.Run("before authentication", func(t *testing.T) {
		rp, _ := dialRaw(t, a.addr, "b.example", "a.example", nil)
		rp.send("<message from='bob@b.example' to='alice@a.example'/>")
		if got := rp.streamError(); got != string(stream.NotAuthorized) {
			t.Errorf("stream error %s, want not-authorized", got)
		}
	})
	t.Run("before TLS", func(t *testing.T) {
		nc, err := net.Dial("tcp", a.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		rp := &rawPeer{t: t, nc: nc}
		rp.dec = newConn(nc, 0, time.Second).dec
		f := rp.open("b.example", "a.example")
		if !strings.Contains(f.String(), "required") || strings.Contains(f.String(), "dialback") {
			t.Fatalf("features before TLS: %s", f)
		}
		rp.send("<db:result from='b.example' to='a.example'>abc</db:result>")
		if got := rp.streamError(); got != string(stream.PolicyViolation) {
			t.Errorf("stream error %s, want policy-violation", got)
		}
	})
	t.Run("unknown host", func(t *testing.T) {
		nc, err := net.Dial("tcp", a.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		rp := &rawPeer{t: t, nc: nc, dec: newConn(nc, 0, time.Second).dec}
		rp.send(string(appendHeader(nil, "b.example", "z.example", "")))
		if _, err := rp.dec.Header(); err != nil {
			t.Fatal(err)
		}
		if got := rp.streamError(); got != string(stream.HostUnknown) {
			t.Errorf("stream error %s, want host-unknown", got)
		}
	})
}

func TestSASLExternalRefused(t *testing.T) {
	ca := testca.New(t)
	a := startPeer(t, ca, "a.example", nil)
	cert, _, _ := ca.Issue(t, "b.example")
	// The certificate names b.example, the stream claims c.example.
	rp, f := dialRaw(t, a.addr, "c.example", "a.example", &cert)
	if strings.Contains(f.String(), "EXTERNAL") {
		t.Fatalf("EXTERNAL offered for a certificate of another domain: %s", f)
	}
	rp.send("<auth xmlns='" + stream.NSSASL + "' mechanism='EXTERNAL'>=</auth>")
	if el := rp.next(); el.Name.Local != "failure" {
		t.Fatalf("want a SASL failure, got %s", el)
	}
	// A wrong authorization identity.
	rp, _ = dialRaw(t, a.addr, "b.example", "a.example", &cert)
	rp.send("<auth xmlns='" + stream.NSSASL + "' mechanism='EXTERNAL'>" + base64.StdEncoding.EncodeToString([]byte("c.example")) + "</auth>")
	if el := rp.next(); el.Name.Local != "failure" || el.Child(stream.NSSASL, "invalid-authzid") == nil {
		t.Fatalf("want invalid-authzid, got %s", el)
	}
}

func TestDialbackAuthoritative(t *testing.T) {
	ca := testca.New(t)
	a := startPeer(t, ca, "a.example", nil)
	rp, _ := dialRaw(t, a.addr, "b.example", "a.example", nil)
	key := dialbackKey(a.s.cfg.Secret, "b.example", "a.example", "stream-1")
	rp.send("<db:verify from='b.example' to='a.example' id='stream-1'>" + key + "</db:verify>")
	el := rp.next()
	if el.Name.Local != "verify" || el.AttrValue("type") != "valid" || el.AttrValue("id") != "stream-1" || el.AttrValue("from") != "a.example" {
		t.Fatalf("valid key: %s", el)
	}
	rp.send("<db:verify from='b.example' to='a.example' id='stream-2'>" + key + "</db:verify>")
	if el := rp.next(); el.AttrValue("type") != "invalid" {
		t.Fatalf("key of another stream: %s", el)
	}
	// Asking a.example to verify b.example's key without a valid
	// certificate for b.example: refused (not in insecure_domains).
	rp.send("<db:result from='b.example' to='a.example'>" + key + "</db:result>")
	el = rp.next()
	if el.AttrValue("type") != "error" || el.Child("jabber:server", "error").Child(stanza.NSStanzas, "not-authorized") == nil {
		t.Fatalf("dialback without a valid certificate: %s", el)
	}
}

// silentListener accepts connections and never answers.
func silentListener(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return l.Addr().String()
}

func TestQueuedStanzasBouncedOnTimeout(t *testing.T) {
	ca := testca.New(t)
	addr := silentListener(t)
	a := startPeer(t, ca, "a.example", func(c *Config) {
		c.Hosts["slow.example"] = addr
		c.Hosts["gone.example"] = "127.0.0.1:1"
		c.ConnectTimeout = 300 * time.Millisecond
		c.MaxQueue = 3
	})
	for i := range 4 {
		err := a.s.Send(context.Background(), msg(t, "alice@a.example", "bob@slow.example"))
		if i < 3 && err != nil {
			t.Fatal(err)
		}
		var se *stanza.Error
		if i == 3 && (!errors.As(err, &se) || se.Condition != stanza.ResourceConstraint) {
			t.Fatalf("beyond the queue: %v, want resource-constraint", err)
		}
	}
	for range 3 {
		select {
		case b := <-a.r.bounced:
			if b.err.Condition != stanza.RemoteServerTimeout {
				t.Errorf("bounced with %s, want remote-server-timeout", b.err.Condition)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("queued stanzas not bounced")
		}
	}
	// Backing off: the next stanza is refused at once.
	var se *stanza.Error
	if err := a.s.Send(context.Background(), msg(t, "alice@a.example", "bob@slow.example")); !errors.As(err, &se) || se.Condition != stanza.RemoteServerTimeout {
		t.Fatalf("during back-off: %v", err)
	}
	// A refused connection: remote-server-not-found.
	if err := a.s.Send(context.Background(), msg(t, "alice@a.example", "bob@gone.example")); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-a.r.bounced:
		if b.err.Condition != stanza.RemoteServerNotFound {
			t.Errorf("bounced with %s, want remote-server-not-found", b.err.Condition)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not bounced")
	}
	sn := a.s.Snapshot()
	if sn.Failures[ReasonTimeout] != 1 || sn.Failures[ReasonTCP] != 1 {
		t.Errorf("failures: %v", sn.Failures)
	}
}

func TestDeniedPeerRefused(t *testing.T) {
	ca := testca.New(t)
	a := startPeer(t, ca, "a.example", func(c *Config) { c.Deny = []string{"b.example"} })
	cert, _, _ := ca.Issue(t, "b.example")
	rp, _ := dialRaw(t, a.addr, "b.example", "a.example", &cert)
	rp.send("<auth xmlns='" + stream.NSSASL + "' mechanism='EXTERNAL'>=</auth>")
	if el := rp.next(); el.Name.Local != "failure" {
		t.Fatalf("SASL EXTERNAL of a denied domain: %s", el)
	}
	rp.send("<db:result from='b.example' to='a.example'>key</db:result>")
	if el := rp.next(); el.AttrValue("type") != "error" {
		t.Fatalf("dialback of a denied domain: %s", el)
	}
}

func TestSendPolicy(t *testing.T) {
	s := New(Config{Deny: []string{"evil.example"}, Allow: nil}, newFakeRouter("a.example"), noDNS{}, nil)
	var se *stanza.Error
	if err := s.Send(context.Background(), msg(t, "alice@a.example", "x@evil.example")); !errors.As(err, &se) || se.Condition != stanza.RemoteServerNotFound {
		t.Errorf("denied domain: %v", err)
	}
	if err := s.Send(context.Background(), msg(t, "alice@elsewhere.example", "x@b.example")); !errors.As(err, &se) {
		t.Errorf("from a domain not served here: %v", err)
	}
	s = New(Config{Allow: []string{"friend.example"}}, newFakeRouter("a.example"), noDNS{}, nil)
	if err := s.Send(context.Background(), msg(t, "alice@a.example", "x@b.example")); !errors.As(err, &se) {
		t.Errorf("domain not in allow: %v", err)
	}
}

func TestIncomingLimits(t *testing.T) {
	ca := testca.New(t)
	a := startPeer(t, ca, "a.example", func(c *Config) {
		c.MaxStanzaSize = 10000
		c.MaxConnectionsPerIP = 2
	})
	rp := authedRaw(t, ca, a, "=")
	// The server may close the connection before the write ends.
	go func() {
		_, _ = rp.nc.Write([]byte("<message from='bob@b.example' to='alice@a.example'><body>" + strings.Repeat("x", 20000) + "</body></message>"))
	}()
	if got := rp.streamError(); got != string(stream.PolicyViolation) {
		t.Errorf("oversized stanza: stream error %s, want policy-violation", got)
	}
	waitFor(t, "the stream to end", func() bool { return len(a.s.Streams()) == 0 })
	// Two connections from one address are allowed, a third is closed.
	dialRaw(t, a.addr, "b.example", "a.example", nil)
	dialRaw(t, a.addr, "b.example", "a.example", nil)
	nc, err := net.Dial("tcp", a.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := nc.Read(make([]byte, 1)); err == nil {
		t.Errorf("a third connection from the address was served (read %d byte)", n)
	}
}

func TestIncomingRateLimit(t *testing.T) {
	ca := testca.New(t)
	a := startPeer(t, ca, "a.example", func(c *Config) { c.StanzaRate, c.StanzaBurst = 20, 1 })
	rp := authedRaw(t, ca, a, "=")
	start := time.Now()
	for range 6 {
		rp.send("<message from='bob@b.example' to='alice@a.example'><body>x</body></message>")
	}
	for range 6 {
		select {
		case <-a.r.routed:
		case <-time.After(5 * time.Second):
			t.Fatal("not routed")
		}
	}
	// 1 at once, then 5 more at 20/s: at least 200 ms (less a little for
	// the first wait, which starts with the first stanza).
	if el := time.Since(start); el < 190*time.Millisecond {
		t.Errorf("6 stanzas at 20/s with a burst of 1 took %v", el)
	}
}

// TestIncomingIdleStreamCloses: an authenticated incoming stream that
// carries no element for IdleTimeout is closed like an outgoing one: our
// closing tag, no stream error. Every element postpones the close;
// whitespace keepalives do not (they keep a connection alive, not a
// stream in use).
func TestIncomingIdleStreamCloses(t *testing.T) {
	const idle = 400 * time.Millisecond
	ca := testca.New(t)
	a := startPeer(t, ca, "a.example", func(c *Config) { c.IdleTimeout = idle })
	rp := authedRaw(t, ca, a, "=")
	_ = rp.nc.SetDeadline(time.Now().Add(30 * time.Second))
	var last time.Time
	for n := range 4 {
		last = time.Now()
		rp.send(fmt.Sprintf("<message from='bob@b.example/x' to='alice@a.example' id='%d'><body>yo</body></message>", n))
		select {
		case <-a.r.routed:
		case <-time.After(5 * time.Second):
			t.Fatalf("stanza %d not routed", n)
		}
		time.Sleep(idle / 2)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(idle / 8)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := rp.nc.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	for {
		el, err := rp.dec.Next()
		if errors.Is(err, xml.ErrStreamEnd) {
			break
		}
		if err != nil {
			t.Fatalf("waiting for the idle close: %v", err)
		}
		t.Fatalf("unexpected %s", el)
	}
	if d := time.Since(last); d < idle {
		t.Errorf("closed %v after the last stanza, before the idle timeout %v", d, idle)
	}
	waitFor(t, "the stream to be forgotten", func() bool { return len(a.s.Streams()) == 0 })
}
