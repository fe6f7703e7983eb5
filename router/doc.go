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
// # Requests from the server
//
// Router.SendIQ sends an IQ request on behalf of the server, a service or an
// account (push notifications publish from the account's bare JID) and
// waits for the answer, matched by id, requester and answering address;
// the router's own bounces (remote-server-not-found for a domain it cannot
// reach) come back as the request's error. The number of waiting requests
// is bounded, and each ends at its context's deadline.
package router
