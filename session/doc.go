// Package session serves client-to-server XMPP connections (RFC 6120):
// stream headers, STARTTLS (§5) and direct TLS (XEP-0368), SASL (§6) with
// SCRAM-SHA-256, SCRAM-SHA-1 and PLAIN (PLAIN only over TLS), resource
// binding (§7), 'from' stamping and checking (§8.1.2.1), stream errors
// (§4.9), and a bounded outbound queue written in batches.
//
// A Conn owns one reader goroutine. Writes go through the connection's
// outbound queue, drained by a writer goroutine that exists only while
// there is something to write, so an idle connection holds no writer.
//
// The package does not import the router or any feature: it defines the
// Router interface it needs, and cmd/dormouse connects the two.
package session
