package session_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/session"
	"dormouse.im/dormouse/xml"
)

const nsSM = session.NSSM

func isSM(local string) func(*xml.Element) bool {
	return func(e *xml.Element) bool { return e.Name.Space == nsSM && e.Name.Local == local }
}

// failedCondition returns the condition of <failed/>.
func failedCondition(el *xml.Element) string {
	if f := el.FirstChild(); f != nil {
		return f.Name.Local
	}
	return ""
}

// TestSMFeatures: <sm/> and <csi/> are offered after authentication only.
func TestSMFeatures(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice")
	c, err := ts.dialErr(xmpptest.Options{User: "alice", Password: "secret-alice", NoBind: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Conn.Close()
	if c.Features.Child(nsSM, "sm") == nil || c.Features.Child(session.NSCSI, "csi") == nil {
		t.Errorf("features after SASL: %s", c.Features)
	}
	pre, err := xmpptest.DialTLSOnly(t.Context(), xmpptest.Options{Addr: ts.addr, Domain: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer pre.Conn.Close()
	if pre.Features.Child(nsSM, "sm") != nil || pre.Features.Child(session.NSCSI, "csi") != nil {
		t.Errorf("features before SASL: %s", pre.Features)
	}
	// XEP-0198 before authentication: <failed/>, and the stream goes on.
	pre.SendRaw("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
	if el, err := pre.Next(); err != nil || !isSM("failed")(el) || failedCondition(el) != "not-authorized" {
		t.Fatalf("enable before auth: %v %v", el, err)
	}
	pre.SendRaw("<resume xmlns='urn:xmpp:sm:3' previd='x' h='0'/>")
	if el, err := pre.Next(); err != nil || !isSM("failed")(el) || failedCondition(el) != "not-authorized" {
		t.Fatalf("resume before auth: %v %v", el, err)
	}
	if err := pre.Auth("SCRAM-SHA-256", "alice", "secret-alice"); err != nil {
		t.Fatalf("auth after the failures: %v", err)
	}
}

// TestSMEnable covers <enable/>: before bind, max negotiation, twice.
func TestSMEnable(t *testing.T) {
	ts := start(t, func(s *session.Server) {
		s.Config.SM.MaxResumeTimeout = 0 // default: 1 h
	})
	ts.users("alice")
	c, err := ts.dialErr(xmpptest.Options{User: "alice", Password: "secret-alice", NoBind: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Conn.Close()
	c.SendRaw("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
	if el, err := c.Next(); err != nil || !isSM("failed")(el) || failedCondition(el) != "unexpected-request" {
		t.Fatalf("enable before bind: %v %v", el, err)
	}
	if err := c.Bind("r1"); err != nil {
		t.Fatal(err)
	}
	if err := c.EnableSM(true, 0); err != nil {
		t.Fatal(err)
	}
	if c.SM.Max != 600 || len(c.SM.ID) < 22 {
		t.Errorf("enabled: id %q max %d; want a long id and the default 600 s", c.SM.ID, c.SM.Max)
	}
	// A second <enable/> is a stream error (XEP-0198 §3).
	c.SendRaw("<enable xmlns='urn:xmpp:sm:3'/>")
	el, _, err := c.Expect(func(e *xml.Element) bool { return xmpptest.StreamErrorCondition(e) != "" })
	if err != nil || xmpptest.StreamErrorCondition(el) != "policy-violation" {
		t.Fatalf("second enable: %v %v", el, err)
	}

	for _, tc := range []struct{ ask, want int }{{60, 60}, {100000, 3600}} {
		c, err := ts.dialErr(xmpptest.Options{User: "alice", Password: "secret-alice", SM: true, SMMax: tc.ask})
		if err != nil {
			t.Fatal(err)
		}
		if c.SM.Max != tc.want {
			t.Errorf("max=%d: granted %d, want %d", tc.ask, c.SM.Max, tc.want)
		}
		c.Close()
	}
	// Without resume: acks only, no id.
	c2, err := ts.dialErr(xmpptest.Options{User: "alice", Password: "secret-alice"})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.EnableSM(false, 0); err != nil || c2.SM.ID != "" {
		t.Fatalf("enable without resume: id %q, %v", c2.SM.ID, err)
	}
}

// TestSMAcks covers <r/> and <a/> both ways.
func TestSMAcks(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice", "bob")
	alice := ts.dialSM("alice", "phone")
	alice.ManualSM = true
	bob := ts.dial("bob", "pc")

	// Client → server: h counts every stanza handled since <enabled/>.
	for i := range 3 {
		alice.SendRaw(fmt.Sprintf("<message to='bob@localhost/pc' type='chat' id='a%d'><body>%d</body></message>", i, i))
	}
	alice.SendRaw("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
	alice.RequestAck()
	el := expectStanza(t, alice, "a", func(e *xml.Element) bool { return e.Name.Space == nsSM })
	if el.AttrValue("h") != "4" {
		t.Errorf("server's h = %s, want 4", el.AttrValue("h"))
	}
	for i := range 3 {
		expectStanza(t, bob, "message", func(e *xml.Element) bool { return e.AttrValue("id") == fmt.Sprintf("a%d", i) })
	}

	// Server → client: <r/> after 5 unacknowledged stanzas, then no other
	// until an <a/> (never more than one outstanding).
	for i := range 12 {
		bob.SendRaw(fmt.Sprintf("<message to='alice@localhost/phone' type='chat' id='b%d'><body>%d</body></message>", i, i))
	}
	var rs, msgs int
	for msgs < 12 {
		el, err := alice.Next()
		if err != nil {
			t.Fatalf("after %d messages and %d <r/>: %v", msgs, rs, err)
		}
		switch {
		case isSM("r")(el):
			rs++
		case el.Name.Local == "message":
			msgs++
		}
	}
	if rs != 1 {
		t.Errorf("%d <r/> before any <a/>, want 1", rs)
	}
	alice.SendRaw("<a xmlns='urn:xmpp:sm:3' h='5'/>") // 5 of 12 (+1 iq result: 13 sent)
	if el := alice.NoMore(300 * time.Millisecond); el == nil || !isSM("r")(el) {
		t.Errorf("after acking 5 of 13: got %v, want <r/>", el)
	}
	// h too high: undefined-condition with handled-count-too-high.
	alice.SendRaw("<a xmlns='urn:xmpp:sm:3' h='20'/>")
	el, _, err := alice.Expect(func(e *xml.Element) bool { return xmpptest.StreamErrorCondition(e) != "" })
	if err != nil || xmpptest.StreamErrorCondition(el) != "undefined-condition" {
		t.Fatalf("h too high: %v %v", el, err)
	}
	hc := el.Child(nsSM, "handled-count-too-high")
	if hc == nil || hc.AttrValue("h") != "20" || hc.AttrValue("send-count") != "13" {
		t.Errorf("stream error %s", el)
	}
}

// TestSMResumeRefused: another account, an unknown id, a resumption after
// bind, and a bad h.
func TestSMResumeRefused(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice", "mallory")
	alice := ts.dialSM("alice", "phone")
	st := alice.SM

	// mallory knows alice's SM-ID: not found, and no h leaks.
	_, err := ts.resume("mallory", st, false)
	var rf *xmpptest.ResumeFailed
	if !errors.As(err, &rf) || rf.Condition != "item-not-found" || rf.HasH {
		t.Fatalf("mallory resuming alice's session: %v", err)
	}
	// alice's session is untouched: still live.
	alice.SendRaw("<iq type='get' id='x'><ping xmlns='urn:xmpp:ping'/></iq>")
	expectStanza(t, alice, "iq", nil)

	// An unknown id: not found; the client can bind instead.
	c, err := ts.resume("alice", &xmpptest.SMState{ID: "nonexistent"}, false)
	if !errors.As(err, &rf) || rf.Condition != "item-not-found" || rf.HasH {
		t.Fatalf("unknown id: %v", err)
	}
	if err := c.Bind("other"); err != nil {
		t.Fatalf("bind after a failed resumption: %v", err)
	}
	// <resume/> after bind.
	c.SendRaw("<resume xmlns='urn:xmpp:sm:3' previd='" + st.ID + "' h='0'/>")
	if el := expectStanza(t, c, "failed", nil); failedCondition(el) != "unexpected-request" {
		t.Errorf("resume after bind: %s", el)
	}
	// A bad h.
	c2, err := ts.dialErr(xmpptest.Options{User: "alice", Password: "secret-alice", NoBind: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Conn.Close()
	c2.SendRaw("<resume xmlns='urn:xmpp:sm:3' previd='" + st.ID + "' h='-1'/>")
	if el := expectStanza(t, c2, "failed", nil); failedCondition(el) != "bad-request" {
		t.Errorf("bad h: %s", el)
	}
}

// TestSMAckTimer: fewer than 5 unacknowledged stanzas get an <r/> after
// the ack delay (virtual time), once.
func TestSMAckTimer(t *testing.T) {
	clk := xmpptest.NewFakeClock(time.Unix(1e9, 0))
	ts := start(t, func(s *session.Server) { s.Clock = clk })
	ts.users("alice", "bob")
	alice := ts.dialSM("alice", "phone")
	alice.ManualSM = true
	bob := ts.dial("bob", "pc")
	bob.SendRaw("<message to='alice@localhost/phone' type='chat' id='m1'><body>1</body></message>")
	expectStanza(t, alice, "message", nil)
	if el := alice.NoMore(100 * time.Millisecond); el != nil {
		t.Fatalf("before the delay: %s", el)
	}
	clk.Advance(2 * time.Second)
	if el := alice.NoMore(time.Second); el == nil || !isSM("r")(el) {
		t.Fatalf("after the delay: %v, want <r/>", el)
	}
	clk.Advance(time.Minute)
	if el := alice.NoMore(100 * time.Millisecond); el != nil {
		t.Fatalf("a second <r/> while one is outstanding: %s", el)
	}
	alice.SendRaw("<a xmlns='urn:xmpp:sm:3' h='1'/>")
	if n := clk.Pending(); n != 0 {
		t.Errorf("%d timers pending with nothing unacknowledged", n)
	}
}
