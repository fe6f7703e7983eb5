package websocket

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"dormouse.im/dormouse/stream"
	"dormouse.im/dormouse/xml"
)

func TestInbound(t *testing.T) {
	const hdr = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
	tests := []struct {
		in, out string
		cond    stream.Condition // "" = no error
	}{
		{"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.org' version='1.0'/>",
			hdr + " to='example.org' version='1.0'>", ""},
		{`<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="a&amp;b" xml:lang="de" version="1.0" foo="x"/>`,
			hdr + ` to="a&amp;b" xml:lang="de" version="1.0">`, ""},
		{"<?xml version='1.0'?>\n<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='e'/>", hdr + " to='e'>", ""},
		{" <close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/> ", "</stream:stream>", ""},
		{"<message xmlns='jabber:client' to='a@b'><body>x &lt; y &gt; z</body></message>",
			"<message xmlns='jabber:client' to='a@b'><body>x &lt; y &gt; z</body></message>", ""},
		{"<iq type='get' id='a&gt;'><!-- c --><q xmlns='x'><![CDATA[<not/>]]></q></iq>",
			"<iq type='get' id='a&gt;'><!-- c --><q xmlns='x'><![CDATA[<not/>]]></q></iq>", ""},
		{"<r xmlns='urn:xmpp:sm:3'/>", "<r xmlns='urn:xmpp:sm:3'/>", ""},
		{"<a t='>'/>", "<a t='>'/>", ""},
		// RFC 7395 §3.3.2: <open/> and <close/> are qualified by the
		// framing namespace, whatever the prefix (XML namespaces).
		{"<fr:open xmlns:fr='urn:ietf:params:xml:ns:xmpp-framing' to='e' version='1.0'/>", hdr + " to='e' version='1.0'>", ""},
		{"<fr:close xmlns:fr='urn:ietf:params:xml:ns:xmpp-framing'/>", "</stream:stream>", ""},
		{"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='e'> </open>", hdr + " to='e'>", ""},
		{"<fr:open xmlns:fr='urn:ietf:params:xml:ns:xmpp-framing' to='e'></fr:open>", hdr + " to='e'>", ""},
		{"<fr:open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='e'/>", "", stream.InvalidNamespace},
		{"<fr:open xmlns:fr='jabber:client' to='e'/>", "", stream.InvalidNamespace},
		// The stream header carries attributes only (RFC 7395 §3.3.1,
		// RFC 6120 §4.7): content is refused, not dropped.
		{"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='e'><message/></open>", "", stream.BadFormat},
		{"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='e'>text</open>", "", stream.BadFormat},
		{"<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'><x/></close>", "", stream.BadFormat},
		{"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='e'></close>", "", stream.NotWellFormed},
		{"<open to='e'/>", "", stream.InvalidNamespace},
		{"<close xmlns='jabber:client'/>", "", stream.InvalidNamespace},
		{"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client' to='e'>", "", stream.InvalidNamespace},
		{"<iq/><iq/>", "", stream.NotWellFormed},
		{"<iq>", "", stream.NotWellFormed},
		{"<iq></iq></iq>", "", stream.NotWellFormed},
		{"</iq>", "", stream.NotWellFormed},
		{"text", "", stream.NotWellFormed},
		{"", "", stream.NotWellFormed},
		{"<!DOCTYPE x><x/>", "", stream.NotWellFormed},
		{"<a b='c/>", "", stream.NotWellFormed},
		{"<iq><x", "", stream.NotWellFormed},
	}
	for _, tt := range tests {
		got, err := Inbound(nil, []byte(tt.in))
		var se *stream.Error
		switch {
		case tt.cond == "" && err != nil:
			t.Errorf("%q: %v", tt.in, err)
		case tt.cond != "" && (!errors.As(err, &se) || se.Condition != tt.cond):
			t.Errorf("%q: error %v, want %s", tt.in, err, tt.cond)
		case tt.cond == "" && string(got) != tt.out:
			t.Errorf("%q:\n got %s\nwant %s", tt.in, got, tt.out)
		}
	}
}

func TestOutbound(t *testing.T) {
	var o outbound
	var msgs []string
	send := func(m []byte) error { msgs = append(msgs, string(m)); return nil }
	in := []string{
		"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='example.org' id='abc' xml:lang='en' version='1.0'>",
		"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>",
		"<message to='a@b' from='c@d'><body>1</body></message><presence/><iq xmlns='jabber:client' type='result' id='x'/>",
		"<message to='a@b'><bo", "dy>split</body></message>",
		"<r xmlns='urn:xmpp:sm:3'/><stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>",
	}
	for _, b := range in {
		if err := o.write([]byte(b), send); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='example.org' id='abc' xml:lang='en' version='1.0'/>",
		"<stream:features xmlns:stream='http://etherx.jabber.org/streams'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>",
		"<message xmlns='jabber:client' to='a@b' from='c@d'><body>1</body></message>",
		"<presence xmlns='jabber:client'/>",
		"<iq xmlns='jabber:client' type='result' id='x'/>",
		"<message xmlns='jabber:client' to='a@b'><body>split</body></message>",
		"<r xmlns='urn:xmpp:sm:3'/>",
		"<stream:error xmlns:stream='http://etherx.jabber.org/streams'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
		"<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>",
	}
	if strings.Join(msgs, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(msgs, "\n"), strings.Join(want, "\n"))
	}
	if len(o.pending) != 0 {
		t.Errorf("pending %q", o.pending)
	}
}

// TestRoundTrip: what the server writes, translated to messages and back
// by a client (Inbound), parses as the same stream.
func TestRoundTrip(t *testing.T) {
	var o outbound
	var stream []byte
	err := o.write([]byte("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='e' id='i' version='1.0'><stream:features/><message to='a@e'><body>hi</body></message>"),
		func(m []byte) error {
			var err error
			stream, err = Inbound(stream, m)
			return err
		})
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(stream), xml.Limits{})
	h, err := d.Header()
	if err != nil || h.AttrValue("id") != "i" {
		t.Fatalf("header %v %v", h, err)
	}
	for _, name := range []string{"features", "message"} {
		el, err := d.Next()
		if err != nil || el.Name.Local != name {
			t.Fatalf("%s: %v %v", name, el, err)
		}
	}
}

// FuzzInbound: no message makes the framing panic, and what it passes on
// is a single element the session's decoder reads whole, or a stream
// header.
func FuzzInbound(f *testing.F) {
	for _, s := range []string{
		"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='e' version='1.0'/>",
		"<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>",
		"<message xmlns='jabber:client'><body>a</body></message>",
		"<iq><![CDATA[x]]><!--c--></iq>", "<?xml version='1.0'?><a/>", "<a b='>'/>", "<a/><b/>",
		"<fr:open xmlns:fr='urn:ietf:params:xml:ns:xmpp-framing' to='e'></fr:open>",
		"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'><x/></open>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		out, err := Inbound(nil, msg)
		if err != nil {
			return
		}
		if bytes.HasPrefix(out, []byte("<stream:stream ")) || string(out) == "</stream:stream>" {
			return
		}
		// A passed-through element is exactly one element to the scanner.
		n, err := scanElement(out)
		if err != nil || n != len(out) {
			t.Fatalf("%q passed as %q: %d %v", msg, out, n, err)
		}
	})
}

// FuzzOutbound: arbitrary bytes written by a (buggy) session never panic
// the splitter.
func FuzzOutbound(f *testing.F) {
	f.Add([]byte("<stream:stream from='e'><stream:features/><message><body>x</body></message></stream:stream>"), 7)
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		var o outbound
		if cut < 0 || cut > len(b) {
			cut = len(b) / 2
		}
		send := func(m []byte) error { return nil }
		if err := o.write(b[:cut], send); err != nil {
			return
		}
		_ = o.write(b[cut:], send)
	})
}

func BenchmarkOutbound(b *testing.B) {
	var o outbound
	msg := []byte("<message to='alice@example.org/phone' from='bob@example.org/pc' type='chat' id='abcdef'><body>Hello, how are you today?</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>")
	send := func([]byte) error { return nil }
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		_ = o.write(msg, send)
	}
}

func BenchmarkInbound(b *testing.B) {
	msg := []byte("<message xmlns='jabber:client' to='alice@example.org' type='chat' id='abcdef'><body>Hello, how are you today?</body></message>")
	var buf []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		buf, _ = Inbound(buf[:0], msg)
	}
}

// FuzzInboundDecoder: what Inbound passes on is, to the session's own XML
// decoder, exactly one element or an error: never the start of an element
// the next message would continue (the framing and the decoder must agree
// where a message ends, or messages could be spliced together).
func FuzzInboundDecoder(f *testing.F) {
	for _, s := range []string{
		"<message xmlns='jabber:client'><body>a</body></message>",
		"<iq><![CDATA[x]]><!--c--></iq>", "<a b='>'/>", "<a><?pi x?></a>", "<a>&amp;</a>",
	} {
		f.Add([]byte(s))
	}
	header := []byte("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")
	f.Fuzz(func(t *testing.T, msg []byte) {
		out, err := Inbound(nil, msg)
		if err != nil || bytes.HasPrefix(out, []byte("<stream:stream ")) || string(out) == "</stream:stream>" {
			return
		}
		d := xml.NewDecoder(bytes.NewReader(append(slices.Clone(header), out...)), xml.Limits{})
		if _, err := d.Header(); err != nil {
			t.Fatal(err)
		}
		el, err := d.Next()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%q passed as %q: the decoder waits for more: %v", msg, out, err)
			}
			return
		}
		if el == nil || d.Buffered() != 0 {
			t.Fatalf("%q passed as %q: decoder read %v and left %d bytes", msg, out, el, d.Buffered())
		}
	})
}
