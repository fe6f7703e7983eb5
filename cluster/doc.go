// Package cluster lets several Dormouse nodes serve one domain: it keeps a
// cluster-wide registry of bound client resources and carries stanzas
// between nodes over NATS (core NATS publish/subscribe and request/reply,
// NATS server 2.9 or later; no JetStream). PostgreSQL, shared by every
// node, stays the source of truth for everything stored.
//
// # Registry
//
// Each node is the only authority for its own sessions: no consensus, no
// shared writable table. A node keeps its registry (full JID, priority,
// availability, last available presence, roster interest) in memory,
// numbered by a sequence, under an epoch (its start time in nanoseconds, so
// a restarted node starts a new epoch). It publishes every change on
// <prefix>.reg and a heartbeat carrying (node, epoch, sequence) on
// <prefix>.hb every Heartbeat; a node that sees a gap in the sequence, or a
// new epoch, fetches a full snapshot with a request on <prefix>.snap.<node>.
// Updates of an older epoch are ignored. Entries are never removed by key
// alone: a node's entries disappear only as a whole view of (node, epoch),
// when that node publishes a newer epoch or its lease runs out (no
// heartbeat for Lease); then one surviving node (the first by name) has
// the unavailable presence of the dead node's available resources sent to
// their contacts (RFC 6121 §4.5.2), through Config.Gone.
//
// # Routing
//
// The router (router.Cluster) asks for the resources of other nodes when a
// full JID is not bound locally and for bare-JID delivery (RFC 6121
// §8.5.2), whose priority rules then consider the resources of every node.
// A remote resource's Target queues the stanza, encoded once into a pooled
// buffer, for that node's sender: one goroutine per peer that sends
// everything queued as one batch request on <prefix>.deliver.<node> while
// the previous batch is in flight (at most 256 stanzas or 512 KiB a batch,
// 4,096 waiting; beyond that Deliver fails at once), with the sender's own
// reply subject (one publish and one answer per batch, no per-request
// allocations). The node holding the sessions answers one byte per
// stanza: taken or not. Target.Deliver
// waits for its stanza's answer, so the router still falls back to the
// bare-JID rules, offline storage or a bounce for a stanza that was not
// taken: an accepted stanza is never dropped.
//
// A batch that cannot be published (NATS unreachable) is sent again with
// a growing pause for up to Config.RequestTimeout; one whose answer timed
// out is sent once more. Every stanza carries a sequence number of its
// sender, per peer and per epoch; the receiving node remembers the
// answers to the last 1,024 of each sender's numbers and answers a
// retransmitted stanza from memory instead of delivering it twice. What
// still fails (no answer after the retry, the peer not listening, the
// connection down longer than the timeout) counts as not delivered: a
// message whose first copy was delivered but whose answer was lost can
// then also be stored offline (at least once, never lost).
//
// Each entry of the registry also carries whether the resource enabled
// message carbons (XEP-0280; router.Resource.Carbons, so that a node
// copies to carbons-enabled resources on other nodes), whether its client
// is inactive (XEP-0352) and whether its session is hibernated (XEP-0198;
// Cluster.RemoteClientState). The server tells the cluster of these
// changes (Router.Changed, the session events). Push notifications need
// nothing more: a stanza for a hibernated session is handed to the node
// holding it, whose session queues it and whose push service decides,
// once.
//
// PeerStats counts, per peer, the stanzas routed to it (taken, refused,
// failed), batches and retries, the stanzas routed from it (taken,
// refused, duplicates answered from memory) and the size of its registry;
// the server exports them as metrics labelled by peer. A node that is no
// longer in the view leaves nothing behind: its idle sender stops (a
// stanza routed to it later starts another, whose sequence numbers follow
// the old one's), and after a lease without a batch from it its memory of
// sequence numbers and its counters go.
//
// # Leaving and operations
//
// Close publishes a last heartbeat marked leaving before draining the
// NATS connection: the peers drop the node's view at once (not at its
// lease's end), have the unavailable presence of what it still listed
// sent, and ignore its later messages of that epoch. Heartbeats carry the
// node's number (cluster.node_number, in archive ids); a node hearing its
// own number from a peer logs it once per peer and epoch and lists it in
// Status.Collisions. Ready reports whether NATS is connected (/readyz);
// Observe is dormouse cluster status. Scheduled jobs that must run once
// per cluster are not this package's: see internal/cronjob (Once) and
// sql/postgres (Jobs).
//
// # Services
//
// In-process services that serve their entities on one node at a time
// (package muc: a room on one node) use Self, Alive, Serving and Forward.
// Alive says whether a node, in an epoch, is in this node's view (during
// this node's first lease, a node not heard of yet counts as alive).
// Serving is this node's own lease: each heartbeat carries the time it was
// sent; when this node hears its own heartbeat back it knows its peers
// cannot end its lease before that time plus Lease, and it considers its
// lease running until one heartbeat earlier; since tells when the current
// unbroken run began. Forward hands a stanza, with its 'from', to the
// service at its 'to' domain on another node with a NATS request on
// <prefix>.svc.<node>; that node delivers it with ServeServices' target
// (router.Router.Deliver: its policy hooks ran on the first node), marked
// Forwarded in the context, and answers once the service has handled it.
// Forwarded stanzas are handled one at a time per node, in arrival order.
//
// # Resumption on another node (XEP-0198)
//
// SM-IDs made on a node end with "." and its name (SMIDSuffix, SMIDNode).
// A <resume/> for an SM-ID of another node becomes a request on
// <prefix>.resume.<node> (Resume; package server asks the node named in
// the SM-ID, then, if that node no longer holds the session because it was
// resumed elsewhere since, the node named in the session's persisted
// record) carrying the SM-ID, the account, the
// client's h and the asking node; the holding node (ServeHandovers) has
// its Sessions give the session up atomically (the client's h applied)
// and answers with its state (Handover: queue, h, full JID, presence,
// priority, roster interest, directed presence, carbons; JSON with the
// stanzas as jabber:client XML, decodeAnswer is fuzzed) or a Refused (no
// such session, with its old h if it ended recently; or an h too high).
// From then on the old node forwards what reaches the session to the new
// node (retrying until that node has bound it, at most RequestTimeout),
// batched as above but on <prefix>.fwd.<node>, which a subscription of
// its own handles: two nodes each forwarding to the other while handling
// a batch do not wait for each other.
// The new node confirms on <prefix>.taken.<node> once it has bound the
// session (Taken: a request, sent again until answered, for up to a
// lease); the old node then releases the session when its
// registry shows it on the new node. Without a confirmation within a lease
// and a request timeout (the answer was lost, or came after the asking
// node gave up), the old node ends the session itself and rescues its
// queue, as for a session whose resumption time ran out: at least once,
// never lost. A node that is gone
// or does not answer gives ErrUnreachable: the caller answers from the h
// the dead node persisted (package server, sm_sessions in PostgreSQL).
//
// # Resource conflicts
//
// Registry entries carry their bind time on their node's clock, but
// later than any bind of the same full JID the node has heard of on
// another node (a session resumed or drained here, or bound again, is the
// newer one even if this node's clock is behind). When two
// nodes hold the same full JID the later bind wins (RFC 6120 §7.7.2.2;
// equal times: the greater node name): the node holding the older session
// closes it through Config.Conflict, whichever of the two nodes notices
// first, from an update, a snapshot or its own bind (conflict.go). A
// session is closed only if it is still the one bound, so a newer session
// of the same JID never suffers a late decision.
//
// # Draining (a node shutting down)
//
// Before it leaves, a node hands its resumable sessions to its live peers
// (package server: each to the peer holding fewest sessions, DrainPeers,
// within cluster.drain_timeout): it gives a session up as for a
// resumption (Sessions.HandOver with the client's last h; stanzas that
// still reach it are forwarded, ForwardTo) and sends its state, with the
// resumption time it has left (Handover.Left), in a request on
// <prefix>.adopt.<peer> (HandTo). The peer's Adopter binds the session
// hibernated and persists its record naming the peer before answering
// (ServeAdoptions; up to 32 adoptions at once); the draining node then
// waits until its registry shows the session on the peer (WaitBound) and
// lets it go. A refusal or no answer within Config.RequestTimeout ends the
// session on the draining node, its queue rescued (the peer may have
// adopted it all the same: at least once). When a node leaves, the
// unavailable presence of what it still listed is not sent for a full
// JID bound on a live node (a session it handed over).
//
// Not in this version: XEP-0198 location.
package cluster
