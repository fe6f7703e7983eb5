// Package component serves external components over the Jabber Component
// Protocol, XEP-0114 version 1.6 (jabber:component:accept), server side.
//
// A component (a bridge, an app server such as a push service) connects,
// opens a stream to its domain, and authenticates with a handshake: the
// lowercase hex SHA-1 of the stream ID concatenated with the shared secret
// configured for that domain. From then on the domain is routed to the
// connection: stanzas addressed to any JID at the domain are written to it,
// and the stanzas it sends are routed as if from a local entity, provided
// their 'from' is at the component's domain (RFC 6120 §4.9.3.9 invalid-from).
//
// A Conn owns one reader goroutine. Writes go through the connection's
// bounded outbound queue, drained by a writer goroutine that exists only
// while there is something to write.
//
// The package does not import the router: it defines the Router interface
// it needs, and package server connects the two.
package component
