package server_test

import (
	"fmt"
	"strings"
	"testing"

	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/xml"
)

const nsRoster = "jabber:iq:roster"

// online dials a user, fetches the roster and sends initial presence.
func online(t *testing.T, ts *testServer, user, res string) *xmpptest.Client {
	t.Helper()
	c := ts.dial(user, res)
	r, err := c.IQ("r0", "<iq type='get' id='r0'><query xmlns='jabber:iq:roster'/></iq>")
	if err != nil || r.AttrValue("type") != "result" {
		t.Fatalf("%s roster get: %v %v", user, r, err)
	}
	if err := c.SendRaw("<presence/>"); err != nil {
		t.Fatal(err)
	}
	return c
}

func isPresence(typ, from string) func(*xml.Element) bool {
	return func(e *xml.Element) bool {
		return e.AttrValue("type") == typ && strings.HasPrefix(e.AttrValue("from"), from)
	}
}

// TestSubscribeAndChat walks through the usual first contact: a presence
// subscription both ways, presence exchange, chat with payloads of other
// namespaces arriving intact, and unavailable presence on disconnect.
func TestSubscribeAndChat(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice", "bob")
	alice := online(t, ts, "alice", "phone")
	bob := online(t, ts, "bob", "laptop")

	// alice subscribes to bob.
	alice.SendRaw("<presence to='bob@localhost' type='subscribe'/>")
	push := expectStanza(t, alice, "iq", func(e *xml.Element) bool { return xmpptest.Contains(e, "ask='subscribe'") })
	alice.SendRaw(fmt.Sprintf("<iq type='result' id='%s'/>", push.AttrValue("id")))
	req := expectStanza(t, bob, "presence", isPresence("subscribe", "alice@localhost"))
	if req.AttrValue("from") != "alice@localhost" {
		t.Errorf("subscription request from %q, want the bare JID", req.AttrValue("from"))
	}
	// bob approves and subscribes back; alice approves.
	bob.SendRaw("<presence to='alice@localhost' type='subscribed'/><presence to='alice@localhost' type='subscribe'/>")
	expectStanza(t, alice, "presence", isPresence("subscribed", "bob@localhost"))
	expectStanza(t, alice, "presence", isPresence("", "bob@localhost/laptop"))
	expectStanza(t, alice, "presence", isPresence("subscribe", "bob@localhost"))
	alice.SendRaw("<presence to='bob@localhost' type='subscribed'/>")
	expectStanza(t, bob, "presence", isPresence("", "alice@localhost/phone"))

	for _, c := range []struct {
		cl      *xmpptest.Client
		contact string
	}{{alice, "bob@localhost"}, {bob, "alice@localhost"}} {
		r, err := c.cl.IQ("r1", "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
		if err != nil {
			t.Fatal(err)
		}
		item := r.Child(nsRoster, "query").Child(nsRoster, "item")
		if item == nil || item.AttrValue("jid") != c.contact || item.AttrValue("subscription") != "both" {
			t.Fatalf("roster %s, want %s with subscription both", r, c.contact)
		}
	}

	// Chat: body, chat state, receipt request and an OMEMO-like payload
	// are routed intact.
	alice.SendRaw(`<message type='chat' id='c1' to='bob@localhost'><body>hi &amp; hello</body>` +
		`<active xmlns='http://jabber.org/protocol/chatstates'/><request xmlns='urn:xmpp:receipts'/>` +
		`<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'><key rid='2'>a2V5</key><iv>aXY=</iv></header><payload>cGF5</payload></encrypted></message>`)
	m := expectStanza(t, bob, "message", nil)
	if m.AttrValue("from") != "alice@localhost/phone" || m.ChildText("jabber:client", "body") != "hi & hello" {
		t.Fatalf("bob got %s", m)
	}
	for _, ns := range []string{"http://jabber.org/protocol/chatstates", "urn:xmpp:receipts", "eu.siacs.conversations.axolotl"} {
		if m.Child(ns, "") == nil {
			t.Errorf("payload %s lost: %s", ns, m)
		}
	}
	if enc := m.Child("eu.siacs.conversations.axolotl", "encrypted"); enc.Child("eu.siacs.conversations.axolotl", "header").Child("eu.siacs.conversations.axolotl", "key").AttrValue("rid") != "2" {
		t.Errorf("encrypted payload altered: %s", enc)
	}
	// Chat-state-only message to a full JID.
	bob.SendRaw("<message type='chat' to='alice@localhost/phone'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
	cs := expectStanza(t, alice, "message", nil)
	if cs.Child("http://jabber.org/protocol/chatstates", "composing") == nil {
		t.Fatalf("alice got %s", cs)
	}

	// bob leaves: alice sees him go.
	bob.Conn.Close()
	expectStanza(t, alice, "presence", isPresence("unavailable", "bob@localhost/laptop"))
}

func TestRosterManagement(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice", "bob")
	a1 := online(t, ts, "alice", "one")
	a2 := online(t, ts, "alice", "two")
	if a1.Features.Child("urn:xmpp:features:rosterver", "ver") == nil {
		t.Errorf("no roster versioning feature: %s", a1.Features)
	}
	a1.SendRaw("<iq type='set' id='s1'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='Bob'><group>Friends</group><group>Work</group></item></query></iq>")
	isPush := func(e *xml.Element) bool { return e.Name.Local == "iq" && e.AttrValue("type") == "set" }
	var pushes []*xml.Element
	_, skipped, err := a1.Expect(func(e *xml.Element) bool {
		if isPush(e) {
			pushes = append(pushes, e)
		}
		return e.AttrValue("id") == "s1" && e.AttrValue("type") == "result"
	})
	if err != nil {
		t.Fatalf("set: %v (got %v)", err, skipped)
	}
	if len(pushes) == 0 {
		pushes = append(pushes, expectStanza(t, a1, "iq", isPush))
	}
	pushes = append(pushes, expectStanza(t, a2, "iq", isPush))
	for _, p := range pushes {
		item := p.Child(nsRoster, "query").Child(nsRoster, "item")
		if item.AttrValue("name") != "Bob" || len(item.ChildrenNamed(nsRoster, "group")) != 2 {
			t.Errorf("push %s", p)
		}
	}
	r, _ := a1.IQ("g1", "<iq type='get' id='g1'><query xmlns='jabber:iq:roster'/></iq>")
	ver := r.Child(nsRoster, "query").AttrValue("ver")
	if ver == "" {
		t.Fatalf("no ver in %s", r)
	}
	// Same version: empty result.
	r, _ = a1.IQ("g2", fmt.Sprintf("<iq type='get' id='g2'><query xmlns='jabber:iq:roster' ver='%s'/></iq>", ver))
	if q := r.Child(nsRoster, "query"); q != nil && len(q.Elements()) > 0 {
		t.Errorf("same version returned items: %s", r)
	}
	// Another user cannot read alice's roster; bob, who does not see
	// alice's presence, gets what a JID without an account answers.
	bob := ts.dial("bob", "x")
	r, _ = bob.IQ("f1", "<iq type='get' id='f1' to='alice@localhost'><query xmlns='jabber:iq:roster'/></iq>")
	if r.AttrValue("type") != "error" || xmpptest.ErrorCondition(r) != "service-unavailable" {
		t.Errorf("bob reading alice's roster: %s", r)
	}
	// Remove.
	r, _ = a1.IQ("d1", "<iq type='set' id='d1'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' subscription='remove'/></query></iq>")
	if r.AttrValue("type") != "result" {
		t.Fatalf("remove: %s", r)
	}
	r, _ = a1.IQ("g3", "<iq type='get' id='g3'><query xmlns='jabber:iq:roster'/></iq>")
	if len(r.Child(nsRoster, "query").Elements()) != 0 {
		t.Errorf("roster after remove: %s", r)
	}
}

// TestOfflineSurvivesRestart stores messages for an offline user, restarts
// the server, and checks they arrive in order with delay stamps, exactly
// once; the roster survives too.
func TestOfflineSurvivesRestart(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice", "bob")
	alice := online(t, ts, "alice", "phone")
	alice.SendRaw("<iq type='set' id='s1'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='Bob'/></query></iq>")
	for i := 1; i <= 3; i++ {
		alice.Sendf("<message type='chat' id='o%d' to='bob@localhost'><body>offline %d</body></message>", i, i)
	}
	// A chat state alone is not stored, and not bounced.
	alice.SendRaw("<message type='chat' to='bob@localhost'><gone xmlns='http://jabber.org/protocol/chatstates'/></message>")
	r, err := alice.IQ("p", "<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	if err != nil || r.AttrValue("type") != "result" {
		t.Fatalf("ping: %v %v", r, err)
	}
	alice.Close()
	ts.stop()

	ts2 := startWith(t, ts.cfg)
	bob := online(t, ts2, "bob", "phone")
	for i := 1; i <= 3; i++ {
		m := expectStanza(t, bob, "message", nil)
		if got := m.ChildText("jabber:client", "body"); got != fmt.Sprintf("offline %d", i) {
			t.Fatalf("message %d: %s", i, m)
		}
		if d := m.Child("urn:xmpp:delay", "delay"); d == nil || d.AttrValue("stamp") == "" {
			t.Errorf("no delay stamp: %s", m)
		}
	}
	if el := bob.NoMore(300e6); el != nil && el.Name.Local == "message" {
		t.Errorf("unexpected extra message %s", el)
	}
	// A second login gets nothing again.
	bob2 := online(t, ts2, "bob", "tablet")
	if el := bob2.NoMore(300e6); el != nil && el.Name.Local == "message" {
		t.Errorf("offline message delivered twice: %s", el)
	}
	alice2 := online(t, ts2, "alice", "phone")
	r, _ = alice2.IQ("g", "<iq type='get' id='g'><query xmlns='jabber:iq:roster'/></iq>")
	if item := r.Child(nsRoster, "query").Child(nsRoster, "item"); item == nil || item.AttrValue("name") != "Bob" {
		t.Errorf("roster after restart: %s", r)
	}
}
