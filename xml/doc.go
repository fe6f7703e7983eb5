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
// Only the standard library is imported.
package xml
