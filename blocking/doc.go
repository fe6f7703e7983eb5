// Package blocking implements XEP-0191: Blocking Command (urn:xmpp:blocking),
// XEP version 1.3.
//
// Register adds:
//   - handlers for IQs in urn:xmpp:blocking without 'to' (or to the
//     server, or to the user's own bare JID): <blocklist/> get, <block/> set
//     and <unblock/> set, with pushes of each change to every resource of the
//     user that has retrieved the block list (§3.3, §3.4, §3.5);
//   - a router.StagePolicy hook, "blocking", for messages, presence and IQs:
//     a stanza from a blocked entity to a local user is refused (messages
//     and IQ get/set with service-unavailable, so the user appears offline;
//     presence and IQ results and errors are dropped silently), and a
//     stanza from a local user to an entity they block is refused with
//     not-acceptable and <blocked xmlns='urn:xmpp:blocking:errors'/>
//     (presence, results and errors are dropped);
//   - an OnGone hook that forgets which resources asked for the block list;
//   - the disco#info feature urn:xmpp:blocking on the server.
//
// JIDs match as in XEP-0191 §5 (and XEP-0016): a blocked full JID matches
// only that resource, a bare JID any of its resources, domain/resource only
// that very JID (not users at the domain), and a domain the domain itself, every
// address at it and every address at its subdomains. A user cannot block
// themselves or their own server (a served domain): stanzas between a user
// and their own account or server are never refused.
//
// Presence sent on the user's behalf when the list changes goes through
// Config.Presence, which the presence feature implements with its
// knowledge of subscriptions. Without it, the service approximates: on a
// block, each of the user's available resources sends unavailable presence
// to each blocked user JID (§3.3 asks for it only where the contact may see
// the user's presence), and on an unblock nothing is sent (§3.4 asks for
// the user's current presence, where the subscription allows). Presence
// that the presence feature sends with Router.Send passes the policy hook,
// so broadcasts and probe answers respect the block list; Blocked answers
// the same question for code that delivers directly.
//
// Block lists are cached in memory, in a least-recently-used cache of
// Config.CacheSize users, so the policy hook, which runs for every stanza,
// reads the store only on a miss. A change invalidates the user's entry
// after the store has been written; a user's entry is also dropped when
// their last resource goes away. The cache does not see changes made by
// another process (none exist: the command line tool does not manage block
// lists).
package blocking
