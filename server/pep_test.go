package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/disco"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/roster"
	"dormouse.im/dormouse/xml"
)

const (
	nsPubsub      = "http://jabber.org/protocol/pubsub"
	nsPubsubEvent = "http://jabber.org/protocol/pubsub#event"
	nsDiscoInfo   = "http://jabber.org/protocol/disco#info"
)

// befriend gives two users a mutual presence subscription.
func (ts *testServer) befriend(a, b string) {
	ts.t.Helper()
	for _, p := range [][2]string{{a, b}, {b, a}} {
		if _, err := ts.Stores.Roster.Put(context.Background(), p[0]+"@localhost",
			roster.Item{Contact: p[1] + "@localhost", Subscription: roster.SubBoth}); err != nil {
			ts.t.Fatal(err)
		}
	}
}

// capsOnline dials user/res and sends initial presence with XEP-0115 caps
// for features; it answers the server's disco#info query about them (the
// server asks once per verification string) and returns the client.
func capsOnline(t *testing.T, ts *testServer, user, res string, features ...string) *xmpptest.Client {
	t.Helper()
	c := ts.dial(user, res)
	sendCaps(t, c, user, features...)
	return c
}

// sendCaps sends c's initial presence with caps for features and answers
// the server's caps query.
func sendCaps(t *testing.T, c *xmpptest.Client, user string, features ...string) {
	t.Helper()
	q := xml.NewElement(nsDiscoInfo, "query")
	q.AddChild(xml.NewElement(nsDiscoInfo, "identity", "category", "client", "type", "phone", "name", "PEP test "+user))
	for _, f := range features {
		q.AddChild(xml.NewElement(nsDiscoInfo, "feature", "var", f))
	}
	ver := disco.CapsVer(q)
	if err := c.SendStanza(fmt.Sprintf("<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://dormouse.test' ver='%s'/></presence>", ver)); err != nil {
		t.Fatal(err)
	}
	iq := expectStanza(t, c, "iq", func(e *xml.Element) bool {
		return e.AttrValue("type") == "get" && e.Child(nsDiscoInfo, "query") != nil
	})
	if got, want := iq.Child(nsDiscoInfo, "query").AttrValue("node"), "https://dormouse.test#"+ver; got != want {
		t.Errorf("caps query for node %q, want %q", got, want)
	}
	q.SetAttr("node", "https://dormouse.test#"+ver)
	reply := fmt.Sprintf("<iq type='result' id='%s' to='%s'>%s</iq>", iq.AttrValue("id"), iq.AttrValue("from"), q.AppendXML(nil, "jabber:client"))
	if err := c.SendStanza(reply); err != nil {
		t.Fatal(err)
	}
}

// omemoDeviceList is what Conversations publishes at login.
const omemoDeviceList = `<iq type='set' id='%s'><pubsub xmlns='http://jabber.org/protocol/pubsub'>
<publish node='eu.siacs.conversations.axolotl.devicelist'><item id='current'><list xmlns='eu.siacs.conversations.axolotl'><device id='%d'/></list></item></publish>
<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>
<field var='pubsub#access_model'><value>open</value></field></x></publish-options></pubsub></iq>`

// bookmark is a XEP-0402 bookmark publication (§3.3, example 3).
const bookmark = `<iq type='set' id='%s'><pubsub xmlns='http://jabber.org/protocol/pubsub'>
<publish node='urn:xmpp:bookmarks:1'><item id='theplay@conference.shakespeare.lit'>
<conference xmlns='urn:xmpp:bookmarks:1' name='The Play&apos;s the Thing' autojoin='true'><nick>JC</nick></conference></item></publish>
<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>
<field var='pubsub#persist_items'><value>true</value></field><field var='pubsub#max_items'><value>max</value></field>
<field var='pubsub#send_last_published_item'><value>never</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options>
</pubsub></iq>`

func pepItems(id, owner, node string) string {
	return fmt.Sprintf("<iq type='get' id='%s' to='%s@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='%s'/></pubsub></iq>", id, owner, node)
}

func iqCondition(r *xml.Element) string {
	if e := r.Child("jabber:client", "error"); e != nil {
		for _, c := range e.Elements() {
			if c.Name.Space == "urn:ietf:params:xml:ns:xmpp-stanzas" && c.Name.Local != "text" {
				return c.Name.Local
			}
		}
	}
	return ""
}

// TestPEPAccessModels: over TLS, an OMEMO device list published with
// access_model open is readable by a stranger; a bookmark published with
// whitelist is not, not even by a contact.
func TestPEPAccessModels(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice", "bob", "carol")
	ts.befriend("alice", "bob")
	alice := ts.dial("alice", "phone")
	bob := ts.dial("bob", "laptop")
	carol := ts.dial("carol", "desk")

	for _, iq := range []string{fmt.Sprintf(omemoDeviceList, "o1", 1287134563), fmt.Sprintf(bookmark, "b1")} {
		id := iq[strings.Index(iq, "id='")+4 : strings.Index(iq, "'>")]
		r, err := alice.IQ(id, iq)
		if err != nil || r.AttrValue("type") != "result" {
			t.Fatalf("publish: %v %v", r, err)
		}
	}
	for _, c := range []*xmpptest.Client{alice, bob, carol} {
		r, err := c.IQ("d", pepItems("d", "alice", "eu.siacs.conversations.axolotl.devicelist"))
		if err != nil || r.AttrValue("type") != "result" || !xmpptest.Contains(r, "device id='1287134563'") {
			t.Errorf("%s reading the device list: %v %v", c.JID, r, err)
		}
	}
	r, err := alice.IQ("b", pepItems("b", "alice", "urn:xmpp:bookmarks:1"))
	if err != nil || !xmpptest.Contains(r, "theplay@conference.shakespeare.lit") {
		t.Errorf("alice's bookmarks: %v %v", r, err)
	}
	for c, want := range map[*xmpptest.Client]string{bob: "not-allowed", carol: "item-not-found"} {
		r, err := c.IQ("b", pepItems("b", "alice", "urn:xmpp:bookmarks:1"))
		if err != nil || r.AttrValue("type") != "error" || iqCondition(r) != want {
			t.Errorf("%s reading alice's bookmarks: %v %v, want %s", c.JID, r, err, want)
		}
		if xmpptest.Contains(r, "theplay") && r.Child(nsPubsub, "pubsub") == nil {
			t.Errorf("%s learnt a bookmark: %v", c.JID, r)
		}
	}
	// The account advertises the pubsub features (to contacts).
	r, err = bob.IQ("i", "<iq type='get' id='i' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if err != nil || !xmpptest.Contains(r, "http://jabber.org/protocol/pubsub#publish-options") {
		t.Errorf("disco#info of an account: %v %v", r, err)
	}
}

// TestPEPNotifications: a contact whose caps ask for the node's +notify
// gets the event, one whose caps do not gets nothing, nor does a stranger;
// a resource coming online gets the last published item.
func TestPEPNotifications(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice", "bob", "carol", "dave")
	ts.befriend("alice", "bob")
	ts.befriend("alice", "dave")
	const dl = "eu.siacs.conversations.axolotl.devicelist"
	alice := capsOnline(t, ts, "alice", "phone", dl+"+notify")
	bob := capsOnline(t, ts, "bob", "laptop", dl+"+notify", "urn:xmpp:avatar:metadata+notify")
	dave := capsOnline(t, ts, "dave", "desk", "urn:xmpp:avatar:metadata+notify")
	carol := capsOnline(t, ts, "carol", "tablet", dl+"+notify")
	// Whether or not the server has processed the caps answers yet, bob
	// gets the item: as an event, or as the last published item once his
	// caps are known.
	if err := alice.SendRaw(fmt.Sprintf(omemoDeviceList, "o1", 4242)); err != nil {
		t.Fatal(err)
	}
	isEvent := isPEPEvent(dl)
	m := expectStanza(t, bob, "message", isEvent)
	if m.AttrValue("from") != "alice@localhost" || !xmpptest.Contains(m, "device id='4242'") {
		t.Errorf("bob's event: %s", m)
	}
	expectStanza(t, alice, "message", isEvent)
	for name, c := range map[string]*xmpptest.Client{"dave (no +notify)": dave, "carol (a stranger)": carol} {
		if el := c.NoMore(300 * time.Millisecond); el != nil && el.Name.Local == "message" {
			t.Errorf("%s got %s", name, el)
		}
	}

	// bob's second device comes online: it gets the last device list.
	bob2 := capsOnline(t, ts, "bob", "phone", dl+"+notify")
	m = expectStanza(t, bob2, "message", isEvent)
	if !xmpptest.Contains(m, "device id='4242'") {
		t.Errorf("last published item: %s", m)
	}
}

// TestPEPBookmarksCompat: a XEP-0048 client (private XML storage) and a
// XEP-0402 client (PEP) of the same account see the same bookmarks.
func TestPEPBookmarksCompat(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice")
	legacy := ts.dial("alice", "old")
	modern := ts.dial("alice", "new")
	r, err := legacy.IQ("s", `<iq type='set' id='s'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'>
	<conference name='Council of Oberon' autojoin='true' jid='council@conference.underhill.lit'><nick>Puck</nick></conference></storage></query></iq>`)
	if err != nil || r.AttrValue("type") != "result" {
		t.Fatalf("private storage set: %v %v", r, err)
	}
	r, err = modern.IQ("g", "<iq type='get' id='g'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'/></pubsub></iq>")
	if err != nil || !xmpptest.Contains(r, "item id='council@conference.underhill.lit'") || !xmpptest.Contains(r, "<nick>Puck</nick>") {
		t.Fatalf("XEP-0402 client's bookmarks: %v %v", r, err)
	}
	r, err = modern.IQ("p", fmt.Sprintf(bookmark, "p"))
	if err != nil || r.AttrValue("type") != "result" {
		t.Fatalf("XEP-0402 publish: %v %v", r, err)
	}
	r, err = legacy.IQ("g2", "<iq type='get' id='g2'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>")
	if err != nil || !xmpptest.Contains(r, "jid='theplay@conference.shakespeare.lit'") || !xmpptest.Contains(r, "jid='council@conference.underhill.lit'") {
		t.Errorf("XEP-0048 client's bookmarks: %v %v", r, err)
	}
	r, err = modern.IQ("n", "<iq type='get' id='n' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
	if err != nil || !xmpptest.Contains(r, "node='urn:xmpp:bookmarks:1'") {
		t.Errorf("own disco#items: %v %v", r, err)
	}
	r, err = modern.IQ("i", "<iq type='get' id='i'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if err != nil || !xmpptest.Contains(r, "urn:xmpp:bookmarks:1#compat") || !xmpptest.Contains(r, "category='pubsub' type='pep'") {
		t.Errorf("own disco#info: %v %v", r, err)
	}
}

// TestPEPEventsDoNotPush: a PEP event for a hibernated push client is
// queued for it but wakes nothing (a headline without a body); a chat
// message then does.
func TestPEPEventsDoNotPush(t *testing.T) {
	ts := startSM(t, pushConfig(nil), nil, nil)
	ts.users("alice", "bob")
	ts.befriend("alice", "bob")
	app := dialAppServer(t, ts)
	alice := ts.dialSM("alice", "phone")
	enablePush(t, alice, "tok-1", "")
	sendCaps(t, alice, "alice", "eu.siacs.conversations.axolotl.devicelist+notify")
	// A round trip: the server has read the caps answer.
	if _, err := alice.IQ("p", "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>"); err != nil {
		t.Fatal(err)
	}
	alice.Cut()
	waitFor(t, "hibernation", func() bool { return ts.SessionsForTest().Stats().Hibernated == 1 })
	bob := ts.dial("bob", "pc")
	if r, err := bob.IQ("o1", fmt.Sprintf(omemoDeviceList, "o1", 77)); err != nil || r.AttrValue("type") != "result" {
		t.Fatalf("publish: %v %v", r, err)
	}
	app.none(500 * time.Millisecond)
	bob.SendRaw(chat("alice@localhost", "m1", "hello"))
	app.expect()
	// The event was queued: it is there on resumption.
	c, err := ts.resume("alice", alice.SM, false)
	if err != nil {
		t.Fatal(err)
	}
	m := expectStanza(t, c, "message", func(e *xml.Element) bool { return e.AttrValue("type") == "headline" })
	if !xmpptest.Contains(m, "device id='77'") {
		t.Errorf("queued event: %s", m)
	}
}
