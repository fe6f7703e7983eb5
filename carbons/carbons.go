package carbons

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

// Config configures carbons; carbons are always offered.
type Config struct {
	// Cluster: the server is a node of a cluster, so resources of an
	// account on other nodes may have enabled carbons (their
	// router.Resource.Carbons): every eligible message looks the account's
	// resources up, instead of only when a local resource enabled carbons.
	Cluster bool
}

// Router is what the service needs from the router; *router.Router
// implements it.
type Router interface {
	// Resources returns snapshots of the bound resources of a bare JID.
	Resources(bare jid.JID) []router.Resource
	// Resource returns a snapshot of one bound resource.
	Resource(full jid.JID) (router.Resource, bool)
	// IsLocal reports whether domain is served here.
	IsLocal(domain string) bool
	// Recipients returns the local resources the router delivers a
	// message to.
	Recipients(st *stanza.Stanza) []router.Resource
}

// enabledResource is a resource that enabled carbons, with the target bound
// when it did: a later session that replaces the resource has another
// target and has not asked.
type enabledResource struct {
	jid    jid.JID
	target router.Target
}

// Service implements message carbons. Its methods are safe for concurrent
// use.
type Service struct {
	r       Router
	log     *slog.Logger
	cluster bool

	// enabled maps a local account to its resources that enabled carbons.
	// The slices are never changed in place (enable and disable store new
	// ones), so a reader may keep one after unlocking. Guarded by mu.
	mu      sync.RWMutex
	enabled map[account][]enabledResource
}

// account is the key of an account in Service.enabled: its localpart and
// domainpart.
type account struct{ local, domain string }

// accountOf returns the key of the account of j. Used in a lookup, the
// key's strings do not escape and short ones are not allocated.
func accountOf(j jid.JID) account { return account{j.Localpart(), j.Domainpart()} }

// lookup returns the resources of j's account that enabled carbons. Only
// local accounts have any.
func (s *Service) lookup(j jid.JID) []enabledResource {
	s.mu.RLock()
	on := s.enabled[accountOf(j)]
	s.mu.RUnlock()
	return on
}

// New returns a carbons service working with r. log may be nil.
func New(cfg Config, r Router, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{r: r, log: log.With("xep", "0280"), cluster: cfg.Cluster, enabled: map[account][]enabledResource{}}
}

// Register adds the enable/disable handlers, the StageCopy hook, the OnGone
// hook and the disco#info features to m.
func (s *Service) Register(m *router.Mux) {
	m.HandleIQ(router.ToServer, NS, "", s.handle)
	m.HandleIQ(router.ToAccount, NS, "", s.handle)
	m.Use(router.StageCopy, s.Hook())
	m.OnGone(s.gone)
	m.AddFeature(router.ToServer, NS, NSRules)
}

// Hook returns the router.StageCopy hook that sends the copies. It never
// fails, so it never stops or bounces a message.
func (s *Service) Hook() router.Hook {
	return router.Hook{Name: "carbons", Func: s.copyHook}
}

// Enabled reports whether the resource full has enabled carbons in its
// current session.
func (s *Service) Enabled(full jid.JID) bool {
	res, ok := s.r.Resource(full)
	if !ok {
		return false
	}
	return isEnabled(s.lookup(full), &res)
}

// isEnabled reports whether the bound resource r is in on, with the session
// that enabled carbons, or is on another node of a cluster and enabled
// carbons there.
func isEnabled(on []enabledResource, r *router.Resource) bool {
	if r.Carbons {
		return true
	}
	for i := range on {
		if on[i].jid.Equal(r.JID) {
			return on[i].target == r.Target
		}
	}
	return false
}

// isAccount reports whether j is at a local account, without allocating
// when it has no localpart.
func (s *Service) isAccount(j jid.JID) bool {
	return !j.Domain().Equal(j.Bare()) && s.r.IsLocal(j.Domainpart())
}

// handle answers <enable/> and <disable/> (§4, §5).
func (s *Service) handle(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	from := iq.From
	if !s.isAccount(from) || !hasResource(from) {
		// §4.1, §5.1: not a client hosted here.
		return nil, stanza.NewError(stanza.NotAllowed, "carbons are for clients of this server")
	}
	if iq.To.Localpart() != "" && !iq.To.Bare().Equal(from.Bare()) {
		// §5: "not-allowed if trying to disable another client's Carbons".
		return nil, stanza.NewError(stanza.NotAllowed, "carbons are enabled by each resource for itself")
	}
	p := iq.Payload()
	if iq.Type != stanza.TypeSet || (p.Name.Local != "enable" && p.Name.Local != "disable") {
		return nil, stanza.NewError(stanza.BadRequest, "expected an iq set with <enable/> or <disable/>")
	}
	res, ok := s.r.Resource(from)
	if !ok {
		return nil, stanza.NewError(stanza.NotAllowed, "no session is bound to this address")
	}
	s.set(res, p.Name.Local == "enable")
	s.log.LogAttrs(ctx, slog.LevelDebug, "carbons "+p.Name.Local+"d", slog.String("jid", from.String()))
	return iq.Result(nil), nil
}

// set enables or disables carbons for the bound resource res.
func (s *Service) set(res router.Resource, enable bool) {
	from := res.JID
	user := accountOf(from)
	s.mu.Lock()
	on := s.enabled[user]
	i := slices.IndexFunc(on, func(e enabledResource) bool { return e.jid.Equal(from) })
	switch {
	case enable && i < 0:
		on = append(slices.Clip(on), enabledResource{jid: res.JID, target: res.Target})
	case enable:
		on = slices.Clone(on)
		on[i].target = res.Target
	case i >= 0:
		on = slices.Delete(slices.Clone(on), i, i+1)
	}
	if len(on) == 0 {
		delete(s.enabled, user)
	} else {
		s.enabled[user] = on
	}
	s.mu.Unlock()
	s.changed(from)
}

// changed tells a cluster's registry (through the router) that carbons
// were enabled or disabled for full; the cluster reads the state back
// with Enabled.
func (s *Service) changed(full jid.JID) {
	if c, ok := s.r.(interface{ Changed(jid.JID) }); ok && s.cluster {
		c.Changed(full)
	}
}

// EnableCarbons enables carbons for the bound resource full, as an
// <enable/> from it would: Bind 2 (XEP-0386) does it inline at login.
func (s *Service) EnableCarbons(ctx context.Context, full jid.JID) error {
	if !s.isAccount(full) || !hasResource(full) {
		return fmt.Errorf("carbons: %s is not a client of this server", full)
	}
	res, ok := s.r.Resource(full)
	if !ok {
		return fmt.Errorf("carbons: no session is bound to %s", full)
	}
	s.set(res, true)
	s.log.LogAttrs(ctx, slog.LevelDebug, "carbons enabled inline", slog.String("jid", full.String()))
	return nil
}

// gone forgets a resource whose session ended. A session that replaced it
// (router.Router.BindReplacing runs OnGone after binding the new one) starts
// disabled; if that new session already enabled carbons, its entry stays.
func (s *Service) gone(_ context.Context, full jid.JID) {
	on := s.lookup(full)
	i := slices.IndexFunc(on, func(e enabledResource) bool { return e.jid.Equal(full) })
	if i < 0 {
		return
	}
	t := on[i].target
	if cur, ok := s.r.Resource(full); ok && cur.Target == t {
		return // the session that enabled is the one bound now
	}
	user := accountOf(full)
	s.mu.Lock()
	on = s.enabled[user]
	i = slices.IndexFunc(on, func(e enabledResource) bool { return e.jid.Equal(full) && e.target == t })
	if i >= 0 {
		on = slices.Delete(slices.Clone(on), i, i+1)
		if len(on) == 0 {
			delete(s.enabled, user)
		} else {
			s.enabled[user] = on
		}
	}
	s.mu.Unlock()
}

// Released forgets the resource full, whose session moved to another node
// of a cluster (it was released from the router without ending).
func (s *Service) Released(ctx context.Context, full jid.JID) { s.gone(ctx, full) }
