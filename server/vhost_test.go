package server_test

import (
	"context"
	"testing"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/xml"
)

// TestVirtualHosts serves two domains from one process: an account of the
// second host logs in and chats with one of the first.
func TestVirtualHosts(t *testing.T) {
	ts := start(t, func(c *config.Config) { c.Hosts = []string{"example.test"} })
	ts.users("alice")
	creds, err := auth.NewCredentials("secret-carol", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Stores.Accounts.CreateAccount(context.Background(), "carol@example.test", creds); err != nil {
		t.Fatal(err)
	}
	alice := online(t, ts, "alice", "phone")
	carol, err := ts.dialErr(xmpptest.Options{Domain: "example.test", User: "carol", Password: "secret-carol", Resource: "pc"})
	if err != nil {
		t.Fatal(err)
	}
	defer carol.Close()
	if carol.JID != "carol@example.test/pc" {
		t.Fatalf("bound %q", carol.JID)
	}
	// alice@localhost cannot log in on example.test.
	if _, err := ts.dialErr(xmpptest.Options{Domain: "example.test", User: "alice", Password: "secret-alice"}); err == nil {
		t.Fatal("alice logged in on the other host")
	}
	carol.SendRaw("<message type='chat' id='x1' to='alice@localhost'><body>hello from example.test</body></message>")
	m := expectStanza(t, alice, "message", func(e *xml.Element) bool { return e.AttrValue("id") == "x1" })
	if m.AttrValue("from") != "carol@example.test/pc" {
		t.Fatalf("got %s", m)
	}
	r, _ := carol.IQ("d", "<iq type='get' id='d' to='example.test'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if r.AttrValue("type") != "result" || r.AttrValue("from") != "example.test" {
		t.Fatalf("disco on the second host: %s", r)
	}
}
