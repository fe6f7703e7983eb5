// Package s2s federates Dormouse with other XMPP servers: server-to-server
// streams of RFC 6120 (XMPP Core, §3.2 resolution, §5 STARTTLS, §6 SASL,
// §13.7 certificates), with names checked by RFC 6125 (DNS-IDs of the
// XMPP domain, wildcards in the left-most label), server dialback
// XEP-0220 version 1.1.1 with keys generated per XEP-0185 version 1.0, and
// direct TLS for server streams (XEP-0368 version 1.1, the
// _xmpps-server._tcp SRV records, ALPN "xmpp-server").
//
// # Outgoing streams
//
// Service.Send (the router's Remote) queues a stanza on the outgoing
// stream of its (local domain, remote domain) pair, creating it if there
// is none: one stream per pair, with a bounded queue while it is being
// set up. The stream resolves the remote domain (a configured Hosts entry,
// else _xmpps-server._tcp with direct TLS first, then _xmpp-server._tcp
// with STARTTLS, then the domain on port 5269), races the addresses of a
// target happy-eyeballs style (RFC 8305: a new attempt every 250 ms until
// one connects), requires TLS and validates the peer's certificate
// against the system roots (or the configured CA pool) for the remote
// domain itself, never the SRV target (RFC 6120 §13.7.2.1). It presents
// the server's certificate as a TLS client certificate and authenticates
// with SASL EXTERNAL when the peer offers it, otherwise with dialback. A
// certificate that does not validate ends the attempt, unless the domain
// is listed in InsecureDomains: then dialback over the unverified TLS is
// used. When the attempt fails, the queued stanzas are bounced with
// remote-server-not-found (resolution, connection, TLS, certificate,
// authentication refused) or remote-server-timeout (no answer in time),
// and further stanzas to the domain are bounced at once for a back-off
// period that doubles with each failure. An idle stream (no stanza sent)
// is closed after IdleTimeout.
//
// # Incoming streams
//
// Serve accepts streams (STARTTLS, or direct TLS for ServeTLS). TLS is
// required before anything else. A peer whose client certificate
// validates for the domain in its stream header may use SASL EXTERNAL;
// any peer over TLS may use dialback, which this server verifies with the
// authoritative server of the claimed domain over a connection of its own
// (XEP-0220 §2.1.2) — when the peer's certificate does not validate, only
// for InsecureDomains. This server answers the db:verify requests of
// other servers about the keys it issued. Every stanza on an incoming
// stream must come from a domain the stream authenticated (invalid-from)
// and go to a served host (host-unknown); a stanza without both addresses
// is improper-addressing (RFC 6120 §4.9.3). Stanzas are bounded in size,
// and connections per IP address are limited. A stream must authenticate
// within ConnectTimeout (else connection-timeout); once authenticated, a
// stream that carries no element for IdleTimeout is closed with our
// closing tag, no stream error, as an idle outgoing stream is. Whitespace
// keepalives (RFC 6120 §4.6.1) do not count: they keep a connection
// alive through NATs, not a stream in use; the peer opens a new stream
// when it has something to send. Stanzas that cross our closing tag are
// still routed.
//
// Streams are unidirectional (no XEP-0288): stanzas to a domain leave on
// the outgoing stream, stanzas from it arrive on an incoming one.
package s2s
