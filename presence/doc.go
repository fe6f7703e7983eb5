// Package presence implements presence exchange for local users: RFC 6121
// §4 (initial presence and probes, broadcast of available and unavailable
// presence, directed presence).
//
// Register adds the presence handlers for available presence (no type),
// type unavailable and type probe, and an OnGone hook that broadcasts
// unavailable presence for a session that ends without sending it
// (RFC 6121 §4.6.3 and §4.5.2). Subscription stanzas (subscribe,
// subscribed, unsubscribe, unsubscribed) belong to the roster package;
// presence of type error is delivered by the router.
//
// Who receives whose presence comes from the Roster interface (the roster
// package implements it; presence does not import it). All contacts with
// a roster are local users: there is no server-to-server yet, so
// broadcasts and probe answers are delivered directly; contacts on a
// component's domain get the stanzas through the router.
//
// # Concurrency
//
// Service.mu guards Service.resources, the per-resource record of
// availability and directed-presence recipients. A resource's handlers run
// on its session's goroutine, and so does the OnGone hook (after the router
// has unbound the resource), but the map is shared by all sessions. The
// lock is never held while delivering or calling the roster.
package presence
