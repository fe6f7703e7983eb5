package server_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/session"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// events records session events.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	e.log = append(e.log, s)
	e.mu.Unlock()
}

func (e *events) Hibernated(_ context.Context, j jid.JID, unacked []*stanza.Stanza) {
	ids := make([]string, len(unacked))
	for i, st := range unacked {
		ids[i] = st.Kind.String() + ":" + st.ID
	}
	e.add(fmt.Sprintf("hibernated %s %v", j, ids))
}
func (e *events) StanzaQueued(_ context.Context, j jid.JID, st *stanza.Stanza) {
	e.add(fmt.Sprintf("queued %s %s", j, st.ID))
}
func (e *events) Resumed(_ context.Context, j jid.JID) { e.add(fmt.Sprintf("resumed %s", j)) }
func (e *events) TimedOut(_ context.Context, j jid.JID, n int) {
	e.add(fmt.Sprintf("timedout %s %d", j, n))
}

func (e *events) InactiveStanza(_ context.Context, j jid.JID, st *stanza.Stanza) {
	e.add(fmt.Sprintf("inactive %s %s", j, st.ID))
}

func (e *events) get() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.log)
}

func chat(to, id, body string) string {
	return fmt.Sprintf("<message to='%s' type='chat' id='%s'><body>%s</body></message>", to, id, body)
}

// readBodies reads messages until n have arrived, returning their ids.
func readIDs(t *testing.T, c *xmpptest.Client, n int) []string {
	t.Helper()
	var ids []string
	for len(ids) < n {
		el, err := c.Next()
		if err != nil {
			t.Fatalf("after %v: %v", ids, err)
		}
		if el.Name.Local == "message" {
			ids = append(ids, el.AttrValue("id"))
		}
	}
	return ids
}

func seq(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

func available(ts *testServer, full string) bool {
	res, ok := ts.Router.Resource(jid.MustParse(full))
	return ok && res.Available
}

// TestSMHibernateAndResume: a cut connection hibernates; the session stays
// bound and available; what arrives meanwhile and what was not
// acknowledged is replayed in order after <resumed/>; the client's
// unacknowledged stanzas are resent once.
func TestSMHibernateAndResume(t *testing.T) {
	for _, direct := range []bool{false, true} {
		t.Run(fmt.Sprintf("directTLS=%v", direct), func(t *testing.T) {
			clk := xmpptest.NewFakeClock(time.Unix(1e9, 0))
			ev := &events{}
			ts := startSM(t, nil, clk, func(s *session.Server) { s.Events = []session.Events{ev} })
			ts.users("alice", "bob")
			alice := ts.dialSM("alice", "phone")
			alice.SendStanza("<presence/>")
			bob := ts.dial("bob", "pc")
			waitFor(t, "alice available", func() bool { return available(ts, "alice@localhost/phone") })

			for _, id := range seq("b", 0, 3) {
				bob.SendRaw(chat("alice@localhost/phone", id, id))
			}
			if got := readIDs(t, alice, 3); !slices.Equal(got, seq("b", 0, 3)) {
				t.Fatalf("before the cut: %v", got)
			}
			// alice sends one stanza the server handles and, in the same
			// write, half of another; then the network goes.
			alice.SendStanza(chat("bob@localhost/pc", "a0", "a0"))
			half := chat("bob@localhost/pc", "a1", "a1")
			alice.SendStanza(half)
			// Make sure the server handled a0 before cutting a1 in half:
			// bob got it.
			expectStanza(t, bob, "message", func(e *xml.Element) bool { return e.AttrValue("id") == "a0" })
			alice.Cut()
			waitFor(t, "hibernation", func() bool { return ts.SessionsForTest().Stats().Hibernated == 1 })
			if !available(ts, "alice@localhost/phone") {
				t.Fatal("a hibernated session is not available to contacts")
			}
			for _, id := range seq("b", 3, 6) {
				bob.SendRaw(chat("alice@localhost/phone", id, id))
			}
			waitFor(t, "queued events", func() bool { return len(ev.get()) == 4 })

			clk.Advance(9 * time.Minute) // within the 10 min
			c, err := ts.resume("alice", alice.SM, direct)
			if err != nil {
				t.Fatal(err)
			}
			// a1 was resent by the client (the server had not counted it,
			// or had: either way bob gets it once).
			expectStanza(t, bob, "message", func(e *xml.Element) bool { return e.AttrValue("id") == "a1" })
			if got := readIDs(t, c, 3); !slices.Equal(got, seq("b", 3, 6)) {
				t.Fatalf("after resumption: %v", got)
			}
			if el := bob.NoMore(100 * time.Millisecond); el != nil {
				t.Errorf("bob got more: %s", el)
			}
			// Hibernated with 4 unacknowledged: alice's own presence and
			// b0..b2 (fewer than 5, and the 2 s ack timer is virtual).
			want := []string{"hibernated alice@localhost/phone [presence: message:b0 message:b1 message:b2]", "queued alice@localhost/phone b3",
				"queued alice@localhost/phone b4", "queued alice@localhost/phone b5", "resumed alice@localhost/phone"}
			waitFor(t, "resumed event", func() bool { return len(ev.get()) == 5 })
			if got := ev.get(); !slices.Equal(got, want) {
				t.Errorf("events %q, want %q", got, want)
			}
			// The old timer is void: the session survives the first
			// deadline.
			clk.Advance(2 * time.Minute)
			c.SendRaw("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
			expectStanza(t, c, "iq", nil)
			st := ts.SessionsForTest().Stats()
			if st.Resumptions != 1 || st.Hibernated != 0 || st.Timeouts != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestSMResumeLiveConnection: resuming while the old connection is still
// open closes the old one with a conflict stream error.
func TestSMResumeLiveConnection(t *testing.T) {
	ts := startSM(t, nil, nil, nil)
	ts.users("alice", "bob")
	old := ts.dialSM("alice", "phone")
	bob := ts.dial("bob", "pc")
	bob.SendRaw(chat("alice@localhost/phone", "m1", "hello"))
	expectStanza(t, old, "message", nil) // received, not acknowledged
	c, err := ts.resume("alice", old.SM, false)
	if err != nil {
		t.Fatal(err)
	}
	el, _, err := old.Expect(func(e *xml.Element) bool { return xmpptest.StreamErrorCondition(e) != "" })
	if err != nil || xmpptest.StreamErrorCondition(el) != "conflict" {
		t.Fatalf("old connection: %v %v", el, err)
	}
	// h=1 acknowledged m1: nothing replayed; new traffic flows.
	bob.SendRaw(chat("alice@localhost/phone", "m2", "again"))
	if got := readIDs(t, c, 1); got[0] != "m2" {
		t.Fatalf("got %v", got)
	}
	if _, ok := ts.Router.Resource(jid.MustParse("alice@localhost/phone")); !ok {
		t.Fatal("resource unbound by the old connection closing")
	}
}

// TestSMTimeout: a hibernated session that is not resumed in time (virtual
// time) is unbound; its unacknowledged messages and those queued while it
// hibernated are stored offline (chat states dropped, nothing bounced) and
// delivered exactly once, in order, at the next login; a late <resume/>
// gets <failed h='…'/> with the server's count.
func TestSMTimeout(t *testing.T) {
	clk := xmpptest.NewFakeClock(time.Unix(1e9, 0))
	ev := &events{}
	ts := startSM(t, nil, clk, func(s *session.Server) { s.Events = []session.Events{ev} })
	ts.users("alice", "bob")
	alice := ts.dialSM("alice", "phone")
	alice.ManualSM = true // acknowledges nothing
	bob := ts.dial("bob", "pc")
	alice.SendRaw("<presence/>")
	alice.SendRaw(chat("bob@localhost/pc", "a0", "x"))
	alice.SendRaw(chat("bob@localhost/pc", "a1", "x"))
	expectStanza(t, bob, "message", func(e *xml.Element) bool { return e.AttrValue("id") == "a1" })
	bob.SendRaw(chat("alice@localhost/phone", "m0", "zero"))
	expectStanza(t, alice, "message", nil)
	alice.Cut()
	waitFor(t, "hibernation", func() bool { return ts.SessionsForTest().Stats().Hibernated == 1 })
	bob.SendRaw("<message to='alice@localhost/phone' type='chat' id='cs'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
	bob.SendRaw(chat("alice@localhost/phone", "m1", "one"))
	bob.SendRaw(chat("alice@localhost", "m2", "two"))
	waitFor(t, "queued", func() bool { return len(ev.get()) == 4 })

	clk.Advance(10*time.Minute - time.Second)
	if ts.SessionsForTest().Stats().Timeouts != 0 {
		t.Fatal("timed out early")
	}
	clk.Advance(time.Second)
	if _, ok := ts.Router.Resource(jid.MustParse("alice@localhost/phone")); ok {
		t.Fatal("still bound after the timeout")
	}
	if got := ev.get(); got[len(got)-1] != "timedout alice@localhost/phone 3" {
		t.Errorf("events %q", got)
	}
	if el := bob.NoMore(100 * time.Millisecond); el != nil {
		t.Errorf("something bounced to bob: %s", el)
	}
	// A message after the timeout goes offline the usual way (stored
	// before Alice logs in again, or it would reach her live).
	bob.SendRaw(chat("alice@localhost/phone", "m3", "three"))
	waitFor(t, "m3 stored offline", func() bool {
		n, err := ts.Stores.Offline.Count(t.Context(), "alice@localhost")
		return err == nil && n == 4
	})

	_, err := ts.resume("alice", alice.SM, false)
	var rf *xmpptest.ResumeFailed
	if !errors.As(err, &rf) || rf.Condition != "item-not-found" || !rf.HasH || rf.H != 3 {
		t.Fatalf("late resume: %v (want item-not-found with h=3)", err)
	}
	c := online(t, ts, "alice", "phone2")
	var got []string
	for len(got) < 4 {
		el := expectStanza(t, c, "message", nil)
		got = append(got, el.AttrValue("id"))
		if d := el.Child("urn:xmpp:delay", "delay"); d == nil || d.AttrValue("from") != "localhost" {
			t.Errorf("%s without the server's delay stamp", el)
		} else if id := el.AttrValue("id"); id != "m3" && !strings.HasPrefix(d.AttrValue("stamp"), "2001-09-09T01:46:40") {
			t.Errorf("%s: stamp %s, want the (virtual) time it was queued", id, d.AttrValue("stamp"))
		}
	}
	if !slices.Equal(got, []string{"m0", "m1", "m2", "m3"}) {
		t.Fatalf("offline delivery: %v", got)
	}
	noMoreMessages(t, c, 200*time.Millisecond)
	// Exactly once: a second login finds nothing.
	c.Close()
	c2 := online(t, ts, "alice", "phone3")
	noMoreMessages(t, c2, 200*time.Millisecond)
}

// TestSMTimeoutOtherResource: rescued messages go to another available
// resource of the account right away.
func TestSMTimeoutOtherResource(t *testing.T) {
	clk := xmpptest.NewFakeClock(time.Unix(1e9, 0))
	ev := &events{}
	ts := startSM(t, nil, clk, func(s *session.Server) { s.Events = []session.Events{ev} })
	ts.users("alice", "bob")
	phone := ts.dialSM("alice", "phone")
	phone.ManualSM = true
	phone.SendRaw("<presence><priority>1</priority></presence>")
	laptop := online(t, ts, "alice", "laptop")
	bob := ts.dial("bob", "pc")
	waitFor(t, "phone available", func() bool { return available(ts, "alice@localhost/phone") })
	bob.SendRaw(chat("alice@localhost/phone", "m0", "for the phone"))
	expectStanza(t, phone, "message", nil)
	phone.Cut()
	waitFor(t, "hibernation", func() bool { return ts.SessionsForTest().Stats().Hibernated == 1 })
	bob.SendRaw(chat("alice@localhost", "m1", "to the best resource: the phone"))
	waitFor(t, "m1 queued at the phone", func() bool {
		return slices.Contains(ev.get(), "queued alice@localhost/phone m1")
	})
	clk.Advance(time.Hour)
	got := readIDs(t, laptop, 2)
	if !slices.Equal(got, []string{"m0", "m1"}) {
		t.Fatalf("laptop got %v", got)
	}
}

// TestSMOverflow: a hibernated session whose queue overflows ends at once
// and nothing is lost.
func TestSMOverflow(t *testing.T) {
	clk := xmpptest.NewFakeClock(time.Unix(1e9, 0))
	ts := startSM(t, nil, clk, func(s *session.Server) { s.Config.SM.MaxQueue = 10 })
	ts.users("alice", "bob")
	alice := ts.dialSM("alice", "phone")
	bob := ts.dial("bob", "pc")
	alice.Cut()
	waitFor(t, "hibernation", func() bool { return ts.SessionsForTest().Stats().Hibernated == 1 })
	for _, id := range seq("m", 0, 25) {
		bob.SendRaw(chat("alice@localhost/phone", id, id))
	}
	// bob's ping answered: every message before it was routed.
	if _, err := bob.IQ("q", "<iq type='get' id='q'><ping xmlns='urn:xmpp:ping'/></iq>"); err != nil {
		t.Fatal(err)
	}
	if ts.SessionsForTest().Stats().Overflows != 1 {
		t.Fatal("no overflow")
	}
	_, err := ts.resume("alice", alice.SM, false)
	var rf *xmpptest.ResumeFailed
	if !errors.As(err, &rf) || rf.Condition != "item-not-found" {
		t.Fatalf("resume after overflow: %v", err)
	}
	c := online(t, ts, "alice", "phone")
	if got := readIDs(t, c, 25); !slices.Equal(got, seq("m", 0, 25)) {
		t.Fatalf("after overflow: %v", got)
	}
}

// TestSMShutdownRescues: a SIGTERM'd server stores every live and
// hibernated session's unacknowledged messages offline before it exits; a
// restarted server delivers them.
func TestSMShutdownRescues(t *testing.T) {
	ts := startSM(t, nil, nil, nil)
	ts.users("alice", "bob", "carol")
	alice := ts.dialSM("alice", "phone")
	alice.ManualSM = true
	carol := ts.dialSM("carol", "phone")
	bob := ts.dial("bob", "pc")
	carol.Cut()
	waitFor(t, "hibernation", func() bool { return ts.SessionsForTest().Stats().Hibernated == 1 })
	for _, id := range seq("m", 0, 3) {
		bob.SendRaw(chat("alice@localhost/phone", id, id))
		bob.SendRaw(chat("carol@localhost/phone", id, id))
	}
	readIDs(t, alice, 3) // received, never acknowledged
	if _, err := bob.IQ("q", "<iq type='get' id='q'><ping xmlns='urn:xmpp:ping'/></iq>"); err != nil {
		t.Fatal(err) // every message before it was routed
	}
	cfg := ts.cfg
	ts.stop()

	ts2 := restartSM(t, cfg, nil, nil)
	for _, u := range []string{"alice", "carol"} {
		c := online(t, ts2, u, "phone")
		if got := readIDs(t, c, 3); !slices.Equal(got, seq("m", 0, 3)) {
			t.Errorf("%s after restart: %v", u, got)
		}
	}
}

// noMoreMessages fails if a message arrives within d.
func noMoreMessages(t *testing.T, c *xmpptest.Client, d time.Duration) {
	t.Helper()
	end := time.Now().Add(d)
	for {
		left := time.Until(end)
		if left <= 0 {
			return
		}
		el := c.NoMore(left)
		if el == nil {
			return
		}
		if el.Name.Local == "message" {
			t.Errorf("unexpected message: %s", el)
		}
	}
}

// TestSMResumeHTooHigh: a <resume/> whose h acknowledges more than the
// server sent is a stream error; the session stays resumable.
func TestSMResumeHTooHigh(t *testing.T) {
	ts := startSM(t, nil, nil, nil)
	ts.users("alice", "bob")
	alice := ts.dialSM("alice", "phone")
	bob := ts.dial("bob", "pc")
	bob.SendRaw(chat("alice@localhost/phone", "m0", "x"))
	expectStanza(t, alice, "message", nil)
	alice.Cut()
	waitFor(t, "hibernation", func() bool { return ts.SessionsForTest().Stats().Hibernated == 1 })
	c, err := ts.dialErr(xmpptest.Options{User: "alice", Password: "secret-alice", NoBind: true})
	if err != nil {
		t.Fatal(err)
	}
	c.SendRaw("<resume xmlns='urn:xmpp:sm:3' previd='" + alice.SM.ID + "' h='7'/>")
	el, _, err := c.Expect(func(e *xml.Element) bool { return xmpptest.StreamErrorCondition(e) != "" })
	if err != nil || xmpptest.StreamErrorCondition(el) != "undefined-condition" || el.Child(session.NSSM, "handled-count-too-high") == nil {
		t.Fatalf("h too high: %v %v", el, err)
	}
	if hc := el.Child(session.NSSM, "handled-count-too-high"); hc.AttrValue("send-count") != "1" {
		t.Errorf("send-count %s, want 1", hc.AttrValue("send-count"))
	}
	// The right client still resumes.
	c2, err := ts.resume("alice", alice.SM, false)
	if err != nil {
		t.Fatal(err)
	}
	bob.SendRaw(chat("alice@localhost/phone", "m1", "x"))
	if got := readIDs(t, c2, 1); got[0] != "m1" {
		t.Fatalf("got %v", got)
	}
}

// TestSMResumeTwice: resuming an already resumed session moves it again
// (the previous connection gets conflict).
func TestSMResumeTwice(t *testing.T) {
	ts := startSM(t, nil, nil, nil)
	ts.users("alice", "bob")
	alice := ts.dialSM("alice", "phone")
	bob := ts.dial("bob", "pc")
	alice.Cut()
	c1, err := ts.resume("alice", alice.SM, false)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := ts.resume("alice", alice.SM, true)
	if err != nil {
		t.Fatal(err)
	}
	el, _, err := c1.Expect(func(e *xml.Element) bool { return xmpptest.StreamErrorCondition(e) != "" })
	if err != nil || xmpptest.StreamErrorCondition(el) != "conflict" {
		t.Fatalf("first resumed connection: %v %v", el, err)
	}
	bob.SendRaw(chat("alice@localhost/phone", "m", "x"))
	if got := readIDs(t, c2, 1); got[0] != "m" {
		t.Fatalf("got %v", got)
	}
}

// TestSMHibernatedReplacedByBind: binding the resource of a hibernated
// session replaces it; its messages are stored offline and delivered to
// the new session once it is available.
func TestSMHibernatedReplacedByBind(t *testing.T) {
	ts := startSM(t, nil, nil, nil)
	ts.users("alice", "bob")
	alice := ts.dialSM("alice", "phone")
	alice.SendStanza("<presence/>")
	bob := ts.dial("bob", "pc")
	waitFor(t, "available", func() bool { return available(ts, "alice@localhost/phone") })
	alice.Cut()
	waitFor(t, "hibernation", func() bool { return ts.SessionsForTest().Stats().Hibernated == 1 })
	bob.SendRaw(chat("alice@localhost", "m0", "x"))
	bob.SendRaw(chat("alice@localhost/phone", "m1", "x"))
	bob.IQ("q", "<iq type='get' id='q'><ping xmlns='urn:xmpp:ping'/></iq>")
	c := online(t, ts, "alice", "phone")
	if got := readIDs(t, c, 2); !slices.Equal(got, []string{"m0", "m1"}) {
		t.Fatalf("got %v", got)
	}
	_, err := ts.resume("alice", alice.SM, false)
	var rf *xmpptest.ResumeFailed
	if !errors.As(err, &rf) || !rf.HasH {
		t.Fatalf("resuming the replaced session: %v", err)
	}
}

// TestSMTimeoutBouncesIQ: an IQ request left in a session that times out
// is answered service-unavailable, as for a resource that is gone.
func TestSMTimeoutBouncesIQ(t *testing.T) {
	clk := xmpptest.NewFakeClock(time.Unix(1e9, 0))
	ts := startSM(t, nil, clk, nil)
	ts.users("alice", "bob")
	alice := ts.dialSM("alice", "phone")
	bob := ts.dial("bob", "pc")
	alice.Cut()
	waitFor(t, "hibernation", func() bool { return ts.SessionsForTest().Stats().Hibernated == 1 })
	bob.SendRaw("<iq type='get' id='v1' to='alice@localhost/phone'><query xmlns='jabber:iq:version'/></iq>")
	if _, err := bob.IQ("q", "<iq type='get' id='q'><ping xmlns='urn:xmpp:ping'/></iq>"); err != nil {
		t.Fatal(err) // the request before it was routed
	}
	clk.Advance(10 * time.Minute)
	el := expectStanza(t, bob, "iq", func(e *xml.Element) bool { return e.AttrValue("id") == "v1" })
	if el.AttrValue("type") != "error" || xmpptest.ErrorCondition(el) != "service-unavailable" {
		t.Fatalf("got %s", el)
	}
}

// TestSMEventsAndResumePolicy: every Events subscriber sees the calls in
// order; stanzas for a CSI-inactive live session are reported (held or
// sent); the ResumePolicy's time is applied and announced in <enabled max>.
func TestSMEventsAndResumePolicy(t *testing.T) {
	clk := xmpptest.NewFakeClock(time.Unix(1e9, 0))
	ev1, ev2 := &events{}, &events{}
	var asked []string
	var mu sync.Mutex
	ts := startSM(t, nil, clk, func(s *session.Server) {
		s.Events = []session.Events{ev1, ev2}
		s.ResumePolicy = func(_ context.Context, full jid.JID, requested, configured time.Duration) time.Duration {
			mu.Lock()
			asked = append(asked, fmt.Sprintf("%s %s %s", full, requested, configured))
			mu.Unlock()
			if full.Resourcepart() == "phone" {
				return 72 * time.Hour
			}
			return 0
		}
	})
	ts.users("alice", "bob")
	alice := ts.dialSM("alice", "phone")
	if alice.SM.Max != 72*3600 {
		t.Errorf("<enabled max> = %d, want the policy's %d", alice.SM.Max, 72*3600)
	}
	other := ts.dialSM("alice", "tablet")
	if other.SM.Max != 600 {
		t.Errorf("<enabled max> without a policy answer = %d, want the configured 600", other.SM.Max)
	}
	mu.Lock()
	if want := []string{"alice@localhost/phone 0s 10m0s", "alice@localhost/tablet 0s 10m0s"}; !slices.Equal(asked, want) {
		t.Errorf("policy asked %q, want %q", asked, want)
	}
	mu.Unlock()

	alice.SendStanza("<presence/>")
	alice.SendRaw("<inactive xmlns='urn:xmpp:csi:0'/>")
	bob := ts.dial("bob", "pc")
	waitFor(t, "alice available", func() bool { return available(ts, "alice@localhost/phone") })
	bob.SendRaw("<message to='alice@localhost/phone' type='chat' id='state'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
	bob.SendRaw(chat("alice@localhost/phone", "m1", "hello"))
	want := []string{"inactive alice@localhost/phone state", "inactive alice@localhost/phone m1"}
	waitFor(t, "inactive events", func() bool { return len(ev2.get()) == 2 })
	for i, ev := range []*events{ev1, ev2} {
		if got := ev.get(); !slices.Equal(got, want) {
			t.Errorf("subscriber %d: %q, want %q", i, got, want)
		}
	}
}
