package blocking

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// Namespaces.
const (
	NS       = "urn:xmpp:blocking"        // protocol and disco#info feature
	NSErrors = "urn:xmpp:blocking:errors" // application error condition
)

// Defaults.
const (
	DefaultMaxItems  = 1000
	DefaultCacheSize = 10000
)

// Config configures blocking.
type Config struct {
	// MaxItems is the largest block list a user may have. Default
	// DefaultMaxItems.
	MaxItems int
	// CacheSize is the number of users whose block lists are kept in
	// memory. Default DefaultCacheSize.
	CacheSize int
	// Presence, if set, sends presence on the user's behalf when the block
	// list changes. Without it, the service approximates (see the package
	// documentation).
	Presence Presence
}

// Presence sends the presence XEP-0191 asks for when a block list changes,
// only where the contact may see the user's presence (RFC 6121 rules): the
// presence feature, which knows the subscriptions, implements it. Both
// methods run after the change is stored and the IQ result is queued.
// Presence to a blocked contact must be sent with Router.Deliver: the
// policy hook now drops it on Router.Send and Router.Route.
type Presence interface {
	// Blocked sends unavailable presence from each of user's available
	// resources to each of the newly blocked contacts (§3.3).
	Blocked(ctx context.Context, user jid.JID, contacts []jid.JID)
	// Unblocked sends user's current presence to each of the unblocked
	// contacts (§3.4).
	Unblocked(ctx context.Context, user jid.JID, contacts []jid.JID)
}

// Service implements the blocking command. Its methods are safe for
// concurrent use.
type Service struct {
	cfg   Config
	store Store
	r     *router.Router // concrete: strings passed to an interface method escape to the heap
	log   *slog.Logger
	cache *cache

	// interested maps a user to the resources that retrieved the block
	// list, with the target bound at the time: a later session that
	// replaces the resource (router.Router.Bind) has a different target
	// and has not asked. Guarded by mu.
	mu         sync.Mutex
	interested map[string]map[string]router.Target

	pushID atomic.Uint64 // for push IQ ids
}

// New returns a blocking service on store, delivering its pushes through r.
// log may be nil.
func New(cfg Config, store Store, r *router.Router, log *slog.Logger) *Service {
	if cfg.MaxItems <= 0 {
		cfg.MaxItems = DefaultMaxItems
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{
		cfg: cfg, store: store, r: r,
		log:        log.With("xep", "0191"),
		cache:      newCache(cfg.CacheSize),
		interested: map[string]map[string]router.Target{},
	}
}

// Register adds the blocking handlers, the policy hook, the OnGone hook and
// the disco#info feature to m.
func (s *Service) Register(m *router.Mux) {
	m.HandleIQ(router.ToServer, NS, "", s.handle)
	m.HandleIQ(router.ToAccount, NS, "", s.handle)
	m.Use(router.StagePolicy, router.Hook{
		Name:  "blocking",
		Kinds: []stanza.Kind{stanza.KindMessage, stanza.KindPresence, stanza.KindIQ},
		Func:  s.policy,
	})
	m.OnGone(s.gone)
	m.AddFeature(router.ToServer, NS)
}

// Blocked reports whether user (a local account) blocks other. Features
// that deliver stanzas without Router.Route (presence broadcasts) use it.
func (s *Service) Blocked(ctx context.Context, user, other jid.JID) (bool, error) {
	l, err := s.list(ctx, user.Bare().String())
	if err != nil {
		return false, err
	}
	return l.matches(other), nil
}

// list returns the user's block list, from the cache or the store.
func (s *Service) list(ctx context.Context, user string) (*blockList, error) {
	if l, ok := s.cache.get(user); ok {
		return l, nil
	}
	gen := s.cache.generation()
	items, err := s.store.BlockList(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("blocking: block list of %s: %w", user, err)
	}
	l := newBlockList(items)
	s.cache.put(user, l, gen)
	return l, nil
}

// isAccount reports whether j is at a local account.
func (s *Service) isAccount(j jid.JID) bool {
	return j.Localpart() != "" && s.r.IsLocal(j.Domainpart())
}

// errBlocked is the error for a stanza to a blocked entity (§3.3).
func errBlocked() *stanza.Error {
	return &stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAcceptable, App: xml.NewElement(NSErrors, "blocked")}
}

// policy is the StagePolicy hook. It runs for every routed stanza and, in
// the common case (both lists cached), allocates nothing: the cache is
// looked up with bare JIDs built in a buffer on the stack, and the store is
// read only on a miss.
func (s *Service) policy(ctx context.Context, rt *router.Routing) error {
	st := rt.St
	from, to := st.From, st.To
	fd, td := from.Domainpart(), to.Domainpart()
	if td == "" || fd == "" {
		return nil // to the sender's own account or server, or from the server
	}
	fl, tl := from.Localpart(), to.Localpart()
	fromAccount := fl != "" && s.r.IsLocal(fd)
	toAccount := tl != "" && s.r.IsLocal(td)
	if fromAccount && toAccount && fl == tl && fd == td {
		return nil // within one account
	}
	var buf [96]byte
	if fromAccount && (tl != "" || to.Resourcepart() != "" || !s.r.IsLocal(td)) {
		l, err := s.listOf(ctx, append(append(append(buf[:0], fl...), '@'), fd...))
		if err != nil {
			return err
		}
		if l.matches(to) {
			if st.Kind == stanza.KindPresence || st.Type == stanza.TypeError || st.Type == stanza.TypeResult {
				return router.ErrDrop
			}
			return errBlocked()
		}
	}
	if toAccount && (fl != "" || from.Resourcepart() != "" || !s.r.IsLocal(fd)) {
		l, err := s.listOf(ctx, append(append(append(buf[:0], tl...), '@'), td...))
		if err != nil {
			return err
		}
		if l.matches(from) {
			if st.Kind == stanza.KindPresence || st.Type == stanza.TypeError || st.Type == stanza.TypeResult {
				return router.ErrDrop
			}
			return stanza.NewError(stanza.ServiceUnavailable, "")
		}
	}
	return nil
}

// listOf is list for a bare JID given as bytes: a cache hit allocates
// nothing.
func (s *Service) listOf(ctx context.Context, user []byte) (*blockList, error) {
	if l, ok := s.cache.getBytes(user); ok {
		return l, nil
	}
	return s.list(ctx, string(user))
}

// gone forgets a resource that went away, and the user's cached list with
// their last resource.
func (s *Service) gone(_ context.Context, full jid.JID) {
	bare := full.Bare()
	user := bare.String()
	s.mu.Lock()
	if rs := s.interested[user]; rs != nil {
		delete(rs, full.Resourcepart())
		if len(rs) == 0 {
			delete(s.interested, user)
		}
	}
	s.mu.Unlock()
	if len(s.r.Resources(bare)) == 0 {
		s.cache.invalidate(user)
	}
}

// setInterested records that the resource full, bound to a target, has
// retrieved the block list.
func (s *Service) setInterested(full jid.JID) {
	res := full.Resourcepart()
	if res == "" {
		return
	}
	var t router.Target
	for _, r := range s.r.Resources(full.Bare()) {
		if r.JID.Resourcepart() == res {
			t = r.Target
		}
	}
	if t == nil {
		return
	}
	user := full.Bare().String()
	s.mu.Lock()
	rs := s.interested[user]
	if rs == nil {
		rs = map[string]router.Target{}
		s.interested[user] = rs
	}
	rs[res] = t
	s.mu.Unlock()
}

// Interested reports whether the resource full, bound on this node, has
// retrieved the block list (its session moves to another node of a
// cluster: SetInterested there).
func (s *Service) Interested(full jid.JID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.interested[full.Bare().String()][full.Resourcepart()]
	return ok
}

// SetInterested records that the resource full, now bound to t, had
// retrieved the block list (on the node its session came from); Released
// forgets it on that node, where it is no longer bound.
func (s *Service) SetInterested(full jid.JID, t router.Target) {
	user := full.Bare().String()
	s.mu.Lock()
	rs := s.interested[user]
	if rs == nil {
		rs = map[string]router.Target{}
		s.interested[user] = rs
	}
	rs[full.Resourcepart()] = t
	s.mu.Unlock()
}

// Released forgets the interest of a resource whose session moved to
// another node.
func (s *Service) Released(full jid.JID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rs := s.interested[full.Bare().String()]; rs != nil {
		delete(rs, full.Resourcepart())
		if len(rs) == 0 {
			delete(s.interested, full.Bare().String())
		}
	}
}

// handle answers the blocking IQs.
func (s *Service) handle(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	user := iq.From.Bare()
	if !s.isAccount(user) {
		return nil, stanza.NewError(stanza.ServiceUnavailable, "")
	}
	if iq.To.Localpart() != "" && !iq.To.Bare().Equal(user) {
		return nil, stanza.NewError(stanza.Forbidden, "a block list is managed by its owner")
	}
	p := iq.Payload()
	switch {
	case iq.Type == stanza.TypeGet && p.Name.Local == "blocklist":
		return s.blocklist(ctx, iq, user)
	case iq.Type == stanza.TypeSet && p.Name.Local == "block":
		return s.block(ctx, iq, user, p)
	case iq.Type == stanza.TypeSet && p.Name.Local == "unblock":
		return s.unblock(ctx, iq, user, p)
	}
	return nil, stanza.NewError(stanza.BadRequest, "expected blocklist (get), block or unblock (set)")
}

func (s *Service) blocklist(ctx context.Context, iq *stanza.Stanza, user jid.JID) (*stanza.Stanza, error) {
	l, err := s.list(ctx, user.String())
	if err != nil {
		return nil, err
	}
	s.setInterested(iq.From)
	return iq.Result(itemsElement("blocklist", l.items)), nil
}

func itemsElement(local string, items []string) *xml.Element {
	e := xml.NewElement(NS, local)
	for _, it := range items {
		e.AddChild(xml.NewElement(NS, "item", "jid", it))
	}
	return e
}

// items parses the item children of p into canonical JIDs, without
// duplicates, in their order.
func items(p *xml.Element) ([]jid.JID, []string, error) {
	var js []jid.JID
	var ss []string
	for _, it := range p.ChildrenNamed(NS, "item") {
		j, err := jid.Parse(it.AttrValue("jid"))
		if err != nil {
			return nil, nil, stanza.NewError(stanza.JIDMalformed, "invalid JID "+strconv.Quote(it.AttrValue("jid")))
		}
		if s := j.String(); !slices.Contains(ss, s) {
			js = append(js, j)
			ss = append(ss, s)
		}
	}
	return js, ss, nil
}

func (s *Service) block(ctx context.Context, iq *stanza.Stanza, user jid.JID, p *xml.Element) (*stanza.Stanza, error) {
	js, ss, err := items(p)
	if err != nil {
		return nil, err
	}
	if len(ss) == 0 {
		return nil, stanza.NewError(stanza.BadRequest, "block at least one JID")
	}
	name := user.String()
	cur, err := s.list(ctx, name)
	if err != nil {
		return nil, err
	}
	n := len(cur.items)
	for _, x := range ss {
		if !cur.has(x) {
			n++
		}
	}
	if n > s.cfg.MaxItems {
		return nil, stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("a block list holds at most %d JIDs", s.cfg.MaxItems))
	}
	err = s.store.Block(ctx, name, ss)
	s.cache.invalidate(name) // even after an error: the store may have changed
	if err != nil {
		return nil, fmt.Errorf("blocking: block for %s: %w", name, err)
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "blocked", slog.String("user", name), slog.Int("jids", len(ss)))
	s.r.Deliver(ctx, iq.Result(nil))
	s.push(ctx, user, itemsElement("block", ss))

	// §3.3: the blocked contacts see the user go offline.
	var contacts []jid.JID
	for _, j := range js {
		if j.Localpart() != "" && !j.Bare().Equal(user) {
			contacts = append(contacts, j)
		}
	}
	if len(contacts) == 0 {
		return nil, router.ErrAsync
	}
	if s.cfg.Presence != nil {
		s.cfg.Presence.Blocked(ctx, user, contacts)
		return nil, router.ErrAsync
	}
	for _, r := range s.r.Resources(user) {
		if !r.Available {
			continue
		}
		for _, c := range contacts {
			s.r.Deliver(ctx, stanza.Build(stanza.KindPresence, stanza.TypeUnavailable, "", r.JID, c))
		}
	}
	return nil, router.ErrAsync
}

func (s *Service) unblock(ctx context.Context, iq *stanza.Stanza, user jid.JID, p *xml.Element) (*stanza.Stanza, error) {
	_, ss, err := items(p)
	if err != nil {
		return nil, err
	}
	name := user.String()
	var before *blockList // for Presence.Unblocked after unblocking all
	if len(ss) == 0 && s.cfg.Presence != nil {
		if before, err = s.list(ctx, name); err != nil {
			return nil, err
		}
	}
	err = s.store.Unblock(ctx, name, ss)
	s.cache.invalidate(name)
	if err != nil {
		return nil, fmt.Errorf("blocking: unblock for %s: %w", name, err)
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "unblocked", slog.String("user", name), slog.Int("jids", len(ss)))
	s.r.Deliver(ctx, iq.Result(nil))
	s.push(ctx, user, itemsElement("unblock", ss))
	if s.cfg.Presence != nil {
		unblocked := ss
		if before != nil {
			unblocked = before.items
		}
		var contacts []jid.JID
		for _, x := range unblocked {
			if j, err := jid.Parse(x); err == nil && j.Localpart() != "" && !j.Bare().Equal(user) {
				contacts = append(contacts, j)
			}
		}
		if len(contacts) > 0 {
			s.cfg.Presence.Unblocked(ctx, user, contacts)
		}
	}
	return nil, router.ErrAsync
}

// push sends payload in an IQ set to each bound resource of user that has
// retrieved the block list.
func (s *Service) push(ctx context.Context, user jid.JID, payload *xml.Element) {
	name := user.String()
	for _, r := range s.r.Resources(user) {
		s.mu.Lock()
		t := s.interested[name][r.JID.Resourcepart()]
		s.mu.Unlock()
		if t == nil || t != r.Target {
			continue
		}
		id := "block-" + strconv.FormatUint(s.pushID.Add(1), 10)
		push := stanza.Build(stanza.KindIQ, stanza.TypeSet, id, jid.JID{}, r.JID)
		push.El.AddChild(payload.Copy())
		s.r.Deliver(ctx, push)
	}
}
