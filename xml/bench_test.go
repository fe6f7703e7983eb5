package xml_test

import (
	"io"
	"testing"

	"dormouse.im/dormouse/xml"
)

// chatMessage is a realistic client chat message (~470 bytes).
const chatMessage = `<message xmlns='jabber:client' from='romeo@montague.example/orchard' to='juliet@capulet.example' type='chat' id='a3f1c9e2-7b' xml:lang='en'>` +
	`<body>Wherefore art thou, Romeo? Deny thy father &amp; refuse thy name.</body>` +
	`<active xmlns='http://jabber.org/protocol/chatstates'/>` +
	`<request xmlns='urn:xmpp:receipts'/>` +
	`<origin-id xmlns='urn:xmpp:sid:0' id='de7e2c9a-0f1b-4d8e'/>` +
	`<stanza-id xmlns='urn:xmpp:sid:0' id='8d1e5f2c-2b7a-4e0d' by='juliet@capulet.example'/>` +
	`</message>`

const presence = `<presence xmlns='jabber:client' from='romeo@montague.example/orchard-4e5f'><show>away</show><status>In the orchard</status><priority>5</priority>` +
	`<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://conversations.im' ver='QqBIT8qmMaaPwQ+YfpkBIUFu/qk='/></presence>`

// cyclicReader returns head once and then body forever, in reads as large
// as the caller's buffer (so elements are split across reads at varying
// points, as on a busy connection).
type cyclicReader struct {
	head []byte
	body []byte
	off  int
}

func (r *cyclicReader) Read(p []byte) (int, error) {
	if len(r.head) > 0 {
		n := copy(p, r.head)
		r.head = r.head[n:]
		return n, nil
	}
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.body[r.off:])
		n += c
		r.off = (r.off + c) % len(r.body)
	}
	return n, nil
}

var _ io.Reader = (*cyclicReader)(nil)

func benchDecode(b *testing.B, stanza string) {
	r := &cyclicReader{head: []byte(hdr), body: []byte(stanza)}
	d := xml.NewDecoder(r, xml.Limits{})
	if _, err := d.Header(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(stanza)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeMessage(b *testing.B)  { benchDecode(b, chatMessage) }
func BenchmarkDecodePresence(b *testing.B) { benchDecode(b, presence) }

func BenchmarkParseMessage(b *testing.B) {
	data := []byte(chatMessage)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := xml.Parse(data, nsClient); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendXMLMessage(b *testing.B) {
	el, err := xml.Parse([]byte(chatMessage), nsClient)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1024)
	b.SetBytes(int64(len(el.AppendXML(nil, nsClient))))
	b.ReportAllocs()
	for b.Loop() {
		buf = el.AppendXML(buf[:0], nsClient)
	}
}
