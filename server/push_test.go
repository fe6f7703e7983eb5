package server_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/push"
	"dormouse.im/dormouse/xml"
)

const (
	appDomain = "push.localhost"
	appSecret = "component-secret"
	nsPubSub  = "http://jabber.org/protocol/pubsub"
)

// appServer is a fake XEP-0357 app server: a real XEP-0114 component
// connected over a socket. It records every publish and answers it as
// answer says: "" a result, "none" nothing, else an error condition.
type appServer struct {
	t    *testing.T
	conn net.Conn
	dec  *xml.Decoder
	wmu  sync.Mutex

	mu        sync.Mutex
	answer    string
	publishes []*xml.Element
	got       chan struct{}
}

// pushConfig sets up push with a short coalescing window and the app
// server component's secret.
func pushConfig(mod func(*config.Config)) func(*config.Config) {
	return func(c *config.Config) {
		c.Components.Secrets = map[string]string{appDomain: appSecret}
		c.Push.Coalesce = config.Duration(200 * time.Millisecond)
		if mod != nil {
			mod(c)
		}
	}
}

func dialAppServer(t *testing.T, ts *testServer) *appServer {
	t.Helper()
	nc, err := net.Dial("tcp", ts.addr("component"))
	if err != nil {
		t.Fatal(err)
	}
	a := &appServer{t: t, conn: nc, dec: xml.NewDecoder(nc, xml.Limits{}), got: make(chan struct{}, 1000)}
	t.Cleanup(func() { nc.Close() })
	a.send("<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='" + appDomain + "'>")
	h, err := a.dec.Header()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum([]byte(h.AttrValue("id") + appSecret))
	a.send("<handshake>" + hex.EncodeToString(sum[:]) + "</handshake>")
	el, err := a.dec.Next()
	if err != nil || el.Name.Local != "handshake" {
		t.Fatalf("component handshake: %v %v", el, err)
	}
	go a.run()
	return a
}

func (a *appServer) send(s string) {
	a.wmu.Lock()
	defer a.wmu.Unlock()
	if _, err := a.conn.Write([]byte(s)); err != nil {
		a.t.Logf("app server write: %v", err)
	}
}

func (a *appServer) run() {
	for {
		el, err := a.dec.Next()
		if err != nil {
			return
		}
		if el.Name.Local != "iq" || el.AttrValue("type") != "set" || el.Child(nsPubSub, "pubsub") == nil {
			continue
		}
		a.mu.Lock()
		a.publishes = append(a.publishes, el)
		answer := a.answer
		a.mu.Unlock()
		a.got <- struct{}{}
		head := "<iq id='" + el.AttrValue("id") + "' from='" + el.AttrValue("to") + "' to='" + el.AttrValue("from") + "'"
		switch answer {
		case "":
			a.send(head + " type='result'/>")
		case "none":
		default:
			a.send(head + " type='error'><error type='cancel'><" + answer + " xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
		}
	}
}

func (a *appServer) setAnswer(s string) {
	a.mu.Lock()
	a.answer = s
	a.mu.Unlock()
}

// expect waits for the next publish.
func (a *appServer) expect() *xml.Element {
	a.t.Helper()
	select {
	case <-a.got:
	case <-time.After(5 * time.Second):
		a.t.Fatal("no publish")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.publishes[len(a.publishes)-1]
}

// none fails if a publish arrives within d.
func (a *appServer) none(d time.Duration) {
	a.t.Helper()
	select {
	case <-a.got:
		a.mu.Lock()
		defer a.mu.Unlock()
		a.t.Fatalf("unexpected publish: %s", a.publishes[len(a.publishes)-1])
	case <-time.After(d):
	}
}

// form returns the fields of the notification's summary form and of the
// publish-options.
func form(t *testing.T, iq *xml.Element) (summary, options map[string]string) {
	t.Helper()
	read := func(x *xml.Element) map[string]string {
		if x == nil {
			return nil
		}
		m := map[string]string{}
		for _, f := range x.ChildrenNamed("jabber:x:data", "field") {
			m[f.AttrValue("var")] = f.ChildText("jabber:x:data", "value")
		}
		return m
	}
	ps := iq.Child(nsPubSub, "pubsub")
	n := ps.Child(nsPubSub, "publish").Child(nsPubSub, "item").Child(push.NS, "notification")
	if n == nil {
		t.Fatalf("publish without a notification: %s", iq)
	}
	return read(n.Child("jabber:x:data", "x")), read(ps.Child(nsPubSub, "publish-options").Child("jabber:x:data", "x"))
}

const pushSecretForm = "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>s3cr3t</value></field></x>"

func enablePush(t *testing.T, c *xmpptest.Client, node, extra string) {
	t.Helper()
	r, err := c.IQ("push-on", "<iq type='set' id='push-on'><enable xmlns='urn:xmpp:push:0' jid='"+appDomain+"' node='"+node+"'>"+extra+"</enable></iq>")
	if err != nil || r.AttrValue("type") != "result" {
		t.Fatalf("enable: %v %v", r, err)
	}
}

// pushedAway logs alice in as phone, enables push at the app server
// component, and closes her stream (no session left); it returns bob,
// online to send her messages.
func pushedAway(t *testing.T, ts *testServer) *xmpptest.Client {
	t.Helper()
	alice := ts.dial("alice", "phone")
	enablePush(t, alice, "tok-1", "")
	alice.Close()
	waitFor(t, "alice gone", func() bool { return !available(ts, "alice@localhost/phone") })
	return ts.dial("bob", "pc")
}

// registrationGone waits until alice has no push registration left.
func registrationGone(t *testing.T, ts *testServer) {
	t.Helper()
	waitFor(t, "registration removed", func() bool {
		regs, err := ts.Stores.Push.Registrations(context.Background(), "alice@localhost")
		return err == nil && len(regs) == 0
	})
}

// TestPushUnacked: a message the phone had not acknowledged when its
// connection was lost wakes it at once.
func TestPushUnacked(t *testing.T) {
	ts := startSM(t, pushConfig(nil), nil, nil)
	ts.users("alice", "bob")
	app := dialAppServer(t, ts)
	alice := ts.dialSM("alice", "phone")
	enablePush(t, alice, "tok-1", pushSecretForm)
	alice.SendStanza("<presence/>")
	bob := ts.dial("bob", "pc")
	waitFor(t, "alice available", func() bool { return available(ts, "alice@localhost/phone") })
	bob.SendRaw(chat("alice@localhost", "lost", "in flight"))
	expectStanza(t, alice, "message", func(e *xml.Element) bool { return e.AttrValue("id") == "lost" })
	app.none(200 * time.Millisecond)
	alice.Cut()
	p := app.expect()
	if sum, _ := form(t, p); sum["message-count"] != "1" {
		t.Errorf("summary %v", sum)
	}
	app.none(300 * time.Millisecond)
}

// TestPushHibernated: a phone enables push and loses its network; one
// message wakes it with one well-formed publish, a burst of ten with two,
// a chat state with none, and the resumption time is push's.
func TestPushHibernated(t *testing.T) {
	ts := startSM(t, pushConfig(nil), nil, nil)
	ts.users("alice", "bob")
	app := dialAppServer(t, ts)
	alice := ts.dialSM("alice", "phone")
	r, _ := alice.IQ("d", "<iq type='get' id='d' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if !xmpptest.Contains(r, "var='urn:xmpp:push:0'") || !xmpptest.Contains(r, "var='tigase:push:encrypt:0'") {
		t.Fatalf("push not advertised on the account: %s", r)
	}
	enablePush(t, alice, "tok-1", pushSecretForm)
	alice.SendStanza("<presence/>")
	bob := ts.dial("bob", "pc")
	waitFor(t, "alice available", func() bool { return available(ts, "alice@localhost/phone") })
	// A live, active session: no push.
	bob.SendRaw(chat("alice@localhost", "live", "you are here"))
	expectStanza(t, alice, "message", func(e *xml.Element) bool { return e.AttrValue("id") == "live" })
	app.none(300 * time.Millisecond)
	// Acknowledged: it reached the phone, so losing the connection does
	// not push it (an unacknowledged one would, see TestPushUnacked).
	alice.Ack()
	waitFor(t, "ack", func() bool { return ts.SessionsForTest().Census().Unacked == 0 })

	alice.Cut()
	waitFor(t, "hibernation", func() bool { return ts.SessionsForTest().Stats().Hibernated == 1 })
	bob.SendRaw("<message type='chat' to='alice@localhost' id='cs'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
	app.none(300 * time.Millisecond)

	start := time.Now()
	bob.SendRaw(chat("alice@localhost", "m1", "hello"))
	p := app.expect()
	t.Logf("message → publish: %v", time.Since(start))
	if p.AttrValue("from") != "alice@localhost" || p.AttrValue("to") != appDomain {
		t.Errorf("publish addresses: %s", p)
	}
	if n := p.Child(nsPubSub, "pubsub").Child(nsPubSub, "publish").AttrValue("node"); n != "tok-1" {
		t.Errorf("node %q", n)
	}
	sum, opts := form(t, p)
	if sum["FORM_TYPE"] != "urn:xmpp:push:summary" || sum["message-count"] != "1" || sum["last-message-body"] != push.DefaultBody || sum["last-message-sender"] != "" {
		t.Errorf("summary %v", sum)
	}
	if opts["secret"] != "s3cr3t" {
		t.Errorf("publish-options %v", opts)
	}
	app.none(400 * time.Millisecond)

	// A burst of ten: the first at once, one more when the window ends.
	for i := range 10 {
		bob.SendRaw(chat("alice@localhost", fmt.Sprint("b", i), "burst"))
	}
	app.expect()
	p = app.expect()
	if sum, _ := form(t, p); sum["message-count"] != "11" {
		t.Errorf("trailing publish: %v", sum)
	}
	app.none(500 * time.Millisecond)

	// Resumption resets the count; the next session of this resource is
	// resumable for [push] max_hibernation.
	c, err := ts.resume("alice", alice.SM, false)
	if err != nil {
		t.Fatal(err)
	}
	if alice.SM.Max != 600 {
		t.Errorf("first session's max %d (push enabled after <enable/> applies from the next)", alice.SM.Max)
	}
	c.Close()
	alice2 := ts.dialSM("alice", "phone")
	if alice2.SM.Max != int((72 * time.Hour).Seconds()) {
		t.Errorf("<enabled max='%d'/>, want 72 h for a push client", alice2.SM.Max)
	}
	other := ts.dialSM("alice", "laptop")
	if other.SM.Max != 600 {
		t.Errorf("<enabled max='%d'/> for a resource without push", other.SM.Max)
	}
}

// TestPushOfflineAndDisable: a device without a session is woken by a
// message stored offline, once; after <disable/>, never.
func TestPushOfflineAndDisable(t *testing.T) {
	ts := startSM(t, pushConfig(nil), nil, nil)
	ts.users("alice", "bob")
	app := dialAppServer(t, ts)
	bob := pushedAway(t, ts)
	bob.SendRaw(chat("alice@localhost", "m1", "hello"))
	p := app.expect()
	if sum, opts := form(t, p); sum["message-count"] != "1" || opts != nil {
		t.Errorf("summary %v, options %v", sum, opts)
	}
	app.none(400 * time.Millisecond)

	alice := ts.dial("alice", "phone")
	r, err := alice.IQ("off", "<iq type='set' id='off'><disable xmlns='urn:xmpp:push:0' jid='"+appDomain+"' node='tok-1'/></iq>")
	if err != nil || r.AttrValue("type") != "result" {
		t.Fatalf("disable: %v %v", r, err)
	}
	alice.Close()
	waitFor(t, "alice gone", func() bool { return !available(ts, "alice@localhost/phone") })
	bob.SendRaw(chat("alice@localhost", "m2", "anyone?"))
	app.none(400 * time.Millisecond)
}

// TestPushRejected: an app server answering item-not-found gets no more
// publishes: the registration is gone.
func TestPushRejected(t *testing.T) {
	ts := startSM(t, pushConfig(nil), nil, nil)
	ts.users("alice", "bob")
	app := dialAppServer(t, ts)
	app.setAnswer("item-not-found")
	bob := pushedAway(t, ts)
	bob.SendRaw(chat("alice@localhost", "m1", "hello"))
	app.expect()
	registrationGone(t, ts)
	time.Sleep(300 * time.Millisecond)
	bob.SendRaw(chat("alice@localhost", "m2", "hello?"))
	app.none(400 * time.Millisecond)
}

// TestPushTimeoutDisables: an app server that never answers is retried
// with backoff and disabled after max_errors.
func TestPushTimeoutDisables(t *testing.T) {
	ts := startSM(t, pushConfig(func(c *config.Config) {
		c.Push.Coalesce = config.Duration(50 * time.Millisecond)
		c.Push.PublishTimeout = config.Duration(100 * time.Millisecond)
		c.Push.MaxErrors = 3
	}), nil, nil)
	ts.users("alice", "bob")
	app := dialAppServer(t, ts)
	app.setAnswer("none")
	bob := pushedAway(t, ts)
	bob.SendRaw(chat("alice@localhost", "m1", "hello"))
	for range 3 {
		app.expect()
	}
	registrationGone(t, ts)
	app.none(500 * time.Millisecond)
}

// TestPushRemoteAppServer: an app server at a domain this server cannot
// reach (no server-to-server yet) is recorded as failing, not as sent.
func TestPushRemoteAppServer(t *testing.T) {
	ts := startSM(t, pushConfig(nil), nil, nil)
	ts.users("alice", "bob")
	alice := ts.dial("alice", "phone")
	r, err := alice.IQ("on", "<iq type='set' id='on'><enable xmlns='urn:xmpp:push:0' jid='p2.example.net' node='n'/></iq>")
	if err != nil || r.AttrValue("type") != "result" {
		t.Fatalf("enable: %v %v", r, err)
	}
	alice.Close()
	waitFor(t, "alice gone", func() bool { return !available(ts, "alice@localhost/phone") })
	bob := ts.dial("bob", "pc")
	bob.SendRaw(chat("alice@localhost", "m1", "hello"))
	waitFor(t, "error recorded", func() bool {
		regs, err := ts.Stores.Push.Registrations(context.Background(), "alice@localhost")
		return err == nil && len(regs) == 1 && regs[0].LastErrorText == "remote-server-not-found" && regs[0].LastSuccess.IsZero()
	})
}

// TestPushEncrypted: a client that sent a key gets notifications it can
// decrypt, as Siskin and Monal do.
func TestPushEncrypted(t *testing.T) {
	ts := startSM(t, pushConfig(nil), nil, nil)
	ts.users("alice", "bob")
	app := dialAppServer(t, ts)
	alice := ts.dialSM("alice", "phone")
	key := []byte("0123456789abcdef")
	enablePush(t, alice, "tok-1", pushSecretForm+"<encrypt xmlns='tigase:push:encrypt:0' alg='aes-128-gcm'>"+base64.StdEncoding.EncodeToString(key)+"</encrypt>")
	alice.Cut()
	waitFor(t, "hibernation", func() bool { return ts.SessionsForTest().Stats().Hibernated == 1 })
	bob := ts.dial("bob", "pc")
	bob.SendRaw(chat("alice@localhost", "m1", "wherefore art thou"))
	p := app.expect()
	n := p.Child(nsPubSub, "pubsub").Child(nsPubSub, "publish").Child(nsPubSub, "item").Child(push.NS, "notification")
	enc := n.Child(push.NSEncrypt, "encrypted")
	if enc == nil || n.Child("jabber:x:data", "x") != nil {
		t.Fatalf("not an encrypted notification: %s", p)
	}
	iv, _ := base64.StdEncoding.DecodeString(enc.AttrValue("iv"))
	sealed, _ := base64.StdEncoding.DecodeString(enc.Text())
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	plain, err := gcm.Open(nil, iv, sealed, nil)
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	var got map[string]any
	if err := json.Unmarshal(plain, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"unread": 1.0, "sender": "bob@localhost", "type": "chat", "message": "wherefore art thou"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("payload %v, want %v", got, want)
	}
	if _, opts := form(t, p); opts["secret"] != "s3cr3t" {
		t.Errorf("publish-options %v", opts)
	}
}

// TestPushDisabledNotAdvertised: with [push] enabled = false nothing is
// advertised and enable is refused.
func TestPushDisabledNotAdvertised(t *testing.T) {
	ts := start(t, func(c *config.Config) { c.Push.Enabled = false })
	ts.users("alice")
	alice := ts.dial("alice", "phone")
	r, _ := alice.IQ("d", "<iq type='get' id='d' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if xmpptest.Contains(r, "urn:xmpp:push:0") {
		t.Errorf("push advertised while disabled: %s", r)
	}
	r, _ = alice.IQ("on", "<iq type='set' id='on'><enable xmlns='urn:xmpp:push:0' jid='"+appDomain+"' node='n'/></iq>")
	if xmpptest.ErrorCondition(r) != "service-unavailable" {
		t.Errorf("enable while disabled: %s", r)
	}
}

// TestPushCSIInactive: with csi_inactive, a message for a live session
// whose client said it is inactive (XEP-0352) wakes the device too;
// without it, it does not.
func TestPushCSIInactive(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprint("csi_inactive=", on), func(t *testing.T) {
			ts := startSM(t, pushConfig(func(c *config.Config) { c.Push.CSIInactive = on }), nil, nil)
			ts.users("alice", "bob")
			app := dialAppServer(t, ts)
			alice := online(t, ts, "alice", "phone")
			enablePush(t, alice, "tok-1", "")
			alice.SendRaw("<inactive xmlns='urn:xmpp:csi:0'/>")
			r, _ := alice.IQ("p", "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
			if r.AttrValue("type") != "result" {
				t.Fatalf("ping: %s", r)
			}
			bob := ts.dial("bob", "pc")
			bob.SendRaw(chat("alice@localhost/phone", "m1", "are you there?"))
			if on {
				app.expect()
			} else {
				app.none(400 * time.Millisecond)
			}
			expectStanza(t, alice, "message", func(e *xml.Element) bool { return e.AttrValue("id") == "m1" })
		})
	}
}
