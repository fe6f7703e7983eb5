// Package router routes stanzas between local client sessions, the server's
// own handlers, in-process services and external components, following
// RFC 6120 §10 and the delivery rules of RFC 6121 §8.
//
// # Features
//
// Features plug in through a Mux: IQ handlers keyed by payload namespace
// (for the server, or for an account's bare JID: the server answering on
// the account's behalf, as PEP does), presence handlers keyed by presence
// type, disco features, and hooks in named stages that every routed message
// passes through, in this order:
//
//	StagePolicy      blocking, limits: may bounce or drop the stanza
//	StageArchive     message archive: may stamp a stanza-id (XEP-0359)
//	StageCopy        carbons (XEP-0280)
//	(delivery)       to local resources by RFC 6121 §8.5 rules, or a service
//	StageUndelivered no resource took it: offline storage, push, else a bounce
//
// Stages are how features are ordered without importing each other.
//
// A sender may route several messages at once and keep their effects in
// its order (a client session pipelining its messages, so that they share
// a group commit of the archive): it puts a sequence.Sequencer
// (internal/sequence) in the routing context. Route calls its Turn after
// StageArchive, before the message's first effect on anyone else, and the
// archive hook calls Release once the message has its place in the
// archive order.
//
// # Accounts and strangers
//
// The server answers IQs addressed to an account's bare JID on the
// account's behalf (RFC 6121 §8.5.2). Whether the account exists must not
// show to strangers (XEP-0030 §8; services with phone numbers as user
// names), so the router decides who reaches the handlers, in one place for
// every feature:
//
//   - The account itself (no 'to', or its own bare JID) and its contacts
//     (Relations.Subscribed: a subscription 'from' or 'both' on the
//     account's side, RFC 6121 §2.1.2.5; or the server itself) reach the
//     HandleIQ(ToAccount, …) handlers. Their answers may reveal that the
//     account exists (the contact knows already).
//   - A stranger, and anyone asking a local JID without an account, reach
//     only public handlers (HandlePublicIQ); for any other namespace the
//     router answers service-unavailable, the RFC 6121 §8.5.1 answer for a
//     JID without an account. The router does the same lookups for both
//     (one Relations lookup, no account lookup), so timing does not tell
//     them apart either.
//
// A handler for something an account publishes to everyone registers with
// HandlePublicIQ. It is called for every requester with the Relation, and
// also for JIDs without an account, with Relation Stranger: it must then
// answer as for an existing account that published nothing, after the
// same work (look the item up; a missing account has none, so the lookup
// finds nothing and the answer is the same). vcard is the example: a
// stored vCard is answered to anyone; no vCard, or no account, gives
// item-not-found. PEP (XEP-0163) registers its pubsub handler the same
// way: an item of a node whose access model lets the requester read it
// (open; presence for Contact and Self) is answered; anything else, for a
// stranger, gets exactly the answer of a missing node of an account that
// published nothing, and publishing (Self only) and the owner namespace
// stay with HandleIQ(ToAccount, …) handlers. A new service adds a row to
// the table of server/privacy_test.go.
//
// With Privacy.HideAccounts, messages to a local JID without an account
// are not bounced but go through the StageUndelivered hooks like those to
// an account without resources, with Routing.Hidden set so that the hooks
// answer the same but keep nothing; the roster asks HidesAccounts before
// answering a subscription request to no one. Privacy.MaxNewPeers slows
// an account down once it has addressed many strangers within an hour
// (probing), with bounded memory.
//
// # Services
//
// A service is an entity with its own domain (conference.example.org,
// push.example.org, upload.example.org) served inside the process. It
// implements Service and registers with Router.AddService, which also lists
// it in the server's disco#items. The router hands it every stanza for its
// domain or a JID at it; it answers its own service discovery (DiscoInfo
// builds the answer) and sends replies and other stanzas with Router.Route,
// from its own address. HandleStanza runs on the sender's goroutine, so
// slow work goes to goroutines the service starts and tracks. External
// components (XEP-0114) are routed the same way (Router.AddComponent).
//
//	type echo struct{ r *router.Router }
//
//	func (e *echo) HandleStanza(ctx context.Context, st *stanza.Stanza) error {
//		if st.Kind != stanza.KindIQ || st.Type != stanza.TypeGet {
//			return stanza.NewError(stanza.ServiceUnavailable, "")
//		}
//		if p := st.Payload(); p != nil && p.Name.Space == router.NSDiscoInfo {
//			e.r.Route(ctx, router.DiscoInfo(st, []router.Identity{{Category: "component", Type: "generic"}}, nil))
//			return nil
//		}
//		return stanza.NewError(stanza.FeatureNotImplemented, "")
//	}
//
//	err := r.AddService("echo.example.org", "Echo", &echo{r})
//
// The complete example, with tests, is echoService in service_test.go.
//
// # Remote domains
//
// A stanza for a domain that is neither served here nor a service or
// component goes to the Remote set with SetRemote (server-to-server
// federation, package s2s), in Route and in Deliver alike: replies,
// presence broadcasts and SendIQ requests reach remote JIDs the same way
// as local ones. The Remote queues without blocking and bounces what it
// cannot deliver (remote-server-not-found, remote-server-timeout) with
// Router.Bounce; stanzas arriving from remote servers enter through Route
// like those of components, after the s2s stream checked that their
// 'from' is a domain it authenticated. Without a Remote, remote domains
// are answered remote-server-not-found.
//
// # Clusters
//
// Several nodes may serve the same domains (package cluster, over NATS).
// The router then has one more kind of route, behind the Cluster
// interface it defines (SetCluster; the server wires it, and the router
// does not import the cluster): a full JID not bound here is looked up
// among the other nodes' resources, bare-JID delivery (RFC 6121 §8.5.2)
// and Resources consider the resources of every node, and Bind, Unbind,
// SetPresence and SetInterested tell the cluster about local changes
// (LocalChanged, outside the router's lock). A remote resource's Target
// sends over the cluster; when it returns false (node gone, NATS
// unreachable) the router falls back exactly as for a local session that
// refused a stanza: other resources, StageUndelivered (offline storage),
// or a bounce. Without a cluster nothing of this costs anything (no
// allocation on the routing path). Resource still answers for local
// resources only.
//
// # Requests from the server
//
// Router.SendIQ sends an IQ request on behalf of the server, a service or an
// account (push notifications publish from the account's bare JID) and
// waits for the answer, matched by id, requester and answering address;
// the router's own bounces (remote-server-not-found for a domain it cannot
// reach) come back as the request's error. The number of waiting requests
// is bounded, and each ends at its context's deadline.
package router
