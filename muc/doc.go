// Package muc is the multi-user chat service, an in-process router.Service
// at its own domain (conference.example.org):
//
//   - XEP-0045: Multi-User Chat, version 1.35.1 (2024-09-17);
//   - XEP-0313: Message Archive Management, version 1.1.3, at the room JID
//     (urn:xmpp:mam:2, urn:xmpp:mam:2#extended) for rooms with
//     muc#roomconfig_enablearchiving (no full-text search);
//   - XEP-0359: Unique and Stable Stanza IDs, version 0.7.0: every
//     groupchat message carries <stanza-id by='room'/>;
//   - XEP-0421: Occupant identifiers for semi-anonymous MUCs, version 1.0.1;
//   - XEP-0410: MUC Self-Ping, version 1.1.0 (the room answers a ping to
//     the sender's own occupant JID, §3.3);
//   - XEP-0004 data forms (muc#roomconfig, muc#roominfo, muc#register,
//     muc#request) and XEP-0203 delay stamps on history;
//   - XEP-0059: Result Set Management, version 1.0, in archive queries.
//
// Direct invitations (XEP-0249) go from user to user and are routed like
// any message: the service has nothing to do with them.
//
// # What works
//
// Joining with a nick (and a password), with the presence of the
// occupants, the self-presence (status 110; 100 in non-anonymous rooms,
// 170 when archiving, 201 for a new room), the history and the subject, in
// that order; several resources of one account under one nick; a join
// presence from a session already joined gets the whole join again (the
// client lost track); presence updates; nick changes (303); leaving; occupants whose session bounces a
// stanza are removed (333); service shutdown (332). Room creation: with
// <x xmlns='http://jabber.org/protocol/muc'/> the room is locked until the
// owner submits the muc#owner form (an empty submit makes an instant room;
// cancel destroys it); without it (groupchat 1.0 clients) the room is
// instant. The muc#roomconfig form: name, description, persistent, public,
// members-only, moderated, password, whois, maxusers, changesubject,
// allowinvites, allowpm, enablearchiving; changes notify occupants (104,
// 170-173) and a room turned members-only removes non-members (322).
// Groupchat messages (visitors have no voice), subject changes, private
// messages (with <x xmlns='…muc#user'/>), mediated invitations (a
// members-only room makes the invitee a member) and declines. muc#admin:
// kick (307), voice, moderator, member, admin, owner, ban (301), removal on
// membership loss in members-only rooms (321), lists by role and
// affiliation, with the XEP-0045 permission rules (a room keeps an owner).
// muc#owner: configuration and destruction with an alternate venue. Disco
// of the service (public rooms in disco#items) and of rooms (muc_*
// features and the muc#roominfo form). Voice requests (§7.13: forwarded to
// the moderators, granted by their answer). Nick registration
// (jabber:iq:register at the room, §7.10; the x-roomuser-item node, §7.12):
// registering makes the user a member; a member's registered nick (or the
// first nick a member joins with) is reserved for them. IQs to another
// occupant (vCards) are relayed to its session from the sender's occupant
// JID with Router.SendIQ, and the answer relayed back (§7.5).
//
// Not done: XEP-0425 moderation (retraction), presence coalescing for
// CSI-inactive clients, remote occupants (no s2s), admin approval of
// registrations in members-only rooms (non-members get
// registration-required), persisting roles of visitors.
//
// # Archive and history
//
// A groupchat message with a body, a subject or an encrypted payload (and
// no no-store hint) in a room with archiving on is stored in the room's
// archive (Store.Archive) with its stanza-id before it is fanned out; if
// the store fails, the sender gets internal-server-error and nobody gets
// the message. Archive queries (urn:xmpp:mam:2 and #extended) accept
// start, end, before-id, after-id, ids, with (a real bare JID: for
// non-anonymous rooms, or admins and owners), RSM max/after/before and
// flip-page, and <metadata/> gives the first and last message; anyone not banned may query, only
// members in members-only rooms. Join history (maxstanzas, maxchars,
// seconds, since; Config.History by default, at most Config.MaxHistory)
// comes from the archive, so it survives restarts; rooms without an
// archive keep their last MaxHistory messages in memory.
//
// # Members who are not joined
//
// For every groupchat message in a persistent or members-only room, the
// members (owner, admin, member) with no joined session get a
// MemberMessage through Config.Notifier, as Config.PushMembers says:
// mentions of the nick they registered or first joined with, and
// end-to-end encrypted messages (the room cannot read them); every
// message; or never. server connects it to the push service (the member's
// devices without a live session are woken as for a message stored
// offline).
//
// # Persistence
//
// Persistent rooms (configuration, subject, affiliations with the nick
// each member last used) are saved on every change and brought back by
// Load; occupants are not persisted (clients rejoin after a restart).
// Temporary rooms, and their archives, go with their last occupant.
//
// # Clustering
//
// On a single node (the default) nothing of this exists: the service
// handles every stanza itself. With SetCluster (the server calls it when
// clustering is on), every node runs the service, and each room is served
// by one node at a time, recorded by an OwnerStore (table
// muc_room_owner: node name and epoch). For a stanza to a room (stanzas
// to the service's domain itself are answered by any node), a node:
//
//   - handles it if it claimed the room and its own lease has run without
//     a break since (Cluster.Serving): the fast path, no store access;
//   - forwards it to the owner if the owner is alive in the cluster view
//     (Cluster.Forward: the owner handles it as received there, with the
//     original 'from', and answers when done); a node that gets a
//     forwarded stanza for a room it does not serve declines it, never
//     forwards it again, and the first node reads the owner again once;
//   - claims the room otherwise, by a compare-and-swap on its record
//     (OwnerStore.ClaimRoom), and brings it back from the store
//     (configuration, subject, affiliations; stanza-ids continue after the
//     archive's last) with no occupants.
//
// While its lease has lapsed (cut off from NATS) a node serves no room and
// answers service-unavailable (type wait); a room it had claimed is
// checked in the store again before it serves it, and kept with its state
// if nobody took it meanwhile. A node's lease ends for itself one
// heartbeat before the others may end it, so two nodes do not serve a room
// at once as long as NATS delivers heartbeats within one heartbeat
// interval. Occupants of a room that moved must rejoin: a XEP-0410
// self-ping from a client that is not joined gets not-acceptable, so
// clients that self-ping rejoin by themselves. Temporary rooms vanish with
// their node. A temporary room that empties, a destroyed room, and every
// room of a service that closes are released (their record deleted), so
// that another node claims them at once.
//
// Limits: disco#items of the service and Config.MaxRoomsPerUser count
// the rooms this node has in memory (the persistent rooms loaded at
// start, those it serves), not the whole cluster's.
//
// # Concurrency
//
// HandleStanza runs on the sender's goroutine. The service's mutex guards
// the room map; each room's mutex guards its state and is held while
// calling the store (so a room's saves are ordered), never while routing:
// stanzas are built under the lock into an outbox and routed after it is
// released, since a bounce of one comes back into the service. A room's
// mutex may be held while taking the service's (to forget a room), never
// the other way round.
package muc
