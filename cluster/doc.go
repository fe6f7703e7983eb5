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
// A remote resource's Target sends the stanza with a NATS request on
// <prefix>.deliver.<node>; the node holding the session answers whether the
// session took it. A failed or unanswered request counts as not delivered,
// so the router falls back to the bare-JID rules, offline storage or a
// bounce: an accepted stanza is not silently dropped. A request that timed
// out after the other node delivered may deliver a message twice (at least
// once, never lost). Cross-node stanzas are not batched in this version.
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
// Not in this version: resumption of a hibernated session (XEP-0198) on
// another node, resource conflicts across nodes (RFC 6120 §7.7.2.2: the
// same full JID bound on two nodes is routed to one of them), push and CSI
// state in the registry.
package cluster
