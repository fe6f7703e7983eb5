package mam_test

import (
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

func mustParseEl(b []byte) *xml.Element {
	el, err := xml.Parse(b, stanza.NSClient)
	if err != nil {
		panic(err)
	}
	return el
}
