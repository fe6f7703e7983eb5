package xml_test

import (
	"reflect"
	"strings"
	"testing"

	"dormouse.im/dormouse/xml"
)

func TestAppendXML(t *testing.T) {
	msg := xml.NewElement(nsClient, "message", "to", "juliet@example.com", "type", "chat")
	msg.Attr = append(msg.Attr, xml.Attr{Name: xml.Name{Space: xml.NSXML, Local: "lang"}, Value: "en"})
	msg.AddChild(xml.NewElement(nsClient, "body").AddText("1 < 2 & 3 > 2"))
	msg.AddChild(xml.NewElement("http://jabber.org/protocol/chatstates", "active"))

	foreign := xml.NewElement("urn:x", "x")
	foreign.Attr = []xml.Attr{
		{Name: xml.Name{Space: "urn:a", Local: "one"}, Value: "1"},
		{Name: xml.Name{Local: "plain"}, Value: "p"},
		{Name: xml.Name{Space: "urn:b", Local: "two"}, Value: "2"},
		{Name: xml.Name{Space: "urn:a", Local: "three"}, Value: "3"},
	}
	foreign.AddChild(xml.NewElement("urn:x", "y", "a", "b"))

	tests := []struct {
		name string
		el   *xml.Element
		ns   string
		want string
	}{
		{
			name: "message in the default namespace",
			el:   msg, ns: nsClient,
			want: "<message to='juliet@example.com' type='chat' xml:lang='en'><body>1 &lt; 2 &amp; 3 &gt; 2</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>",
		},
		{
			name: "message in another default namespace",
			el:   msg, ns: "jabber:server",
			want: "<message xmlns='jabber:client' to='juliet@example.com' type='chat' xml:lang='en'><body>1 &lt; 2 &amp; 3 &gt; 2</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>",
		},
		{
			name: "namespaced attributes get prefixes",
			el:   foreign, ns: "",
			want: "<x xmlns='urn:x' xmlns:ns0='urn:a' ns0:one='1' plain='p' xmlns:ns2='urn:b' ns2:two='2' ns0:three='3'><y a='b'/></x>",
		},
		{
			name: "element without namespace inside a namespaced one",
			el:   xml.NewElement("urn:a", "a").AddChild(xml.NewElement("", "b").AddChild(xml.NewElement("", "c"))),
			ns:   "urn:a",
			want: "<a><b xmlns=''><c/></b></a>",
		},
		{
			name: "escaping",
			el:   xml.NewElement("", "a", "v", "'\"<>&\t\n\r").AddText("'\"<>&\t\n\r]]>"),
			want: "<a v='&apos;&quot;&lt;&gt;&amp;&#9;&#10;&#13;'>'\"&lt;&gt;&amp;\t\n&#13;]]&gt;</a>",
		},
		{
			name: "invalid characters are replaced",
			el:   xml.NewElement("", "a", "v", "\x00x\xff").AddText("\x01\xef\xbf\xbe\xed\xa0\x80ok"),
			want: "<a v='\uFFFDx\uFFFD'>\uFFFD\uFFFD\uFFFD\uFFFD\uFFFDok</a>",
		},
		{
			name: "namespace declarations given as attributes are skipped",
			el: &xml.Element{Name: xml.Name{Local: "a"}, Attr: []xml.Attr{
				{Name: xml.Name{Local: "xmlns"}, Value: "urn:evil"},
				{Name: xml.Name{Local: "xmlns:p"}, Value: "urn:evil"},
				{Name: xml.Name{Space: xml.NSXMLNS, Local: "q"}, Value: "urn:evil"},
				{Name: xml.Name{Local: "xmlnsx"}, Value: "ok"},
			}},
			want: "<a xmlnsx='ok'/>",
		},
		{
			name: "mixed content",
			el:   xml.NewElement("", "p").AddText("a").AddChild(xml.NewElement("", "b").AddText("c")).AddText("d"),
			want: "<p>a<b>c</b>d</p>",
		},
		{
			name: "nil element",
			el:   nil,
			want: "",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(tc.el.AppendXML([]byte("prefix:"), tc.ns))
			if got != "prefix:"+tc.want {
				t.Errorf("got  %s\nwant prefix:%s", got, tc.want)
			}
			if tc.el == nil {
				return
			}
			back, err := xml.Parse([]byte(tc.want), tc.ns)
			if err != nil {
				t.Fatalf("output does not parse: %v", err)
			}
			if out := string(back.AppendXML(nil, tc.ns)); out != tc.want {
				t.Errorf("reserialized differently:\n%s", out)
			}
		})
	}
}

func TestString(t *testing.T) {
	e := xml.NewElement("urn:x", "x").AddChild(xml.NewElement("urn:y", "y"))
	if got, want := e.String(), "<x><y xmlns='urn:y'/></x>"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	var nilEl *xml.Element
	if nilEl.String() != "" {
		t.Error("nil element is not empty")
	}
}

func TestAppendEscaped(t *testing.T) {
	tests := []struct {
		name, in, text, attr string
	}{
		{"plain", "hello world", "hello world", "hello world"},
		{"empty", "", "", ""},
		{"markup", `<a href="x">&'`, `&lt;a href="x"&gt;&amp;'`, `&lt;a href=&quot;x&quot;&gt;&amp;&apos;`},
		{"whitespace", "a\tb\nc\rd", "a\tb\nc&#13;d", "a&#9;b&#10;c&#13;d"},
		{"non-ASCII", "héllo ☃ 😀", "héllo ☃ 😀", "héllo ☃ 😀"},
		{"controls", "\x00\x08\x0b\x1f\x7f", "\uFFFD\uFFFD\uFFFD\uFFFD\x7f", "\uFFFD\uFFFD\uFFFD\uFFFD\x7f"},
		{"invalid UTF-8", "a\xffb\xc3", "a\uFFFDb\uFFFD", "a\uFFFDb\uFFFD"},
		{"noncharacters", "\uFFFE\uFFFF\uFFFD", "\uFFFD\uFFFD\uFFFD", "\uFFFD\uFFFD\uFFFD"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(xml.AppendEscapedText(nil, tc.in)); got != tc.text {
				t.Errorf("text: got %q, want %q", got, tc.text)
			}
			if got := string(xml.AppendEscapedAttr(nil, tc.in)); got != tc.attr {
				t.Errorf("attr: got %q, want %q", got, tc.attr)
			}
			// Both forms parse back to the (sanitized) input.
			el, err := xml.Parse([]byte("<a v='"+tc.attr+"' w=\""+tc.attr+"\">"+tc.text+"</a>"), "")
			if err != nil {
				t.Fatal(err)
			}
			want := strings.ToValidUTF8(tc.in, "\uFFFD")
			if !strings.ContainsAny(tc.in, "\x00\x08\x0b\x1f\uFFFE\uFFFF") && (el.Text() != want || el.AttrValue("v") != want || el.AttrValue("w") != want) {
				t.Errorf("round trip: text %q v %q w %q", el.Text(), el.AttrValue("v"), el.AttrValue("w"))
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	docs := []string{
		"<message xmlns='jabber:client' to='a@b' type='chat' xml:lang='en'><body>hi &amp; bye\r\n</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>",
		"<iq type='result' id='1'><query xmlns='jabber:iq:roster' ver='1'><item jid='a@b' name='A &lt;B&gt;' subscription='both'><group>Friends</group></item></query></iq>",
		"<x xmlns:a='urn:a' xmlns:b='urn:b' a:x='1' b:x='2' x='3' xml:lang='fr'><a:y b:z=' \t\n'/><![CDATA[<raw>]]>\n</x>",
		"<a><b xmlns=''><c xmlns='urn:c'/></b></a>",
		"<a v='&#9;&#10;&#13;'>&#13;&#9;</a>",
	}
	for _, doc := range docs {
		for _, ns := range []string{nsClient, "", "urn:other"} {
			el, err := xml.Parse([]byte(doc), ns)
			if err != nil {
				t.Fatalf("%s: %v", doc, err)
			}
			out := el.AppendXML(nil, ns)
			back, err := xml.Parse(out, ns)
			if err != nil {
				t.Fatalf("%s: %v", out, err)
			}
			if !reflect.DeepEqual(el, back) {
				t.Errorf("round trip of %s in %q:\n got %s\nwant %s", doc, ns, dump(back), dump(el))
			}
			// Serializing under another default namespace only changes
			// whether the root carries xmlns.
			back, err = xml.Parse(el.AppendXML(nil, "urn:elsewhere"), "urn:elsewhere")
			if err != nil || !reflect.DeepEqual(el, back) {
				t.Errorf("round trip of %s under another namespace: %v %s", doc, err, dump(back))
			}
		}
	}
}

func TestAppendXMLDoesNotAllocate(t *testing.T) {
	el, err := xml.Parse([]byte(chatMessage), nsClient)
	if err != nil {
		t.Fatal(err)
	}
	el.Attr = append(el.Attr, xml.Attr{Name: xml.Name{Space: "urn:a", Local: "x"}, Value: "1"})
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		buf = el.AppendXML(buf[:0], nsClient)
	})
	if allocs != 0 {
		t.Errorf("AppendXML allocates %v times", allocs)
	}
}
