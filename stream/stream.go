// Package stream holds the stream-level pieces of RFC 6120 shared by client
// and component connections: stream headers, stream errors (§4.9) and the
// namespaces of stream negotiation.
package stream

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"dormouse.im/dormouse/xml"
)

// Namespaces of the stream layer.
const (
	NS        = "http://etherx.jabber.org/streams"
	NSErrors  = "urn:ietf:params:xml:ns:xmpp-streams"
	NSTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	NSSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
	NSBind    = "urn:ietf:params:xml:ns:xmpp-bind"
	NSSession = "urn:ietf:params:xml:ns:xmpp-session"
)

// Condition is a stream error condition (RFC 6120 §4.9.3).
type Condition string

// Stream error conditions used by the server.
const (
	BadFormat              Condition = "bad-format"
	Conflict               Condition = "conflict"
	ConnectionTimeout      Condition = "connection-timeout"
	HostUnknown            Condition = "host-unknown"
	InternalServerError    Condition = "internal-server-error"
	InvalidFrom            Condition = "invalid-from"
	InvalidNamespace       Condition = "invalid-namespace"
	InvalidXML             Condition = "invalid-xml"
	NotAuthorized          Condition = "not-authorized"
	NotWellFormed          Condition = "not-well-formed"
	PolicyViolation        Condition = "policy-violation"
	ResourceConstraint     Condition = "resource-constraint"
	RestrictedXML          Condition = "restricted-xml"
	SystemShutdown         Condition = "system-shutdown"
	UndefinedCondition     Condition = "undefined-condition"
	UnsupportedEncoding    Condition = "unsupported-encoding"
	UnsupportedStanzaType  Condition = "unsupported-stanza-type"
	UnsupportedVersion     Condition = "unsupported-version"
	UnsupportedFeature     Condition = "unsupported-feature"
	ImproperAddressing     Condition = "improper-addressing"
	RemoteConnectionFailed Condition = "remote-connection-failed"
)

// Error is a stream error. It ends the stream.
type Error struct {
	Condition Condition
	Text      string
}

func (e *Error) Error() string {
	if e.Text != "" {
		return "stream error: " + string(e.Condition) + ": " + e.Text
	}
	return "stream error: " + string(e.Condition)
}

// Errorf returns a stream error with a formatted text.
func Errorf(c Condition, format string, args ...any) *Error {
	return &Error{Condition: c, Text: fmt.Sprintf(format, args...)}
}

// AppendXML appends <stream:error>…</stream:error>. The stream prefix must
// be bound to NS on the stream header (it is on every header this package
// writes).
func (e *Error) AppendXML(b []byte) []byte {
	b = append(b, "<stream:error><"...)
	b = append(b, e.Condition...)
	b = append(b, " xmlns='"+NSErrors+"'/>"...)
	if e.Text != "" {
		b = append(b, "<text xmlns='"+NSErrors+"' xml:lang='en'>"...)
		b = xml.AppendEscapedText(b, e.Text)
		b = append(b, "</text>"...)
	}
	return append(b, "</stream:error>"...)
}

// Header describes the stream header the server sends.
type Header struct {
	NS   string // default namespace: jabber:client or jabber:component:accept
	From string
	To   string
	ID   string
	Lang string
}

// AppendOpen appends an XML declaration and the opening stream tag.
func (h Header) AppendOpen(b []byte) []byte {
	b = append(b, "<?xml version='1.0'?><stream:stream xmlns='"...)
	b = xml.AppendEscapedAttr(b, h.NS)
	b = append(b, "' xmlns:stream='"+NS+"'"...)
	if h.From != "" {
		b = append(b, " from='"...)
		b = xml.AppendEscapedAttr(b, h.From)
		b = append(b, '\'')
	}
	if h.To != "" {
		b = append(b, " to='"...)
		b = xml.AppendEscapedAttr(b, h.To)
		b = append(b, '\'')
	}
	if h.ID != "" {
		b = append(b, " id='"...)
		b = xml.AppendEscapedAttr(b, h.ID)
		b = append(b, '\'')
	}
	lang := h.Lang
	if lang == "" {
		lang = "en"
	}
	b = append(b, " xml:lang='"...)
	b = xml.AppendEscapedAttr(b, lang)
	return append(b, "' version='1.0'>"...)
}

// Close is the closing stream tag.
const Close = "</stream:stream>"

// NewID returns a random stream or resource identifier (16 bytes, base64url).
func NewID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// FromSyntax maps a decoder error condition to a stream error.
func FromSyntax(e *xml.SyntaxError) *Error {
	c := Condition(e.Condition)
	switch c {
	case NotWellFormed, RestrictedXML, InvalidNamespace, PolicyViolation, UnsupportedEncoding, BadFormat, InvalidXML:
	default:
		c = NotWellFormed
	}
	return &Error{Condition: c, Text: e.Msg}
}
