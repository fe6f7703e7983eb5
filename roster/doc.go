// Package roster implements roster management and presence subscriptions:
// RFC 6121 §2 (jabber:iq:roster) and §3 (subscription requests, approvals and
// cancellations, with the state machine of RFC 6121 Appendix A), and roster
// versioning: RFC 6121 §2.6, which took over XEP-0237: Roster Versioning
// (urn:xmpp:features:rosterver), version 1.3.
//
// Register adds:
//   - the jabber:iq:roster get and set handler for the user's own account
//     (RFC 6121 §2.1–2.5), with versioned retrieval (§2.6, XEP-0237);
//   - the presence handlers for the types subscribe, subscribed,
//     unsubscribe and unsubscribed (RFC 6121 §3): outbound processing for
//     the local sender and, for a local contact, inbound processing for the
//     contact in the same call;
//   - an OnAvailable hook that delivers pending subscription requests to a
//     resource when it sends initial presence (RFC 6121 §3.1.3).
//
// Pre-approval (RFC 6121 §3.4) is not supported and not advertised: a
// 'subscribed' sent without a pending request is ignored (Appendix A.2.1).
//
// The Service also answers the presence package's questions about who is
// subscribed to whom (Subscribers, Subscriptions, IsSubscriber).
//
// # Concurrency
//
// Each change to a user's roster (a roster set, the user's or the contact's
// side of a subscription stanza) is a read-modify-write of that user's items
// and pending requests; it runs under the user's lock (Service.locks) and
// sends its roster pushes before releasing it, so pushes leave in version
// order. A goroutine holds at most one user's lock at a time: the
// contact's side of a subscription stanza is processed after the sender's
// lock is released, so there is no lock ordering to get wrong.
package roster
