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
// the server exports them as metrics labelled by peer.
//
// Not in this version: resumption of a hibernated session (XEP-0198) on
// another node, resource conflicts across nodes (RFC 6120 §7.7.2.2: the
// same full JID bound on two nodes is routed to one of them), MUC
// failover.
package cluster
