package xml_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"testing/iotest"

	"dormouse.im/dormouse/xml"
)

// fuzzLimits are small so that the fuzzer reaches the limits.
var fuzzLimits = xml.Limits{MaxStanzaSize: 2048, MaxDepth: 8}

var fuzzSeeds = []string{
	hdr + chatMessage + "</stream:stream>",
	hdr + presence + " \n " + chatMessage,
	hdr + "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq><iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>balcony</resource></bind></iq>",
	hdr + "<message><stream:error/></message><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>",
	hdr + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>biwsbj1qdWxpZXQscj1vTXNUQUF3QUFBQU1BQUFBTlAwVEFBQUFBQUJQVTBBQQ==</auth>",
	"<stream:stream xmlns='jabber:server' xmlns:db='jabber:server:dialback' xmlns:stream='http://etherx.jabber.org/streams' to='b.example' from='a.example' version='1.0'><db:result from='a.example' to='b.example'>b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3</db:result>",
	"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<stream:stream xmlns=\"jabber:component:accept\" xmlns:stream=\"http://etherx.jabber.org/streams\" to=\"muc.example.com\"><handshake>aaee83c26aeeafcbabeabfcbcd50df997e0a2a1e</handshake>",
	hdr + "<message xml:lang='de' a='x&#9;y&#10;z'><body>&lt;b&gt; &amp; &#x1F600; &#233;<![CDATA[<raw> & ]]]]><![CDATA[>]]></body><foo:x xmlns:foo='urn:foo' foo:y='1'/></message>",
	hdr + "<presence>\r\n  <show>chat</show>\r\n</presence>\n</stream:stream>",
	hdr + "<a><b><c><d><e><f><g><h><i/></h></g></f></e></d></c></b></a>",
	hdr + "<a xmlns=''><b xmlns='urn:b'><c xmlns=''/></b></a>",
	hdr + "<message><!-- comment --></message>",
	hdr + "<!DOCTYPE x [<!ENTITY a 'b'>]>",
	hdr + "<message>&xxe;</message>",
	hdr + "<message><?pi?></message>",
	"<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream/>",
	"<stream:stream xmlns:stream='urn:wrong'>",
	hdr + "<xml:x/><a xml:lang='en'><xml:y xml:space='preserve'/></a>",
}

// errKey identifies an error for comparison.
func errKey(err error) string {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return "syntax " + se.Condition + ": " + se.Msg
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

func sameResult(a, b result) bool {
	return reflect.DeepEqual(a.header, b.header) && reflect.DeepEqual(a.els, b.els) && errKey(a.err) == errKey(b.err)
}

// twoPieces returns data[:k] in one read and data[k:] in the next.
type twoPieces struct {
	data []byte
	k    int
	n    int
}

func (r *twoPieces) Read(p []byte) (int, error) {
	if r.n == len(r.data) {
		return 0, io.EOF
	}
	end := len(r.data)
	if r.n < r.k {
		end = r.k
	}
	c := copy(p, r.data[r.n:end])
	r.n += c
	return c, nil
}

// checkRoundTrip checks that el serializes to XML that parses back to el.
func checkRoundTrip(t *testing.T, el *xml.Element, ns string) {
	t.Helper()
	out := el.AppendXML(nil, ns)
	back, err := xml.Parse(out, ns)
	if err != nil {
		t.Fatalf("serialized element does not parse: %v\n%s\n%s", err, out, dump(el))
	}
	if !reflect.DeepEqual(el, back) {
		t.Fatalf("round trip changed the element:\n got %s\nwant %s\nxml  %s", dump(back), dump(el), out)
	}
}

func FuzzDecoder(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add([]byte(s), uint16(i*37))
	}
	f.Fuzz(func(t *testing.T, data []byte, k uint16) {
		one := decodeAll(bytes.NewReader(data), fuzzLimits)
		split := int(k) % (len(data) + 1)
		two := decodeAll(&twoPieces{data: data, k: split}, fuzzLimits)
		if !sameResult(one, two) {
			t.Fatalf("split at %d changes the result:\none %+v %q %v\ntwo %+v %q %v", split, one.header, one.els, one.err, two.header, two.els, two.err)
		}
		if len(data) < 1024 {
			bytewise := decodeAll(iotest.OneByteReader(bytes.NewReader(data)), fuzzLimits)
			if !sameResult(one, bytewise) {
				t.Fatalf("byte-wise reading changes the result:\none %q %v\nbyte %q %v", one.els, one.err, bytewise.els, bytewise.err)
			}
		}
		ns := ""
		if one.header != nil {
			ns = one.header.DefaultNS
			checkRoundTrip(t, &xml.Element{Name: one.header.Name, Attr: one.header.Attr}, ns)
		}
		for _, el := range one.trees {
			checkRoundTrip(t, el, ns)
			// Parse applies the same rules as the Decoder.
			checkRoundTrip(t, el, "urn:fuzz")
		}
	})
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		if i := bytes.IndexByte([]byte(s), '>'); i >= 0 {
			f.Add([]byte(s[i+1:]), true)
		}
	}
	f.Add([]byte(chatMessage), false)
	f.Add([]byte("<a xmlns:p='urn:p' p:b='&amp;'>x<![CDATA[y]]>z<p:c/></a>"), false)
	f.Fuzz(func(t *testing.T, data []byte, client bool) {
		ns := ""
		if client {
			ns = nsClient
		}
		orig := bytes.Clone(data)
		el, err := xml.Parse(data, ns)
		if !bytes.Equal(orig, data) {
			t.Fatal("Parse modified its input")
		}
		if err != nil {
			var se *xml.SyntaxError
			if !errors.As(err, &se) || el != nil {
				t.Fatalf("unexpected error %v or element %v", err, el)
			}
			return
		}
		checkRoundTrip(t, el, ns)
		checkRoundTrip(t, el, "urn:other")

		// A valid element is a valid stanza in a jabber:client stream (the
		// limits set high, and the header's stream prefix binding aside).
		if !client {
			return
		}
		stream := append([]byte(hdr), data...)
		res := decodeAll(bytes.NewReader(stream), xml.Limits{MaxStanzaSize: 1 << 30, MaxDepth: 1 << 30})
		if condition(res.err) == xml.CondPolicyViolation {
			return
		}
		if res.err != io.EOF || len(res.trees) != 1 {
			t.Fatalf("Parse accepts what the Decoder does not: %q %v", res.els, res.err)
		}
		if !reflect.DeepEqual(res.trees[0], el) {
			t.Fatalf("Decoder and Parse disagree:\n%s\n%s", dump(res.trees[0]), dump(el))
		}
	})
}

func FuzzEscape(f *testing.F) {
	f.Add("hello <world> & 'friends' \"of\" mine\t\r\n\x00\xff\uFFFE")
	f.Fuzz(func(t *testing.T, s string) {
		text := xml.AppendEscapedText(nil, s)
		attr := xml.AppendEscapedAttr(nil, s)
		el, err := xml.Parse([]byte("<a v='"+string(attr)+"' w=\""+string(attr)+"\">"+string(text)+"</a>"), "")
		if err != nil {
			t.Fatalf("escaped output does not parse: %v", err)
		}
		want := sanitize(s)
		if el.Text() != want || el.AttrValue("v") != want || el.AttrValue("w") != want {
			t.Fatalf("got text %q attr %q, want %q", el.Text(), el.AttrValue("v"), want)
		}
	})
}

// sanitize replaces what the escapers replace by U+FFFD: each byte of
// invalid UTF-8 (which range decodes as U+FFFD), C0 controls other than
// \t \n \r, U+FFFE and U+FFFF.
func sanitize(s string) string {
	var b []rune
	for _, r := range s {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF {
			r = 0xFFFD
		}
		b = append(b, r)
	}
	return string(b)
}
