// Package carbons implements XEP-0280: Message Carbons (urn:xmpp:carbons:2),
// XEP version 1.0.1, with the recommended rules of §6
// (urn:xmpp:carbons:rules:0). Copies are wrapped as in XEP-0297: Stanza
// Forwarding (urn:xmpp:forward:0), XEP version 1.0, and the <no-copy/> hint
// of XEP-0334: Message Processing Hints (urn:xmpp:hints), XEP version 0.3.0,
// is honoured.
//
// Register adds:
//   - a handler for IQ set <enable/> and <disable/> in urn:xmpp:carbons:2,
//     without 'to', to a served domain (router.ToServer) or to the user's
//     own bare JID (router.ToAccount). Only the requesting resource is
//     affected (§4, §5); enabling or disabling twice is not an error (§10.1).
//     A request to another account's bare JID gets not-allowed (§5: "trying
//     to disable another client's Carbons"), as does one from anything but
//     a bound resource of a local account (§4.1, §5.1);
//   - a router.StageCopy hook, "carbons", for messages (see below);
//   - an OnGone hook that forgets a resource's state: carbons are enabled
//     per session, so a session that replaces the resource
//     (router.Router.BindReplacing) starts disabled;
//   - the disco#info features urn:xmpp:carbons:2 and urn:xmpp:carbons:rules:0
//     on the server (§3; §6: a server that follows the recommended rules
//     advertises the second).
//
// # Which messages are copied (§6)
//
// A message is eligible unless it has <private xmlns='urn:xmpp:carbons:2'/>
// (§9) or <no-copy xmlns='urn:xmpp:hints'/> (§9, XEP-0334 §4.3), is itself
// a carbon (<sent/> or <received/>) or a XEP-0313 archive result, is of
// type groupchat (MUC rules) or error, or is a private message from a MUC
// occupant to a local user (from a full JID with
// <x xmlns='http://jabber.org/protocol/muc#user'/>: the MUC service already
// copies it to every joined client). Otherwise it is eligible if it is of
// type chat, of type normal with a <body/>, or carries a payload used in
// instant messaging: a XEP-0085 chat state, a XEP-0184 receipt, a XEP-0333
// chat marker, a XEP-0353 Jingle message, or a chat-room invitation (direct,
// XEP-0249, or mediated, XEP-0045 §7.8.2). Private messages a local user
// sends to a MUC occupant are copied like any chat message.
//
// Two recommended rules are approximated. An error is eligible "if it was
// sent in response to a message that was itself eligible", which needs the
// message tracking the XEP itself calls "unlikely to be generally
// appropriate": errors are never copied. And sent MUC private messages go
// to every carbons-enabled resource, not only to those joined to the room
// with the same nickname (the footnote's SHOULD): this package knows nothing
// of chat rooms.
//
// # Copies
//
// Sent copies (§8): when a bound resource of a local account sends an
// eligible message, every other carbons-enabled resource of the account gets
// <message from='account' to='resource' type='(same)'><sent
// xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>(the
// message)</forwarded></sent></message>.
//
// Received copies (§7): when an eligible message reaches a local account,
// every carbons-enabled resource of the account that does not get the
// message itself under RFC 6121 §8.5 gets the same wrapper with <received/>.
// The router's delivery step runs after the copy stage: the hook asks the
// router who will get the message directly (router.Router.Recipients).
//
// Carbons go to carbons-enabled resources whether or not they have sent
// presence: §7 and §8 say "each Carbons-enabled resource", and clients
// enable carbons before initial presence so that nothing sent meanwhile is
// missed.
//
// Within one account (a message to the user's own bare JID or to another of
// their resources) each resource gets the message at most once, directly or
// as a carbon (§7: the resources the message was addressed to receive the
// original; §8: never the sending resource): the other carbons-enabled
// resources get a <sent/> copy, and nobody gets a <received/> one.
//
// The forwarded message is the routed stanza as it is after the archive
// stage, so it carries the XEP-0359 <stanza-id/> elements the archive added.
// The receiving server removes <private/> before delivery to a local user
// (§9); <no-copy/> is left in place. Copies go straight to the resource's
// router.Target: they are never bounced (§10.3), stored offline or
// archived, and a resource that cannot take one just misses it.
//
// # Concurrency
//
// The enabled resources are kept in memory, per account (Service.mu); the
// hook reads them under a read lock and delivers without holding it.
package carbons
