// Package stanza is the core view of an XMPP stanza (RFC 6120 §8): the
// parsed element plus the routing attributes every layer needs (kind, type,
// id, to, from), stanza errors (RFC 6120 §8.3) that serialize themselves, and
// constructors for replies.
//
// Error types and conditions reuse mellium.im/xmpp/stanza's constants so the
// names match the rest of the Go XMPP ecosystem.
package stanza
