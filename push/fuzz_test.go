package push

import (
	"testing"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// FuzzEnableDisable feeds arbitrary payloads to the enable and disable
// parsers and the stanza rules: they never panic, and an accepted enable
// is well-formed.
func FuzzEnableDisable(f *testing.F) {
	for _, s := range []string{
		"<enable xmlns='urn:xmpp:push:0' jid='push.example.net' node='n'/>",
		"<enable xmlns='urn:xmpp:push:0' jid='push.example.net' node='n'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>s</value></field></x></enable>",
		"<enable xmlns='urn:xmpp:push:0' jid='push.example.net' node='n'><encrypt xmlns='tigase:push:encrypt:0' alg='aes-128-gcm' max-size='1000'>MDEyMzQ1Njc4OWFiY2RlZg==</encrypt></enable>",
		"<disable xmlns='urn:xmpp:push:0' jid='push.example.net'/>",
		"<disable xmlns='urn:xmpp:push:0' jid='juliet@example.com' node='x'/>",
		"<message type='groupchat'><body>juliet</body><reference xmlns='urn:xmpp:reference:0' type='mention' uri='xmpp:juliet@example.com'/></message>",
	} {
		f.Add(s)
	}
	user := mustJID(f, "juliet@example.com")
	f.Fuzz(func(t *testing.T, s string) {
		el, err := xml.Parse([]byte(s), stanza.NSClient)
		if err != nil {
			return
		}
		if r, serr := parseEnable(el, user); serr == nil {
			if r.node == "" || r.jid.Domainpart() == "" || r.jid.Bare().Equal(user) {
				t.Fatalf("accepted %s as %+v", s, r)
			}
			if r.options != nil {
				if _, err := xml.Parse(r.options, ""); err != nil {
					t.Fatalf("stored options do not parse back: %v", err)
				}
			}
			if r.key != nil && len(r.key) != 16 {
				t.Fatalf("key of %d bytes", len(r.key))
			}
		}
		_, _, _ = parseDisable(el, user)
		if st, err := stanza.New(el); err == nil {
			k, m := Wake(st, user)
			if k != None {
				newLatest(k, st, m)
			}
			stanzaKey(st, user)
		}
	})
}
