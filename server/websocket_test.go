package server_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	stdxml "encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/server"
	"dormouse.im/dormouse/websocket"
	"dormouse.im/dormouse/xml"
	ws "github.com/coder/websocket"
)

// httpsClient trusts the test server's self-signed certificate.
func httpsClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		ForceAttemptHTTP2: true,
	}}
}

func (ts *testServer) wsURL() string {
	return "wss://" + ts.addr(server.ListenerHTTP) + server.WebSocketPath
}

// dialWS logs in over WebSocket with the given options (User, Password,
// Resource, SM, Resume...).
func (ts *testServer) dialWS(o xmpptest.Options) (*xmpptest.Client, error) {
	o.Secure = true
	o.Dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
		return websocket.Dial(ctx, ts.wsURL(), httpsClient(), nil)
	}
	c, err := ts.dialErr(o)
	if c != nil {
		ts.t.Cleanup(func() { c.Conn.Close() })
	}
	return c, err
}

// TestWebSocketChat: a client logs in over WebSocket (SASL PLAIN, allowed
// over the HTTPS listener's TLS; no STARTTLS offered), chats with a TCP
// client both ways.
func TestWebSocketChat(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice", "bob")
	alice, err := ts.dialWS(xmpptest.Options{User: "alice", Password: "secret-alice", Resource: "tab", Mechanism: "PLAIN"})
	if err != nil {
		t.Fatal(err)
	}
	bob := ts.dial("bob", "pc")
	alice.SendRaw(chat("bob@localhost/pc", "w1", "from the browser"))
	el := expectStanza(t, bob, "message", func(e *xml.Element) bool { return e.AttrValue("id") == "w1" })
	if got := el.AttrValue("from"); got != "alice@localhost/tab" {
		t.Errorf("from = %q", got)
	}
	bob.SendRaw(chat("alice@localhost/tab", "t1", "from the phone"))
	expectStanza(t, alice, "message", func(e *xml.Element) bool { return e.AttrValue("id") == "t1" })
	// SCRAM works as well.
	if _, err := ts.dialWS(xmpptest.Options{User: "bob", Password: "secret-bob", Resource: "tab"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.dialWS(xmpptest.Options{User: "bob", Password: "wrong", Mechanism: "PLAIN"}); err == nil {
		t.Fatal("a wrong password logged in")
	}
}

// TestWebSocketResume: a stream-managed session over WebSocket hibernates
// when the WebSocket goes away (a sleeping tab) and resumes on a new
// WebSocket with what arrived meanwhile.
func TestWebSocketResume(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice", "bob")
	alice, err := ts.dialWS(xmpptest.Options{User: "alice", Password: "secret-alice", Resource: "tab", SM: true})
	if err != nil {
		t.Fatal(err)
	}
	bob := ts.dial("bob", "pc")
	bob.SendRaw(chat("alice@localhost/tab", "b0", "b0"))
	if got := readIDs(t, alice, 1); got[0] != "b0" {
		t.Fatal(got)
	}
	alice.Cut()
	waitFor(t, "hibernation", func() bool { return ts.SessionsForTest().Stats().Hibernated == 1 })
	bob.SendRaw(chat("alice@localhost/tab", "b1", "b1"))
	bob.SendRaw(chat("alice@localhost/tab", "b2", "b2"))
	c, err := ts.dialWS(xmpptest.Options{User: "alice", Password: "secret-alice", Resume: alice.SM})
	if err != nil {
		t.Fatal(err)
	}
	if got := readIDs(t, c, 2); !slices.Equal(got, []string{"b1", "b2"}) {
		t.Fatalf("after resumption: %v", got)
	}
	c.SendRaw(chat("bob@localhost/pc", "a1", "back"))
	expectStanza(t, bob, "message", func(e *xml.Element) bool { return e.AttrValue("id") == "a1" })
}

// TestWebSocketTooBigEndsSession: a message over c2s.max_stanza_size ends
// a resumable session, as the policy-violation stream error does over TCP;
// it does not hibernate it as a lost connection (the client would resume
// and resend the same message).
func TestWebSocketTooBigEndsSession(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice")
	alice, err := ts.dialWS(xmpptest.Options{User: "alice", Password: "secret-alice", Resource: "tab", SM: true})
	if err != nil {
		t.Fatal(err)
	}
	sessions := ts.SessionsForTest()
	if st := sessions.Stats(); st.Resumable != 1 {
		t.Fatalf("resumable sessions: %d", st.Resumable)
	}
	alice.SendRaw("<message to='alice@localhost' id='big'><body>" + strings.Repeat("a", 300000) + "</body></message>")
	waitFor(t, "the session to end", func() bool { return sessions.Stats().Resumable == 0 })
	if st := sessions.Stats(); st.Hibernations != 0 {
		t.Errorf("hibernations: %d", st.Hibernations)
	}
}

// rawWS opens a WebSocket and returns it for framing tests.
func rawWS(t *testing.T, url string, h http.Header) *ws.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := ws.Dial(ctx, url, &ws.DialOptions{HTTPClient: httpsClient(), Subprotocols: []string{"xmpp"}, HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func wsRead(t *testing.T, c *ws.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, b, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if typ != ws.MessageText {
		t.Fatalf("message type %v", typ)
	}
	return string(b)
}

func wsWrite(t *testing.T, c *ws.Conn, s string) {
	t.Helper()
	if err := c.Write(context.Background(), ws.MessageText, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

// TestWebSocketFraming: <open/> answers <open/> and the features in their
// own message with their namespaces declared; a message with two elements
// is a not-well-formed stream error followed by <close/>; <close/> is
// answered with <close/>; prefixed <fr:open/> and <fr:close/> work, an
// <open/> with content is a bad-format stream error.
func TestWebSocketFraming(t *testing.T) {
	ts := start(t, nil)
	c := rawWS(t, ts.wsURL(), nil)
	wsWrite(t, c, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>")
	open := wsRead(t, c)
	if !strings.HasPrefix(open, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'") || !strings.Contains(open, "from='localhost'") ||
		!strings.Contains(open, "version='1.0'") || !strings.HasSuffix(open, "/>") {
		t.Fatalf("open: %s", open)
	}
	feat := wsRead(t, c)
	if !strings.HasPrefix(feat, "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>") ||
		strings.Contains(feat, "starttls") || !strings.Contains(feat, "<mechanism>PLAIN</mechanism>") {
		t.Fatalf("features: %s", feat)
	}
	wsWrite(t, c, "<iq type='get' id='1'/><iq type='get' id='2'/>")
	if e := wsRead(t, c); !strings.Contains(e, "<stream:error xmlns:stream='http://etherx.jabber.org/streams'>") || !strings.Contains(e, "not-well-formed") {
		t.Fatalf("error: %s", e)
	}
	if cl := wsRead(t, c); cl != "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>" {
		t.Fatalf("close: %s", cl)
	}

	c = rawWS(t, ts.wsURL(), nil)
	wsWrite(t, c, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>")
	wsRead(t, c)
	wsRead(t, c)
	wsWrite(t, c, "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
	if cl := wsRead(t, c); cl != "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>" {
		t.Fatalf("close: %s", cl)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := c.Read(ctx); ws.CloseStatus(err) != ws.StatusNormalClosure {
		t.Fatalf("after <close/>: %v", err)
	}

	// RFC 7395 §3.3.2: the framing elements go by namespace, whatever
	// their prefix; an <open/> with content is refused, not trimmed.
	c = rawWS(t, ts.wsURL(), nil)
	wsWrite(t, c, "<fr:open xmlns:fr='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>")
	if open := wsRead(t, c); !strings.HasPrefix(open, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'") {
		t.Fatalf("prefixed open answered with %s", open)
	}
	if feat := wsRead(t, c); !strings.HasPrefix(feat, "<stream:features") {
		t.Fatalf("features after a prefixed open: %s", feat)
	}
	wsWrite(t, c, "<fr:close xmlns:fr='urn:ietf:params:xml:ns:xmpp-framing'/>")
	if cl := wsRead(t, c); cl != "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>" {
		t.Fatalf("prefixed close answered with %s", cl)
	}
	c = rawWS(t, ts.wsURL(), nil)
	wsWrite(t, c, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'><message to='bob@localhost'><body>hidden</body></message></open>")
	var got []string
	for {
		m := wsRead(t, c)
		got = append(got, m)
		if strings.HasPrefix(m, "<close") {
			break
		}
	}
	if all := strings.Join(got, ""); !strings.Contains(all, "bad-format") {
		t.Fatalf("open with content answered with %q, want a bad-format stream error", got)
	}

	// A message over c2s.max_stanza_size closes the WebSocket (1009).
	c = rawWS(t, ts.wsURL(), nil)
	wsWrite(t, c, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>")
	wsRead(t, c)
	wsRead(t, c)
	_ = c.Write(ctx, ws.MessageText, []byte("<iq type='get' id='big'><x>"+strings.Repeat("a", 300000)+"</x></iq>"))
	if _, _, err := c.Read(ctx); ws.CloseStatus(err) != ws.StatusMessageTooBig {
		t.Fatalf("after a large message: %v", err)
	}
}

// TestWebSocketRefusals: a foreign origin, a missing subprotocol and plain
// HTTP are refused.
func TestWebSocketRefusals(t *testing.T) {
	ts := start(t, func(c *config.Config) { c.HTTP.AllowedOrigins = []string{"https://chat.example.org"} })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dial := func(h http.Header, protos []string) (*http.Response, error) {
		c, resp, err := ws.Dial(ctx, ts.wsURL(), &ws.DialOptions{HTTPClient: httpsClient(), Subprotocols: protos, HTTPHeader: h})
		if err == nil {
			c.CloseNow()
		}
		return resp, err
	}
	resp, err := dial(http.Header{"Origin": {"https://evil.example"}}, []string{"xmpp"})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign origin: %v %v", resp, err)
	}
	if _, err := dial(http.Header{"Origin": {"https://chat.example.org"}}, []string{"xmpp"}); err != nil {
		t.Errorf("allowed origin: %v", err)
	}
	resp, err = dial(nil, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("no subprotocol: %v %v", resp, err)
	}
	// Plain HTTP on the TLS port is not served.
	if r, err := http.Get("http://" + ts.addr(server.ListenerHTTP) + server.WebSocketPath); err == nil && r.StatusCode < 400 {
		t.Errorf("plain HTTP: %s", r.Status)
	}
}

// TestHostMeta: XEP-0156 discovery names the WebSocket endpoint with the
// listener's real port, with CORS, in both formats; the URL works.
func TestHostMeta(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice")
	hc := httpsClient()
	base := "https://" + ts.addr(server.ListenerHTTP)
	resp, err := hc.Get(base + "/.well-known/host-meta.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.ProtoMajor != 2 {
		t.Errorf("CORS %q, protocol %s", resp.Header.Get("Access-Control-Allow-Origin"), resp.Proto)
	}
	var jrd struct{ Links []struct{ Rel, Href string } }
	if err := json.NewDecoder(resp.Body).Decode(&jrd); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ts.addr(server.ListenerHTTP))
	want := "wss://localhost:" + port + "/xmpp-websocket"
	if len(jrd.Links) != 1 || jrd.Links[0].Rel != "urn:xmpp:alt-connections:websocket" || jrd.Links[0].Href != want {
		t.Fatalf("links %+v, want %s", jrd.Links, want)
	}
	resp2, err := hc.Get(base + "/.well-known/host-meta")
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	var xrd struct {
		Links []struct {
			Rel  string `xml:"rel,attr"`
			Href string `xml:"href,attr"`
		} `xml:"Link"`
	}
	if err := decodeXML(resp2, &xrd); err != nil {
		t.Fatal(err)
	}
	if len(xrd.Links) != 1 || xrd.Links[0].Href != want {
		t.Fatalf("XRD links %+v", xrd.Links)
	}
	// The advertised URL works as written (localhost resolves to the
	// loopback listener).
	o := xmpptest.Options{User: "alice", Password: "secret-alice", Mechanism: "PLAIN", Secure: true}
	o.Dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
		return websocket.Dial(ctx, want, hc, nil)
	}
	c, err := ts.dialErr(o)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func decodeXML(resp *http.Response, v any) error { return stdxml.NewDecoder(resp.Body).Decode(v) }

// TestOwnFromOverridden: a 'from' naming another resource of the client's
// own account is overridden with the bound full JID (RFC 6120 §8.1.2.1;
// Converse.js does this after resuming on a page reload), over WebSocket
// and TCP alike; another account's address still ends the stream.
func TestOwnFromOverridden(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice", "bob")
	bob := ts.dial("bob", "pc")
	ws, err := ts.dialWS(xmpptest.Options{User: "alice", Password: "secret-alice", Resource: "tab"})
	if err != nil {
		t.Fatal(err)
	}
	tcp := ts.dial("alice", "phone")
	for i, c := range []*xmpptest.Client{ws, tcp} {
		id := fmt.Sprintf("m%d", i)
		c.SendRaw("<message from='alice@localhost/reloaded-tab' to='bob@localhost/pc' type='chat' id='" + id + "'><body>x</body></message>")
		el := expectStanza(t, bob, "message", func(e *xml.Element) bool { return e.AttrValue("id") == id })
		if want := []string{"alice@localhost/tab", "alice@localhost/phone"}[i]; el.AttrValue("from") != want {
			t.Errorf("from %q, want %q", el.AttrValue("from"), want)
		}
	}
	ws.SendRaw("<message from='bob@localhost/x' to='bob@localhost/pc'><body>spoof</body></message>")
	el, _, err := ws.Expect(func(e *xml.Element) bool { return xmpptest.StreamErrorCondition(e) != "" })
	if err != nil || xmpptest.StreamErrorCondition(el) != "invalid-from" {
		t.Fatalf("spoofed from: %v %v", el, err)
	}
}

// TestBehindProxy: with http.behind_proxy the listener speaks plain HTTP;
// a WebSocket is accepted only when the trusted proxy (loopback) says the
// client came over HTTPS, and the advertised URL is public_url's.
func TestBehindProxy(t *testing.T) {
	ts := start(t, func(c *config.Config) {
		c.HTTP.BehindProxy = true
		c.HTTP.PublicURL = "https://xmpp.example.org"
	})
	ts.users("alice")
	url := "ws://" + ts.addr(server.ListenerHTTP) + server.WebSocketPath
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := websocket.Dial(ctx, url, nil, nil); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("without X-Forwarded-Proto: %v", err)
	}
	o := xmpptest.Options{User: "alice", Password: "secret-alice", Mechanism: "PLAIN", Secure: true}
	o.Dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
		return websocket.Dial(ctx, url, nil, http.Header{"X-Forwarded-Proto": {"https"}, "X-Forwarded-For": {"203.0.113.5"}})
	}
	c, err := ts.dialErr(o)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	resp, err := http.Get("http://" + ts.addr(server.ListenerHTTP) + "/.well-known/host-meta.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"href":"wss://xmpp.example.org/xmpp-websocket"`) {
		t.Errorf("host-meta %s", b)
	}
}

// TestWebSocketFeatures: the features that live in the session and the
// router work over WebSocket unchanged: carbons, MAM, CSI, and resuming a
// TCP session over WebSocket.
func TestWebSocketFeatures(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice", "bob")
	tab, err := ts.dialWS(xmpptest.Options{User: "alice", Password: "secret-alice", Resource: "tab"})
	if err != nil {
		t.Fatal(err)
	}
	enableCarbons(t, tab)
	phone := ts.dialSM("alice", "phone")
	bob := ts.dial("bob", "pc")
	bob.SendRaw(chat("alice@localhost/phone", "c1", "to the phone"))
	expectStanza(t, tab, "message", func(e *xml.Element) bool {
		return e.Child(nsCarbons, "received") != nil && xmpptest.Contains(e, "id='c1'")
	})
	if msgs, fin := mamQuery(t, tab, "q1", ""); len(msgs) != 1 || fin == nil {
		t.Fatalf("MAM over WebSocket: %d messages, fin %v", len(msgs), fin)
	}
	// CSI: presence waits while the tab is inactive.
	tab.SendRaw("<inactive xmlns='urn:xmpp:csi:0'/>")
	if _, err := tab.IQ("p1", "<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>"); err != nil {
		t.Fatal(err)
	}
	bob.SendRaw("<presence to='alice@localhost/tab' id='pres'/>")
	if el := tab.NoMore(200 * time.Millisecond); el != nil {
		t.Fatalf("inactive tab got %s", el)
	}
	tab.SendRaw("<active xmlns='urn:xmpp:csi:0'/>")
	expectStanza(t, tab, "presence", func(e *xml.Element) bool { return e.AttrValue("id") == "pres" })

	// The phone's TCP session resumes in a browser tab.
	phone.Cut()
	waitFor(t, "hibernation", func() bool { return ts.SessionsForTest().Stats().Hibernated == 1 })
	bob.SendRaw(chat("alice@localhost/phone", "h1", "while away"))
	c, err := ts.dialWS(xmpptest.Options{User: "alice", Password: "secret-alice", Resume: phone.SM})
	if err != nil {
		t.Fatal(err)
	}
	if got := readIDs(t, c, 2); !slices.Contains(got, "h1") {
		t.Fatalf("after resuming over WebSocket: %v", got)
	}
}

// TestWebSocketConnLimit: c2s.max_connections_per_ip counts WebSocket
// streams with TCP ones.
func TestWebSocketConnLimit(t *testing.T) {
	ts := start(t, func(c *config.Config) { c.C2S.MaxConnectionsPerIP = 1 })
	c := rawWS(t, ts.wsURL(), nil)
	wsWrite(t, c, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>")
	wsRead(t, c) // the first is served
	second := rawWS(t, ts.wsURL(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := second.Read(ctx); ws.CloseStatus(err) != ws.StatusTryAgainLater {
		t.Fatalf("second WebSocket: %v", err)
	}
}
