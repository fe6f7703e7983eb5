package server_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/server"
	"dormouse.im/dormouse/xml"
)

func TestLogin(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice")
	for _, tc := range []struct {
		name      string
		mech      string
		directTLS bool
		password  string
		wantErr   string
	}{
		{name: "scram-sha-256", mech: "SCRAM-SHA-256", password: "secret-alice"},
		{name: "scram-sha-1", mech: "SCRAM-SHA-1", password: "secret-alice"},
		{name: "plain over tls", mech: "PLAIN", password: "secret-alice"},
		{name: "direct tls", mech: "SCRAM-SHA-256", directTLS: true, password: "secret-alice"},
		{name: "wrong password scram", mech: "SCRAM-SHA-256", password: "nope", wantErr: "not-authorized"},
		{name: "wrong password plain", mech: "PLAIN", password: "nope", wantErr: "not-authorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ts.dialErr(xmpptest.Options{User: "alice", Password: tc.password, Mechanism: tc.mech, DirectTLS: tc.directTLS, Resource: "r-" + strings.ReplaceAll(tc.name, " ", "-")})
			if tc.wantErr != "" {
				var ae *xmpptest.AuthError
				if !errors.As(err, &ae) || ae.Condition != tc.wantErr {
					t.Fatalf("err = %v, want SASL failure %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if !strings.HasPrefix(c.JID, "alice@localhost/") {
				t.Errorf("bound %q", c.JID)
			}
		})
	}
}

func TestUnknownUserLooksLikeWrongPassword(t *testing.T) {
	ts := start(t, nil)
	_, err := ts.dialErr(xmpptest.Options{User: "nobody", Password: "x"})
	var ae *xmpptest.AuthError
	if !errors.As(err, &ae) || ae.Condition != "not-authorized" {
		t.Fatalf("err = %v, want not-authorized", err)
	}
}

// TestStartTLSRequired checks the features before TLS and that
// authentication in the clear is refused.
// TestPlaintextAuthFeatures: with c2s.require_tls off, a client that
// authenticated without TLS gets resource binding after the restart, not
// STARTTLS (which RFC 6120 §5.3.1 allows only before SASL) and the SASL
// mechanisms again.
func TestPlaintextAuthFeatures(t *testing.T) {
	ts := start(t, func(c *config.Config) { c.C2S.RequireTLS = false })
	ts.users("alice")
	// Secure: the client goes on without STARTTLS, over plain TCP.
	c, err := ts.dialErr(xmpptest.Options{User: "alice", Password: "secret-alice", Mechanism: "SCRAM-SHA-256", Secure: true, Resource: "plain"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Features.Child("urn:ietf:params:xml:ns:xmpp-bind", "bind") == nil || c.Features.Child("urn:ietf:params:xml:ns:xmpp-tls", "starttls") != nil ||
		c.Features.Child("urn:ietf:params:xml:ns:xmpp-sasl", "mechanisms") != nil {
		t.Errorf("features after plaintext authentication: %s", c.Features)
	}
}

func TestStartTLSRequired(t *testing.T) {
	ts := start(t, nil)
	nc, dec := ts.rawConn()
	fmt.Fprint(nc, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")
	if _, err := dec.Header(); err != nil {
		t.Fatal(err)
	}
	f, err := dec.Next()
	if err != nil {
		t.Fatal(err)
	}
	if f.Child("urn:xmpp:sasl:2", "authentication") != nil {
		t.Errorf("SASL2 (XEP-0388) offered before TLS: %s", f)
	}
	st := f.Child("urn:ietf:params:xml:ns:xmpp-tls", "starttls")
	if st == nil || st.Child("urn:ietf:params:xml:ns:xmpp-tls", "required") == nil {
		t.Fatalf("features = %s, want required starttls", f)
	}
	if f.Child("urn:ietf:params:xml:ns:xmpp-sasl", "mechanisms") != nil {
		t.Fatalf("mechanisms offered before TLS: %s", f)
	}
	fmt.Fprint(nc, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHNlY3JldA==</auth>")
	el, err := dec.Next()
	if err != nil {
		t.Fatal(err)
	}
	if el.Name.Local != "failure" || el.Child("urn:ietf:params:xml:ns:xmpp-sasl", "encryption-required") == nil {
		t.Fatalf("got %s, want encryption-required failure", el)
	}
}

// TestStreamErrors sends bad input and checks the stream error; another
// session keeps working throughout.
func TestStreamErrors(t *testing.T) {
	ts := start(t, func(c *config.Config) { c.C2S.MaxStanzaSize = 10000 })
	ts.users("alice", "bob")
	bob := ts.dial("bob", "phone")
	header := "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
	for _, tc := range []struct {
		name string
		send string
		want string
	}{
		{"host-unknown", strings.Replace(header, "localhost", "elsewhere.example", 1), "host-unknown"},
		{"invalid-namespace", strings.Replace(header, "jabber:client", "jabber:server", 1), "invalid-namespace"},
		{"bad stream namespace", strings.Replace(header, "http://etherx.jabber.org/streams", "urn:nope", 1), "invalid-namespace"},
		{"not-well-formed", header + "<message><body></message>", "not-well-formed"},
		{"restricted xml", header + "<!-- hello -->", "restricted-xml"},
		{"xml bomb", "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>]>", "restricted-xml"},
		{"stanza before auth", header + "<message to='bob@localhost'><body>hi</body></message>", "not-authorized"},
		{"oversized", header + "<message><body>" + strings.Repeat("x", 20000) + "</body></message>", "policy-violation"},
		{"unsupported version", strings.Replace(header, "' version='1.0'>", "' version='0.9'>", 1), "unsupported-version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, dec := ts.rawConn()
			fmt.Fprint(nc, tc.send)
			var got string
			for {
				if _, err := dec.Header(); err == nil {
					break
				} else {
					t.Fatalf("reading header: %v", err)
				}
			}
			for got == "" {
				el, err := dec.Next()
				if err != nil {
					t.Fatalf("reading: %v", err)
				}
				got = xmpptest.StreamErrorCondition(el)
			}
			if got != tc.want {
				t.Errorf("stream error %q, want %q", got, tc.want)
			}
			// The other session is unaffected.
			if r, err := bob.IQ("p1", "<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"); err != nil || r.AttrValue("type") != "result" {
				t.Fatalf("bob's ping: %v %v", r, err)
			}
		})
	}
}

func TestOversizedStanzaAfterAuth(t *testing.T) {
	ts := start(t, func(c *config.Config) { c.C2S.MaxStanzaSize = 10000 })
	ts.users("alice")
	a := ts.dial("alice", "phone")
	a.SendRaw("<message to='alice@localhost'><body>" + strings.Repeat("x", 20000) + "</body></message>")
	el, _, err := a.Expect(func(e *xml.Element) bool { return xmpptest.StreamErrorCondition(e) != "" })
	if err != nil {
		t.Fatal(err)
	}
	if c := xmpptest.StreamErrorCondition(el); c != "policy-violation" {
		t.Fatalf("condition %q", c)
	}
}

func TestSpoofedFrom(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice", "bob")
	a := ts.dial("alice", "phone")
	a.SendRaw("<message from='bob@localhost/x' to='alice@localhost'><body>spoof</body></message>")
	el, _, err := a.Expect(func(e *xml.Element) bool { return xmpptest.StreamErrorCondition(e) != "" })
	if err != nil {
		t.Fatal(err)
	}
	if c := xmpptest.StreamErrorCondition(el); c != "invalid-from" {
		t.Fatalf("condition %q", c)
	}
}

func TestBindConflict(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice")
	first := ts.dial("alice", "phone")
	second := ts.dial("alice", "phone")
	el, _, err := first.Expect(func(e *xml.Element) bool { return xmpptest.StreamErrorCondition(e) != "" })
	if err != nil {
		t.Fatal(err)
	}
	if c := xmpptest.StreamErrorCondition(el); c != "conflict" {
		t.Fatalf("condition %q", c)
	}
	if second.JID != "alice@localhost/phone" {
		t.Fatalf("second bound %q", second.JID)
	}
}

func TestGeneratedResource(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice")
	a := ts.dial("alice", "")
	if !strings.HasPrefix(a.JID, "alice@localhost/") || len(a.JID) <= len("alice@localhost/") {
		t.Fatalf("bound %q", a.JID)
	}
}

func TestIQErrors(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice", "bob")
	a := ts.dial("alice", "phone")
	for _, tc := range []struct {
		name, iq, want string
	}{
		{"unknown namespace to server", "<iq type='get' id='q' to='localhost'><query xmlns='urn:example:nothing'/></iq>", "service-unavailable"},
		{"offline full jid", "<iq type='get' id='q' to='bob@localhost/nowhere'><ping xmlns='urn:xmpp:ping'/></iq>", "service-unavailable"},
		{"no payload", "<iq type='get' id='q' to='localhost'/>", "bad-request"},
		{"two payloads", "<iq type='get' id='q' to='localhost'><ping xmlns='urn:xmpp:ping'/><ping xmlns='urn:xmpp:ping'/></iq>", "bad-request"},
		{"remote domain", "<iq type='get' id='q' to='example.net'><ping xmlns='urn:xmpp:ping'/></iq>", "remote-server-not-found"},
		{"malformed to", "<iq type='get' id='q' to='a@b@c'><ping xmlns='urn:xmpp:ping'/></iq>", "jid-malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := a.IQ("q", tc.iq)
			if err != nil {
				t.Fatal(err)
			}
			if r.AttrValue("type") != "error" || xmpptest.ErrorCondition(r) != tc.want {
				t.Fatalf("got %s, want error %s", r, tc.want)
			}
		})
	}
}

func TestMessageToUnknownUser(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice")
	a := ts.dial("alice", "phone")
	a.SendRaw("<message type='chat' id='m1' to='ghost@localhost'><body>hello?</body></message>")
	el := expectStanza(t, a, "message", nil)
	if el.AttrValue("type") != "error" || xmpptest.ErrorCondition(el) != "service-unavailable" || el.AttrValue("id") != "m1" {
		t.Fatalf("got %s", el)
	}
}

func TestShutdownSendsSystemShutdown(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice")
	a := ts.dial("alice", "phone")
	go ts.stop()
	el, _, err := a.Expect(func(e *xml.Element) bool { return xmpptest.StreamErrorCondition(e) != "" })
	if err != nil {
		t.Fatal(err)
	}
	if c := xmpptest.StreamErrorCondition(el); c != "system-shutdown" {
		t.Fatalf("condition %q", c)
	}
	_ = time.Second
}

var _ = server.ListenerC2S
