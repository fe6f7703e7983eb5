package router

import (
	"context"
	"errors"
	"slices"
	"strings"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// Service is an entity served inside the process at its own domain
// (conference.example.org, push.example.org, upload.example.org). External
// components (XEP-0114) are routed the same way: to the router both are a
// domain and a Service.
type Service interface {
	// HandleStanza receives every stanza addressed to the service's domain
	// or a JID at it, after the StagePolicy hooks, except IQ results and
	// errors that answer the service's own SendIQ requests. It runs on the
	// sender's goroutine: it must not block (slow work, such as an HTTP
	// request, goes to a goroutine the service tracks). A non-nil error
	// (usually a *stanza.Error) is answered to the sender as an error
	// stanza, never for error stanzas and IQ results. To reply or send
	// other stanzas, the service calls Router.Route with From set to its
	// own JID.
	HandleStanza(ctx context.Context, st *stanza.Stanza) error
}

// ServiceFunc adapts a function to the Service interface.
type ServiceFunc func(ctx context.Context, st *stanza.Stanza) error

// HandleStanza calls f(ctx, st).
func (f ServiceFunc) HandleStanza(ctx context.Context, st *stanza.Stanza) error { return f(ctx, st) }

// ServiceEntry is a routed service as the server's disco#items lists it.
type ServiceEntry struct {
	Domain string
	Name   string // optional human-readable name
}

// ErrDomainTaken is returned by AddService and AddComponent for a domain
// that a service or component already has, or that is a served host.
var ErrDomainTaken = errors.New("router: domain already routed")

// ErrComponentExists is ErrDomainTaken, under the name component code
// knows it by.
var ErrComponentExists = ErrDomainTaken

// service is one routed domain.
type service struct {
	svc  Service
	name string
	key  any // identity for RemoveService: the Service, or the component's Target
}

// AddService routes domain (a canonical domain JID string) to svc and lists
// it in the server's disco#items with name. Register in-process services
// before the server starts; components register when they connect.
func (r *Router) AddService(domain, name string, svc Service) error {
	return r.addService(domain, &service{svc: svc, name: name, key: svc})
}

// RemoveService removes the route of domain if it still leads to svc.
func (r *Router) RemoveService(domain string, svc Service) { r.removeService(domain, svc) }

// Services lists the routed services and connected components, sorted by
// domain.
func (r *Router) Services() []ServiceEntry {
	r.mu.RLock()
	out := make([]ServiceEntry, 0, len(r.services))
	for d, s := range r.services {
		out = append(out, ServiceEntry{Domain: d, Name: s.name})
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b ServiceEntry) int { return strings.Compare(a.Domain, b.Domain) })
	return out
}

// AddComponent routes domain to an external component's connection: the
// router hands it every stanza for the domain with Deliver, and bounces
// with service-unavailable what the connection refuses.
func (r *Router) AddComponent(domain string, t Target) error {
	return r.addService(domain, &service{svc: targetService{t}, key: t})
}

// RemoveComponent removes the component if it is still t.
func (r *Router) RemoveComponent(domain string, t Target) { r.removeService(domain, t) }

func (r *Router) addService(domain string, s *service) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.services[domain]; ok || r.hosts[domain] {
		return ErrDomainTaken
	}
	r.services[domain] = s
	return nil
}

func (r *Router) removeService(domain string, key any) {
	r.mu.Lock()
	if s := r.services[domain]; s != nil && s.key == key {
		delete(r.services, domain)
	}
	r.mu.Unlock()
}

func (r *Router) service(domain string) Service {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if s := r.services[domain]; s != nil {
		return s.svc
	}
	return nil
}

// targetService routes to a connection's outbound queue.
type targetService struct{ t Target }

func (t targetService) HandleStanza(_ context.Context, st *stanza.Stanza) error {
	if !t.t.Deliver(st) {
		return stanza.NewError(stanza.ServiceUnavailable, "the component cannot take more stanzas")
	}
	return nil
}

// Disco namespaces (XEP-0030), for services that answer their own service
// discovery.
const (
	NSDiscoInfo  = "http://jabber.org/protocol/disco#info"
	NSDiscoItems = "http://jabber.org/protocol/disco#items"
)

// DiscoInfo returns the disco#info result for iq (a get whose payload is
// a disco#info query) listing ids and features. A service answers its own
// disco#info with it.
func DiscoInfo(iq *stanza.Stanza, ids []Identity, features []string) *stanza.Stanza {
	q := xml.NewElement(NSDiscoInfo, "query")
	if node := iq.Payload().AttrValue("node"); node != "" {
		q.SetAttr("node", node)
	}
	for _, id := range ids {
		e := xml.NewElement(NSDiscoInfo, "identity", "category", id.Category, "type", id.Type)
		e.SetAttr("name", id.Name)
		q.AddChild(e)
	}
	fs := slices.Clone(features)
	slices.Sort(fs)
	for _, f := range slices.Compact(fs) {
		q.AddChild(xml.NewElement(NSDiscoInfo, "feature", "var", f))
	}
	return iq.Result(q)
}

// Serves reports whether domain is a served host, or a service or
// component in the process: the domains that federate with other servers.
func (r *Router) Serves(domain string) bool {
	return r.IsLocal(domain) || r.service(domain) != nil
}
