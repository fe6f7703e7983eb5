// Package offline stores messages for users who have no available resource
// and delivers them at their next initial presence, following XEP-0160:
// Best Practices for Handling Offline Messages (msgoffline), version 1.0.1,
// with XEP-0203: Delayed Delivery (urn:xmpp:delay), version 2.0, stamps.
//
// Register adds:
//   - a StageUndelivered hook ("offline") that stores messages of type
//     normal or chat that are worth keeping (a body, an encrypted payload,
//     a receipt, a chat marker, a Jingle message, a chat-room invitation,
//     or a XEP-0334 <store/> hint), drops chat-state-only messages and
//     messages with a XEP-0334 <no-store/> hint silently, and leaves
//     anything else to the router's service-unavailable bounce;
//   - an OnAvailable hook that delivers the stored messages, oldest first,
//     to a resource that sends initial presence with a non-negative
//     priority, each with a <delay/> stamped by the server;
//   - the disco#info feature "msgoffline" on the server.
//
// # Concurrency
//
// Delivery to a user's resources is serialized per user (Service.locks):
// when two resources come online together, one delivers and deletes what
// the store holds, and the other finds it gone, so each message is
// delivered exactly once. Storing takes no lock: the store's limit check
// and insert are atomic, and a message stored during a delivery is found
// by its next page or by the next login.
package offline
