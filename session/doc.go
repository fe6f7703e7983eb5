// Package session serves client-to-server XMPP connections (RFC 6120):
// stream headers, STARTTLS (§5) and direct TLS (XEP-0368), SASL (§6) with
// SCRAM-SHA-256, SCRAM-SHA-1 and PLAIN (PLAIN only over TLS), resource
// binding (§7), 'from' stamping and checking (§8.1.2.1), stream errors
// (§4.9), and a bounded outbound queue written in batches. It implements
// XEP-0198 Stream Management (urn:xmpp:sm:3, version 1.6 semantics) with
// resumption and hibernation, and XEP-0352 Client State Indication
// (urn:xmpp:csi:0, version 1.0.0), XEP-0388 Extensible SASL Profile
// (urn:xmpp:sasl:2, version 1.0.4) with XEP-0386 Bind 2 (urn:xmpp:bind:0,
// version 1.1.0) and XEP-0484 FAST (urn:xmpp:fast:0, version 0.1.0) inline,
// XEP-0440 SASL channel-binding types (urn:xmpp:sasl-cb:0, version 1.0.0)
// and SCRAM -PLUS channel binding (tls-exporter, tls-server-end-point).
//
// # Connections and sessions
//
// A Conn is one TCP connection, or one stream another listener accepted
// and hands over with Server.ServeConn over a secure transport (XMPP over
// WebSocket, RFC 7395: package websocket translates its framing into a
// byte stream, so everything below applies unchanged, except parking,
// which needs a socket); one reader goroutine at a time runs
// negotiation and handles every element the client sends. Writes go
// through the connection's outbound queue, drained by a writer goroutine
// that exists only while there is something to write, so an idle
// connection holds no writer.
//
// Nor a reader: an authenticated connection that has sent nothing for
// Config.ParkAfter (100 ms) parks. It releases its decoder's read buffer
// and parser and its negotiation context, its reader goroutine returns,
// and the connection waits for readability in the Server's epoll poller
// (internal/netpoll; on other systems, or with Config.PortablePark, in a
// small goroutine blocked on the runtime poller). When input arrives, or
// the idle timeout (one sweep for all parked connections) or a goroutine
// that must wake it (the session resumed elsewhere, the stream closing, a
// failed write, shutdown) takes the wake-up, a reader goroutine continues
// where the old one stopped: at most max(128, 64×GOMAXPROCS) goroutines
// read woken connections, the others queue (wake.go), so a burst of
// wake-ups does not leave thousands of goroutine records behind. Parking
// happens only between top-level elements with nothing buffered: the reader first waits for one
// byte without a buffer, and a timeout there means crypto/tls holds no
// complete record (park.go explains why nothing can be left unread).
// Server.Stats counts parked connections.
//
// Binding a resource creates a Session, the router's stanza.Target for
// that full JID. Without stream management it ends with its connection.
//
// # Stream management (XEP-0198)
//
// <sm/> and <csi/> are offered after authentication. <enable/> after bind
// starts the counts (<enable/> before bind: <failed><unexpected-request/>;
// a second <enable/>: a policy-violation stream error). With
// resume='true' the server answers <enabled id='…' resume='true'
// max='…'/>: the SM-ID is 130 random bits (crypto/rand), usable only by
// the account that created it, and max is the client's max capped by
// Config.SM.MaxResumeTimeout (Config.SM.ResumeTimeout if it asks for
// none).
//
// The server counts the client's stanzas (h, modulo 2^32) after handling
// each: router.Route is synchronous, so a stanza acknowledged with <a/> has
// been archived, stored or queued to its recipients. It keeps every stanza
// it sends until the client acknowledges it, asks for an ack (<r/>) after
// Config.SM.AckAfter unacknowledged stanzas or Config.SM.AckDelay, with at
// most one <r/> outstanding, and answers an <a/> acknowledging more than
// was sent with the §4 stream error (<undefined-condition/> and
// <handled-count-too-high/>).
//
// When the connection of a resumable session is lost without
// </stream:stream> or a stream error (a read error or timeout, a TCP reset,
// a failed write), the session hibernates: the connection, its goroutines
// and buffers are gone; the session stays bound and available to contacts,
// keeps its queue (stanzas routed to it are added, presence and other
// non-urgent stanzas collapsing as under CSI) and a timer on the injected
// Clock. <resume previd h/> after SASL (instead of bind) answers
// <resumed previd h/> and re-sends, in order, every stanza the client's h
// does not acknowledge; a connection still open for the session is closed
// with a conflict stream error. An unknown, expired or another account's
// SM-ID gets <failed><item-not-found/></failed>, with the old h when the
// session ended recently (Config.SM.OldSessions per account, for
// Config.SM.OldSessionTTL) so the client learns which of its stanzas the
// server handled; the client may then bind.
//
// In a cluster (Server.Remote set), an SM-ID unknown here is asked of the
// node holding it, which gives the session up (Server.HandOver: detached,
// the client's h applied, its queue and counts exported, and from then on
// a moved session that forwards what it is given); this node adopts it
// with the same SM-ID and full JID and resumes it as a local one. With
// Server.SMStore, each session's h is persisted when it hibernates or
// ends, so a node answers a <resume/> for a dead node's session with the
// right h.
//
// A session that ends without being resumed — resumption time out, a
// hibernated queue over Config.SM.MaxQueue (the session ends at once: the
// overflow policy loses nothing), a live queue over Config.SM.MaxUnacked
// (the stream is closed with policy-violation), a clean close, a replaced
// resource, server shutdown — is unbound first (contacts get unavailable
// presence), then hands every queued message worth keeping (Rescuable) to
// the Server's Rescuer, stamped with the time the session got it (XEP-0203)
// and in queue order: package server connects it to offline storage, which
// delivers to another resource of the account, else stores the message.
// Queued IQ requests are answered service-unavailable; presence and chat
// states are dropped; nothing is bounced to a message's sender. Shutdown
// ends every live and hibernated session this way before it returns;
// with Server.Drain set (a cluster), the resumable sessions whose streams
// it closes hibernate instead, and Drain hands the hibernated sessions to
// other nodes first (HandOver with the client's last h; the peer's
// AdoptHibernated binds each hibernated, its record naming the peer):
// only those no node took end here.
//
// # SASL2, Bind 2 and FAST
//
// After TLS, <authentication xmlns='urn:xmpp:sasl:2'/> is offered beside
// RFC 6120 SASL, with the same mechanisms plus the -PLUS ones (only there:
// see Conn.mechanisms), the same throttle, limits and metrics. An
// <authenticate/> may carry, inline: <user-agent id/>, Bind 2 <bind/>
// (with SM <enable/>, carbons <enable/>, CSI <inactive/>), an XEP-0198
// <resume/>, and FAST <request-token/> or <fast/>. <success/> carries the
// authorization identifier, a FAST <token/>, then either <resumed/> (the
// queued stanzas follow in the same write) or, if there was no resumption
// or it failed (<failed h/>), Bind 2's <bound/>. No stream restart. FAST
// logins (fast.go) check the token with HMACs only; tokens are bound to the
// account, the user-agent id and the mechanism, rotated after
// Config.FAST.RotateAfter and expire after Config.FAST.Expiry.
//
// # Client state indication (XEP-0352)
//
// While a client is inactive, presence (only the latest per contact full
// JID), chat states and other non-urgent stanzas wait in a hold queue
// (Config.CSI.MaxHeld; a full queue is flushed). Urgent stanzas (IQs,
// messages with a body or an encrypted payload, Jingle Message Initiation,
// errors; groupchat messages only if they mention the user) are delivered
// at once, after the held ones. <active/> flushes; a resumed stream starts
// active. Server.Stats counts held and sent stanzas.
//
// # Events
//
// Events (Hibernated, StanzaQueued, Resumed, TimedOut) tell other features
// about hibernation without session importing them; push notifications
// subscribe there.
//
// # Concurrency
//
// The reader goroutine of a connection owns its negotiation state (the
// Conn fields documented as such). A Session's queues and state are
// guarded by its mu; the count of the client's stanzas by inMu, which the
// reader holds while it routes and counts one stanza, so a resumption on
// another connection reads a count that includes every stanza the old
// connection handed on. Chat and normal messages that Server.Pipeline
// picks (the server: those the archive may keep) are pipelined (up to 32
// in flight, each routed on its own goroutine while the earlier ones wait
// for their archive commit); inMu is then held by the flight until the
// last of them is routed and counted, in order (pipeline.go). Lock order: Session.resumeMu → Session.inMu →
// Session.mu → the lock of Conn.q (its outbound queue); the registry lock
// and Server.mu are leaves. A hibernated session has no goroutine: its resumption timeout is an entry
// in a heap run by one Clock timer for all (sm_hibernate.go).
// Timer callbacks and background endings are counted so Shutdown waits for
// them.
//
// # Files
//
//	server.go        Server, Config, accept loop, ServeConn, Shutdown
//	conn.go          Conn: one TCP connection, its write queue and lifecycle
//	negotiate.go     stream header, STARTTLS, SASL, stream features
//	sasl2.go         XEP-0388 SASL2 and XEP-0386 Bind 2
//	sasl2_parse.go   the <authenticate/> parser (fuzzed)
//	fast.go          XEP-0484 FAST logins and tokens
//	cb.go            channel-binding data, XEP-0440
//	stanzas.go       bound stanzas: bind, 'from' stamping, rate limit, routing
//	pipeline.go      chat and normal messages routed while earlier ones commit
//	park.go          idle connections without goroutine or buffer
//	session.go       Session: the bound resource, delivery, ending
//	rescue.go        what happens to the queue of an ended session (Rescuer)
//	sm.go            XEP-0198 wire protocol on the connection: <enable/>,
//	                 <resume/>, <a/>, <r/>; the unacknowledged queue
//	sm_session.go    XEP-0198 on the Session: acks, hibernation, resumption
//	sm_hibernate.go  resumption timeouts (one timer for all)
//	sm_registry.go   SM-IDs of resumable and recently ended sessions
//	handover.go      resumption on another node of a cluster: HandOver,
//	                 Remote (the node where the client resumes adopts it)
//	smstore.go       SMStore: the h of sessions, persisted for other nodes
//	drain.go         a draining node's sessions: Hibernated, AdoptHibernated
//	csi.go           XEP-0352: <active/>, <inactive/>, the hold queue
//	events.go        Events and ResumePolicy for other packages
//	stats.go         Stats, Census and Metrics
//
// The package does not import the router or any feature: it defines the
// Router, Rescuer and Events interfaces it needs, and package server
// connects them.
package session
