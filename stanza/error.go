package stanza

import (
	"errors"

	"dormouse.im/dormouse/xml"
	mstanza "mellium.im/xmpp/stanza"
)

// ErrorType is an RFC 6120 §8.3.2 error type.
type ErrorType = mstanza.ErrorType

// Condition is an RFC 6120 §8.3.3 defined condition.
type Condition = mstanza.Condition

// Error types.
const (
	Auth     = mstanza.Auth
	Cancel   = mstanza.Cancel
	Continue = mstanza.Continue
	Modify   = mstanza.Modify
	Wait     = mstanza.Wait
)

// Conditions.
const (
	BadRequest            = mstanza.BadRequest
	Conflict              = mstanza.Conflict
	FeatureNotImplemented = mstanza.FeatureNotImplemented
	Forbidden             = mstanza.Forbidden
	Gone                  = mstanza.Gone
	InternalServerError   = mstanza.InternalServerError
	ItemNotFound          = mstanza.ItemNotFound
	JIDMalformed          = mstanza.JIDMalformed
	NotAcceptable         = mstanza.NotAcceptable
	NotAllowed            = mstanza.NotAllowed
	NotAuthorized         = mstanza.NotAuthorized
	PolicyViolation       = mstanza.PolicyViolation
	RecipientUnavailable  = mstanza.RecipientUnavailable
	Redirect              = mstanza.Redirect
	RegistrationRequired  = mstanza.RegistrationRequired
	RemoteServerNotFound  = mstanza.RemoteServerNotFound
	RemoteServerTimeout   = mstanza.RemoteServerTimeout
	ResourceConstraint    = mstanza.ResourceConstraint
	ServiceUnavailable    = mstanza.ServiceUnavailable
	SubscriptionRequired  = mstanza.SubscriptionRequired
	UndefinedCondition    = mstanza.UndefinedCondition
	UnexpectedRequest     = mstanza.UnexpectedRequest
)

// Error is a stanza error (RFC 6120 §8.3). It is a Go error, so handlers can
// return it, and it serializes itself with Element.
type Error struct {
	Type      ErrorType
	Condition Condition
	Text      string       // optional human-readable text
	By        string       // optional entity that generated the error
	App       *xml.Element // optional application-specific condition
}

func (e *Error) Error() string {
	if e.Text != "" {
		return "stanza: " + string(e.Condition) + ": " + e.Text
	}
	return "stanza: " + string(e.Condition)
}

// Is reports whether target is an *Error with the same condition (and type,
// if target sets one).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t.Condition == e.Condition && (t.Type == "" || t.Type == e.Type)
}

// Element returns the <error/> element.
func (e *Error) Element() *xml.Element {
	el := xml.NewElement(NSClient, "error", "type", string(e.Type))
	if e.By != "" {
		el.SetAttr("by", e.By)
	}
	el.AddChild(xml.NewElement(NSStanzas, string(e.Condition)))
	if e.Text != "" {
		t := xml.NewElement(NSStanzas, "text")
		t.Attr = append(t.Attr, xml.Attr{Name: xml.Name{Space: NSXML, Local: "lang"}, Value: "en"})
		t.AddText(e.Text)
		el.AddChild(t)
	}
	if e.App != nil {
		el.AddChild(e.App)
	}
	return el
}

// defaultTypes are the RFC 6120 §8.3.3 recommended types per condition.
var defaultTypes = map[Condition]ErrorType{
	BadRequest: Modify, Conflict: Cancel, FeatureNotImplemented: Cancel, Forbidden: Auth,
	Gone: Cancel, InternalServerError: Cancel, ItemNotFound: Cancel, JIDMalformed: Modify,
	NotAcceptable: Modify, NotAllowed: Cancel, NotAuthorized: Auth, PolicyViolation: Modify,
	RecipientUnavailable: Wait, Redirect: Modify, RegistrationRequired: Auth,
	RemoteServerNotFound: Cancel, RemoteServerTimeout: Wait, ResourceConstraint: Wait,
	ServiceUnavailable: Cancel, SubscriptionRequired: Auth, UndefinedCondition: Cancel,
	UnexpectedRequest: Wait,
}

// NewError returns an error with the condition's recommended type and an
// optional text.
func NewError(c Condition, text string) *Error {
	t, ok := defaultTypes[c]
	if !ok {
		t = Cancel
	}
	return &Error{Type: t, Condition: c, Text: text}
}

// AsError returns err as a stanza error: itself if it is (or wraps) an
// *Error, else internal-server-error (the cause is not shown to clients).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return NewError(InternalServerError, "")
}

// ParseError extracts the stanza error of an error stanza, or nil.
func ParseError(el *xml.Element) *Error {
	e := el.Child(NSClient, "error")
	if e == nil {
		return nil
	}
	out := &Error{Type: ErrorType(e.AttrValue("type")), By: e.AttrValue("by")}
	for _, c := range e.Elements() {
		if c.Name.Space != NSStanzas {
			out.App = c
			continue
		}
		if c.Name.Local == "text" {
			out.Text = c.Text()
		} else if out.Condition == "" {
			out.Condition = Condition(c.Name.Local)
		}
	}
	return out
}
