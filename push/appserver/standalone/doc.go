// Package standalone runs the push app server outside Dormouse: it connects
// to any XMPP server as an external component, Jabber Component Protocol
// XEP-0114 version 1.6 (jabber:component:accept), client side.
//
// Conn opens the stream to the component's domain, authenticates with the
// handshake (lowercase hex SHA-1 of the stream id the server sent followed
// by the shared secret), then hands every stanza it reads to a Handler (the
// app server's HandleStanza) and writes what the handler sends. A lost
// connection is re-established with exponential backoff (1 s doubling to
// 1 min by default, reset after a successful handshake); a whitespace
// keepalive every 60 s detects dead links.
//
// Concurrency: Run owns the connection's reader; Send may be called from
// any goroutine (writes are serialized by Conn.mu).
package standalone
