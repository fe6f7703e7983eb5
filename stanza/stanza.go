package stanza

import (
	"errors"
	"fmt"

	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// Namespaces used throughout the server.
const (
	NSClient    = "jabber:client"
	NSServer    = "jabber:server"
	NSComponent = "jabber:component:accept"
	NSStanzas   = "urn:ietf:params:xml:ns:xmpp-stanzas"
	NSDelay     = "urn:xmpp:delay"
	NSXML       = "http://www.w3.org/XML/1998/namespace"
)

// Kind is the kind of a stanza.
type Kind uint8

// The three stanza kinds.
const (
	KindInvalid Kind = iota
	KindMessage
	KindPresence
	KindIQ
)

func (k Kind) String() string {
	switch k {
	case KindMessage:
		return "message"
	case KindPresence:
		return "presence"
	case KindIQ:
		return "iq"
	}
	return "invalid"
}

// Message types (RFC 6121 §5.2.2), presence types (RFC 6121 §4.7.1) and IQ
// types (RFC 6120 §8.2.3) as they appear in the type attribute.
const (
	TypeChat      = "chat"
	TypeError     = "error"
	TypeGroupchat = "groupchat"
	TypeHeadline  = "headline"
	TypeNormal    = "normal"

	TypeAvailable    = "" // presence without a type
	TypeUnavailable  = "unavailable"
	TypeSubscribe    = "subscribe"
	TypeSubscribed   = "subscribed"
	TypeUnsubscribe  = "unsubscribe"
	TypeUnsubscribed = "unsubscribed"
	TypeProbe        = "probe"

	TypeGet    = "get"
	TypeSet    = "set"
	TypeResult = "result"
)

// Stanza is a top-level message, presence or iq element with its routing
// attributes parsed. El is the element itself: El.Name.Space is always
// NSClient (stanzas from component or server streams are normalized), and
// El's to/from attributes are kept in sync by SetTo and SetFrom.
//
// A Stanza is not safe for concurrent mutation. A routed stanza is shared
// read-only by every recipient; a feature that wants to change it makes a
// Copy first.
type Stanza struct {
	El   *xml.Element
	Kind Kind
	Type string
	ID   string
	To   jid.JID // zero if absent
	From jid.JID // zero if absent
}

// ErrNotStanza is returned by New for an element that is not a stanza.
var ErrNotStanza = errors.New("stanza: not a stanza")

// New wraps a top-level element. It normalizes the stanza namespace to
// NSClient and parses the addresses: a malformed to or from yields an *Error
// with condition jid-malformed. An element that is not message, presence or
// iq in a stanza namespace yields ErrNotStanza.
func New(el *xml.Element) (*Stanza, error) {
	switch el.Name.Space {
	case NSClient, NSServer, NSComponent:
	default:
		return nil, ErrNotStanza
	}
	s := &Stanza{El: el}
	switch el.Name.Local {
	case "message":
		s.Kind = KindMessage
	case "presence":
		s.Kind = KindPresence
	case "iq":
		s.Kind = KindIQ
	default:
		return nil, ErrNotStanza
	}
	if el.Name.Space != NSClient {
		renameSpace(el, el.Name.Space, NSClient)
	}
	s.Type = el.AttrValue("type")
	s.ID = el.AttrValue("id")
	var err error
	if v := el.AttrValue("to"); v != "" {
		if s.To, err = jid.Parse(v); err != nil {
			return s, &Error{Type: Modify, Condition: JIDMalformed, Text: "invalid 'to' address"}
		}
	}
	if v := el.AttrValue("from"); v != "" {
		if s.From, err = jid.Parse(v); err != nil {
			return s, &Error{Type: Modify, Condition: JIDMalformed, Text: "invalid 'from' address"}
		}
	}
	return s, nil
}

// renameSpace moves el and its descendants in namespace from to namespace to,
// so that children written without a prefix keep inheriting the stanza
// namespace after normalization.
func renameSpace(el *xml.Element, from, to string) {
	el.Name.Space = to
	for _, c := range el.Children {
		if c.El != nil && c.El.Name.Space == from {
			renameSpace(c.El, from, to)
		}
	}
}

// Build returns a new stanza of the given kind with the given attributes.
// Zero JIDs and empty strings are omitted.
func Build(kind Kind, typ, id string, from, to jid.JID) *Stanza {
	el := xml.NewElement(NSClient, kind.String())
	s := &Stanza{El: el, Kind: kind}
	s.SetID(id)
	s.SetType(typ)
	s.SetFrom(from)
	s.SetTo(to)
	return s
}

// SetTo sets the 'to' address.
func (s *Stanza) SetTo(j jid.JID) {
	s.To = j
	s.El.SetAttr("to", jidString(j))
}

// SetFrom sets the 'from' address.
func (s *Stanza) SetFrom(j jid.JID) {
	s.From = j
	s.El.SetAttr("from", jidString(j))
}

// SetType sets the 'type' attribute.
func (s *Stanza) SetType(t string) {
	s.Type = t
	s.El.SetAttr("type", t)
}

// SetID sets the 'id' attribute.
func (s *Stanza) SetID(id string) {
	s.ID = id
	s.El.SetAttr("id", id)
}

func jidString(j jid.JID) string {
	if j.Domainpart() == "" {
		return ""
	}
	return j.String()
}

// Copy returns a deep copy that can be changed independently.
func (s *Stanza) Copy() *Stanza {
	c := *s
	c.El = s.El.Copy()
	return &c
}

// Payload returns the first child element, the payload of an IQ.
func (s *Stanza) Payload() *xml.Element { return s.El.FirstChild() }

// IsError reports whether the stanza is of type error.
func (s *Stanza) IsError() bool { return s.Type == TypeError }

// Body returns the text of the first jabber:client body child.
func (s *Stanza) Body() string { return s.El.ChildText(NSClient, "body") }

// HasBody reports whether a message has a non-empty body.
func (s *Stanza) HasBody() bool {
	for _, b := range s.El.ChildrenNamed(NSClient, "body") {
		if b.Text() != "" {
			return true
		}
	}
	return false
}

// AppendXML appends the serialized stanza. ns is the default namespace of
// the stream it is written to (NSClient, NSComponent, ...): the stanza is
// written in that namespace.
func (s *Stanza) AppendXML(b []byte, ns string) []byte {
	if ns == NSClient || ns == "" {
		return s.El.AppendXML(b, NSClient)
	}
	// Write the stanza in the stream's namespace: a shallow rename of the
	// top element and of the children that inherit it.
	c := s.El.Copy()
	renameSpace(c, NSClient, ns)
	return c.AppendXML(b, ns)
}

// String returns the stanza as jabber:client XML, for logs and tests.
func (s *Stanza) String() string { return string(s.AppendXML(nil, NSClient)) }

// Result returns an IQ result for an IQ get or set, with payload (may be nil).
func (s *Stanza) Result(payload *xml.Element) *Stanza {
	r := Build(KindIQ, TypeResult, s.ID, s.To, s.From)
	if payload != nil {
		r.El.AddChild(payload)
	}
	return r
}

// ErrorReply returns the error response to s (RFC 6120 §8.3.1): the same
// kind, type error, swapped addresses, the original payload, and e. from is
// the entity that generates the error; if it is the zero JID, s.To is used.
func (s *Stanza) ErrorReply(e *Error) *Stanza {
	c := &Stanza{Kind: s.Kind, Type: TypeError, ID: s.ID, To: s.From, From: s.To}
	el := xml.NewElement(NSClient, s.Kind.String())
	c.El = el
	c.SetID(s.ID)
	c.SetType(TypeError)
	c.SetFrom(s.To)
	c.SetTo(s.From)
	// Include the original payload for IQs (helps clients correlate); for
	// messages include the body-less children too, minus any old errors.
	for _, n := range s.El.Children {
		if n.El != nil && !(n.El.Name.Space == NSClient && n.El.Name.Local == "error") {
			el.Children = append(el.Children, xml.Node{El: n.El})
		}
	}
	el.AddChild(e.Element())
	return c
}

// Delay returns a XEP-0203 delay element.
func Delay(from, stamp string) *xml.Element {
	d := xml.NewElement(NSDelay, "delay", "stamp", stamp)
	if from != "" {
		d.SetAttr("from", from)
	}
	return d
}

// Describe is a short description for logs ("message type=chat id=x").
func (s *Stanza) Describe() string {
	return fmt.Sprintf("%s type=%q id=%q", s.Kind, s.Type, s.ID)
}

// Target receives routed stanzas: a client session or a component
// connection.
type Target interface {
	// Deliver hands st to the target for writing. It must not block; it
	// returns false if the target cannot take the stanza (it is closing,
	// or its queue is full). Deliver must not change st.
	Deliver(st *Stanza) bool
}
