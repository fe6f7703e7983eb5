package server_test

import (
	"fmt"
	"strconv"
	"testing"

	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/xml"
)

// TestArchiveBurst: a burst of 200 messages from one client (pipelined by
// its session, several in one group commit) reaches the recipient in
// order, with increasing archive ids, and both archives hold it in order
// under the ids the recipient saw.
func TestArchiveBurst(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice", "bob")
	alice := online(t, ts, "alice", "phone")
	bob := online(t, ts, "bob", "phone")
	const n = 200
	go func() {
		for i := range n {
			alice.Sendf("<message type='chat' id='m%d' to='bob@localhost/phone'><body>msg %d</body></message>", i, i)
		}
	}()
	var live []string // stanza-ids, in arrival order
	for i := range n {
		m := expectStanza(t, bob, "message", func(e *xml.Element) bool { return e.ChildText("jabber:client", "body") != "" })
		if got, want := m.AttrValue("id"), "m"+strconv.Itoa(i); got != want {
			t.Fatalf("message %d: id %s, want %s", i, got, want)
		}
		sid := m.Child(nsSID, "stanza-id").AttrValue("id")
		if len(live) > 0 && sid <= live[len(live)-1] {
			t.Fatalf("message %d: stanza-id %s after %s", i, sid, live[len(live)-1])
		}
		live = append(live, sid)
	}
	for _, c := range []struct {
		name   string
		client *xmpptest.Client
	}{{"bob", bob}, {"alice", alice}} {
		cl := c.client
		var got []*xml.Element
		after := ""
		for page := 0; len(got) < n && page < 10; page++ {
			set := "<set xmlns='http://jabber.org/protocol/rsm'><max>50</max></set>"
			if after != "" {
				set = fmt.Sprintf("<set xmlns='http://jabber.org/protocol/rsm'><max>50</max><after>%s</after></set>", after)
			}
			msgs, fin := mamQuery(t, cl, fmt.Sprintf("%s%d", c.name, page), set)
			if fin == nil || len(msgs) == 0 {
				t.Fatalf("%s page %d: %d messages, fin %v", c.name, page, len(msgs), fin)
			}
			got = append(got, msgs...)
			after = fin.Child(nsRSM, "set").ChildText(nsRSM, "last")
		}
		if len(got) != n {
			t.Fatalf("%s's archive has %d messages, want %d", c.name, len(got), n)
		}
		for i, m := range got {
			if body := forwardedBody(m); body != "msg "+strconv.Itoa(i) {
				t.Fatalf("%s's archive, message %d: %q", c.name, i, body)
			}
			if c.name == "bob" && m.Child(nsMAM, "result").AttrValue("id") != live[i] {
				t.Errorf("bob's archive, message %d: id %s, live %s", i, m.Child(nsMAM, "result").AttrValue("id"), live[i])
			}
		}
	}
}
