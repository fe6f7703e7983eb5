// Package ping implements XEP-0199: XMPP Ping (urn:xmpp:ping), XEP version
// 2.0.1, for the server itself.
//
// Register adds:
//   - a handler for IQ get <ping xmlns='urn:xmpp:ping'/> addressed to a
//     served domain, or without a 'to' (a client-to-server ping, §4.2),
//     answered with an empty IQ result;
//   - the disco#info feature urn:xmpp:ping on the server.
//
// Pings addressed to an account's bare JID are not answered on the
// account's behalf: XEP-0199 defines client-to-server (§4.2),
// server-to-server (§4.3) and end-to-end (§4.4, to a full JID, delivered to
// the resource) pings only, so the router answers them with
// service-unavailable like any other unhandled namespace. An IQ set is not a
// ping and gets bad-request.
package ping
