package appserver_test

import (
	"testing"
	"time"

	"dormouse.im/dormouse/push/appserver"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// FuzzParseRequest feeds IQ payloads to the publish and command parsers:
// they must never panic, and a payload the parsers accept must still be
// accepted after a serialize/parse round trip.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		publishIQ("p", "example.org", "node", "secret", "body"),
		registerP2IQ(alice, "fcm", "tok", "dev", "muc", "room@conference.example.org"),
		`<iq type='set' id='v' to='p'><command xmlns='http://jabber.org/protocol/commands' node='v1-register-push'><x xmlns='jabber:x:data' type='submit'><field var='type'><value>apns</value></field><field var='node'><value>n</value></field><field var='token'><value>t</value></field></x></command></iq>`,
		`<iq type='set' id='f' to='p'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='tok'><item><notification xmlns='urn:xmpp:push:0'><encrypted xmlns='tigase:push:encrypt:0' iv='x' type='voip'>abc</encrypted></notification></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='pushModule'><value>m</value></field></x></publish-options></pubsub></iq>`,
		`<iq type='set' id='u' to='p'><command xmlns='http://jabber.org/protocol/commands' node='unregister-push-apns' action='cancel'/></iq>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		el, err := xml.Parse([]byte(s), stanza.NSClient)
		if err != nil {
			return
		}
		st, err := stanza.New(el)
		if err != nil || st.Payload() == nil {
			return
		}
		ok := appserver.ParseRequest(st.Payload())
		if !ok {
			return
		}
		again, err := xml.Parse(st.Payload().AppendXML(nil, stanza.NSClient), stanza.NSClient)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !appserver.ParseRequest(again) {
			t.Fatalf("accepted %s but not its round trip", s)
		}
	})
}

// FuzzHandleStanza feeds whole stanzas to a running app server (SQLite,
// loopback providers): whatever arrives, it must not panic, and every IQ
// get or set it accepts is answered exactly once.
func FuzzHandleStanza(f *testing.F) {
	e := newEnv(f)
	node, secret := e.registerP2(alice, "fcm", "fuzz-token", "fuzz-device")
	for _, s := range []string{
		publishIQ("p", "example.org", node, secret, "body"),
		publishIQ("p", "example.org", node, "bad", ""),
		registerP2IQ(alice, "apns", "tok", "dev"),
		`<iq type='get' id='d' from='a@example.org/r' to='push.example.org'><query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'/></iq>`,
		`<message from='a@example.org/r' to='push.example.org'><body>x</body></message>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		el, err := xml.Parse([]byte(s), stanza.NSClient)
		if err != nil {
			return
		}
		st, err := stanza.New(el)
		if err != nil {
			return
		}
		if err := e.svc.HandleStanza(t.Context(), st); err != nil {
			return // the router answers the error
		}
		if st.Kind != stanza.KindIQ || (st.Type != stanza.TypeGet && st.Type != stanza.TypeSet) {
			return
		}
		select {
		case got := <-e.out:
			if got.ID != st.ID || got.Kind != stanza.KindIQ {
				t.Fatalf("answer %s to %s", got, s)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no answer to %s", s)
		}
	})
}
