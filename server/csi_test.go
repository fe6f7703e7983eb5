package server_test

import (
	"slices"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/xml"
)

// describeEl names a received stanza for order checks: the id of a
// message, or "presence:<show>".
func describeEl(el *xml.Element) string {
	if el.Name.Local == "presence" {
		return "presence:" + el.ChildText("jabber:client", "show")
	}
	return el.Name.Local + ":" + el.AttrValue("id")
}

// collect reads n stanzas (skipping nonzas) and describes them.
func collect(t *testing.T, c *xmpptest.Client, n int) []string {
	t.Helper()
	var out []string
	for len(out) < n {
		el, err := c.Next()
		if err != nil {
			t.Fatalf("after %v: %v", out, err)
		}
		if el.Name.Space == "jabber:client" {
			out = append(out, describeEl(el))
		}
	}
	return out
}

// TestCSIHoldAndFlush: an inactive client gets urgent stanzas at once,
// after the held ones in order; presence from one contact collapses to the
// latest; <active/> flushes.
func TestCSIHoldAndFlush(t *testing.T) {
	ts := startSM(t, nil, nil, nil)
	ts.users("alice", "bob")
	alice := ts.dialSM("alice", "phone")
	bob := ts.dial("bob", "pc")

	alice.SendRaw("<inactive xmlns='urn:xmpp:csi:0'/>")
	// An IQ is urgent: its answer proves <inactive/> was processed.
	if r, err := alice.IQ("p1", "<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>"); err != nil || r.AttrValue("type") != "result" {
		t.Fatalf("ping while inactive: %v %v", r, err)
	}
	bob.SendRaw("<presence to='alice@localhost/phone'><show>away</show></presence>")
	bob.SendRaw("<message to='alice@localhost/phone' id='cs1' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
	bob.SendRaw("<presence to='alice@localhost/phone'><show>xa</show></presence>")
	bob.SendRaw("<message to='alice@localhost/phone' id='rcpt'><received xmlns='urn:xmpp:receipts' id='x'/></message>")
	bob.SendRaw("<message to='alice@localhost/phone' id='hdl' type='headline'><event xmlns='http://jabber.org/protocol/pubsub#event'/></message>")
	// bob's own ping answered proves the server routed all of the above.
	if _, err := bob.IQ("q", "<iq type='get' id='q'><ping xmlns='urn:xmpp:ping'/></iq>"); err != nil {
		t.Fatal(err)
	}
	if el := alice.NoMore(100 * time.Millisecond); el != nil {
		t.Fatalf("an inactive client got %s", el)
	}
	bob.SendRaw("<message to='alice@localhost/phone' id='body1' type='chat'><body>ping me</body></message>")
	want := []string{"message:cs1", "presence:xa", "message:rcpt", "message:hdl", "message:body1"}
	if got := collect(t, alice, len(want)); !slices.Equal(got, want) {
		t.Fatalf("after an urgent message: %v, want %v", got, want)
	}
	// A call proposal (XEP-0353) is urgent too.
	bob.SendRaw("<presence to='alice@localhost/phone'><show>dnd</show></presence>")
	bob.SendRaw("<message to='alice@localhost/phone' id='call'><propose xmlns='urn:xmpp:jingle-message:0' id='c1'/></message>")
	want = []string{"presence:dnd", "message:call"}
	if got := collect(t, alice, len(want)); !slices.Equal(got, want) {
		t.Fatalf("after a call proposal: %v, want %v", got, want)
	}
	// <active/> flushes.
	bob.SendRaw("<message to='alice@localhost/phone' id='cs2' type='chat'><paused xmlns='http://jabber.org/protocol/chatstates'/></message>")
	if _, err := bob.IQ("q2", "<iq type='get' id='q2'><ping xmlns='urn:xmpp:ping'/></iq>"); err != nil {
		t.Fatal(err)
	}
	if el := alice.NoMore(100 * time.Millisecond); el != nil {
		t.Fatalf("an inactive client got %s", el)
	}
	alice.SendRaw("<active xmlns='urn:xmpp:csi:0'/>")
	if got := collect(t, alice, 1); got[0] != "message:cs2" {
		t.Fatalf("after <active/>: %v", got)
	}
	// Active: everything at once.
	bob.SendRaw("<presence to='alice@localhost/phone'><show>chat</show></presence>")
	if got := collect(t, alice, 1); got[0] != "presence:chat" {
		t.Fatalf("active: %v", got)
	}
	st := ts.SessionsForTest().Stats()
	if st.CSIHeld != 7 || st.CSISuperseded != 1 || st.CSIFlushes != 3 {
		t.Errorf("CSI stats: held %d, superseded %d, flushes %d; want 7, 1, 3", st.CSIHeld, st.CSISuperseded, st.CSIFlushes)
	}
}

// TestCSIHoldQueueBound: a full hold queue is flushed.
func TestCSIHoldQueueBound(t *testing.T) {
	ts := startSM(t, nil, nil, nil)
	ts.users("alice", "bob")
	ts.SessionsForTest() // defaults apply at Serve; the bound is set below
	alice := ts.dial("alice", "phone")
	bob := ts.dial("bob", "pc")
	alice.SendRaw("<inactive xmlns='urn:xmpp:csi:0'/>")
	alice.IQ("p", "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
	for i := range 256 {
		bob.Sendf("<message to='alice@localhost/phone' id='s%d' type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/></message>", i)
	}
	got := collect(t, alice, 256)
	if got[0] != "message:s0" || got[255] != "message:s255" {
		t.Fatalf("flushed %v … %v", got[0], got[255])
	}
}

// TestCSIResumeStartsActive: XEP-0352 state is not restored by a
// resumption; what was held is delivered after <resumed/>.
func TestCSIResumeStartsActive(t *testing.T) {
	ts := startSM(t, nil, nil, nil)
	ts.users("alice", "bob")
	alice := ts.dialSM("alice", "phone")
	bob := ts.dial("bob", "pc")
	alice.SendRaw("<inactive xmlns='urn:xmpp:csi:0'/>")
	alice.IQ("p", "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
	bob.SendRaw("<message to='alice@localhost/phone' id='cs1' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
	bob.IQ("q", "<iq type='get' id='q'><ping xmlns='urn:xmpp:ping'/></iq>")
	// The census (metrics): two live sessions, alice's inactive and
	// holding the chat state; alice has the ping result unacknowledged.
	n := ts.SessionsForTest().Census()
	if n.Live != 2 || n.Inactive != 1 || n.Hibernated != 0 || n.Held != 1 || n.Unacked < 1 {
		t.Errorf("census while inactive: %+v", n)
	}
	alice.Cut()
	waitFor(t, "hibernation", func() bool { return ts.SessionsForTest().Stats().Hibernated == 1 })
	waitFor(t, "census", func() bool { n = ts.SessionsForTest().Census(); return n.Live == 1 })
	if n.Inactive != 0 || n.Hibernated != 1 || n.Held != 1 || n.Unacked < 1 || n.MaxUnacked != n.Unacked {
		t.Errorf("census after the cut: %+v", n)
	}
	c, err := ts.resume("alice", alice.SM, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := collect(t, c, 1); got[0] != "message:cs1" {
		t.Fatalf("after resumption: %v", got)
	}
	bob.SendRaw("<message to='alice@localhost/phone' id='cs2' type='chat'><paused xmlns='http://jabber.org/protocol/chatstates'/></message>")
	if got := collect(t, c, 1); got[0] != "message:cs2" {
		t.Fatalf("active after resumption: %v", got)
	}
}
