package s2s

import (
	"io"
	"net"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/wire"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

func FuzzParseDialback(f *testing.F) {
	for _, s := range []string{
		"<db:result from='b.example' to='a.example'>key</db:result>",
		"<db:verify from='b.example' to='a.example' id='i'>key</db:verify>",
		"<db:result from='b.example' to='a.example' type='error'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></db:result>",
		"<db:verify from='' to='a.example' id='i' type='valid'/>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		el, err := xml.Parse([]byte("<x xmlns='jabber:server' xmlns:db='"+NSDialback+"'>"+s+"</x>"), stanza.NSServer)
		if err != nil || el.FirstChild() == nil {
			return
		}
		d, err := parseDialback(el.FirstChild())
		if err != nil {
			return
		}
		// What parses serializes and parses back the same.
		b := appendDialback([]byte("<x xmlns='jabber:server' xmlns:db='"+NSDialback+"'>"), d)
		el2, err := xml.Parse(append(b, "</x>"...), stanza.NSServer)
		if err != nil {
			t.Fatalf("%q: re-serialized %q does not parse: %v", s, b, err)
		}
		d2, err := parseDialback(el2.FirstChild())
		if err != nil || d2 != d {
			t.Fatalf("%q: round trip %+v → %+v (%v)", s, d, d2, err)
		}
		_ = dialbackErrorText(el.FirstChild())
	})
}

func FuzzParseFeatures(f *testing.F) {
	f.Add("<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>")
	f.Add("<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism></mechanisms><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>")
	f.Fuzz(func(t *testing.T, s string) {
		el, err := xml.Parse([]byte("<x xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'>"+s+"</x>"), stanza.NSServer)
		if err != nil || el.FirstChild() == nil {
			return
		}
		_, _ = parseFeatures(el.FirstChild())
		_ = peerError(el.FirstChild())
	})
}

// FuzzIncomingStream feeds arbitrary input to an incoming stream: the
// header checks, the features and the negotiation before TLS must answer
// anything without panicking or hanging.
func FuzzIncomingStream(f *testing.F) {
	f.Add("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='b.example' to='a.example' version='1.0'><db:result from='b.example' to='a.example'>k</db:result>")
	f.Add("<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='a.example' version='1.0'><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>garbage")
	f.Add("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='a.example'>")
	f.Add("<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='z.example' version='1.0'><message/>")
	f.Fuzz(func(t *testing.T, in string) {
		s := New(Config{ConnectTimeout: time.Second, Secret: []byte("s")}, newFakeRouter("a.example"), noDNS{}, nil)
		server, client := net.Pipe()
		i := newInStream(s, server, wire.AddrOf(server.RemoteAddr()))
		done := make(chan struct{})
		go func() {
			defer close(done)
			i.serve(false)
		}()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		_ = client.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = client.Write([]byte(in))
		client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("the stream did not end for %q", in)
		}
	})
}
