package server_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/xml"
)

func TestDiscoAndCaps(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice")
	a := ts.dial("alice", "phone")
	caps := a.Features.Child("http://jabber.org/protocol/caps", "c")
	if caps == nil || caps.AttrValue("ver") == "" {
		t.Fatalf("no caps in stream features: %s", a.Features)
	}
	r, err := a.IQ("d1", "<iq type='get' id='d1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"urn:xmpp:ping", "jabber:iq:version", "vcard-temp", "urn:xmpp:blocking", "msgoffline", "http://jabber.org/protocol/disco#info"} {
		if !xmpptest.Contains(r, "var='"+f+"'") {
			t.Errorf("feature %s not advertised: %s", f, r)
		}
	}
	// Not built, so not advertised.
	for _, f := range []string{"urn:xmpp:sm:3", "urn:xmpp:push:0", "urn:xmpp:csi:0"} {
		if xmpptest.Contains(r, "var='"+f+"'") {
			t.Errorf("feature %s advertised but not implemented", f)
		}
	}
	// The caps node answers the same.
	r2, _ := a.IQ("d2", "<iq type='get' id='d2' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='"+caps.AttrValue("node")+"#"+caps.AttrValue("ver")+"'/></iq>")
	if r2.AttrValue("type") != "result" {
		t.Errorf("caps node query: %s", r2)
	}
	v, _ := a.IQ("v1", "<iq type='get' id='v1' to='localhost'><query xmlns='jabber:iq:version'/></iq>")
	if v.Child("jabber:iq:version", "query").ChildText("jabber:iq:version", "name") != "Dormouse" {
		t.Errorf("version: %s", v)
	}
}

func TestVCard(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice", "bob")
	a := ts.dial("alice", "phone")
	r, _ := a.IQ("s", "<iq type='set' id='s'><vCard xmlns='vcard-temp'><NICKNAME>Ally</NICKNAME></vCard></iq>")
	if r.AttrValue("type") != "result" {
		t.Fatalf("set: %s", r)
	}
	b := ts.dial("bob", "phone")
	r, _ = b.IQ("g", "<iq type='get' id='g' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>")
	if r.Child("vcard-temp", "vCard").ChildText("vcard-temp", "NICKNAME") != "Ally" {
		t.Errorf("bob reads alice's vCard: %s", r)
	}
	r, _ = b.IQ("x", "<iq type='set' id='x' to='alice@localhost'><vCard xmlns='vcard-temp'><NICKNAME>evil</NICKNAME></vCard></iq>")
	if r.AttrValue("type") != "error" {
		t.Errorf("bob wrote alice's vCard: %s", r)
	}
	// The same as for an account without a vCard (privacy_test.go).
	r, _ = b.IQ("n", "<iq type='get' id='n' to='ghost@localhost'><vCard xmlns='vcard-temp'/></iq>")
	if xmpptest.ErrorCondition(r) != "item-not-found" {
		t.Errorf("vCard of a non-existent account: %s", r)
	}
}

func TestBlocking(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice", "mallory")
	a := online(t, ts, "alice", "phone")
	m := online(t, ts, "mallory", "pc")
	r, _ := a.IQ("b0", "<iq type='get' id='b0'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
	if r.AttrValue("type") != "result" {
		t.Fatalf("blocklist: %s", r)
	}
	r, _ = a.IQ("b1", "<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='mallory@localhost'/></block></iq>")
	if r.AttrValue("type") != "result" {
		t.Fatalf("block: %s", r)
	}
	m.SendRaw("<message type='chat' id='spam' to='alice@localhost'><body>buy now</body></message>")
	e := expectStanza(t, m, "message", func(e *xml.Element) bool { return e.AttrValue("id") == "spam" })
	if e.AttrValue("type") != "error" || xmpptest.ErrorCondition(e) != "service-unavailable" {
		t.Errorf("blocked sender got %s", e)
	}
	a.SendRaw("<message type='chat' id='out' to='mallory@localhost'><body>hi</body></message>")
	e = expectStanza(t, a, "message", func(e *xml.Element) bool { return e.AttrValue("id") == "out" })
	if xmpptest.ErrorCondition(e) != "not-acceptable" || e.Child("jabber:client", "error").Child("urn:xmpp:blocking:errors", "blocked") == nil {
		t.Errorf("message to blocked contact: %s", e)
	}
	r, _ = a.IQ("b2", "<iq type='set' id='b2'><unblock xmlns='urn:xmpp:blocking'/></iq>")
	if r.AttrValue("type") != "result" {
		t.Fatalf("unblock: %s", r)
	}
	m.SendRaw("<message type='chat' id='ok' to='alice@localhost/phone'><body>sorry</body></message>")
	expectStanza(t, a, "message", func(e *xml.Element) bool { return e.AttrValue("id") == "ok" })
}

func TestInBandRegistration(t *testing.T) {
	ts := start(t, func(c *config.Config) { c.Register.Enabled = true })
	// The account does not exist yet.
	_, err := ts.dialErr(xmpptest.Options{User: "newbie", Password: "newbie-pass", NoBind: true})
	var ae *xmpptest.AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("login before registration: %v", err)
	}
	reg := registerOverTLS(t, ts, "newbie", "newbie-pass")
	if reg.AttrValue("type") != "result" {
		t.Fatalf("registration: %s", reg)
	}
	if _, err := ts.dialErr(xmpptest.Options{User: "newbie", Password: "newbie-pass", Resource: "r"}); err != nil {
		t.Fatalf("login after registration: %v", err)
	}
	dup := registerOverTLS(t, ts, "newbie", "other-pass")
	if xmpptest.ErrorCondition(dup) != "conflict" {
		t.Errorf("duplicate registration: %s", dup)
	}
}

// registerOverTLS negotiates TLS without authenticating and sends a
// XEP-0077 registration.
func registerOverTLS(t *testing.T, ts *testServer, user, pass string) *xml.Element {
	t.Helper()
	c, err := xmpptest.DialTLSOnly(context.Background(), xmpptest.Options{Addr: ts.addr("c2s"), Domain: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Conn.Close()
	if c.Features.Child("http://jabber.org/features/iq-register", "register") == nil {
		t.Fatalf("no register feature: %s", c.Features)
	}
	r, err := c.IQ("reg", "<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>"+user+"</username><password>"+pass+"</password></query></iq>")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.String(), pass) {
		t.Errorf("reply echoes the password: %s", r)
	}
	return r
}
