// Package websocket carries client XMPP streams over WebSocket: RFC 7395
// (XMPP Subprotocol for WebSocket), with RFC 6455 from
// github.com/coder/websocket.
//
// Handler answers GET /xmpp-websocket with the "xmpp" subprotocol and hands
// the connection to the same session machinery as TCP streams
// (session.Server.ServeConn) as a net.Conn that translates the framing:
//
//   - client to server: <open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>
//     becomes a stream header, <close/> the closing </stream:stream>, and
//     every other message passes through unchanged. The framing elements
//     are known by their namespace, whatever the prefix (<fr:open
//     xmlns:fr='urn:ietf:params:xml:ns:xmpp-framing'/>); another namespace
//     is invalid-namespace, and content in them (a stream header has
//     attributes only) is bad-format rather than dropped. Each message must hold
//     exactly one element (§3.3.3) and is at most MaxMessage bytes (a
//     larger one closes the WebSocket with status 1009 and ends the
//     session like the policy-violation stream error over TCP: no
//     hibernation); the session's XML decoder then applies its limits to
//     that element.
//   - server to client: the stream header becomes <open/>, </stream:stream>
//     becomes <close/>, and each top-level element is sent as its own text
//     message, with the namespace declarations it relied on from the stream
//     header (xmlns='jabber:client', xmlns:stream) made explicit.
//
// So SASL, resource binding, stream management (resumption across
// WebSocket reconnects), CSI, carbons, MAM and push work over WebSocket
// exactly as over TCP. The HTTPS listener provides the TLS: no STARTTLS is
// offered and PLAIN is allowed.
//
// The Handler checks the Origin header against Config.AllowedOrigins, pings
// the browser every Config.PingInterval (a missing pong within the interval
// ends the connection: a sleeping tab's session hibernates and can be
// resumed; not while the session has not taken the last message, as no
// pong is read then), and applies back-pressure: the session's writes block on the
// WebSocket under its write deadline, and the next message is read only
// after the session consumed the previous one. see-other-uri (§3.6.1) is
// not sent: the server never redirects.
//
// # Files
//
//	framing.go  the element scanner and the translation of both directions
//	conn.go     the net.Conn over one WebSocket
//	handler.go  the HTTP handler: upgrade, origin check, pings
package websocket
