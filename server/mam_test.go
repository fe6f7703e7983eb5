package server_test

import (
	"fmt"
	"testing"

	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/xml"
)

const (
	nsMAM = "urn:xmpp:mam:2"
	nsSID = "urn:xmpp:sid:0"
	nsRSM = "http://jabber.org/protocol/rsm"
)

// mamQuery runs a MAM query and returns the forwarded messages and <fin/>.
func mamQuery(t *testing.T, c *xmpptest.Client, id, inner string) ([]*xml.Element, *xml.Element) {
	t.Helper()
	if err := c.Sendf("<iq type='set' id='%s'><query xmlns='urn:xmpp:mam:2' queryid='q-%s'>%s</query></iq>", id, id, inner); err != nil {
		t.Fatal(err)
	}
	var msgs []*xml.Element
	for {
		el, err := c.Next()
		if err != nil {
			t.Fatalf("query %s: %v", id, err)
		}
		if r := el.Child(nsMAM, "result"); el.Name.Local == "message" && r != nil {
			if r.AttrValue("queryid") != "q-"+id {
				t.Fatalf("result for another query: %s", el)
			}
			msgs = append(msgs, el)
			continue
		}
		if el.Name.Local == "iq" && el.AttrValue("id") == id {
			if el.AttrValue("type") != "result" {
				return msgs, el
			}
			return msgs, el.Child(nsMAM, "fin")
		}
	}
}

func forwardedBody(m *xml.Element) string {
	return m.Child(nsMAM, "result").Child("urn:xmpp:forward:0", "forwarded").Child("jabber:client", "message").ChildText("jabber:client", "body")
}

// TestArchive: bob receives messages live with stanza-ids, then a second
// device pages through the archive and sees the same ids; alice's archive
// has her side; nobody reads another's archive.
func TestArchive(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice", "bob", "eve")
	alice := online(t, ts, "alice", "phone")
	bob := online(t, ts, "bob", "phone")
	r, _ := bob.IQ("d", "<iq type='get' id='d' to='bob@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	for _, f := range []string{nsMAM, "urn:xmpp:mam:2#extended", nsSID} {
		if !xmpptest.Contains(r, "var='"+f+"'") {
			t.Errorf("account disco lacks %s: %s", f, r)
		}
	}
	live := map[string]string{} // body → stanza-id
	for i := 1; i <= 7; i++ {
		alice.Sendf("<message type='chat' id='m%d' to='bob@localhost'><body>msg %d</body><origin-id xmlns='urn:xmpp:sid:0' id='o%d'/></message>", i, i, i)
		m := expectStanza(t, bob, "message", func(e *xml.Element) bool { return e.AttrValue("id") == fmt.Sprintf("m%d", i) })
		sid := m.Child(nsSID, "stanza-id")
		if sid == nil || sid.AttrValue("by") != "bob@localhost" || sid.AttrValue("id") == "" {
			t.Fatalf("live message without stanza-id: %s", m)
		}
		live[m.ChildText("jabber:client", "body")] = sid.AttrValue("id")
	}
	// A chat state is not archived.
	alice.SendRaw("<message type='chat' to='bob@localhost'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")

	tablet := ts.dial("bob", "tablet")
	// Last page of 3, then page backwards.
	msgs, fin := mamQuery(t, tablet, "p1", "<set xmlns='http://jabber.org/protocol/rsm'><max>3</max><before/></set>")
	if len(msgs) != 3 || forwardedBody(msgs[0]) != "msg 5" || forwardedBody(msgs[2]) != "msg 7" {
		t.Fatalf("last page: %d messages, fin %s", len(msgs), fin)
	}
	for _, m := range msgs {
		id := m.Child(nsMAM, "result").AttrValue("id")
		if live[forwardedBody(m)] != id {
			t.Errorf("archive id %s for %q, live copy had %s", id, forwardedBody(m), live[forwardedBody(m)])
		}
	}
	if fin == nil || fin.AttrValue("complete") == "true" {
		t.Fatalf("fin of a partial last page: %s", fin)
	}
	first := fin.Child(nsRSM, "set").ChildText(nsRSM, "first")
	msgs, fin = mamQuery(t, tablet, "p2", fmt.Sprintf("<set xmlns='http://jabber.org/protocol/rsm'><max>10</max><before>%s</before></set>", first))
	if len(msgs) != 4 || forwardedBody(msgs[0]) != "msg 1" || fin.AttrValue("complete") != "true" {
		t.Fatalf("previous page: %d messages, fin %s", len(msgs), fin)
	}
	// Forward from the start with a with-filter.
	msgs, _ = mamQuery(t, tablet, "p3", "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field><field var='with'><value>alice@localhost</value></field></x><set xmlns='http://jabber.org/protocol/rsm'><max>2</max></set>")
	if len(msgs) != 2 || forwardedBody(msgs[0]) != "msg 1" {
		t.Fatalf("with-filter page: %d", len(msgs))
	}
	// after-id (extended).
	msgs, _ = mamQuery(t, tablet, "p4", fmt.Sprintf("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field><field var='after-id'><value>%s</value></field></x>", live["msg 6"]))
	if len(msgs) != 1 || forwardedBody(msgs[0]) != "msg 7" {
		t.Fatalf("after-id: %d", len(msgs))
	}
	// Unknown id.
	_, errIQ := mamQuery(t, tablet, "p5", "<set xmlns='http://jabber.org/protocol/rsm'><after>nonexistent</after></set>")
	if errIQ == nil || errIQ.AttrValue("type") != "error" || xmpptest.ErrorCondition(errIQ) != "item-not-found" {
		t.Errorf("unknown after: %v", errIQ)
	}
	// Metadata.
	md, _ := tablet.IQ("md", "<iq type='get' id='md'><metadata xmlns='urn:xmpp:mam:2'/></iq>")
	if md.Child(nsMAM, "metadata").Child(nsMAM, "end").AttrValue("id") != live["msg 7"] {
		t.Errorf("metadata %s", md)
	}
	// alice's own archive has her sent messages.
	msgs, _ = mamQuery(t, alice, "a1", "")
	if len(msgs) != 7 {
		t.Errorf("alice's archive has %d messages", len(msgs))
	}
	// eve cannot read bob's archive; a stranger to bob, she gets what a
	// JID without an account answers.
	eve := ts.dial("eve", "x")
	eve.SendRaw("<iq type='set' id='e1' to='bob@localhost'><query xmlns='urn:xmpp:mam:2'/></iq>")
	e := expectStanza(t, eve, "iq", func(e *xml.Element) bool { return e.AttrValue("id") == "e1" })
	if e.AttrValue("type") != "error" || xmpptest.ErrorCondition(e) != "service-unavailable" {
		t.Errorf("eve querying bob's archive: %s", e)
	}
}
