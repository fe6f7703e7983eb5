// Package mam implements the user message archive:
//
//   - XEP-0313: Message Archive Management (urn:xmpp:mam:2 and
//     urn:xmpp:mam:2#extended), version 1.1.3 (2025-04-09): queries with
//     the with, start, end, before-id, after-id and ids fields, flipped
//     pages, the query form, and archive metadata (<metadata
//     xmlns='urn:xmpp:mam:2'/>, §5: XEP-0313 defines no separate
//     #metadata namespace or feature; #extended covers it);
//   - XEP-0359: Unique and Stable Stanza IDs (urn:xmpp:sid:0), version
//     0.7.0: every archived message carries <stanza-id by='archive'/>;
//   - XEP-0059: Result Set Management, version 1.0: max, after, before
//     (empty: the last page), first, last and count (index is not
//     supported: feature-not-implemented);
//   - XEP-0441: Message Archive Management Preferences, version 0.2.0
//     (urn:xmpp:mam:2 <prefs/>);
//   - XEP-0431: Full Text Search in MAM, version 0.2.0: the
//     {urn:xmpp:fulltext:0}fulltext field, only where the store supports
//     it;
//   - XEP-0334: Message Processing Hints, version 0.3.0 (store, no-store,
//     no-permanent-store) and XEP-0297: Stanza Forwarding, version 1.0.
//
// Register adds:
//   - the StageArchive hook "mam" (ArchiveHook), which archives a message
//     before it is delivered;
//   - IQ handlers on the account's bare JID for <query/> (set: a query;
//     get: the form), <metadata/> (get) and <prefs/> (get, set), all in
//     urn:xmpp:mam:2; only the owner may use an archive (forbidden
//     otherwise);
//   - the disco#info features urn:xmpp:mam:2, urn:xmpp:mam:2#extended,
//     urn:xmpp:sid:0 and, with a full-text store, urn:xmpp:fulltext:0, on
//     the account and on the server.
//
// # What is archived
//
// A message is archived if it is of type chat or normal (or has no type),
// has a non-empty <body/>, an end-to-end encrypted payload (OMEMO, legacy
// OMEMO, OpenPGP, OX) or a <store/> hint, and has neither a <no-store/> nor
// a <no-permanent-store/> hint. Errors, headlines, groupchat messages and
// messages without content (chat states, receipts, markers alone) are not.
// Only local archives are written: the sender's if the sender is a local
// account (Outgoing; also for messages to remote entities and components),
// the recipient's if the recipient is one; each only
// if the owner's preferences (XEP-0441 §2.3 JID matching; default from
// Config.Default, "always" unless set) want messages with the other party.
// A message to oneself is archived once.
//
// # Stanza ids
//
// An archived message gets one archive id, used in both archives (ids are
// unique per archive, and sharing one makes the sender's and recipient's
// copies easy to correlate; carbons copies carry the same value). The copy
// delivered to the recipient carries <stanza-id by='recipient bare JID'/>
// and is what the recipient's archive stores; the sender's archive stores
// the message with <stanza-id by='sender bare JID'/>. A copy to a recipient
// whose archive did not keep the message carries no stanza-id (XEP-0313
// §3.5). Any <stanza-id/> the sender put in that claims one of the local
// archives is removed first (XEP-0359 §4), archived or not; <origin-id/>
// and stanza-ids by other entities are kept. StanzaID finds the id for
// other features.
//
// The routed message carries only the recipient's stanza-id: the sender's
// would be a stanza-id in a message to someone who cannot read that
// archive (XEP-0313 §3.5: MUST NOT). The sender's copy, with the sender's
// stanza-id, goes in router.Routing.Sent, which sent carbons (XEP-0280 §8)
// forward; received carbons forward the routed message with the
// recipient's.
//
// Archive ids are time-ordered int64 values (milliseconds since 1970 << 20
// | a counter) given out strictly increasing by one process; FormatID
// writes them as 13 characters of base32hex, which sort like the ids. They
// are predictable to the extent that they reveal the archiving time, which
// the <delay/> stamp of every result shows anyway; they reveal nothing of
// the archive's size. The nodes of a cluster sharing one database each set
// Config.ClusterNode: their number fills the counter's low 8 bits, so two
// nodes never give out the same id (found by a two-node test: the same id
// for one owner from two nodes deadlocked PostgreSQL's unique index).
//
// # Writes
//
// Archiving happens in the hook, synchronously, before delivery: both
// rows in one Store.Append. Concurrent senders are grouped into one Append
// (group commit, see batcher): without load the first writer commits at
// once; under load (a commit ended less than Config.BatchLinger ago) a
// batch waits up to BatchLinger for more writers, since an archive commit
// costs mostly per commit, not per message. A batch holds at most
// Config.MaxBatch rows; by default the store's size (BatchSizer: 512 on
// SQLite, 1,024 on PostgreSQL) or DefaultMaxBatch (256). A writer routed
// with a sequence.Sequencer (a client session pipelining its messages) is released
// once its messages are queued for a commit: its sender's next message,
// whose id comes after, may join the same commit. If the archive
// cannot take the message, the message is not delivered and the sender
// gets internal-server-error (type wait): every delivered message is in
// the archive, so every device can catch up from it.
//
// # Queries and pacing
//
// A query returns one page of at most Config.MaxPage results from one
// keyset range scan (Store.Query); a client pages with RSM after/before.
// Results go straight to the requesting resource's queue, in chronological
// order (reversed with <flip-page/>), then the IQ result with <fin/>. Each
// user runs at most Config.MaxConcurrentQueries queries at once over all
// resources; a further query waits up to Config.QueryWait, then gets
// resource-constraint. Unknown ids (RSM after/before, before-id, after-id,
// ids) get item-not-found; a malformed field bad-request; an unknown field
// feature-not-implemented.
//
// # Retention
//
// Purge deletes the oldest messages in chunks; RunRetention purges what is
// older than a maximum age by the injected clock; StartRetention runs it
// on a cron schedule (github.com/robfig/cron/v3, six fields with seconds).
//
// # Concurrency
//
// A Service is safe for concurrent use. The id generator, the group-commit
// batcher, the per-user query slots and the preferences cache each have
// their own mutex, never held while calling the store or the router
// (except the batcher's, held only to join or leave a batch).
package mam
