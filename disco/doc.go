// Package disco implements XEP-0030: Service Discovery
// (http://jabber.org/protocol/disco#info and #items), XEP version 2.5rc3,
// for the server and for accounts, with XEP-0115: Entity Capabilities
// (http://jabber.org/protocol/caps), XEP version 1.6.0, for the server,
// XEP-0128: Service Discovery Extensions, XEP version 1.0.1, and XEP-0157:
// Contact Addresses for XMPP Services, XEP version 1.1.1.
//
// Register adds:
//   - disco#info and disco#items handlers for IQs addressed to a served
//     domain (router.ToServer). disco#info returns the server identity
//     (server/im), every identity added with Mux.AddIdentity, every
//     router.ToServer feature added with Mux.AddFeature, and, when
//     Config.Contacts has addresses, a XEP-0157 serverinfo form (XEP-0128).
//     disco#items lists Config.Items (component and service domains).
//   - disco#info and disco#items handlers for IQs addressed to an account's
//     bare JID (router.ToAccount), which the server answers on the
//     account's behalf (RFC 6120 §10.5.4): identity account/registered and
//     the router.ToAccount features; the items list is empty. An IQ without
//     'to' is addressed to the sender's own account (RFC 6120 §10.3.3), so
//     a disco#info without 'to' describes the account. Only the
//     account and its contacts reach these handlers: the router answers
//     strangers service-unavailable, exactly as for a JID without an
//     account (XEP-0030 §8, RFC 6121 §8.5.1; see package router).
//   - the features disco#info, disco#items and caps on the server, and
//     disco#info and disco#items on accounts.
//
// Node queries get item-not-found, except a disco#info query to the server
// with node "<CapsNode>#<ver>" (XEP-0115 §6.2), which returns the server's
// info with that node.
//
// The server's answer and its XEP-0115 verification string are computed
// once, from the Mux, the first time they are needed (a query, or a call to
// CapsElement or Ver). Every feature must therefore be registered before
// the first of those: package server (server/features.go) registers all
// features, then calls CapsElement for the stream features, then starts
// listening.
package disco
