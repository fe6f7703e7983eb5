package xml_test

import (
	"errors"
	"fmt"
	"strings"

	"dormouse.im/dormouse/xml"
)

func ExampleDecoder() {
	conn := strings.NewReader(`<?xml version='1.0'?>` +
		`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>` +
		`<message to='juliet@example.com' type='chat'><body>Hi &amp; bye</body></message>` +
		"\n" + // whitespace keepalive
		`<presence/>` +
		`</stream:stream>`)

	d := xml.NewDecoder(conn, xml.Limits{})
	h, err := d.Header()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("stream to", h.AttrValue("to"), "in", h.DefaultNS)
	for {
		el, err := d.Next()
		if errors.Is(err, xml.ErrStreamEnd) {
			fmt.Println("end of stream")
			return
		}
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			fmt.Println("stream error:", se.Condition)
			return
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("{%s}%s %q\n", el.Name.Space, el.Name.Local, el.ChildText(h.DefaultNS, "body"))
	}
	// Output:
	// stream to example.com in jabber:client
	// {jabber:client}message "Hi & bye"
	// {jabber:client}presence ""
	// end of stream
}

func ExampleElement_AppendXML() {
	msg := xml.NewElement("jabber:client", "message", "to", "juliet@example.com", "type", "chat")
	msg.AddChild(xml.NewElement("jabber:client", "body").AddText("1 < 2"))
	msg.AddChild(xml.NewElement("urn:xmpp:receipts", "request"))

	var buf []byte
	buf = msg.AppendXML(buf[:0], "jabber:client")
	fmt.Println(string(buf))
	// Output:
	// <message to='juliet@example.com' type='chat'><body>1 &lt; 2</body><request xmlns='urn:xmpp:receipts'/></message>
}
