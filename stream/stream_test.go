package stream_test

import (
	"bytes"
	"testing"

	"dormouse.im/dormouse/stream"
	"dormouse.im/dormouse/xml"
)

func TestHeaderAndError(t *testing.T) {
	b := stream.Header{NS: "jabber:client", From: "localhost", ID: "abc"}.AppendOpen(nil)
	b = (&stream.Error{Condition: stream.HostUnknown, Text: "no <such> host"}).AppendXML(b)
	b = append(b, stream.Close...)
	d := xml.NewDecoder(bytes.NewReader(b), xml.Limits{})
	h, err := d.Header()
	if err != nil {
		t.Fatal(err)
	}
	if h.DefaultNS != "jabber:client" || h.AttrValue("from") != "localhost" || h.AttrValue("id") != "abc" || h.AttrValue("version") != "1.0" {
		t.Fatalf("header %+v", h)
	}
	el, err := d.Next()
	if err != nil {
		t.Fatal(err)
	}
	if el.Name.Space != stream.NS || el.Child(stream.NSErrors, "host-unknown") == nil || el.ChildText(stream.NSErrors, "text") != "no <such> host" {
		t.Fatalf("error element %s", el)
	}
	if _, err := d.Next(); err != xml.ErrStreamEnd {
		t.Fatalf("after error: %v", err)
	}
}

func TestFromSyntax(t *testing.T) {
	for cond, want := range map[string]stream.Condition{
		"restricted-xml":   stream.RestrictedXML,
		"policy-violation": stream.PolicyViolation,
		"something-else":   stream.NotWellFormed,
	} {
		if got := stream.FromSyntax(&xml.SyntaxError{Condition: cond}).Condition; got != want {
			t.Errorf("%s → %s, want %s", cond, got, want)
		}
	}
}
