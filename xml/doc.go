// Package xml is Dormouse's restricted XML layer for XMPP streams (RFC 6120 §11):
// a stream decoder that frames top-level elements with size and depth limits,
// a small element tree, and an allocation-conscious serializer.
//
// It deliberately supports only what RFC 6120 allows on an XMPP stream: no
// DTDs, processing instructions (other than the optional XML declaration),
// comments, or entity declarations; only the five predefined entities and
// numeric character references. Anything else is a not-well-formed (or
// restricted-xml) error, so XML bombs die at their first byte.
//
// Errors found in the input are *SyntaxError values carrying the stream
// error condition to send: not-well-formed for syntax errors (including
// undeclared prefixes, invalid UTF-8, illegal characters, duplicate
// attributes and non-whitespace text between top-level elements),
// restricted-xml for comments, processing instructions, DTDs and references
// to entities other than the five predefined ones (an undeclared entity can
// only be an attempt to use a DTD), invalid-namespace for a stream header
// that is not {http://etherx.jabber.org/streams}stream, policy-violation for
// exceeded Limits, and unsupported-encoding for an XML declaration naming an
// encoding other than UTF-8.
//
// Only the standard library is imported.
package xml
