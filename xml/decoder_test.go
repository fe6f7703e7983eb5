package xml_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"dormouse.im/dormouse/xml"
)

const (
	nsClient = "jabber:client"
	hdr      = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0' xml:lang='en'>"
)

// dump renders an element tree unambiguously: {space}local[attrs](children),
// text quoted with %q.
func dump(e *xml.Element) string {
	var b strings.Builder
	var walk func(e *xml.Element)
	walk = func(e *xml.Element) {
		fmt.Fprintf(&b, "{%s}%s", e.Name.Space, e.Name.Local)
		if len(e.Attr) > 0 {
			b.WriteByte('[')
			for i, a := range e.Attr {
				if i > 0 {
					b.WriteByte(' ')
				}
				if a.Name.Space != "" {
					fmt.Fprintf(&b, "{%s}", a.Name.Space)
				}
				fmt.Fprintf(&b, "%s=%q", a.Name.Local, a.Value)
			}
			b.WriteByte(']')
		}
		if len(e.Children) > 0 {
			b.WriteByte('(')
			for i, n := range e.Children {
				if i > 0 {
					b.WriteByte(' ')
				}
				if n.El != nil {
					walk(n.El)
				} else {
					fmt.Fprintf(&b, "%q", n.Text)
				}
			}
			b.WriteByte(')')
		}
	}
	if e == nil {
		return "<nil>"
	}
	walk(e)
	return b.String()
}

// result is everything a Decoder produced for one stream.
type result struct {
	header *xml.StreamHeader
	els    []string // dumps
	trees  []*xml.Element
	err    error
}

func decodeAll(r io.Reader, lim xml.Limits) result {
	d := xml.NewDecoder(r, lim)
	var res result
	res.header, res.err = d.Header()
	if res.err != nil {
		return res
	}
	for {
		el, err := d.Next()
		if err != nil {
			res.err = err
			// Errors are sticky (syntax) or repeat (EOF).
			if _, err2 := d.Next(); err2 != err && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				panic(fmt.Sprintf("error not sticky: %v then %v", err, err2))
			}
			return res
		}
		res.els = append(res.els, dump(el))
		res.trees = append(res.trees, el)
	}
}

// condition returns the stream error condition of err, or err's text.
func condition(err error) string {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return se.Condition
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestHeader(t *testing.T) {
	const ns = " xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
	streamName := xml.Name{Space: xml.NSStream, Local: "stream"}
	lang := xml.Name{Space: xml.NSXML, Local: "lang"}
	tests := []struct {
		name   string
		in     string
		want   *xml.StreamHeader
		cond   string // expected error condition or error text
		header bool   // a header is returned along with the error
	}{
		{
			name: "full client header",
			in:   hdr,
			want: &xml.StreamHeader{Name: streamName, DefaultNS: nsClient, Attr: []xml.Attr{
				{Name: xml.Name{Local: "to"}, Value: "example.com"},
				{Name: xml.Name{Local: "version"}, Value: "1.0"},
				{Name: lang, Value: "en"},
			}},
		},
		{
			name: "no declaration",
			in:   "<stream:stream" + ns + ">",
			want: &xml.StreamHeader{Name: streamName, DefaultNS: nsClient},
		},
		{
			name: "declaration with double quotes encoding and standalone",
			in:   `<?xml version="1.0" encoding="UTF-8" standalone="yes" ?>` + "\n<stream:stream" + ns + ">",
			want: &xml.StreamHeader{Name: streamName, DefaultNS: nsClient},
		},
		{
			name: "lower-case encoding",
			in:   "<?xml version='1.0' encoding='utf-8'?><stream:stream" + ns + ">",
			want: &xml.StreamHeader{Name: streamName, DefaultNS: nsClient},
		},
		{
			name: "byte order mark",
			in:   "\xEF\xBB\xBF<?xml version='1.0'?><stream:stream" + ns + ">",
			want: &xml.StreamHeader{Name: streamName, DefaultNS: nsClient},
		},
		{
			name: "leading whitespace without declaration",
			in:   "\n  <stream:stream" + ns + ">",
			want: &xml.StreamHeader{Name: streamName, DefaultNS: nsClient},
		},
		{
			name: "server stream with dialback prefix",
			in:   "<stream:stream xmlns='jabber:server' xmlns:db='jabber:server:dialback' xmlns:stream='http://etherx.jabber.org/streams' from='a.example' to='b.example' version='1.0'>",
			want: &xml.StreamHeader{Name: streamName, DefaultNS: "jabber:server", Attr: []xml.Attr{
				{Name: xml.Name{Local: "from"}, Value: "a.example"},
				{Name: xml.Name{Local: "to"}, Value: "b.example"},
				{Name: xml.Name{Local: "version"}, Value: "1.0"},
			}},
		},
		{
			name: "component stream",
			in:   "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='muc.example.com'>",
			want: &xml.StreamHeader{Name: streamName, DefaultNS: "jabber:component:accept", Attr: []xml.Attr{
				{Name: xml.Name{Local: "to"}, Value: "muc.example.com"},
			}},
		},
		{
			name: "other prefix for the streams namespace",
			in:   "<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client'>",
			want: &xml.StreamHeader{Name: streamName, DefaultNS: nsClient},
		},
		{
			name: "no default namespace",
			in:   "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>",
			want: &xml.StreamHeader{Name: streamName},
		},
		{name: "unsupported encoding", in: "<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream" + ns + ">", cond: "unsupported-encoding"},
		{name: "UTF-16 encoding", in: "<?xml version='1.0' encoding='UTF-16'?><stream:stream" + ns + ">", cond: "unsupported-encoding"},
		{name: "XML 2.0", in: "<?xml version='2.0'?><stream:stream" + ns + ">", cond: "not-well-formed"},
		{name: "declaration without version", in: "<?xml encoding='UTF-8'?><stream:stream" + ns + ">", cond: "not-well-formed"},
		{name: "declaration fields out of order", in: "<?xml encoding='UTF-8' version='1.0'?><stream:stream" + ns + ">", cond: "not-well-formed"},
		{name: "unterminated declaration", in: "<?xml version='1.0'><stream:stream" + ns + ">", cond: "not-well-formed"},
		{
			name: "wrong stream namespace", in: "<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong'>", cond: "invalid-namespace", header: true,
		},
		{
			name: "wrong stream element name", in: "<stream:foo" + ns + ">", cond: "invalid-namespace", header: true,
		},
		{
			name: "unprefixed stream element in jabber:client", in: "<stream xmlns='jabber:client'>", cond: "invalid-namespace", header: true,
		},
		{name: "undeclared stream prefix", in: "<stream:stream xmlns='jabber:client'>", cond: "not-well-formed"},
		{name: "DOCTYPE before header", in: "<?xml version='1.0'?><!DOCTYPE stream [<!ENTITY a 'b'>]><stream:stream" + ns + ">", cond: "restricted-xml"},
		{name: "DOCTYPE first", in: "<!DOCTYPE stream><stream:stream" + ns + ">", cond: "restricted-xml"},
		{name: "comment before header", in: "<!-- hi --><stream:stream" + ns + ">", cond: "restricted-xml"},
		{name: "processing instruction first", in: "<?foo bar?><stream:stream" + ns + ">", cond: "restricted-xml"},
		{name: "processing instruction after declaration", in: "<?xml version='1.0'?><?foo?><stream:stream" + ns + ">", cond: "restricted-xml"},
		{name: "declaration after whitespace", in: " <?xml version='1.0'?><stream:stream" + ns + ">", cond: "restricted-xml"},
		{name: "text before header", in: "hello<stream:stream" + ns + ">", cond: "not-well-formed"},
		{name: "end tag first", in: "</stream:stream>", cond: "not-well-formed"},
		{name: "bad byte order mark", in: "\xEF\xBB<stream:stream" + ns + ">", cond: "not-well-formed"},
		{name: "oversized header", in: "<stream:stream" + ns + " to='" + strings.Repeat("a", 9000) + "'>", cond: "policy-violation"},
		{name: "empty input", in: "", cond: io.EOF.Error()},
		{name: "truncated header", in: "<stream:stream" + ns, cond: io.ErrUnexpectedEOF.Error()},
		{name: "truncated declaration", in: "<?xml vers", cond: io.ErrUnexpectedEOF.Error()},
		{name: "duplicate attribute in header", in: "<stream:stream" + ns + " to='a' to='b'>", cond: "not-well-formed"},
		{name: "invalid UTF-8 in header", in: "<stream:stream" + ns + " to='\xff'>", cond: "not-well-formed"},
		{name: "entity in header", in: "<stream:stream" + ns + " to='&xxe;'>", cond: "restricted-xml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, split := range []bool{false, true} {
				var r io.Reader = strings.NewReader(tc.in)
				if split {
					r = iotest.OneByteReader(r)
				}
				d := xml.NewDecoder(r, xml.Limits{})
				h, err := d.Header()
				if got := condition(err); got != tc.cond {
					t.Fatalf("split=%v: error %v, want condition %q", split, err, tc.cond)
				}
				if tc.cond != "" {
					if (h != nil) != tc.header {
						t.Errorf("split=%v: header %+v returned with error", split, h)
					}
					continue
				}
				if !reflect.DeepEqual(h, tc.want) {
					t.Errorf("split=%v: header\n got %+v\nwant %+v", split, h, tc.want)
				}
			}
		})
	}
}

func TestHeaderAccessors(t *testing.T) {
	d := xml.NewDecoder(strings.NewReader(hdr), xml.Limits{})
	h, err := d.Header()
	if err != nil {
		t.Fatal(err)
	}
	if h.AttrValue("to") != "example.com" || h.AttrValue("from") != "" || h.Lang() != "en" {
		t.Errorf("to=%q from=%q lang=%q", h.AttrValue("to"), h.AttrValue("from"), h.Lang())
	}
	if _, err := d.Header(); err == nil {
		t.Error("second Header call succeeded")
	}
}

func TestNextBeforeHeader(t *testing.T) {
	d := xml.NewDecoder(strings.NewReader(hdr+"<presence/>"), xml.Limits{})
	if _, err := d.Next(); err == nil {
		t.Fatal("Next before Header succeeded")
	}
}

func TestEmptyStream(t *testing.T) {
	res := decodeAll(strings.NewReader("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client'/>"), xml.Limits{})
	if res.err != xml.ErrStreamEnd || len(res.els) != 0 || res.header.DefaultNS != nsClient {
		t.Fatalf("got %+v", res)
	}
}

var stanzaTests = []struct {
	name string
	in   string // after hdr
	want []string
	cond string // final error: condition, or error text; "" means ErrStreamEnd
	lim  xml.Limits
}{
	{
		name: "chat message",
		in:   "<message to='juliet@example.com' from='romeo@example.net/orchard' type='chat' id='m1' xml:lang='en'><body>Wherefore art thou?</body><active xmlns='http://jabber.org/protocol/chatstates'/></message></stream:stream>",
		want: []string{`{jabber:client}message[to="juliet@example.com" from="romeo@example.net/orchard" type="chat" id="m1" {http://www.w3.org/XML/1998/namespace}lang="en"]({jabber:client}body("Wherefore art thou?") {http://jabber.org/protocol/chatstates}active)`},
	},
	{
		name: "several stanzas with whitespace keepalives",
		in:   "\n\n  <presence/> \t\r\n <iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>\n\n\n<presence type='unavailable'/>  </stream:stream>",
		want: []string{
			`{jabber:client}presence`,
			`{jabber:client}iq[type="get" id="1"]({jabber:iq:roster}query)`,
			`{jabber:client}presence[type="unavailable"]`,
		},
	},
	{
		name: "stream prefix from the header inside a stanza",
		in:   "<message><stream:error/></message><stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features></stream:stream>",
		want: []string{
			`{jabber:client}message({http://etherx.jabber.org/streams}error)`,
			`{http://etherx.jabber.org/streams}features({urn:ietf:params:xml:ns:xmpp-bind}bind)`,
		},
	},
	{
		name: "prefixes declared in the stanza",
		in:   "<foo:bar xmlns:foo='urn:foo' xmlns:baz='urn:baz' foo:a='1' baz:a='2' a='3'><foo:x/><y/><baz:z xmlns:baz='urn:other'/></foo:bar></stream:stream>",
		want: []string{`{urn:foo}bar[{urn:foo}a="1" {urn:baz}a="2" a="3"]({urn:foo}x {jabber:client}y {urn:other}z)`},
	},
	{
		name: "default namespace scoping and undeclaring",
		in:   "<iq><query xmlns='urn:q'><item/><item xmlns=''><sub/></item></query><after/></iq></stream:stream>",
		want: []string{`{jabber:client}iq({urn:q}query({urn:q}item {}item({}sub)) {jabber:client}after)`},
	},
	{
		name: "top-level element with its own default namespace",
		in:   "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA=</auth></stream:stream>",
		want: []string{`{urn:ietf:params:xml:ns:xmpp-sasl}auth[mechanism="PLAIN"]("AGp1bGlldAByMG0zMG15cjBtMzA=")`},
	},
	{
		name: "entities and character references",
		in:   "<message a='&lt;&#x27;&quot;'><body>&lt;b&gt; &amp; &apos;&quot; &#65;&#x42;&#x1F600;&#xe9;</body></message></stream:stream>",
		want: []string{`{jabber:client}message[a="<'\""]({jabber:client}body("<b> & '\" AB😀é"))`},
	},
	{
		name: "CDATA sections merge with text",
		in:   "<message><body>a<![CDATA[<b>&amp;]]]]><![CDATA[>]]>c</body><x><![CDATA[]]></x></message></stream:stream>",
		want: []string{`{jabber:client}message({jabber:client}body("a<b>&amp;]]>c") {jabber:client}x)`},
	},
	{
		name: "CDATA with line ends, brackets and non-ASCII",
		in:   "<a><![CDATA[x\r\ny\rz ] ]] ]]]é☃😀]]></a></stream:stream>",
		want: []string{`{jabber:client}a("x\ny\nz ] ]] ]]]é☃😀")`},
	},
	{
		name: "many attributes",
		in:   "<a" + manyAttrs(40, "") + "/></stream:stream>",
		want: []string{`{jabber:client}a[` + manyAttrsDump(40) + `]`},
	},
	{name: "duplicate among many attributes", in: "<a" + manyAttrs(40, " a17='x'") + "/>", cond: "not-well-formed"},
	{name: "invalid UTF-8 in CDATA", in: "<a><![CDATA[\xff]]></a>", cond: "not-well-formed"},
	{
		name: "attribute value normalization",
		in:   "<message a='x\ty\nz\r\nw\rv' b=\"&#9;&#10;&#13;\" c='\"' d=\"'\"/></stream:stream>",
		want: []string{`{jabber:client}message[a="x y z w v" b="\t\n\r" c="\"" d="'"]`},
	},
	{
		name: "line ends in text",
		in:   "<message><body>a\r\nb\rc\nd&#13;e</body></message></stream:stream>",
		want: []string{`{jabber:client}message({jabber:client}body("a\nb\nc\nd\re"))`},
	},
	{
		name: "whitespace text nodes are kept",
		in:   "<message>\n  <body>hi</body>\n</message></stream:stream>",
		want: []string{`{jabber:client}message("\n  " {jabber:client}body("hi") "\n")`},
	},
	{
		name: "non-ASCII names and text",
		in:   "<message><körper xmlns='urn:ü' ñ='é'>日本語 ☃ 𝄞</körper></message></stream:stream>",
		want: []string{`{jabber:client}message({urn:ü}körper[ñ="é"]("日本語 ☃ 𝄞"))`},
	},
	{
		name: "whitespace inside tags",
		in:   "<message\n to = 'a'\t\ttype=\"chat\" ><body  >x</body\n></message ></stream:stream>",
		want: []string{`{jabber:client}message[to="a" type="chat"]({jabber:client}body("x"))`},
	},
	{
		name: "greater-than in text and attributes",
		in:   "<message a='>'><body>a > b ]] ]></body></message></stream:stream>",
		want: []string{`{jabber:client}message[a=">"]({jabber:client}body("a > b ]] ]>"))`},
	},
	{
		name: "stream end tag with whitespace",
		in:   "<presence/></stream:stream \n>trailing garbage is never read",
		want: []string{`{jabber:client}presence`},
	},
	{
		name: "EOF between stanzas",
		in:   "<presence/>\n",
		want: []string{`{jabber:client}presence`},
		cond: io.EOF.Error(),
	},
	{name: "EOF inside a stanza", in: "<presence/><message><body>hi", want: []string{`{jabber:client}presence`}, cond: io.ErrUnexpectedEOF.Error()},
	{name: "EOF inside a start tag", in: "<message to='a", cond: io.ErrUnexpectedEOF.Error()},
	{name: "EOF after a top-level '<'", in: "<", cond: io.ErrUnexpectedEOF.Error()},
	{name: "EOF inside the stream end tag", in: "</stream:str", cond: io.ErrUnexpectedEOF.Error()},

	// not-well-formed
	{name: "mismatched end tag", in: "<message><body></message></body>", cond: "not-well-formed"},
	{name: "mismatched top-level end tag", in: "<message></presence>", cond: "not-well-formed"},
	{name: "end tag with extra name chars", in: "<a></ab>", cond: "not-well-formed"},
	{name: "prefix mismatch in end tag", in: "<stream:error></error>", cond: "not-well-formed"},
	{name: "wrong stream end tag", in: "<presence/></stream>", want: []string{`{jabber:client}presence`}, cond: "not-well-formed"},
	{name: "text between stanzas", in: "<presence/>hello<presence/>", want: []string{`{jabber:client}presence`}, cond: "not-well-formed"},
	{name: "CDATA between stanzas", in: "<![CDATA[ ]]>", cond: "not-well-formed"},
	{name: "malformed entity", in: "<a>&amp</a>", cond: "not-well-formed"},
	{name: "bare ampersand", in: "<a>fish & chips</a>", cond: "not-well-formed"},
	{name: "empty character reference", in: "<a>&#;</a>", cond: "not-well-formed"},
	{name: "character reference to NUL", in: "<a>&#0;</a>", cond: "not-well-formed"},
	{name: "character reference to a control", in: "<a>&#x1B;</a>", cond: "not-well-formed"},
	{name: "character reference to a surrogate", in: "<a>&#xD800;</a>", cond: "not-well-formed"},
	{name: "character reference to U+FFFE", in: "<a>&#xFFFE;</a>", cond: "not-well-formed"},
	{name: "character reference out of range", in: "<a>&#x110000;</a>", cond: "not-well-formed"},
	{name: "huge character reference", in: "<a>&#99999999999999999999;</a>", cond: "not-well-formed"},
	{name: "upper-case hex marker", in: "<a>&#X41;</a>", cond: "not-well-formed"},
	{name: "undeclared element prefix", in: "<foo:bar/>", cond: "not-well-formed"},
	{name: "undeclared attribute prefix", in: "<a foo:b='1'/>", cond: "not-well-formed"},
	{name: "xmlns prefix on element", in: "<xmlns:a/>", cond: "not-well-formed"},
	{name: "empty prefix declaration", in: "<a xmlns:p=''/>", cond: "not-well-formed"},
	{name: "declaring the xmlns prefix", in: "<a xmlns:xmlns='urn:x'/>", cond: "not-well-formed"},
	{name: "rebinding the xml prefix", in: "<a xmlns:xml='urn:x'/>", cond: "not-well-formed"},
	{name: "binding the XML namespace", in: "<a xmlns:x='http://www.w3.org/XML/1998/namespace'/>", cond: "not-well-formed"},
	{name: "invalid UTF-8 in text", in: "<a>\xc3\x28</a>", cond: "not-well-formed"},
	{name: "invalid UTF-8 in attribute", in: "<a b='\xff'/>", cond: "not-well-formed"},
	{name: "overlong UTF-8", in: "<a>\xc0\xbc</a>", cond: "not-well-formed"},
	{name: "UTF-8 surrogate", in: "<a>\xed\xa0\x80</a>", cond: "not-well-formed"},
	{name: "U+FFFF literal", in: "<a>\xef\xbf\xbf</a>", cond: "not-well-formed"},
	{name: "invalid UTF-8 in name", in: "<a\xff/>", cond: "not-well-formed"},
	{name: "NUL in text", in: "<a>\x00</a>", cond: "not-well-formed"},
	{name: "control character in text", in: "<a>\x01</a>", cond: "not-well-formed"},
	{name: "control character in attribute", in: "<a b='\x1f'/>", cond: "not-well-formed"},
	{name: "control character in CDATA", in: "<a><![CDATA[\x07]]></a>", cond: "not-well-formed"},
	{name: "duplicate attribute", in: "<a b='1' b='2'/>", cond: "not-well-formed"},
	{name: "duplicate expanded attribute name", in: "<a xmlns:p='urn:x' xmlns:q='urn:x' p:b='1' q:b='2'/>", cond: "not-well-formed"},
	{name: "duplicate default namespace declaration", in: "<a xmlns='urn:x' xmlns='urn:y'/>", cond: "not-well-formed"},
	{name: "duplicate prefix declaration", in: "<a xmlns:p='urn:x' xmlns:p='urn:y'/>", cond: "not-well-formed"},
	{name: "less-than in attribute value", in: "<a b='<'/>", cond: "not-well-formed"},
	{name: "unquoted attribute", in: "<a b=c/>", cond: "not-well-formed"},
	{name: "attribute without value", in: "<a b/>", cond: "not-well-formed"},
	{name: "missing whitespace between attributes", in: "<a b='1'c='2'/>", cond: "not-well-formed"},
	{name: "CDATA end in text", in: "<a>]]></a>", cond: "not-well-formed"},
	{name: "name starting with a digit", in: "<1a/>", cond: "not-well-formed"},
	{name: "name with two colons", in: "<a:b:c xmlns:a='urn:a'/>", cond: "not-well-formed"},
	{name: "empty tag", in: "<></>", cond: "not-well-formed"},
	{name: "space after less-than", in: "< a/>", cond: "not-well-formed"},

	// restricted-xml
	{name: "comment in stanza", in: "<message><!-- hi --><body/></message>", cond: "restricted-xml"},
	{name: "comment between stanzas", in: "<presence/><!-- hi -->", want: []string{`{jabber:client}presence`}, cond: "restricted-xml"},
	{name: "processing instruction in stanza", in: "<message><?php echo 1; ?></message>", cond: "restricted-xml"},
	{name: "processing instruction between stanzas", in: "<?xml version='1.0'?><presence/>", cond: "restricted-xml"},
	{name: "DOCTYPE between stanzas", in: "<!DOCTYPE lolz [<!ENTITY lol 'lol'>]>", cond: "restricted-xml"},
	{name: "markup declaration in stanza", in: "<a><!ENTITY x 'y'></a>", cond: "restricted-xml"},
	{name: "undeclared entity", in: "<a>&nbsp;</a>", cond: "restricted-xml"},
	{name: "undeclared entity in attribute", in: "<a b='&xxe;'/>", cond: "restricted-xml"},
	{
		name: "billion laughs",
		in: `<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">` +
			`<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><message><body>&lol3;</body></message>`,
		cond: "restricted-xml",
	},

	// policy-violation
	{
		name: "stanza at the size limit",
		in:   "<a>" + strings.Repeat("x", 93) + "</a></stream:stream>",
		want: []string{`{jabber:client}a("` + strings.Repeat("x", 93) + `")`},
		lim:  xml.Limits{MaxStanzaSize: 100},
	},
	{
		name: "stanza one byte over the size limit",
		in:   "<a>" + strings.Repeat("x", 94) + "</a></stream:stream>",
		cond: "policy-violation",
		lim:  xml.Limits{MaxStanzaSize: 100},
	},
	{
		name: "oversized stanza with the default limit",
		in:   "<message><body>" + strings.Repeat("x", 300<<10) + "</body></message>",
		cond: "policy-violation",
	},
	{
		name: "oversized start tag",
		in:   "<message to='" + strings.Repeat("x", 300<<10),
		cond: "policy-violation",
	},
	{
		name: "whitespace does not count toward the size",
		in:   strings.Repeat(" ", 1000) + "<presence/>" + strings.Repeat("\n", 1000) + "</stream:stream>",
		want: []string{`{jabber:client}presence`},
		lim:  xml.Limits{MaxStanzaSize: 20},
	},
	{
		name: "nesting at the depth limit",
		in:   "<a><b><c/></b></a></stream:stream>",
		want: []string{`{jabber:client}a({jabber:client}b({jabber:client}c))`},
		lim:  xml.Limits{MaxDepth: 3},
	},
	{
		name: "nesting over the depth limit",
		in:   "<a><b><c><d/></c></b></a>",
		cond: "policy-violation",
		lim:  xml.Limits{MaxDepth: 3},
	},
	{
		name: "deep nesting with the default limit",
		in:   strings.Repeat("<a>", 65) + strings.Repeat("</a>", 65),
		cond: "policy-violation",
	},
	{
		name: "too many namespace prefixes",
		in:   "<a" + manyPrefixes(100) + "/>",
		cond: "policy-violation",
	},
}

func manyAttrs(n int, extra string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, " a%d='%d'", i, i)
	}
	return b.String() + extra
}

func manyAttrsDump(n int) string {
	var b []string
	for i := range n {
		b = append(b, fmt.Sprintf("a%d=\"%d\"", i, i))
	}
	return strings.Join(b, " ")
}

func manyPrefixes(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, " xmlns:p%d='urn:%d'", i, i)
	}
	return b.String()
}

func checkResult(t *testing.T, what string, res result, want []string, cond string) {
	t.Helper()
	if cond == "" {
		if res.err != xml.ErrStreamEnd {
			t.Errorf("%s: error %v, want ErrStreamEnd", what, res.err)
		}
	} else if got := condition(res.err); got != cond {
		t.Errorf("%s: error %v, want %q", what, res.err, cond)
	}
	if !reflect.DeepEqual(res.els, want) {
		t.Errorf("%s: elements\n got %q\nwant %q", what, res.els, want)
	}
}

func TestNext(t *testing.T) {
	for _, tc := range stanzaTests {
		t.Run(tc.name, func(t *testing.T) {
			in := hdr + tc.in
			res := decodeAll(strings.NewReader(in), tc.lim)
			checkResult(t, "one piece", res, tc.want, tc.cond)
			if len(in) < 20000 {
				checkResult(t, "byte by byte", decodeAll(iotest.OneByteReader(strings.NewReader(in)), tc.lim), tc.want, tc.cond)
			}
			rng := rand.New(rand.NewPCG(1, uint64(len(in))))
			for range 5 {
				checkResult(t, "random chunks", decodeAll(&chunkReader{data: []byte(in), rng: rng}, tc.lim), tc.want, tc.cond)
			}
			// The trees are independent of each other and of the decoder.
			for i, el := range res.trees {
				if got := dump(el); got != res.els[i] {
					t.Errorf("element %d changed after decoding went on: %s", i, got)
				}
			}
		})
	}
}

// chunkReader returns data in random-sized pieces, sometimes with the error.
type chunkReader struct {
	data []byte
	rng  *rand.Rand
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := 1 + r.rng.IntN(min(len(r.data), 64))
	if r.rng.IntN(8) == 0 {
		n = len(r.data) // sometimes all of it
	}
	n = copy(p, r.data[:n])
	r.data = r.data[n:]
	if len(r.data) == 0 && r.rng.IntN(2) == 0 {
		return n, io.EOF
	}
	return n, nil
}

// TestNextReturnsWithoutMoreInput writes exactly one stanza into a pipe and
// expects Next to return it without waiting for anything else.
func TestNextReturnsWithoutMoreInput(t *testing.T) {
	for _, stanza := range []string{
		"<presence/>",
		"<message to='a@b'><body>hi</body></message>",
		"<message><body>x&amp;y</body></message>",
	} {
		pr, pw := io.Pipe()
		defer pw.Close()
		go func() {
			pw.Write([]byte(hdr))
			pw.Write([]byte(stanza))
		}()
		d := xml.NewDecoder(pr, xml.Limits{})
		done := make(chan error, 1)
		go func() {
			if _, err := d.Header(); err != nil {
				done <- err
				return
			}
			el, err := d.Next()
			if err == nil && el.String() != stanza {
				err = fmt.Errorf("got %s", el)
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Next did not return %s without more input", stanza)
		}
	}
}

// TestErrorsWithoutMoreInput checks that errors the framer can see are
// reported at once, while the peer is waiting for a reply.
func TestErrorsWithoutMoreInput(t *testing.T) {
	for _, tc := range []struct{ name, in, cond string }{
		{"mismatched end tag", "<message><body></message>", "not-well-formed"},
		{"mismatched prefixed end tag", "<message><stream:error></error>", "not-well-formed"},
		{"end tag with a longer name", "<message><b></body>", "not-well-formed"},
		{"end tag with a shorter name", "<message><body></b>", "not-well-formed"},
		{"comment in a stanza", "<message><!--", "restricted-xml"},
		{"processing instruction in a stanza", "<message><?", "restricted-xml"},
		{"DOCTYPE between stanzas", "<!D", "restricted-xml"},
		{"text between stanzas", "x", "not-well-formed"},
		{"too deep", strings.Repeat("<a>", 65), "policy-violation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			defer pw.Close()
			go func() {
				pw.Write([]byte(hdr))
				pw.Write([]byte(tc.in))
			}()
			d := xml.NewDecoder(pr, xml.Limits{})
			done := make(chan error, 1)
			go func() {
				if _, err := d.Header(); err != nil {
					done <- err
					return
				}
				_, err := d.Next()
				done <- err
			}()
			select {
			case err := <-done:
				if condition(err) != tc.cond {
					t.Fatalf("got %v, want %s", err, tc.cond)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("error not reported without more input")
			}
		})
	}
}

// TestSizeLimitWhileReading checks that an endless element is rejected after
// about MaxStanzaSize bytes instead of being buffered.
func TestSizeLimitWhileReading(t *testing.T) {
	for _, tc := range []struct {
		name   string
		prefix string
		fill   byte
	}{
		{"endless start tag", "<message to='", 'x'},
		{"endless text", "<message><body>", 'x'},
		{"endless end tag", "<message></message", 'x'},
		{"endless CDATA", "<message><![CDATA[", ']'},
		{"endless stream end tag", "</stream:stream", ' '},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &endless{prefix: []byte(hdr + tc.prefix), fill: tc.fill}
			d := xml.NewDecoder(r, xml.Limits{MaxStanzaSize: 10000})
			if _, err := d.Header(); err != nil {
				t.Fatal(err)
			}
			_, err := d.Next()
			if condition(err) != "policy-violation" {
				t.Fatalf("error %v", err)
			}
			if r.n > 10000+len(hdr)+64<<10 {
				t.Errorf("read %d bytes before failing", r.n)
			}
		})
	}
	t.Run("endless header", func(t *testing.T) {
		r := &endless{prefix: []byte("<stream:stream to='"), fill: 'x'}
		d := xml.NewDecoder(r, xml.Limits{})
		if _, err := d.Header(); condition(err) != "policy-violation" {
			t.Fatalf("error %v", err)
		}
		if r.n > xml.MaxHeaderSize+64<<10 {
			t.Errorf("read %d bytes before failing", r.n)
		}
	})
	t.Run("endless whitespace is fine", func(t *testing.T) {
		r := &endless{prefix: []byte(hdr), fill: ' ', limit: 50 << 20, suffix: []byte("<presence/>")}
		d := xml.NewDecoder(r, xml.Limits{MaxStanzaSize: 100})
		if _, err := d.Header(); err != nil {
			t.Fatal(err)
		}
		el, err := d.Next()
		if err != nil || el.Name.Local != "presence" {
			t.Fatalf("got %v, %v", el, err)
		}
	})
}

// endless returns prefix, then fill bytes (until limit, if set), then suffix.
type endless struct {
	prefix, suffix []byte
	fill           byte
	limit, n       int
}

func (r *endless) Read(p []byte) (int, error) {
	if len(r.prefix) > 0 {
		n := copy(p, r.prefix)
		r.prefix = r.prefix[n:]
		r.n += n
		return n, nil
	}
	if r.limit > 0 && r.n >= r.limit {
		if len(r.suffix) == 0 {
			return 0, io.EOF
		}
		n := copy(p, r.suffix)
		r.suffix = r.suffix[n:]
		return n, nil
	}
	if r.limit > 0 && len(p) > r.limit-r.n {
		p = p[:r.limit-r.n]
	}
	for i := range p {
		p[i] = r.fill
	}
	r.n += len(p)
	return len(p), nil
}

func TestBillionLaughsFailsAtOnce(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() {
		pw.Write([]byte("<?xml version='1.0'?><!DOCTYPE"))
		// Nothing more: the decoder must fail on what it has.
	}()
	d := xml.NewDecoder(pr, xml.Limits{})
	done := make(chan error, 1)
	go func() {
		_, err := d.Header()
		done <- err
	}()
	select {
	case err := <-done:
		if condition(err) != "restricted-xml" {
			t.Fatalf("error %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("DOCTYPE not rejected at once")
	}
}

// flakyReader fails once with errTimeout after each piece.
type flakyReader struct {
	pieces []string
	failed bool
}

var errTimeout = errors.New("i/o timeout")

func (r *flakyReader) Read(p []byte) (int, error) {
	if len(r.pieces) == 0 {
		return 0, io.EOF
	}
	if !r.failed {
		r.failed = true
		return 0, errTimeout
	}
	r.failed = false
	n := copy(p, r.pieces[0])
	r.pieces = r.pieces[1:]
	return n, nil
}

func TestReadErrorsAreNotSticky(t *testing.T) {
	r := &flakyReader{pieces: []string{hdr, "<message><bo", "dy>hi</body></mess", "age>", "<presence/>"}}
	d := xml.NewDecoder(r, xml.Limits{})
	var err error
	for {
		if _, err = d.Header(); err != errTimeout {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	timeouts := 0
	for {
		el, err := d.Next()
		if err == errTimeout {
			timeouts++
			continue
		}
		if err != nil {
			if err != io.EOF {
				t.Fatal(err)
			}
			break
		}
		got = append(got, el.String())
	}
	want := []string{"<message><body>hi</body></message>", "<presence/>"}
	if !reflect.DeepEqual(got, want) || timeouts < 3 {
		t.Errorf("got %q after %d timeouts", got, timeouts)
	}
}

func TestReadErrorWithData(t *testing.T) {
	// A reader returning the last bytes together with io.EOF.
	r := iotest.DataErrReader(strings.NewReader(hdr + "<presence/>"))
	d := xml.NewDecoder(r, xml.Limits{})
	if _, err := d.Header(); err != nil {
		t.Fatal(err)
	}
	if el, err := d.Next(); err != nil || el.Name.Local != "presence" {
		t.Fatalf("got %v, %v", el, err)
	}
	if _, err := d.Next(); err != io.EOF {
		t.Fatalf("got %v, want io.EOF", err)
	}
}

func TestOtherReadErrors(t *testing.T) {
	d := xml.NewDecoder(iotest.ErrReader(errTimeout), xml.Limits{})
	if _, err := d.Header(); !errors.Is(err, errTimeout) {
		t.Fatalf("got %v", err)
	}
	d = xml.NewDecoder(zeroReader{}, xml.Limits{})
	if _, err := d.Header(); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("got %v", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { return 0, nil }

func TestReset(t *testing.T) {
	// Stream 1: negotiate STARTTLS; the peer pipelines plaintext after it,
	// which Reset must discard.
	d := xml.NewDecoder(strings.NewReader(hdr+"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><injected/>"), xml.Limits{})
	if _, err := d.Header(); err != nil {
		t.Fatal(err)
	}
	el, err := d.Next()
	if err != nil || el.Name.Local != "starttls" {
		t.Fatalf("got %v, %v", el, err)
	}
	if d.Buffered() != len("<injected/>") {
		t.Errorf("Buffered() = %d", d.Buffered())
	}
	d.Reset(strings.NewReader("<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback'><db:result/></stream:stream>"))
	h, err := d.Header()
	if err != nil || h.DefaultNS != "jabber:server" {
		t.Fatalf("got %+v, %v", h, err)
	}
	el, err = d.Next()
	if err != nil || dump(el) != "{jabber:server:dialback}result" {
		t.Fatalf("got %v, %v", dump(el), err)
	}
	if _, err := d.Next(); err != xml.ErrStreamEnd {
		t.Fatalf("got %v", err)
	}
	// Reset also clears a sticky error.
	d.Reset(strings.NewReader("<!DOCTYPE x>"))
	if _, err := d.Header(); condition(err) != "restricted-xml" {
		t.Fatalf("got %v", err)
	}
	d.Reset(strings.NewReader(hdr + "<presence/>"))
	if _, err := d.Header(); err != nil {
		t.Fatal(err)
	}
	if el, err := d.Next(); err != nil || dump(el) != "{jabber:client}presence" {
		t.Fatalf("got %v, %v", dump(el), err)
	}
	// The prefix of the previous stream is gone.
	d.Reset(strings.NewReader("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><db:result/>"))
	if _, err := d.Header(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Next(); condition(err) != "not-well-formed" {
		t.Fatalf("got %v", err)
	}
}

func TestRelease(t *testing.T) {
	big := "<message><body>" + strings.Repeat("y", 20000) + "</body></message>"
	pieces := []string{hdr, "<presence/>", "<message><bo", "dy>hi</body></message>", big[:10000], big[10000:], "<iq/>"}
	r := &piecesReader{pieces: pieces}
	d := xml.NewDecoder(r, xml.Limits{})
	if _, err := d.Header(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		d.Release() // between every read, also with a partial element
		el, err := d.Next()
		if err != nil {
			if err != io.EOF {
				t.Fatal(err)
			}
			break
		}
		got = append(got, el.String())
		d.Release()
		d.Release()
	}
	want := []string{"<presence/>", "<message><body>hi</body></message>", big, "<iq/>"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %d elements, want %d", len(got), len(want))
	}
}

// piecesReader returns one piece per Read (p is assumed large enough).
type piecesReader struct{ pieces []string }

func (r *piecesReader) Read(p []byte) (int, error) {
	if len(r.pieces) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.pieces[0])
	r.pieces[0] = r.pieces[0][n:]
	if r.pieces[0] == "" {
		r.pieces = r.pieces[1:]
	}
	return n, nil
}

func TestElementsOutliveDecoder(t *testing.T) {
	var in bytes.Buffer
	in.WriteString(hdr)
	for i := range 200 {
		fmt.Fprintf(&in, "<message id='m%d'><body>text &amp; %d</body></message>", i, i)
	}
	d := xml.NewDecoder(iotest.HalfReader(&in), xml.Limits{})
	if _, err := d.Header(); err != nil {
		t.Fatal(err)
	}
	var els []*xml.Element
	for {
		el, err := d.Next()
		if err != nil {
			break
		}
		els = append(els, el)
		d.Release()
	}
	if len(els) != 200 {
		t.Fatalf("got %d elements", len(els))
	}
	for i, el := range els {
		want := fmt.Sprintf("<message id='m%d'><body>text &amp; %d</body></message>", i, i)
		if el.String() != want {
			t.Fatalf("element %d is %s", i, el)
		}
	}
	// Appending to a decoded element must not clobber its siblings.
	e := els[0]
	e.AddChild(xml.NewElement(nsClient, "x"))
	e.Children[0].El.SetAttr("a", "b")
	e.Children[0].El.AddText("more")
	if els[1].String() != "<message id='m1'><body>text &amp; 1</body></message>" {
		t.Fatalf("sibling changed: %s", els[1])
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, in, ns, want, cond string
	}{
		{name: "simple", in: "<message to='a'><body>hi</body></message>", ns: nsClient, want: `{jabber:client}message[to="a"]({jabber:client}body("hi"))`},
		{name: "surrounding whitespace", in: "\n <presence/> \n", ns: "jabber:server", want: `{jabber:server}presence`},
		{name: "own namespace", in: "<x xmlns='urn:x'><y/></x>", ns: nsClient, want: `{urn:x}x({urn:x}y)`},
		{name: "no default namespace", in: "<x a='1'/>", want: `{}x[a="1"]`},
		{name: "xml prefix", in: "<x xml:lang='de'/>", want: `{}x[{http://www.w3.org/XML/1998/namespace}lang="de"]`},
		{name: "deep", in: strings.Repeat("<a>", 1000) + strings.Repeat("</a>", 1000), ns: "", want: ""},
		{name: "empty", in: "  ", cond: "not-well-formed"},
		{name: "text", in: "hello", cond: "not-well-formed"},
		{name: "two elements", in: "<a/><b/>", cond: "not-well-formed"},
		{name: "trailing text", in: "<a/>x", cond: "not-well-formed"},
		{name: "truncated", in: "<a><b>", cond: "not-well-formed"},
		{name: "truncated CDATA opener", in: "<a><![CDA", cond: "not-well-formed"},
		{name: "truncated CDATA", in: "<a><![CDATA[x", cond: "not-well-formed"},
		{name: "truncated reference", in: "<a>&am", cond: "not-well-formed"},
		{name: "end tag only", in: "</a>", cond: "not-well-formed"},
		{name: "lone less-than", in: "<", cond: "not-well-formed"},
		{name: "comment", in: "<a><!--x--></a>", cond: "restricted-xml"},
		{name: "comment first", in: "<!--x--><a/>", cond: "restricted-xml"},
		{name: "processing instruction", in: "<?xml version='1.0'?><a/>", cond: "restricted-xml"},
		{name: "undeclared prefix", in: "<stream:error/>", cond: "not-well-formed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.in)
			el, err := xml.Parse(data, tc.ns)
			if got := condition(err); got != tc.cond {
				t.Fatalf("error %v, want %q", err, tc.cond)
			}
			if tc.cond != "" {
				if el != nil {
					t.Errorf("element returned with error")
				}
				return
			}
			if tc.want != "" && dump(el) != tc.want {
				t.Errorf("got %s, want %s", dump(el), tc.want)
			}
			// The tree does not share memory with data.
			s := dump(el)
			for i := range data {
				data[i] = 'Z'
			}
			if dump(el) != s {
				t.Errorf("tree changed with its input")
			}
		})
	}
}

// TestReleaseKeepsHeaderBindings: after Release (the parser goes back to a
// pool), prefixes declared on the stream header still resolve, and
// declarations made inside an element do not leak into the next.
func TestReleaseKeepsHeaderBindings(t *testing.T) {
	for i, release := range []bool{false, true} {
		in := hdr + "<stream:features><a:x xmlns:a='urn:a'/></stream:features><stream:error/>"
		d := xml.NewDecoder(iotest.OneByteReader(strings.NewReader(in+"<a:y/>")), xml.Limits{})
		if _, err := d.Header(); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"features", "error"} {
			if release {
				d.Release()
			}
			el, err := d.Next()
			if err != nil || el.Name != (xml.Name{Space: xml.NSStream, Local: want}) {
				t.Fatalf("%d: got %v, %v; want {%s}%s", i, el, err, xml.NSStream, want)
			}
		}
		if release {
			d.Release()
		}
		if el, err := d.Next(); err == nil {
			t.Fatalf("%d: a prefix declared in an earlier element resolved: %v", i, el)
		}
	}
}
