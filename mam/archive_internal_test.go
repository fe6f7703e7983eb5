package mam

import (
	"testing"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// TestRecipientXML checks that the recipient's archived stanza, made from
// the sender's by serializing only the <stanza-id/> again, is the stanza
// serialized whole, including when the sender's was not serialized or
// does not end as expected.
func TestRecipientXML(t *testing.T) {
	const (
		from = "alice@localhost"
		to   = "bob@example.org"
	)
	for _, tc := range []struct {
		name      string
		msg       string
		senderXML func(full []byte) []byte // the sender's serialization, from the stanza serialized with by=from
	}{
		{"plain", `<message type='chat' to='bob@example.org' id='a1'><body>Hi</body></message>`, func(b []byte) []byte { return b }},
		{"escaped", `<message to='bob@example.org'><body>&lt;&amp;&apos;"&gt;</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`, func(b []byte) []byte { return b }},
		{"payloads", `<message to='bob@example.org'><encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'/></encrypted><store xmlns='urn:xmpp:hints'/><origin-id xmlns='urn:xmpp:sid:0' id='o'/></message>`, func(b []byte) []byte { return b }},
		{"sender not archived", `<message to='bob@example.org'><body>Hi</body></message>`, func([]byte) []byte { return nil }},
		{"unexpected ending", `<message to='bob@example.org'><body>Hi</body></message>`, func(b []byte) []byte { return append(b, ' ') }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			el, err := xml.Parse([]byte(tc.msg), stanza.NSClient)
			if err != nil {
				t.Fatal(err)
			}
			c, err := stanza.New(el)
			if err != nil {
				t.Fatal(err)
			}
			sid := xml.NewElement(NSSID, "stanza-id", "by", from, "id", FormatID(42))
			c.El.AddChild(sid)
			senderXML := tc.senderXML(c.AppendXML(nil, stanza.NSClient))
			sid.SetAttr("by", to)
			want := string(c.AppendXML(nil, stanza.NSClient))
			if got := string(recipientXML(c, sid, from, senderXML)); got != want {
				t.Errorf("recipientXML:\n got %s\nwant %s", got, want)
			}
			if by := sid.AttrValue("by"); by != to {
				t.Errorf("recipientXML left the stanza-id's 'by' at %q, want %q", by, to)
			}
		})
	}
}
