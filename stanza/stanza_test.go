package stanza_test

import (
	"strings"
	"testing"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

func parse(t testing.TB, s, ns string) *xml.Element {
	t.Helper()
	el, err := xml.Parse([]byte(s), ns)
	if err != nil {
		t.Fatal(err)
	}
	return el
}

func TestNew(t *testing.T) {
	for i, tc := range []struct {
		in, ns   string
		kind     stanza.Kind
		to, from string
		err      string // condition or "not a stanza"
	}{
		0: {in: "<message to='bob@localhost' from='alice@localhost/a' type='chat' id='1'/>", ns: stanza.NSClient, kind: stanza.KindMessage, to: "bob@localhost", from: "alice@localhost/a"},
		1: {in: "<presence/>", ns: stanza.NSClient, kind: stanza.KindPresence},
		2: {in: "<iq type='get' id='x' to='Localhost'><ping xmlns='urn:xmpp:ping'/></iq>", ns: stanza.NSComponent, kind: stanza.KindIQ, to: "localhost"},
		3: {in: "<message to='a@b@c'/>", ns: stanza.NSClient, kind: stanza.KindMessage, err: "jid-malformed"},
		4: {in: "<message from='@x'/>", ns: stanza.NSClient, kind: stanza.KindMessage, err: "jid-malformed"},
		5: {in: "<foo/>", ns: stanza.NSClient, err: "not a stanza"},
		6: {in: "<message xmlns='urn:other'/>", ns: "", err: "not a stanza"},
	} {
		st, err := stanza.New(parse(t, tc.in, tc.ns))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%d: err = %v, want %s", i, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if st.Kind != tc.kind || st.To.String() != tc.to || st.From.String() != tc.from {
			t.Errorf("%d: got kind %v to %q from %q", i, st.Kind, st.To, st.From)
		}
		if st.El.Name.Space != stanza.NSClient {
			t.Errorf("%d: namespace not normalized: %s", i, st.El.Name.Space)
		}
	}
}

// TestComponentNamespace checks that a stanza read from a component stream
// is written to a client stream in jabber:client and back.
func TestComponentNamespace(t *testing.T) {
	st, err := stanza.New(parse(t, "<message to='a@localhost'><body>hi</body><x xmlns='urn:x'><y/></x></message>", stanza.NSComponent))
	if err != nil {
		t.Fatal(err)
	}
	if st.Body() != "hi" {
		t.Fatalf("body %q", st.Body())
	}
	client := string(st.AppendXML(nil, stanza.NSClient))
	if strings.Contains(client, "xmlns='jabber:") {
		t.Errorf("client form has a stanza namespace declaration: %s", client)
	}
	comp := string(st.AppendXML(nil, stanza.NSComponent))
	back, err := stanza.New(parse(t, comp, stanza.NSComponent))
	if err != nil || back.Body() != "hi" || back.El.Child("urn:x", "x").Child("urn:x", "y") == nil {
		t.Errorf("round trip through a component stream: %s (%v)", comp, err)
	}
}

func TestErrorReply(t *testing.T) {
	st, _ := stanza.New(parse(t, "<iq type='get' id='q1' from='alice@localhost/a' to='localhost'><query xmlns='urn:x'/></iq>", stanza.NSClient))
	r := st.ErrorReply(stanza.NewError(stanza.ServiceUnavailable, "no such thing"))
	if r.Type != "error" || r.ID != "q1" || r.To.String() != "alice@localhost/a" || r.From.String() != "localhost" {
		t.Fatalf("reply addressing: %s", r)
	}
	e := stanza.ParseError(r.El)
	if e == nil || e.Condition != stanza.ServiceUnavailable || e.Type != stanza.Cancel || e.Text != "no such thing" {
		t.Fatalf("error %+v in %s", e, r)
	}
	if r.El.Child("urn:x", "query") == nil {
		t.Errorf("original payload missing: %s", r)
	}
}

func FuzzStanza(f *testing.F) {
	for _, s := range []string{
		"<message to='bob@localhost' type='chat' id='1'><body>hi</body></message>",
		"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>",
		"<presence from='a@b/c'><show>away</show><priority>5</priority></presence>",
		"<message><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		el, err := xml.Parse([]byte(s), stanza.NSClient)
		if err != nil {
			return
		}
		st, err := stanza.New(el)
		if err != nil || st == nil {
			return
		}
		r := st.ErrorReply(stanza.NewError(stanza.BadRequest, "x"))
		out := r.AppendXML(nil, stanza.NSClient)
		if _, err := xml.Parse(out, stanza.NSClient); err != nil {
			t.Fatalf("error reply does not parse: %v: %s", err, out)
		}
		_ = stanza.ParseError(st.El)
		_ = st.HasBody()
	})
}
