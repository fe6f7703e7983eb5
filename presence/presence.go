package presence

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// Roster is what presence needs to know about subscriptions. Users and
// contacts are bare JIDs.
type Roster interface {
	// Subscribers returns the contacts subscribed to user's presence
	// (subscription 'from' or 'both' in user's roster).
	Subscribers(ctx context.Context, user jid.JID) ([]jid.JID, error)
	// Subscriptions returns the contacts whose presence user is
	// subscribed to (subscription 'to' or 'both').
	Subscriptions(ctx context.Context, user jid.JID) ([]jid.JID, error)
	// IsSubscriber reports whether contact is subscribed to user's
	// presence.
	IsSubscriber(ctx context.Context, user, contact jid.JID) (bool, error)
}

// DefaultMaxDirected is the default Config.MaxDirected.
const DefaultMaxDirected = 1000

// Config configures the presence service. The zero value is usable.
type Config struct {
	// MaxDirected is how many entities one resource may have sent directed
	// presence to at a time (presence.max_directed; each gets unavailable
	// presence when the resource goes away); 0 means DefaultMaxDirected.
	// Directed presence to one more is refused with resource-constraint.
	MaxDirected int
}

// Router is what the service needs from the router; *router.Router
// implements it.
type Router interface {
	// Send routes a stanza the service generates on a user's behalf,
	// through the policy hooks; it returns how many resources took it.
	Send(ctx context.Context, st *stanza.Stanza) int
	// Bounce answers st with an error stanza from its recipient.
	Bounce(ctx context.Context, st *stanza.Stanza, e *stanza.Error)
	// IsLocal reports whether domain is served here.
	IsLocal(domain string) bool
	// Resources returns snapshots of the bound resources of a bare JID.
	Resources(bare jid.JID) []router.Resource
	// SetPresence records a resource's broadcast presence.
	SetPresence(ctx context.Context, full jid.JID, p *stanza.Stanza) (wasAvailable bool, ok bool)
}

// Service implements presence for local users. Its methods are safe for
// concurrent use.
type Service struct {
	roster Roster
	r      Router
	cfg    Config
	log    *slog.Logger

	mu        sync.Mutex
	resources map[string]*resourceState // by full JID string; guarded by mu
}

// resourceState is what the service remembers about a bound resource. The
// router forgets a resource before the OnGone hooks run, so the unavailable
// broadcast for a vanished session relies on this record.
type resourceState struct {
	available bool               // broadcast available presence, not yet unavailable
	directed  map[string]jid.JID // recipients of directed available presence, by JID string
}

// New returns a presence service that reads subscriptions from roster and
// sends through r. log may be nil.
func New(cfg Config, roster Roster, r Router, log *slog.Logger) *Service {
	if cfg.MaxDirected <= 0 {
		cfg.MaxDirected = DefaultMaxDirected
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{
		roster:    roster,
		r:         r,
		cfg:       cfg,
		log:       log.With("feature", "presence"),
		resources: map[string]*resourceState{},
	}
}

// Register adds the handlers for available, unavailable and probe
// presence and the OnGone hook.
func (s *Service) Register(m *router.Mux) {
	m.HandlePresence(s.handlePresence, stanza.TypeAvailable, stanza.TypeUnavailable)
	m.HandlePresence(s.handleProbe, stanza.TypeProbe)
	m.OnGone(s.gone)
}

// isClient reports whether j is a local user's resource.
func (s *Service) isClient(j jid.JID) bool {
	return j.Localpart() != "" && j.Resourcepart() != "" && s.r.IsLocal(j.Domainpart())
}

// handlePresence handles available and unavailable presence.
func (s *Service) handlePresence(ctx context.Context, p *stanza.Stanza) error {
	if !s.isClient(p.From) {
		// From a component or the server: only directed presence means
		// anything (RFC 6121 §4.6: delivered whatever the subscriptions).
		if p.To.Domainpart() != "" {
			s.r.Send(ctx, p)
		}
		return nil
	}
	switch {
	case p.To.Domainpart() != "":
		return s.directed(ctx, p)
	case p.Type == stanza.TypeUnavailable:
		s.unavailable(ctx, p)
	default:
		s.available(ctx, p)
	}
	return nil
}

// available handles an available presence broadcast (RFC 6121 §4.2 for
// initial presence, §4.4 for later updates).
func (s *Service) available(ctx context.Context, p *stanza.Stanza) {
	full, user := p.From, p.From.Bare()
	// SetPresence runs the OnAvailable hooks on initial presence: pending
	// subscription requests and offline messages reach the resource
	// before anything else.
	wasAvailable, ok := s.r.SetPresence(ctx, full, p)
	if !ok {
		return // not bound (any more)
	}
	var stale map[string]jid.JID
	s.mu.Lock()
	rs := s.resources[full.String()]
	if rs == nil {
		rs = &resourceState{}
		s.resources[full.String()] = rs
	} else if !wasAvailable && rs.available {
		// The router has a new session for this full JID (it replaced the
		// old one, whose end runs no OnGone): the old session's directed
		// recipients never got its unavailable presence.
		stale, rs.directed = rs.directed, nil
	}
	rs.available = true
	s.mu.Unlock()
	if len(stale) > 0 {
		u := stanza.Build(stanza.KindPresence, stanza.TypeUnavailable, "", full, jid.JID{})
		for _, to := range stale {
			s.r.Send(ctx, addressed(u, full, to))
		}
	}

	// §4.2.2, §4.4.2: to the subscribers, and to all of the user's own
	// available resources, this one included.
	subs, err := s.roster.Subscribers(ctx, user)
	if err != nil {
		s.log.Error("loading subscribers failed", "user", user.String(), "err", err)
	}
	for _, c := range subs {
		s.r.Send(ctx, addressed(p, full, c))
	}
	s.r.Send(ctx, addressed(p, full, user))
	if !wasAvailable {
		s.probe(ctx, full)
	}
}

// probe sends the presence the new resource full should know (§4.2.3,
// §4.2.4): that of the contacts it is subscribed to and of the user's other
// available resources. Local contacts' probes are answered on the spot
// from the router's record of their resources' last presence; the last
// unavailable presence is not kept, so only available resources answer.
func (s *Service) probe(ctx context.Context, full jid.JID) {
	user := full.Bare()
	subs, err := s.roster.Subscriptions(ctx, user)
	if err != nil {
		s.log.Error("loading subscriptions failed", "user", user.String(), "err", err)
	}
	for _, c := range subs {
		if !s.r.IsLocal(c.Domainpart()) {
			// §4.3.1: a probe comes from the user's bare JID.
			s.r.Send(ctx, stanza.Build(stanza.KindPresence, stanza.TypeProbe, "", user, c))
			continue
		}
		s.answerProbe(ctx, c, user, full, false)
	}
	for _, res := range s.r.Resources(user) {
		if res.Available && !res.JID.Equal(full) {
			if lp := res.LastPresence(full); lp != nil {
				s.r.Send(ctx, lp)
			}
		}
	}
}

// answerProbe answers a probe of the local user contact by prober (a bare
// JID), sending to 'to' (RFC 6121 §4.3.2): the presence of each of the
// contact's available resources if prober is subscribed to it. With none
// available, offline says whether to answer with unavailable presence.
func (s *Service) answerProbe(ctx context.Context, contact, prober, to jid.JID, offline bool) {
	var avail []router.Resource
	for _, res := range s.r.Resources(contact) {
		if res.Available && res.Presence != "" {
			avail = append(avail, res)
		}
	}
	if len(avail) == 0 && !offline {
		return
	}
	ok, err := s.roster.IsSubscriber(ctx, contact, prober)
	if err != nil {
		s.log.Error("checking a subscription failed", "user", contact.String(), "contact", prober.String(), "err", err)
		return
	}
	if !ok {
		return // §4.3.2: nothing is revealed to a non-subscriber
	}
	if len(avail) == 0 {
		s.r.Send(ctx, stanza.Build(stanza.KindPresence, stanza.TypeUnavailable, "", contact, to))
		return
	}
	for _, res := range avail {
		if lp := res.LastPresence(to); lp != nil {
			s.r.Send(ctx, lp)
		}
	}
}

// unavailable handles an unavailable presence broadcast (RFC 6121 §4.5).
func (s *Service) unavailable(ctx context.Context, p *stanza.Stanza) {
	full := p.From
	wasAvailable, ok := s.r.SetPresence(ctx, full, nil)
	if !ok {
		return
	}
	s.mu.Lock()
	rs := s.resources[full.String()]
	delete(s.resources, full.String())
	s.mu.Unlock()
	var directed map[string]jid.JID
	if rs != nil {
		wasAvailable = wasAvailable || rs.available
		directed = rs.directed
	}
	s.broadcastUnavailable(ctx, p, wasAvailable, directed)
}

// gone runs after a session ended. If the resource was available or had
// sent directed presence, its unavailable presence goes out as if it had
// sent it (RFC 6121 §4.5.2, §4.6.3).
func (s *Service) gone(ctx context.Context, full jid.JID) {
	s.mu.Lock()
	rs := s.resources[full.String()]
	delete(s.resources, full.String())
	s.mu.Unlock()
	if rs == nil || (!rs.available && len(rs.directed) == 0) {
		return
	}
	p := stanza.Build(stanza.KindPresence, stanza.TypeUnavailable, "", full, jid.JID{})
	s.broadcastUnavailable(ctx, p, rs.available, rs.directed)
}

// Vanished sends the unavailable presence of full, an available resource
// of a local user whose session was on another node of a cluster that went
// away without ending it (RFC 6121 §4.5.2: the server broadcasts it on the
// resource's behalf): to the user's subscribers and other resources. The
// recipients of its directed presence were known only to that node.
func (s *Service) Vanished(ctx context.Context, full jid.JID) {
	p := stanza.Build(stanza.KindPresence, stanza.TypeUnavailable, "", full, jid.JID{})
	s.broadcastUnavailable(ctx, p, true, nil)
}

// broadcastUnavailable sends the unavailable presence p of a resource: to
// the subscribers and the user's other resources if it was available, and
// to the recipients of its directed presence that the broadcast did not
// reach (§4.6.3).
func (s *Service) broadcastUnavailable(ctx context.Context, p *stanza.Stanza, wasAvailable bool, directed map[string]jid.JID) {
	full, user := p.From, p.From.Bare()
	covered := map[string]bool{}
	if wasAvailable {
		subs, err := s.roster.Subscribers(ctx, user)
		if err != nil {
			s.log.Error("loading subscribers failed", "user", user.String(), "err", err)
		}
		for _, c := range subs {
			s.r.Send(ctx, addressed(p, full, c))
			covered[c.String()] = true
		}
		s.r.Send(ctx, addressed(p, full, user))
		covered[user.String()] = true
	}
	for _, to := range directed {
		// A local subscriber's resources all got the broadcast; a
		// component (a chat room) needs the exact address it was sent.
		if s.r.IsLocal(to.Domainpart()) && covered[to.Bare().String()] {
			continue
		}
		s.r.Send(ctx, addressed(p, full, to))
	}
}

// directed handles presence with a 'to' from a local resource (RFC 6121
// §4.6): it is delivered, and the service remembers who got available
// presence so that they get unavailable presence later.
func (s *Service) directed(ctx context.Context, p *stanza.Stanza) error {
	full, to := p.From, p.To
	key := full.String()
	own := to.Bare().Equal(full.Bare()) // own resources get broadcasts anyway
	if !own {
		s.mu.Lock()
		rs := s.resources[key]
		if p.Type == stanza.TypeAvailable {
			if rs == nil {
				rs = &resourceState{}
				s.resources[key] = rs
			}
			if rs.directed == nil {
				rs.directed = map[string]jid.JID{}
			}
			if _, ok := rs.directed[to.String()]; !ok && len(rs.directed) >= s.cfg.MaxDirected {
				s.mu.Unlock()
				return stanza.NewError(stanza.ResourceConstraint,
					fmt.Sprintf("directed presence to more than %d entities", s.cfg.MaxDirected))
			}
			rs.directed[to.String()] = to
		} else if rs != nil {
			delete(rs.directed, to.String())
		}
		s.mu.Unlock()
	}
	if s.r.Send(ctx, p) == 0 && !s.r.IsLocal(to.Domainpart()) {
		// Nobody serves that domain, or federation refused it.
		s.r.Bounce(ctx, p, stanza.NewError(stanza.RemoteServerNotFound, "the remote domain cannot be reached"))
	}
	return nil
}

// handleProbe handles presence probes. Clients should not send them (RFC
// 6121 §4.3); one from a client, or from a component, to a local user is
// answered like an inbound probe if the prober is subscribed, else
// ignored. A client's probe to a component leaves with its bare JID.
func (s *Service) handleProbe(ctx context.Context, p *stanza.Stanza) error {
	if p.To.Domainpart() == "" {
		return nil
	}
	target, prober := p.To.Bare(), p.From.Bare()
	if !s.r.IsLocal(target.Domainpart()) {
		if s.isClient(p.From) {
			s.r.Send(ctx, addressed(p, prober, target))
		} else {
			s.r.Send(ctx, p)
		}
		return nil
	}
	if target.Localpart() == "" {
		return nil
	}
	if target.Equal(prober) {
		for _, res := range s.r.Resources(target) {
			if res.Available && !res.JID.Equal(p.From) {
				if lp := res.LastPresence(p.From); lp != nil {
					s.r.Send(ctx, lp)
				}
			}
		}
		return nil
	}
	s.answerProbe(ctx, target, prober, p.From, true)
	return nil
}

// addressed returns p with new addresses. The copy is shallow: the
// children are shared with p, which is fine because routed stanzas are
// read-only.
func addressed(p *stanza.Stanza, from, to jid.JID) *stanza.Stanza {
	el := *p.El
	el.Attr = slices.Clone(p.El.Attr)
	c := *p
	c.El = &el
	c.SetFrom(from)
	c.SetTo(to)
	return &c
}
