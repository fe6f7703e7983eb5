package server_test

import (
	"testing"

	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/xml"
)

const nsCarbons = "urn:xmpp:carbons:2"

func enableCarbons(t *testing.T, c *xmpptest.Client) {
	t.Helper()
	r, err := c.IQ("cb", "<iq type='set' id='cb'><enable xmlns='urn:xmpp:carbons:2'/></iq>")
	if err != nil || r.AttrValue("type") != "result" {
		t.Fatalf("enable carbons: %v %v", r, err)
	}
}

// TestCarbons: alice has a phone and a laptop with carbons enabled and a
// watch without; bob writes to alice's phone and alice answers from it.
func TestCarbons(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice", "bob")
	phone := online(t, ts, "alice", "phone")
	laptop := online(t, ts, "alice", "laptop")
	watch := online(t, ts, "alice", "watch")
	bob := online(t, ts, "bob", "pc")
	enableCarbons(t, phone)
	enableCarbons(t, laptop)

	r, _ := phone.IQ("d", "<iq type='get' id='d' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if !xmpptest.Contains(r, "var='urn:xmpp:carbons:2'") {
		t.Errorf("carbons not advertised: %s", r)
	}

	bob.SendRaw("<message type='chat' id='in1' to='alice@localhost/phone'><body>hi phone</body></message>")
	expectStanza(t, phone, "message", func(e *xml.Element) bool { return e.AttrValue("id") == "in1" })
	rc := expectStanza(t, laptop, "message", func(e *xml.Element) bool { return e.Child(nsCarbons, "received") != nil })
	if rc.AttrValue("from") != "alice@localhost" {
		t.Errorf("received carbon from %q", rc.AttrValue("from"))
	}
	fwd := rc.Child(nsCarbons, "received").Child("urn:xmpp:forward:0", "forwarded").Child("jabber:client", "message")
	if fwd == nil || fwd.AttrValue("id") != "in1" || fwd.ChildText("jabber:client", "body") != "hi phone" {
		t.Fatalf("received carbon %s", rc)
	}

	phone.SendRaw("<message type='chat' id='out1' to='bob@localhost'><body>hi bob</body></message>")
	expectStanza(t, bob, "message", func(e *xml.Element) bool { return e.AttrValue("id") == "out1" })
	sc := expectStanza(t, laptop, "message", func(e *xml.Element) bool { return e.Child(nsCarbons, "sent") != nil })
	fwd = sc.Child(nsCarbons, "sent").Child("urn:xmpp:forward:0", "forwarded").Child("jabber:client", "message")
	if fwd == nil || fwd.AttrValue("id") != "out1" || fwd.AttrValue("from") != "alice@localhost/phone" {
		t.Fatalf("sent carbon %s", sc)
	}

	// Private messages are not copied.
	phone.SendRaw("<message type='chat' id='priv' to='bob@localhost'><body>secret</body><private xmlns='urn:xmpp:carbons:2'/><no-copy xmlns='urn:xmpp:hints'/></message>")
	expectStanza(t, bob, "message", func(e *xml.Element) bool { return e.AttrValue("id") == "priv" })
	if el := laptop.NoMore(300e6); el != nil && el.Name.Local == "message" {
		t.Errorf("private message copied: %s", el)
	}
	// The watch never enabled carbons.
	if el := watch.NoMore(100e6); el != nil && el.Name.Local == "message" {
		t.Errorf("watch got %s", el)
	}
}
