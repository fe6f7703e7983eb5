package appserver

import (
	"strings"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// Namespaces.
const (
	NSPush           = "urn:xmpp:push:0"
	NSPubSub         = "http://jabber.org/protocol/pubsub"
	NSCommands       = "http://jabber.org/protocol/commands"
	NSData           = stanza.NSData
	NSEncrypt        = "tigase:push:encrypt:0"
	FormSummary      = "urn:xmpp:push:summary"
	FormPublishOpts  = "http://jabber.org/protocol/pubsub#publish-options"
	maxFields        = 64
	maxFieldValueLen = 4096
)

// form is a parsed XEP-0004 data form: its type and the first value of each
// field (the fields this server reads are single-valued).
type form struct {
	typ    string
	fields map[string]string
	order  []string // field vars in document order, FORM_TYPE excluded
}

// parseForm reads a jabber:x:data element. Fields beyond maxFields and
// values longer than maxFieldValueLen are refused (ok false).
func parseForm(x *xml.Element) (f form, ok bool) {
	if x == nil || x.Name.Space != NSData || x.Name.Local != "x" {
		return f, false
	}
	f.typ = x.AttrValue("type")
	f.fields = map[string]string{}
	for _, fe := range x.ChildrenNamed(NSData, "field") {
		v := fe.AttrValue("var")
		if v == "" {
			continue
		}
		if len(f.fields) >= maxFields {
			return f, false
		}
		val := fe.ChildText(NSData, "value")
		if len(val) > maxFieldValueLen {
			return f, false
		}
		if _, dup := f.fields[v]; dup {
			continue
		}
		f.fields[v] = val
		if v != "FORM_TYPE" {
			f.order = append(f.order, v)
		}
	}
	return f, true
}

// get returns a field's value, trimmed.
func (f form) get(name string) string { return strings.TrimSpace(f.fields[name]) }

// formField is one field of a form we build.
type formField struct{ typ, name, label, value string }

// buildForm returns a data form of type typ with the fields.
func buildForm(typ, formType string, fields ...formField) *xml.Element {
	x := xml.NewElement(NSData, "x", "type", typ)
	if formType != "" {
		ft := xml.NewElement(NSData, "field", "var", "FORM_TYPE", "type", "hidden")
		ft.AddChild(xml.NewElement(NSData, "value").AddText(formType))
		x.AddChild(ft)
	}
	for _, f := range fields {
		fe := xml.NewElement(NSData, "field", "var", f.name)
		if f.typ != "" {
			fe.SetAttr("type", f.typ)
		}
		if f.label != "" {
			fe.SetAttr("label", f.label)
		}
		if f.value != "" {
			fe.AddChild(xml.NewElement(NSData, "value").AddText(f.value))
		}
		x.AddChild(fe)
	}
	return x
}
