package xml

import "errors"

// ErrStreamEnd is returned by Decoder.Next once the closing </stream:stream>
// tag has been read.
var ErrStreamEnd = errors.New("xml: end of stream")

// Stream error conditions (RFC 6120 §4.9.3) a SyntaxError can carry.
const (
	CondNotWellFormed       = "not-well-formed"
	CondRestrictedXML       = "restricted-xml"
	CondInvalidNamespace    = "invalid-namespace"
	CondPolicyViolation     = "policy-violation"
	CondUnsupportedEncoding = "unsupported-encoding"
)

// SyntaxError is a violation of the (restricted) XML rules of an XMPP stream.
// It ends the stream: the Decoder returns it from every later call.
// Condition is the RFC 6120 §4.9.3 stream error condition to send to the
// peer; Msg is a short human-readable description that is safe to send as
// the stream error text.
type SyntaxError struct {
	Condition string
	Msg       string
}

func (e *SyntaxError) Error() string {
	return "xml: " + e.Condition + ": " + e.Msg
}

func errNotWellFormed(msg string) error {
	return &SyntaxError{Condition: CondNotWellFormed, Msg: msg}
}

func errRestricted(msg string) error {
	return &SyntaxError{Condition: CondRestrictedXML, Msg: msg}
}

func errPolicy(msg string) error {
	return &SyntaxError{Condition: CondPolicyViolation, Msg: msg}
}

// errBang classifies "<!" markup that is not the start of a CDATA section;
// rest is what follows "<!".
func errBang(rest []byte) error {
	const open = "[CDATA["
	if len(rest) < len(open) && string(rest) == open[:len(rest)] {
		return errNotWellFormed("unexpected end of data")
	}
	return errRestricted("comments, DTDs and markup declarations are not allowed")
}
