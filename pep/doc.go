// Package pep implements XEP-0163: Personal Eventing Protocol, version
// 1.2.2, on the subset of XEP-0060: Publish-Subscribe, version 1.26.0, that
// personal eventing clients use, with XEP-0223 (persistent storage of
// private data via pubsub, 1.1.1) publish options. Every account's bare
// JID is a pubsub service holding the account's nodes: OMEMO device lists
// and bundles, avatars (XEP-0084), nicknames (XEP-0172), bookmarks
// (XEP-0402), moods, tunes and any other payload, which the service treats
// alike. The package also implements XEP-0049: Private XML Storage, version
// 1.2 (jabber:iq:private), where XEP-0048 bookmarks (storage:bookmarks)
// are the XEP-0402 (1.2.0) bookmarks node seen the old way (§5.3,
// urn:xmpp:bookmarks:1#compat): both kinds of clients share one set.
//
// Register adds, at accounts' bare JIDs (router.ToAccount):
//   - {http://jabber.org/protocol/pubsub}pubsub: publish (auto-creating the
//     node, XEP-0163 §3, with <publish-options/> as its configuration, or
//     checked as preconditions against an existing node's: conflict with
//     <precondition-not-met/> when they differ), retract (notify), items
//     (all, max_items, by id), create (with <configure/>), affiliations
//     (the owner owns every node; others have none), subscribe and
//     unsubscribe (explicit subscriptions of the requester's bare or full
//     JID by anyone who may read the node; the last item follows unless
//     send_last_published_item is never) and subscriptions (the
//     requester's own);
//   - {http://jabber.org/protocol/pubsub#owner}pubsub: configure (get and
//     set), default, delete and purge, for the owner only;
//   - {jabber:iq:private}query: get and set of private fragments by
//     namespace, for the owner only (forbidden to others; jabber:*
//     namespaces not-acceptable; an unknown fragment is returned empty);
//     storage:bookmarks is translated: a get lists the conferences of the
//     urn:xmpp:bookmarks:1 node (jid = item id) and the other children of
//     the last stored <storage/> (such as <url/>); a set publishes new and
//     changed conferences (keeping XEP-0402 <extensions/>) and retracts
//     the missing ones, with the usual events, creating the node as
//     XEP-0402 §3.3 configures it;
//   - an OnAvailable hook: a resource that sent initial presence gets the
//     newest item of each node (its own account's, and those of the
//     contacts it is subscribed to) its entity capabilities ask for, where
//     the node's pubsub#send_last_published_item is on_sub_and_presence;
//   - the disco#info features in Features and FeatureBookmarksCompat, at
//     accounts.
//
// # Limits
//
// Config bounds a payload (MaxPayloadSize: not-acceptable with
// <payload-too-big/>), the payload bytes one account stores in all its
// nodes (MaxBytes: not-acceptable), the nodes of an account (MaxNodes:
// not-allowed with <max-nodes-exceeded/>) and the items a node keeps
// (MaxItems, also with max_items=max: the oldest go first). Node names,
// item ids and private namespaces are at most MaxNameLen bytes.
//
// # Configuration
//
// A node's configuration (NodeConfig) is pubsub#access_model (presence,
// the default; open; whitelist, which admits the owner only),
// pubsub#persist_items, pubsub#max_items (a number or max; every node
// keeps at most Config.MaxItems), pubsub#send_last_published_item and
// pubsub#notify_retract and pubsub#notify_delete (purges are always
// notified); pubsub#deliver_notifications and pubsub#deliver_payloads are
// accepted as true, the only behaviour there is. Other fields are refused (not-acceptable in a
// configuration, precondition-not-met in publish options, as XEP-0060
// §7.1.5 asks). The roster access model, subscription options, subscription
// management by the owner, affiliation changes, collections and instant
// nodes are not implemented and answered with feature-not-implemented and
// <unsupported feature='…'/>.
//
// # Access and privacy
//
// The router tells the handlers who asks (router.Relation, see "Accounts
// and strangers" in package router). The owner (Self: any of the
// account's resources) may do everything; others may only retrieve items:
// from open nodes, and, for contacts (the owner's roster has them with
// subscription from or both), from presence nodes. The pubsub namespace
// is a public handler (router.Mux.HandlePublicIQ): strangers, and anyone
// asking a local JID without an account, reach it as Stranger, and get
// item-not-found for a node they may not read, exactly as for a node that
// does not exist, after the same single lookup: a stranger cannot tell a
// closed node from a missing one, nor a missing account from one that
// published nothing (only open nodes answer). A contact is told
// <not-allowed/> with <closed-node/> for a whitelisted node. The owner
// namespace and private storage are ordinary account handlers: strangers
// get the router's service-unavailable, contacts forbidden.
//
// # Notifications
//
// Events (XEP-0163 §4.3) are headline messages from the owner's bare JID
// with <event xmlns='http://jabber.org/protocol/pubsub#event'/>, which
// client state indication (XEP-0352) holds back and which are neither
// stored offline nor archived. They go to every available resource of the
// owner and, unless the node is whitelisted, of the contacts subscribed to
// the owner's presence, whose XEP-0115 entity capabilities include
// NODE+notify (XEP-0163 §4.4, filtered notifications), and to the
// resources subscribed explicitly (a bare JID subscription covers every
// available resource) that may still read the node. The service learns
// a capabilities hash (sha-1 only) by asking the first resource showing it
// for its disco#info, from the resource's own bare JID, and keeps the
// answer, if it hashes to the advertised value (Config.CapsVer), in memory
// and in the Store. A resource whose capabilities are not known yet gets no
// events until they are, and then the last published items. In a
// cluster, the capabilities of a resource on another node are read from
// the Store only (its node asks it and stores the answer; an answer to a
// query from here would reach that node), and tried again at the next
// publish while they are not stored yet.
//
// # Concurrency
//
// Handlers run on the requesting session's goroutine. Capability queries
// and the sending of last published items run on goroutines the Service
// starts and Close waits for (Service.mu orders their start before Close);
// capsCache.mu guards the capabilities known and being learnt. Neither
// lock is held across I/O.
package pep
