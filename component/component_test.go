package component_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/component"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/stream"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

const (
	pushDomain = "push.localhost"
	pushSecret = "s3cret"
	aliceFull  = "alice@localhost/phone"
)

// recorder is a client resource that records what the router delivers.
type recorder struct{ ch chan *stanza.Stanza }

func (r *recorder) Deliver(st *stanza.Stanza) bool {
	select {
	case r.ch <- st:
		return true
	default:
		return false
	}
}

func (r *recorder) next(t *testing.T) *stanza.Stanza {
	t.Helper()
	select {
	case st := <-r.ch:
		return st
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a stanza for alice")
		return nil
	}
}

// env is a component server with a real router serving localhost, where
// alice@localhost/phone is bound to a recorder.
type env struct {
	t      *testing.T
	srv    *component.Server
	r      *router.Router
	addr   string
	alice  *recorder
	served chan error
	once   sync.Once
}

func newEnv(t *testing.T, configure func(*component.Server)) *env {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := router.New([]string{"localhost"}, router.NewMux(), log)
	alice := &recorder{ch: make(chan *stanza.Stanza, 16)}
	r.Bind(mustJID(t, aliceFull), alice)
	srv := &component.Server{
		Router: r,
		Secrets: map[string]string{
			pushDomain:        pushSecret,
			"other.localhost": "other",
			"localhost":       "hijack", // a served host: must never be accepted
		},
		Log: log,
	}
	if configure != nil {
		configure(srv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: srv, r: r, addr: l.Addr().String(), alice: alice, served: make(chan error, 1)}
	go func() { e.served <- srv.Serve(l) }()
	t.Cleanup(func() {
		e.shutdown()
		l.Close()
	})
	return e
}

// shutdown shuts the server down and checks that Serve returned.
func (e *env) shutdown() {
	e.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			e.t.Errorf("Shutdown: %v", err)
		}
		if err := <-e.served; !errors.Is(err, component.ErrServerClosed) {
			e.t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
}

func mustJID(t *testing.T, s string) jid.JID {
	t.Helper()
	j, err := jid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// routeFromAlice routes a chat message from alice to the address to.
func (e *env) routeFromAlice(to, id string) {
	st := stanza.Build(stanza.KindMessage, stanza.TypeChat, id, mustJID(e.t, aliceFull), mustJID(e.t, to))
	st.El.AddChild(xml.NewElement(stanza.NSClient, "body").AddText("hello " + to))
	e.r.Route(context.Background(), st)
}

// expectNotRouted checks that the component domain is not routed: a message
// to it bounces back to alice with remote-server-not-found.
func (e *env) expectNotRouted(domain string) {
	e.t.Helper()
	e.routeFromAlice(domain, "probe")
	st := e.alice.next(e.t)
	if !st.IsError() || st.ID != "probe" {
		e.t.Fatalf("alice got %s, want the bounce of her probe", st)
	}
	if se := stanza.ParseError(st.El); se == nil || se.Condition != stanza.RemoteServerNotFound {
		e.t.Fatalf("bounce %s, want remote-server-not-found", st)
	}
}

// client is the component side, over a plain TCP connection.
type client struct {
	t   *testing.T
	nc  net.Conn
	dec *xml.Decoder
}

func (e *env) dial() *client {
	e.t.Helper()
	nc, err := net.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	// No test may hang: every read and write fails after this.
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	e.t.Cleanup(func() { nc.Close() })
	return &client{t: e.t, nc: nc, dec: xml.NewDecoder(nc, xml.Limits{})}
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := c.nc.Write([]byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) open(to string) {
	c.t.Helper()
	c.send("<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='" + to + "'>")
}

func (c *client) header() *xml.StreamHeader {
	c.t.Helper()
	h, err := c.dec.Header()
	if err != nil {
		c.t.Fatalf("reading the server's stream header: %v", err)
	}
	if h.DefaultNS != stanza.NSComponent {
		c.t.Fatalf("server stream namespace %q, want %q", h.DefaultNS, stanza.NSComponent)
	}
	return h
}

func (c *client) next() *xml.Element {
	c.t.Helper()
	el, err := c.dec.Next()
	if err != nil {
		c.t.Fatalf("reading an element: %v", err)
	}
	return el
}

// expectStreamError reads a stream error with the condition, then the end
// of the stream.
func (c *client) expectStreamError(cond stream.Condition) {
	c.t.Helper()
	el, err := c.dec.Next()
	if err != nil {
		c.t.Fatalf("want stream error %s, got %v", cond, err)
	}
	if el.Name != (xml.Name{Space: stream.NS, Local: "error"}) || el.Child(stream.NSErrors, string(cond)) == nil {
		c.t.Fatalf("want stream error %s, got %s", cond, el.AppendXML(nil, stanza.NSComponent))
	}
	c.expectEnd()
}

func (c *client) expectEnd() {
	c.t.Helper()
	if _, err := c.dec.Next(); !errors.Is(err, xml.ErrStreamEnd) {
		c.t.Fatalf("want the end of the stream, got %v", err)
	}
}

func digest(id, secret string) string {
	sum := sha1.Sum([]byte(id + secret))
	return hex.EncodeToString(sum[:])
}

// connect opens a stream to domain and completes the handshake.
func (e *env) connect(domain, secret string) *client {
	e.t.Helper()
	c := e.dial()
	c.open(domain)
	h := c.header()
	if got := h.AttrValue("from"); got != domain {
		e.t.Fatalf("header from=%q, want %q", got, domain)
	}
	c.send("<handshake>" + digest(h.AttrValue("id"), secret) + "</handshake>")
	el := c.next()
	if el.Name != (xml.Name{Space: stanza.NSComponent, Local: "handshake"}) || len(el.Children) != 0 {
		e.t.Fatalf("want an empty <handshake/>, got %s", el.AppendXML(nil, stanza.NSComponent))
	}
	return c
}

func TestHandshake(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial()
	c.open(pushDomain)
	h := c.header()
	if h.AttrValue("from") != pushDomain {
		t.Errorf("from=%q, want %q", h.AttrValue("from"), pushDomain)
	}
	id := h.AttrValue("id")
	if len(id) < 16 {
		t.Errorf("stream id %q is too short to be random", id)
	}
	if v := h.AttrValue("version"); v != "" {
		t.Errorf("version=%q: XEP-0114 streams have no version", v)
	}
	// Upper-case hex and surrounding whitespace are tolerated.
	c.send("<handshake>\n" + strings.ToUpper(digest(id, pushSecret)) + "\n</handshake>")
	// The first element must be the handshake reply (no stream features).
	if el := c.next(); el.Name != (xml.Name{Space: stanza.NSComponent, Local: "handshake"}) {
		t.Fatalf("got %s, want <handshake/>", el.AppendXML(nil, stanza.NSComponent))
	}
	// A second stream gets a different id.
	c2 := e.dial()
	c2.open(pushDomain)
	if h2 := c2.header(); h2.AttrValue("id") == id {
		t.Errorf("two streams got the same id %q", id)
	}
}

func TestRouteToComponent(t *testing.T) {
	e := newEnv(t, nil)
	c := e.connect(pushDomain, pushSecret)
	for i, to := range []string{pushDomain, "device1@" + pushDomain, "device1@" + pushDomain + "/res"} {
		e.routeFromAlice(to, "m"+string(rune('0'+i)))
		el := c.next()
		if el.Name != (xml.Name{Space: stanza.NSComponent, Local: "message"}) {
			t.Fatalf("%d: got %s, want a jabber:component:accept message", i, el.AppendXML(nil, stanza.NSComponent))
		}
		if el.AttrValue("to") != to || el.AttrValue("from") != aliceFull {
			t.Errorf("%d: to=%q from=%q", i, el.AttrValue("to"), el.AttrValue("from"))
		}
		if got := el.ChildText(stanza.NSComponent, "body"); got != "hello "+to {
			t.Errorf("%d: body %q (children must inherit the component namespace)", i, got)
		}
	}
}

func TestRouteFromComponent(t *testing.T) {
	e := newEnv(t, nil)
	c := e.connect(pushDomain, pushSecret)
	for i, from := range []string{pushDomain, "bot@" + pushDomain + "/x"} {
		// Whitespace keepalives between stanzas are fine.
		c.send(" \n\t ")
		c.send("<message from='" + from + "' to='" + aliceFull + "' type='chat' id='c1'><body>ping</body></message>")
		st := e.alice.next(t)
		if st.From.String() != from || st.To.String() != aliceFull || st.Body() != "ping" || st.El.Name.Space != stanza.NSClient {
			t.Errorf("%d: alice got %s", i, st)
		}
	}
	// An IQ to an unknown local resource bounces back to the component.
	c.send("<iq from='" + pushDomain + "' to='alice@localhost/tablet' type='get' id='q1'><ping xmlns='urn:xmpp:ping'/></iq>")
	el := c.next()
	if el.Name != (xml.Name{Space: stanza.NSComponent, Local: "iq"}) || el.AttrValue("type") != "error" || el.AttrValue("id") != "q1" {
		t.Fatalf("got %s, want the iq error", el.AppendXML(nil, stanza.NSComponent))
	}
	if el.Child(stanza.NSComponent, "error").Child(stanza.NSStanzas, string(stanza.ServiceUnavailable)) == nil {
		t.Errorf("got %s, want service-unavailable", el.AppendXML(nil, stanza.NSComponent))
	}
}

func TestHandshakeFailures(t *testing.T) {
	for name, tc := range map[string]struct {
		header string // the component's stream header; "" means the usual one to push.localhost
		send   string // sent after the server's header
		cond   stream.Condition
	}{
		"wrong secret": {send: "<handshake>" + digest("wrong", pushSecret) + "</handshake>", cond: stream.NotAuthorized},
		"empty":        {send: "<handshake/>", cond: stream.NotAuthorized},
		"no handshake": {send: "<message from='push.localhost' to='alice@localhost'/>", cond: stream.NotAuthorized},
		"unknown domain": {
			header: "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='nobody.localhost'>",
			cond:   stream.HostUnknown,
		},
		"served host": {
			header: "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='localhost'>",
			cond:   stream.HostUnknown,
		},
		"no to": {
			header: "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams'>",
			cond:   stream.HostUnknown,
		},
		"client namespace": {
			header: "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='push.localhost'>",
			cond:   stream.InvalidNamespace,
		},
		"connect namespace": {
			header: "<stream:stream xmlns='jabber:component:connect' xmlns:stream='http://etherx.jabber.org/streams' to='push.localhost'>",
			cond:   stream.InvalidNamespace,
		},
		"bad stream namespace": {
			header: "<stream:stream xmlns='jabber:component:accept' xmlns:stream='urn:example' to='push.localhost'>",
			cond:   stream.InvalidNamespace,
		},
		"not well-formed": {send: "<handshake>x</shake>", cond: stream.NotWellFormed},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil)
			c := e.dial()
			if tc.header == "" {
				c.open(pushDomain)
			} else {
				c.send(tc.header)
			}
			c.header()
			c.send(tc.send)
			c.expectStreamError(tc.cond)
			e.expectNotRouted(pushDomain)
		})
	}
}

func TestHandshakeTimeout(t *testing.T) {
	e := newEnv(t, func(s *component.Server) { s.HandshakeTimeout = 100 * time.Millisecond })
	c := e.dial()
	c.open(pushDomain)
	c.header()
	c.expectStreamError(stream.ConnectionTimeout)

	// A component that sends nothing at all gets a header and the error.
	c2 := e.dial()
	c2.header()
	c2.expectStreamError(stream.ConnectionTimeout)
}

func TestConflict(t *testing.T) {
	e := newEnv(t, nil)
	c1 := e.connect(pushDomain, pushSecret)
	c2 := e.dial()
	c2.open(pushDomain)
	h := c2.header()
	c2.send("<handshake>" + digest(h.AttrValue("id"), pushSecret) + "</handshake>")
	c2.expectStreamError(stream.Conflict)
	// The first connection keeps the domain.
	e.routeFromAlice(pushDomain, "after")
	if el := c1.next(); el.AttrValue("id") != "after" {
		t.Fatalf("first component got %s", el.AppendXML(nil, stanza.NSComponent))
	}
	// Another domain connects fine alongside.
	e.connect("other.localhost", "other")
}

func TestStreamErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		send string
		cond stream.Condition
	}{
		"from a served host":     {"<message from='alice@localhost' to='bob@localhost'/>", stream.InvalidFrom},
		"from another component": {"<message from='other.localhost' to='alice@localhost'/>", stream.InvalidFrom},
		"from a subdomain":       {"<message from='sub.push.localhost' to='alice@localhost'/>", stream.InvalidFrom},
		"no from":                {"<message to='alice@localhost'/>", stream.ImproperAddressing},
		"no to":                  {"<presence from='push.localhost'/>", stream.ImproperAddressing},
		"malformed to":           {"<iq from='push.localhost' to='a@b@c' type='get' id='1'/>", stream.ImproperAddressing},
		"malformed xml":          {"<message from='push.localhost' to='alice@localhost'><body></foo></message>", stream.NotWellFormed},
		"restricted xml":         {"<!-- comment -->", stream.RestrictedXML},
		"unknown element":        {"<foo/>", stream.UnsupportedStanzaType},
		"other namespace":        {"<message xmlns='jabber:client' from='push.localhost' to='alice@localhost'/>", stream.UnsupportedStanzaType},
		"second handshake":       {"<handshake/>", stream.PolicyViolation},
		"oversized stanza":       {"<message from='push.localhost' to='alice@localhost'><body>" + strings.Repeat("x", 2048) + "</body></message>", stream.PolicyViolation},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, func(s *component.Server) { s.MaxStanzaSize = 1024 })
			c := e.connect(pushDomain, pushSecret)
			c.send(tc.send)
			c.expectStreamError(tc.cond)
			// The domain was unrouted before the error was written.
			e.expectNotRouted(pushDomain)
			select {
			case st := <-e.alice.ch:
				t.Errorf("alice got %s", st)
			default:
			}
		})
	}
}

func TestPeerClose(t *testing.T) {
	e := newEnv(t, nil)
	c := e.connect(pushDomain, pushSecret)
	c.send("</stream:stream>")
	c.expectEnd()
	e.expectNotRouted(pushDomain)
	// The domain can connect again.
	c = e.connect(pushDomain, pushSecret)
	e.routeFromAlice(pushDomain, "again")
	if el := c.next(); el.AttrValue("id") != "again" {
		t.Fatalf("got %s", el.AppendXML(nil, stanza.NSComponent))
	}
}

func TestShutdown(t *testing.T) {
	e := newEnv(t, nil)
	c := e.connect(pushDomain, pushSecret)
	pending := e.dial() // has not sent its handshake yet
	pending.open(pushDomain)
	pending.header()
	done := make(chan struct{})
	go func() {
		e.shutdown()
		close(done)
	}()
	c.expectStreamError(stream.SystemShutdown)
	c.send("</stream:stream>")
	pending.expectStreamError(stream.SystemShutdown)
	pending.send("</stream:stream>")
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	e.expectNotRouted(pushDomain)
	if _, err := net.Dial("tcp", e.addr); err == nil {
		t.Error("the listener still accepts connections")
	}
}

func TestQueueFull(t *testing.T) {
	e := newEnv(t, func(s *component.Server) { s.MaxQueue = 4 })
	c := e.connect(pushDomain, pushSecret)
	big := stanza.Build(stanza.KindMessage, stanza.TypeHeadline, "big", mustJID(t, aliceFull), mustJID(t, pushDomain))
	big.El.AddChild(xml.NewElement(stanza.NSClient, "body").AddText(strings.Repeat("x", 64<<10)))
	// The component reads nothing: once the socket buffers are full the
	// writer blocks and the queue fills up.
	delivered := 0
	for e.r.Deliver(context.Background(), big) == 1 {
		delivered++
		if delivered > 100000 {
			t.Fatal("the queue never filled up")
		}
	}
	// Draining the socket empties the queue; the connection is still up.
	for range delivered {
		if el := c.next(); el.AttrValue("id") != "big" {
			t.Fatalf("got %s", el.AppendXML(nil, stanza.NSComponent)[:100])
		}
	}
	e.routeFromAlice(pushDomain, "small")
	if el := c.next(); el.AttrValue("id") != "small" {
		t.Fatalf("got %s", el.AppendXML(nil, stanza.NSComponent))
	}
}

// eagerRouter delivers a stanza to a component the moment it is added, as
// a stanza routed concurrently with the handshake would be.
type eagerRouter struct {
	*router.Router
	st *stanza.Stanza
}

func (r eagerRouter) AddComponent(domain string, t stanza.Target) error {
	if err := r.Router.AddComponent(domain, t); err != nil {
		return err
	}
	if !t.Deliver(r.st) {
		return errors.New("the new component refused a stanza")
	}
	return nil
}

func TestNothingBeforeHandshakeReply(t *testing.T) {
	early := stanza.Build(stanza.KindMessage, stanza.TypeChat, "early", mustJID(t, aliceFull), mustJID(t, pushDomain))
	e := newEnv(t, func(s *component.Server) { s.Router = eagerRouter{s.Router.(*router.Router), early} })
	c := e.connect(pushDomain, pushSecret) // checks that <handshake/> comes first
	if el := c.next(); el.AttrValue("id") != "early" {
		t.Fatalf("got %s, want the early message", el.AppendXML(nil, stanza.NSComponent))
	}
}
