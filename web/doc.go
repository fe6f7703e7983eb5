// Package web is Dormouse's public HTTPS listener: one http.Server (TLS from
// the server certificate, HTTP/2 and HTTP/1.1) that carries XMPP over
// WebSocket (RFC 7395, package websocket), HTTP file upload (XEP-0363,
// package upload) and connection discovery (XEP-0156 version 1.4.0:
// /.well-known/host-meta and /.well-known/host-meta.json, with CORS).
//
// Behind a reverse proxy (Config.BehindProxy) it serves plain HTTP; the
// client's address and scheme are then taken from X-Forwarded-For and
// X-Forwarded-Proto, but only when the request comes from a trusted proxy
// address (Config.TrustedProxies, loopback by default).
//
// The URLs the server advertises (host-meta, upload slots) come from
// Config.PublicURL when set, and otherwise from the domain and the port the
// listener really has (URL), so what is advertised works as written.
package web
