package server_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

const (
	uaPhone  = "d4565fa7-4d72-4749-b3d3-740edbf87770"
	uaLaptop = "0b6e2b2c-8e0b-4d0b-9d55-2f1c6b4f7a10"
)

// dialSASL2 logs in with XEP-0388 and the inline requests of s.
func (ts *testServer) dialSASL2(user string, o xmpptest.Options, s xmpptest.SASL2Options) (*xmpptest.Client, error) {
	ts.t.Helper()
	o.User = user
	if o.Password == "" {
		o.Password = "secret-" + user
	}
	o.SASL2 = &s
	c, err := ts.dialErr(o)
	if c != nil {
		ts.t.Cleanup(func() { c.Conn.Close() })
	}
	return c, err
}

func mustSASL2(t *testing.T, ts *testServer, user string, o xmpptest.Options, s xmpptest.SASL2Options) *xmpptest.Client {
	t.Helper()
	c, err := ts.dialSASL2(user, o, s)
	if err != nil {
		t.Fatalf("SASL2 login of %s: %v", user, err)
	}
	return c
}

// TestSASL2Features: SASL2 is offered beside legacy SASL after TLS, with
// exactly the inline features that work (before TLS: TestStartTLSRequired).
func TestSASL2Features(t *testing.T) {
	ts := start(t, nil)
	for _, direct := range []bool{false, true} {
		c2, err := xmpptest.DialTLSOnly(context.Background(), xmpptest.Options{Addr: ts.addr(addrName(direct)), Domain: "localhost", DirectTLS: direct, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		f := c2.Features
		var legacy []string
		for _, m := range f.Child("urn:ietf:params:xml:ns:xmpp-sasl", "mechanisms").Elements() {
			legacy = append(legacy, m.Text())
		}
		if !slices.Equal(legacy, []string{"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"}) {
			t.Errorf("direct=%v: RFC 6120 SASL mechanisms %v (no -PLUS there)", direct, legacy)
		}
		a := f.Child(xmpptest.NSSASL2, "authentication")
		if a == nil {
			t.Fatalf("direct=%v: SASL2 not offered: %s", direct, f)
		}
		var mechs []string
		for _, m := range a.ChildrenNamed(xmpptest.NSSASL2, "mechanism") {
			mechs = append(mechs, m.Text())
		}
		if !slices.Equal(mechs, []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"}) {
			t.Errorf("SASL2 mechanisms %v", mechs)
		}
		var cbs []string
		for _, e := range f.Child("urn:xmpp:sasl-cb:0", "sasl-channel-binding").Elements() {
			cbs = append(cbs, e.AttrValue("type"))
		}
		if !slices.Equal(cbs, []string{"tls-exporter", "tls-server-end-point"}) {
			t.Errorf("XEP-0440 channel-binding types %v", cbs)
		}
		in := a.Child(xmpptest.NSSASL2, "inline")
		b := in.Child(xmpptest.NSBind2, "bind")
		var vars []string
		for _, fe := range b.Child(xmpptest.NSBind2, "inline").Elements() {
			vars = append(vars, fe.AttrValue("var"))
		}
		if !slices.Equal(vars, []string{"urn:xmpp:carbons:2", "urn:xmpp:csi:0", "urn:xmpp:sm:3"}) {
			t.Errorf("Bind 2 inline features %v", vars)
		}
		if in.Child(xmpptest.NSSM, "sm") == nil {
			t.Error("inline SM resumption not offered")
		}
		var fm []string
		for _, m := range in.Child(xmpptest.NSFAST, "fast").Elements() {
			fm = append(fm, m.Text())
		}
		if !slices.Equal(fm, []string{"HT-SHA-256-EXPR", "HT-SHA-256-ENDP", "HT-SHA-256-NONE"}) {
			t.Errorf("FAST mechanisms %v", fm)
		}
		c2.Close()
	}
}

func addrName(direct bool) string {
	if direct {
		return "c2s_tls"
	}
	return "c2s"
}

// TestSASL2Bind2Inline: one SASL2 exchange authenticates (SCRAM-SHA-256,
// SCRAM-SHA-1, PLAIN) and binds with SM, carbons and CSI set inline; no
// stream restart; the resource is the tag plus a suffix stable per
// user-agent id.
func TestSASL2Bind2Inline(t *testing.T) {
	ts := startSM(t, nil, nil, nil)
	ts.users("alice", "bob")
	for _, mech := range []string{"SCRAM-SHA-1", "PLAIN", "SCRAM-SHA-256"} {
		for _, direct := range []bool{false, true} {
			c := mustSASL2(t, ts, "alice", xmpptest.Options{Mechanism: mech, DirectTLS: direct}, xmpptest.SASL2Options{UserAgentID: uaLaptop})
			if c.JID != "alice@localhost" {
				t.Errorf("%s direct=%v: authorization-identifier %q, want the bare JID without Bind 2", mech, direct, c.JID)
			}
			if c.Success.ChildText(xmpptest.NSSASL2, "additional-data") == "" && mech != "PLAIN" {
				t.Errorf("%s: no SCRAM server-final in additional-data", mech)
			}
			// RFC 6120 bind still works on the same stream (no restart).
			if err := c.Bind("old"); err != nil {
				t.Fatalf("%s: legacy bind after SASL2: %v", mech, err)
			}
			c.Close()
		}
	}

	phone := mustSASL2(t, ts, "alice", xmpptest.Options{SM: true}, xmpptest.SASL2Options{
		UserAgentID: uaPhone, Software: "Test", Device: "Phone",
		Bind: true, Tag: "Test", Carbons: true, Inactive: true,
	})
	if !strings.HasPrefix(phone.JID, "alice@localhost/Test.") || len(phone.JID) != len("alice@localhost/Test.")+8 {
		t.Fatalf("bound JID %q, want alice@localhost/Test.<8 chars>", phone.JID)
	}
	if phone.SM == nil || phone.SM.ID == "" {
		t.Fatalf("no inline <enabled/>: %s", phone.Success)
	}
	phone.SendStanza("<presence/>")
	waitFor(t, "phone available", func() bool { return available(ts, phone.JID) })

	// Carbons: a message to another resource of alice is copied.
	pc := ts.dial("alice", "pc")
	bob := ts.dial("bob", "pc")
	bob.SendRaw(chat("alice@localhost/pc", "m1", "hello"))
	expectStanza(t, pc, "message", nil)
	el, _, err := phone.Expect(func(e *xml.Element) bool { return e.Name.Local == "message" })
	if err != nil {
		t.Fatal(err)
	}
	if el.Child("urn:xmpp:carbons:2", "received") == nil {
		t.Fatalf("first message to the phone: %s, want the carbon of m1", el)
	}
	// CSI inactive: bob's chat state waits, his message does not (and
	// brings the held chat state first).
	bob.SendRaw("<message to='" + phone.JID + "' type='chat' id='cs'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
	if el := phone.NoMore(200 * time.Millisecond); el != nil {
		t.Fatalf("inactive client got a chat state at once: %s", el)
	}
	bob.SendRaw(chat(phone.JID, "b1", "hi"))
	if got := readIDs(t, phone, 2); !slices.Equal(got, []string{"cs", "b1"}) {
		t.Errorf("after an urgent message: %v, want the held chat state then b1", got)
	}

	// The same device gets the same resource and replaces its session.
	again := mustSASL2(t, ts, "alice", xmpptest.Options{}, xmpptest.SASL2Options{UserAgentID: uaPhone, Bind: true, Tag: "Test"})
	if again.JID != phone.JID {
		t.Errorf("same user agent bound %q, then %q", phone.JID, again.JID)
	}
	other := mustSASL2(t, ts, "alice", xmpptest.Options{}, xmpptest.SASL2Options{UserAgentID: uaLaptop, Bind: true, Tag: "Test"})
	if other.JID == phone.JID {
		t.Error("two user agents share a resource")
	}
	noUA := mustSASL2(t, ts, "alice", xmpptest.Options{}, xmpptest.SASL2Options{Bind: true})
	if !strings.HasPrefix(noUA.JID, "alice@localhost/client.") {
		t.Errorf("no tag: %q", noUA.JID)
	}
}

// TestSASL2FeaturesAfterSuccess: XEP-0388 <success/> is immediately
// followed by the features of the authenticated stream (no restart): RFC
// 6120 bind for a client that did not use Bind 2, no bind for one that did
// or that resumed inline.
func TestSASL2FeaturesAfterSuccess(t *testing.T) {
	ts := startSM(t, nil, nil, nil)
	ts.users("alice")
	c := mustSASL2(t, ts, "alice", xmpptest.Options{Mechanism: "PLAIN"}, xmpptest.SASL2Options{})
	if c.Features.Child("urn:ietf:params:xml:ns:xmpp-bind", "bind") == nil || c.Features.Child("urn:xmpp:sm:3", "sm") == nil ||
		c.Features.Child(xmpptest.NSSASL2, "authentication") != nil {
		t.Errorf("features after SASL2 without Bind 2: %s", c.Features)
	}
	if err := c.Bind("legacy"); err != nil {
		t.Fatal(err)
	}
	b := mustSASL2(t, ts, "alice", xmpptest.Options{SM: true}, xmpptest.SASL2Options{UserAgentID: uaPhone, Bind: true})
	if b.Features.Child("urn:ietf:params:xml:ns:xmpp-bind", "bind") != nil || b.Features.Child(xmpptest.NSSASL2, "authentication") != nil {
		t.Errorf("features after Bind 2: %s", b.Features)
	}
	b.Cut()
	waitFor(t, "hibernation", func() bool { return ts.SessionsForTest().Stats().Hibernated == 1 })
	r := mustSASL2(t, ts, "alice", xmpptest.Options{Resume: b.SM}, xmpptest.SASL2Options{UserAgentID: uaPhone})
	if r.Success.Child("urn:xmpp:sm:3", "resumed") == nil || r.Features.Child("urn:ietf:params:xml:ns:xmpp-bind", "bind") != nil {
		t.Errorf("after inline resumption: %s then %s", r.Success, r.Features)
	}
}

// TestSASL2Failures: failures carry the RFC 6120 condition in the SASL2
// <failure/>, the stream goes on, and MaxAuthTries still ends it.
func TestSASL2Failures(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice")
	expectFailure := func(c *xmpptest.Client, err error, cond string) {
		t.Helper()
		var af *xmpptest.AuthFailure
		if !errors.As(err, &af) || af.Condition != cond {
			t.Fatalf("got %v, want a SASL2 failure %s", err, cond)
		}
	}
	c, err := ts.dialSASL2("alice", xmpptest.Options{Password: "wrong"}, xmpptest.SASL2Options{UserAgentID: uaPhone})
	expectFailure(c, err, "not-authorized")
	// The stream goes on: malformed user agent id, unknown mechanism.
	if err := c.SendRaw("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>AGFsaWNlAHNlY3JldC1hbGljZQ==</initial-response><user-agent id='not-a-uuid'/></authenticate>"); err != nil {
		t.Fatal(err)
	}
	el, _ := c.Next()
	if el.Name.Space != xmpptest.NSSASL2 || el.Name.Local != "failure" || el.Child("urn:ietf:params:xml:ns:xmpp-sasl", "malformed-request") == nil || el.ChildText(xmpptest.NSSASL2, "text") == "" {
		t.Errorf("bad user-agent id: %s", el)
	}
	// Third failure: the stream ends (MaxAuthTries 3).
	c.SendRaw("<next xmlns='urn:xmpp:sasl:2' task='HOTP'/>")
	el, _ = c.Next()
	if el.Child("urn:ietf:params:xml:ns:xmpp-sasl", "malformed-request") == nil || !strings.Contains(el.ChildText(xmpptest.NSSASL2, "text"), "feature-not-implemented") {
		t.Errorf("<next/> for a task not offered: %s", el)
	}
	if el, _ := c.Next(); xmpptest.StreamErrorCondition(el) != "policy-violation" {
		t.Errorf("after 3 failures: %v, want a policy-violation stream error", el)
	}
	// Abort in the middle of SCRAM.
	c2, err := xmpptest.DialTLSOnly(context.Background(), xmpptest.Options{Addr: ts.addr("c2s"), Domain: "localhost", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SendRaw("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='X-NOPE'/>")
	if el, _ := c2.Next(); el.Child("urn:ietf:params:xml:ns:xmpp-sasl", "invalid-mechanism") == nil {
		t.Errorf("unknown mechanism: %s", el)
	}
	c2.SendRaw("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'><initial-response>" + b64("n,,n=alice,r=abcdefgh") + "</initial-response></authenticate>")
	if el, _ := c2.Next(); el.Name.Local != "challenge" || el.Name.Space != xmpptest.NSSASL2 {
		t.Fatalf("SCRAM first message: %s", el)
	}
	c2.SendRaw("<abort xmlns='urn:xmpp:sasl:2'/>")
	if el, _ := c2.Next(); el.Child("urn:ietf:params:xml:ns:xmpp-sasl", "aborted") == nil {
		t.Errorf("abort: %s", el)
	}
}

// TestSASL2InlineResume: a hibernated session resumes inside
// <authenticate/>; <success/> carries <resumed/> and the full JID, and
// the queued messages follow exactly once.
func TestSASL2InlineResume(t *testing.T) {
	for _, direct := range []bool{false, true} {
		t.Run(fmt.Sprintf("directTLS=%v", direct), func(t *testing.T) {
			ts := startSM(t, nil, nil, nil)
			ts.users("alice", "bob")
			a := mustSASL2(t, ts, "alice", xmpptest.Options{SM: true, DirectTLS: direct}, xmpptest.SASL2Options{UserAgentID: uaPhone, Bind: true, Tag: "T"})
			a.SendStanza("<presence/>")
			bob := ts.dial("bob", "pc")
			waitFor(t, "alice available", func() bool { return available(ts, a.JID) })
			bob.SendRaw(chat(a.JID, "b0", "x"))
			if got := readIDs(t, a, 1); got[0] != "b0" {
				t.Fatal(got)
			}
			a.Cut()
			waitFor(t, "hibernation", func() bool { return ts.SessionsForTest().Stats().Hibernated == 1 })
			for _, id := range seq("b", 1, 4) {
				bob.SendRaw(chat(a.JID, id, id))
			}
			r := mustSASL2(t, ts, "alice", xmpptest.Options{Resume: a.SM, DirectTLS: direct}, xmpptest.SASL2Options{UserAgentID: uaPhone, Bind: true, Tag: "T"})
			if r.Success.Child(xmpptest.NSSM, "resumed") == nil || r.Success.Child(xmpptest.NSBind2, "bound") != nil {
				t.Fatalf("success %s: want <resumed/> and no <bound/>", r.Success)
			}
			if r.JID != a.JID {
				t.Errorf("authorization-identifier %q, want %q", r.JID, a.JID)
			}
			if got := readIDs(t, r, 3); !slices.Equal(got, seq("b", 1, 4)) {
				t.Fatalf("after inline resumption: %v", got)
			}
			if el := r.NoMore(150 * time.Millisecond); el != nil && el.Name.Local == "message" {
				t.Errorf("delivered twice: %s", el)
			}
			if st := ts.SessionsForTest().Stats(); st.Resumptions != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestSASL2InlineResumeFallsBack: a failed inline resumption puts
// <failed h/> (the old session's h) in <success/> and Bind 2 binds a new
// session in the same round trip.
func TestSASL2InlineResumeFallsBack(t *testing.T) {
	ts := startSM(t, nil, nil, nil)
	ts.users("alice", "bob")
	a := mustSASL2(t, ts, "alice", xmpptest.Options{SM: true}, xmpptest.SASL2Options{UserAgentID: uaPhone, Bind: true})
	bob := ts.dial("bob", "pc")
	for _, id := range seq("a", 0, 2) {
		a.SendStanza(chat("bob@localhost/pc", id, id))
	}
	readIDs(t, bob, 2)
	a.SendRaw("</stream:stream>") // a clean close ends the session
	waitFor(t, "session end", func() bool { _, ok := ts.Router.Resource(jid.MustParse(a.JID)); return !ok })
	r := mustSASL2(t, ts, "alice", xmpptest.Options{Resume: a.SM, SM: true}, xmpptest.SASL2Options{UserAgentID: uaPhone, Bind: true})
	if r.ResumeFailure == nil || r.ResumeFailure.Condition != "item-not-found" || !r.ResumeFailure.HasH || r.ResumeFailure.H != 2 {
		t.Fatalf("resume failure %+v in %s, want item-not-found h=2", r.ResumeFailure, r.Success)
	}
	if r.Success.Child(xmpptest.NSBind2, "bound") == nil || r.SM == nil || r.SM == a.SM || r.SM.ID == "" {
		t.Fatalf("no Bind 2 fallback: %s", r.Success)
	}
	if !strings.HasPrefix(r.JID, "alice@localhost/client.") {
		t.Errorf("bound %q", r.JID)
	}
	// An unknown SM-ID without Bind 2: <failed/> without h, bare JID.
	u := mustSASL2(t, ts, "alice", xmpptest.Options{Resume: &xmpptest.SMState{ID: "nope"}}, xmpptest.SASL2Options{})
	if u.ResumeFailure == nil || u.ResumeFailure.HasH || u.JID != "alice@localhost" {
		t.Errorf("unknown SM-ID: %s", u.Success)
	}
}

// TestFAST: a token requested at a password login logs in without the
// password; counts protect against replay; rotation; invalidation; a
// password change and another user agent cannot use it.
func TestFAST(t *testing.T) {
	clk := xmpptest.NewFakeClock(time.Now())
	ts := startSM(t, nil, clk, nil)
	ts.users("alice")
	c := mustSASL2(t, ts, "alice", xmpptest.Options{}, xmpptest.SASL2Options{UserAgentID: uaPhone, RequestToken: "HT-SHA-256-NONE"})
	if c.Token == nil || c.Token.Token == "" {
		t.Fatalf("no token in %s", c.Success)
	}
	if d := c.Token.Expiry.Sub(clk.Now()); d < 14*24*time.Hour-time.Minute || d > 14*24*time.Hour+time.Minute {
		t.Errorf("expiry in %v, want 14 days", d)
	}
	tok := c.Token.Token
	fast := func(token string, count uint32, ua string, extra func(*xmpptest.SASL2Options)) (*xmpptest.Client, error) {
		s := xmpptest.SASL2Options{UserAgentID: ua, Token: token, Count: count, Bind: true}
		if extra != nil {
			extra(&s)
		}
		return ts.dialSASL2("alice", xmpptest.Options{Password: "unused"}, s)
	}
	notAuthorized := func(err error, what string) {
		t.Helper()
		var af *xmpptest.AuthFailure
		if !errors.As(err, &af) || af.Condition != "not-authorized" {
			t.Errorf("%s: %v, want not-authorized", what, err)
		}
	}
	f, err := fast(tok, 1, uaPhone, nil)
	if err != nil {
		t.Fatalf("FAST login: %v", err)
	}
	if f.Token != nil {
		t.Error("a fresh token was rotated at once")
	}
	if !strings.HasPrefix(f.JID, "alice@localhost/client.") {
		t.Errorf("FAST + Bind 2 bound %q", f.JID)
	}
	_, err = fast(tok, 1, uaPhone, nil)
	notAuthorized(err, "replayed count")
	_, err = fast(tok, 2, uaLaptop, nil)
	notAuthorized(err, "another user agent")
	_, err = fast(tok[:len(tok)-1]+"x", 3, uaPhone, nil)
	notAuthorized(err, "a wrong token")
	if _, err := fast(tok, 4, uaPhone, nil); err != nil {
		t.Fatalf("count 4: %v", err)
	}

	// Rotation: after a day a FAST login gets a new token; the old one
	// works until the new one is used.
	clk.Advance(25 * time.Hour)
	f, err = fast(tok, 5, uaPhone, nil)
	if err != nil || f.Token == nil || f.Token.Token == tok {
		t.Fatalf("rotation: %v, token %+v", err, f.Token)
	}
	next := f.Token.Token
	if _, err := fast(tok, 6, uaPhone, nil); err != nil {
		t.Fatalf("old token before the new one is used: %v", err)
	}
	// That login with the old token got a newer token again (rotation
	// still due), which replaces the unused one.
	f, err = fast(tok, 7, uaPhone, nil)
	if err != nil || f.Token == nil {
		t.Fatalf("second rotation: %v", err)
	}
	_, err = fast(next, 1, uaPhone, nil)
	notAuthorized(err, "an unused token replaced by a newer one")
	next = f.Token.Token
	if _, err := fast(next, 1, uaPhone, nil); err != nil {
		t.Fatalf("new token: %v", err)
	}
	_, err = fast(tok, 8, uaPhone, nil)
	notAuthorized(err, "old token after the new one was used")

	// Invalidation.
	if _, err := fast(next, 2, uaPhone, func(s *xmpptest.SASL2Options) { s.Invalidate = true }); err != nil {
		t.Fatal(err)
	}
	_, err = fast(next, 3, uaPhone, nil)
	notAuthorized(err, "invalidated token")

	// Invalidation with <request-token/>: the token used goes, a new one
	// comes (XEP-0484 forbids a new token only without the request).
	c = mustSASL2(t, ts, "alice", xmpptest.Options{}, xmpptest.SASL2Options{UserAgentID: uaPhone, RequestToken: "HT-SHA-256-NONE"})
	f, err = fast(c.Token.Token, 1, uaPhone, func(s *xmpptest.SASL2Options) {
		s.Invalidate, s.RequestToken = true, "HT-SHA-256-NONE"
	})
	if err != nil || f.Token == nil {
		t.Fatalf("invalidate with request-token: %v, token %v", err, f)
	}
	_, err = fast(c.Token.Token, 2, uaPhone, nil)
	notAuthorized(err, "invalidated token (a new one requested)")
	if _, err := fast(f.Token.Token, 1, uaPhone, nil); err != nil {
		t.Errorf("token requested with the invalidation: %v", err)
	}

	// Without a count (XEP-0484 needs one only with TLS 0-RTT).
	c = mustSASL2(t, ts, "alice", xmpptest.Options{}, xmpptest.SASL2Options{UserAgentID: uaPhone, RequestToken: "HT-SHA-256-NONE"})
	for range 2 {
		if _, err := fast(c.Token.Token, 0, uaPhone, func(s *xmpptest.SASL2Options) { s.NoCount = true }); err != nil {
			t.Fatalf("FAST login without a count: %v", err)
		}
	}
	// Expiry: credentials-expired (XEP-0484 §6.2), the client falls back
	// to its password.
	clk.Advance(15 * 24 * time.Hour)
	_, err = fast(c.Token.Token, 1, uaPhone, nil)
	var af *xmpptest.AuthFailure
	if !errors.As(err, &af) || af.Condition != "credentials-expired" {
		t.Errorf("expired token: %v, want credentials-expired", err)
	}

	// A password change removes the tokens.
	c = mustSASL2(t, ts, "alice", xmpptest.Options{}, xmpptest.SASL2Options{UserAgentID: uaPhone, RequestToken: "HT-SHA-256-NONE"})
	cr, err := auth.NewCredentials("secret-alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Stores.Accounts.SetCredentials(context.Background(), "alice@localhost", cr); err != nil {
		t.Fatal(err)
	}
	_, err = fast(c.Token.Token, 1, uaPhone, nil)
	notAuthorized(err, "token after a password change")
}

// TestFASTInlineResume: the mobile reconnect — FAST token, inline
// resumption, queued messages once, in one round trip after the stream
// header.
func TestFASTInlineResume(t *testing.T) {
	ts := startSM(t, nil, nil, nil)
	ts.users("alice", "bob")
	a := mustSASL2(t, ts, "alice", xmpptest.Options{SM: true, DirectTLS: true}, xmpptest.SASL2Options{UserAgentID: uaPhone, Bind: true, RequestToken: "HT-SHA-256-NONE"})
	bob := ts.dial("bob", "pc")
	a.SendStanza("<presence/>")
	waitFor(t, "alice available", func() bool { return available(ts, a.JID) })
	a.Cut()
	waitFor(t, "hibernation", func() bool { return ts.SessionsForTest().Stats().Hibernated == 1 })
	bob.SendRaw(chat(a.JID, "q1", "queued"))
	r := mustSASL2(t, ts, "alice", xmpptest.Options{Resume: a.SM, DirectTLS: true, Password: "unused"},
		xmpptest.SASL2Options{UserAgentID: uaPhone, Bind: true, Token: a.Token.Token, Count: 1})
	if r.Success.Child(xmpptest.NSSM, "resumed") == nil {
		t.Fatalf("no <resumed/>: %s", r.Success)
	}
	if got := readIDs(t, r, 1); got[0] != "q1" {
		t.Fatal(got)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestChannelBinding: SCRAM-SHA-256-PLUS and SCRAM-SHA-1-PLUS with
// tls-exporter and tls-server-end-point in SASL2, over STARTTLS and
// direct TLS; tampered binding data is refused; the "y" flag (a stripped
// -PLUS offer) is refused as a downgrade in SASL2, and accepted in RFC 6120
// SASL, which offers no -PLUS (slixmpp sends it); the XEP-0474 hash
// matches what the client saw, and an edited mechanism list is detected.
func TestChannelBinding(t *testing.T) {
	// Many failures on purpose: without the login throttle, which would
	// (rightly) slow the later attempts down.
	ts := start(t, func(c *config.Config) { c.Auth.MaxFailuresPerIP = 0 })
	ts.users("alice")
	failed := func(err error, cond string) bool {
		var ae *xmpptest.AuthError
		var af *xmpptest.AuthFailure
		return errors.As(err, &ae) && ae.Condition == cond || errors.As(err, &af) && af.Condition == cond
	}
	for _, mech := range []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"} {
		for _, cbt := range []string{"tls-exporter", "tls-server-end-point"} {
			for _, direct := range []bool{false, true} {
				name := fmt.Sprintf("%s/%s/direct=%v", mech, cbt, direct)
				so := &xmpptest.SCRAMOptions{CBType: cbt, CheckSSDP: true}
				o := xmpptest.Options{User: "alice", Password: "secret-alice", Mechanism: mech, DirectTLS: direct, SCRAM: so,
					SASL2: &xmpptest.SASL2Options{Bind: true}}
				c, err := ts.dialErr(o)
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				if !so.SSDPSeen || !strings.HasPrefix(c.JID, "alice@localhost/") {
					t.Errorf("%s: XEP-0474 hash checked %v, bound %q", name, so.SSDPSeen, c.JID)
				}
				c.Close()

				so.TamperCB = true
				c, err = ts.dialErr(o)
				if !failed(err, "not-authorized") {
					t.Errorf("%s: tampered binding: %v, want not-authorized", name, err)
				}
				if c != nil {
					c.Close()
				}
				// RFC 6120 SASL offers no -PLUS.
				o.SASL2, so.TamperCB = nil, false
				c, err = ts.dialErr(o)
				if !failed(err, "invalid-mechanism") {
					t.Errorf("%s over RFC 6120 SASL: %v, want invalid-mechanism", name, err)
				}
				if c != nil {
					c.Close()
				}
			}
		}
	}
	for _, sasl2 := range []bool{false, true} {
		so := &xmpptest.SCRAMOptions{GS2Flag: 'y', CheckSSDP: true}
		o := xmpptest.Options{User: "alice", Password: "secret-alice", Mechanism: "SCRAM-SHA-256", SCRAM: so, NoBind: true}
		if sasl2 {
			o.SASL2 = &xmpptest.SASL2Options{}
		}
		c, err := ts.dialErr(o)
		switch {
		case sasl2 && !failed(err, "not-authorized"):
			t.Errorf("SASL2, GS2 flag y: %v, want not-authorized (downgrade)", err)
		case !sasl2 && (err != nil || !so.SSDPSeen):
			t.Errorf("RFC 6120 SASL, GS2 flag y: %v (hash checked: %v), want success", err, so.SSDPSeen)
		}
		if c != nil {
			c.Close()
		}
	}
	// XEP-0474: a man in the middle leaves only SCRAM-SHA-1 and PLAIN.
	c, err := xmpptest.DialTLSOnly(context.Background(), xmpptest.Options{Addr: ts.addr("c2s_tls"), Domain: "localhost", DirectTLS: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := c.Features.Child("urn:ietf:params:xml:ns:xmpp-sasl", "mechanisms")
	if n := m.RemoveChildren("urn:ietf:params:xml:ns:xmpp-sasl", "mechanism"); n != 3 {
		t.Fatalf("%d mechanisms", n)
	}
	for _, name := range []string{"SCRAM-SHA-1", "PLAIN"} {
		m.AddChild(xml.NewElement("urn:ietf:params:xml:ns:xmpp-sasl", "mechanism").AddText(name))
	}
	err = c.AuthSCRAM(xmpptest.Options{User: "alice", Password: "secret-alice", Mechanism: "SCRAM-SHA-1", SCRAM: &xmpptest.SCRAMOptions{CheckSSDP: true}})
	if err == nil || !strings.Contains(err.Error(), "XEP-0474 hash mismatch") {
		t.Errorf("edited mechanism list: %v, want a XEP-0474 mismatch", err)
	}
}

// TestFASTChannelBinding: tokens for HT-SHA-256-EXPR and -ENDP log in
// bound to the TLS channel; a token works only with the mechanism it was
// issued for.
func TestFASTChannelBinding(t *testing.T) {
	ts := start(t, func(c *config.Config) { c.Auth.MaxFailuresPerIP = 0 })
	ts.users("alice")
	for _, mech := range []string{"HT-SHA-256-EXPR", "HT-SHA-256-ENDP"} {
		for _, direct := range []bool{false, true} {
			c := mustSASL2(t, ts, "alice", xmpptest.Options{DirectTLS: direct}, xmpptest.SASL2Options{UserAgentID: uaPhone, RequestToken: mech})
			if c.Token == nil {
				t.Fatalf("%s: no token", mech)
			}
			f, err := ts.dialSASL2("alice", xmpptest.Options{DirectTLS: direct, Password: "unused"},
				xmpptest.SASL2Options{UserAgentID: uaPhone, Token: c.Token.Token, TokenMech: mech, Count: 1, Bind: true})
			if err != nil {
				t.Fatalf("%s direct=%v: %v", mech, direct, err)
			}
			if f.Success.Child(xmpptest.NSBind2, "bound") == nil {
				t.Errorf("%s: not bound", mech)
			}
			_, err = ts.dialSASL2("alice", xmpptest.Options{DirectTLS: direct, Password: "unused"},
				xmpptest.SASL2Options{UserAgentID: uaPhone, Token: c.Token.Token, TokenMech: "HT-SHA-256-NONE", Count: 2})
			var af *xmpptest.AuthFailure
			if !errors.As(err, &af) || af.Condition != "not-authorized" {
				t.Errorf("%s token used with -NONE: %v", mech, err)
			}
		}
	}
}

// TestTLSSessionResumption: both listeners issue TLS session tickets
// (crypto/tls, keys generated at start and rotated daily), so a
// reconnecting client does an abbreviated handshake without a certificate
// signature; with FAST and inline resumption on top, a reconnect costs the
// server neither a signature nor a PBKDF2.
func TestTLSSessionResumption(t *testing.T) {
	ts := startSM(t, nil, nil, nil)
	ts.users("alice")
	for _, direct := range []bool{false, true} {
		cfg := &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", MinVersion: tls.VersionTLS12,
			ClientSessionCache: tls.NewLRUClientSessionCache(4)}
		a := mustSASL2(t, ts, "alice", xmpptest.Options{TLS: cfg, DirectTLS: direct, SM: true},
			xmpptest.SASL2Options{UserAgentID: uaPhone, Bind: true, RequestToken: "HT-SHA-256-NONE"})
		if a.Conn.(*tls.Conn).ConnectionState().DidResume {
			t.Fatal("the first connection resumed a TLS session")
		}
		// TLS 1.3 tickets come after the handshake: read past them.
		a.SendStanza("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
		expectStanza(t, a, "iq", nil)
		a.Cut()
		waitFor(t, "hibernation", func() bool { return ts.SessionsForTest().Stats().Hibernated == 1 })
		r := mustSASL2(t, ts, "alice", xmpptest.Options{TLS: cfg, DirectTLS: direct, Resume: a.SM, Password: "unused"},
			xmpptest.SASL2Options{UserAgentID: uaPhone, Bind: true, Token: a.Token.Token, Count: 1})
		if !r.Conn.(*tls.Conn).ConnectionState().DidResume {
			t.Errorf("direct=%v: the reconnect did a full TLS handshake", direct)
		}
		if r.Success.Child(xmpptest.NSSM, "resumed") == nil {
			t.Errorf("direct=%v: not resumed: %s", direct, r.Success)
		}
		r.Close()
		waitFor(t, "session end", func() bool { return ts.SessionsForTest().Stats().Hibernated == 0 })
	}
}
