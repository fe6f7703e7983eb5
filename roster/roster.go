package roster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"

	"dormouse.im/dormouse/internal/keylock"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// Namespaces.
const (
	// NS is the roster namespace (RFC 6121 §2).
	NS = "jabber:iq:roster"
	// NSVer is the roster versioning stream feature (RFC 6121 §2.6.1).
	NSVer = "urn:xmpp:features:rosterver"
)

// MaxTextLen is the longest item name or group name accepted, in bytes
// (RFC 6121 §2.3.3 lets the server choose; longer is not-acceptable).
const MaxTextLen = 1023

// DefaultMaxItems is the default Config.MaxItems.
const DefaultMaxItems = 1000

// Config configures the roster service. The zero value is usable.
type Config struct {
	// MaxItems is the most items one roster may hold (roster.max_items);
	// 0 means DefaultMaxItems, a negative value means no limit. Adding an
	// item beyond it fails with not-allowed (RFC 6121 §2.3.3).
	MaxItems int
	// DisableVersioning turns roster versioning (RFC 6121 §2.6) off:
	// results carry no 'ver' and StreamFeatures offers nothing.
	DisableVersioning bool
	// Accounts tells existing local accounts from unknown local users
	// (RFC 6121 §8.5.1): a subscription request to an unknown user is
	// answered with 'unsubscribed', other subscription stanzas to one are
	// ignored. Nil counts every local user as an account. (The server
	// passes the same checker it gives the router.)
	Accounts router.AccountChecker
}

// Router is what the service needs from the router; *router.Router
// implements it.
type Router interface {
	// Send routes a stanza the service generates on a user's behalf,
	// through the policy hooks; it returns how many resources took it.
	Send(ctx context.Context, st *stanza.Stanza) int
	// Deliver hands a stanza the service generates to its recipients.
	Deliver(ctx context.Context, st *stanza.Stanza) int
	// Bounce answers st with an error stanza from its recipient.
	Bounce(ctx context.Context, st *stanza.Stanza, e *stanza.Error)
	// IsLocal reports whether domain is served here.
	IsLocal(domain string) bool
	// Resources returns snapshots of the bound resources of a bare JID.
	Resources(bare jid.JID) []router.Resource
	// Resource returns a snapshot of one bound resource.
	Resource(full jid.JID) (router.Resource, bool)
	// SetInterested marks a resource as having requested the roster
	// (RFC 6121 §2.1.6: it gets roster pushes and presence).
	SetInterested(full jid.JID)
	// HidesAccounts reports whether [privacy] hide_accounts is on: the
	// server does not tell strangers which accounts exist.
	HidesAccounts() bool
}

// Service implements the roster and presence subscriptions. Its methods
// are safe for concurrent use.
type Service struct {
	store Store
	r     Router
	cfg   Config
	log   *slog.Logger

	locks keylock.Map // serializes each user's roster changes

	idPrefix string        // random, for the ids of roster pushes
	idSeq    atomic.Uint64 // next push id
}

// New returns a roster service that keeps rosters in store and sends
// through r. log may be nil.
func New(cfg Config, store Store, r Router, log *slog.Logger) *Service {
	if cfg.MaxItems == 0 {
		cfg.MaxItems = DefaultMaxItems
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &Service{
		store:    store,
		r:        r,
		cfg:      cfg,
		log:      log.With("feature", "roster"),
		idPrefix: "push-" + hex.EncodeToString(b[:]) + "-",
	}
}

// Register adds the roster IQ handler, the subscription presence handlers
// and the OnAvailable hook that delivers pending subscription requests.
// Roster versioning is a stream feature, not a disco feature: offer
// StreamFeatures in the session's post-authentication features.
func (s *Service) Register(m *router.Mux) {
	m.HandleIQ(router.ToAccount, NS, "query", s.handleIQ)
	m.HandlePresence(s.handleSubscription,
		stanza.TypeSubscribe, stanza.TypeSubscribed, stanza.TypeUnsubscribe, stanza.TypeUnsubscribed)
	m.OnAvailable(s.deliverPending)
}

// StreamFeatures returns the stream features the session offers after
// authentication: <ver xmlns='urn:xmpp:features:rosterver'/> when
// versioning is on (RFC 6121 §2.6.1), else none.
func (s *Service) StreamFeatures() []*xml.Element {
	if s.cfg.DisableVersioning {
		return nil
	}
	return []*xml.Element{xml.NewElement(NSVer, "ver")}
}

// Subscribers returns the contacts subscribed to user's presence: the items
// of user's roster with subscription 'from' or 'both'.
func (s *Service) Subscribers(ctx context.Context, user jid.JID) ([]jid.JID, error) {
	return s.contacts(ctx, user, func(sub string) bool { return sub == SubFrom || sub == SubBoth })
}

// Subscriptions returns the contacts whose presence user is subscribed to:
// the items with subscription 'to' or 'both'.
func (s *Service) Subscriptions(ctx context.Context, user jid.JID) ([]jid.JID, error) {
	return s.contacts(ctx, user, func(sub string) bool { return sub == SubTo || sub == SubBoth })
}

// IsSubscriber reports whether contact is subscribed to user's presence
// (contact's item in user's roster has subscription 'from' or 'both').
func (s *Service) IsSubscriber(ctx context.Context, user, contact jid.JID) (bool, error) {
	it, err := s.store.Item(ctx, user.Bare().String(), contact.Bare().String())
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("roster: item: %w", err)
	}
	return it.Subscription == SubFrom || it.Subscription == SubBoth, nil
}

func (s *Service) contacts(ctx context.Context, user jid.JID, match func(string) bool) ([]jid.JID, error) {
	items, _, err := s.store.Roster(ctx, user.Bare().String())
	if err != nil {
		return nil, fmt.Errorf("roster: %w", err)
	}
	var out []jid.JID
	for _, it := range items {
		if !match(it.Subscription) {
			continue
		}
		j, err := jid.Parse(it.Contact)
		if err != nil {
			s.log.Warn("invalid contact in roster", "user", user.Bare().String(), "contact", it.Contact)
			continue
		}
		out = append(out, j)
	}
	return out, nil
}

// itemElement is the <item/> of a roster result or push.
func itemElement(it Item) *xml.Element {
	el := xml.NewElement(NS, "item", "jid", it.Contact)
	if it.Removed {
		el.SetAttr("subscription", "remove")
		return el
	}
	if it.Name != "" {
		el.SetAttr("name", it.Name)
	}
	sub := it.Subscription
	if sub == "" {
		sub = SubNone
	}
	el.SetAttr("subscription", sub)
	if it.Ask {
		el.SetAttr("ask", "subscribe")
	}
	for _, g := range it.Groups {
		el.AddChild(xml.NewElement(NS, "group").AddText(g))
	}
	return el
}

func (s *Service) query(ver int64) *xml.Element {
	q := xml.NewElement(NS, "query")
	if !s.cfg.DisableVersioning {
		q.SetAttr("ver", strconv.FormatInt(ver, 10))
	}
	return q
}

// push sends a roster push for it (RFC 6121 §2.1.6) to every interested
// resource of user. Callers hold user's lock, so pushes leave in version
// order. The push has no 'from': clients accept a push without 'from' or
// from their own bare JID, and the account answers it.
func (s *Service) push(user jid.JID, it Item) {
	for _, res := range s.r.Resources(user) {
		if res.Interested {
			s.pushTo(res, it)
		}
	}
}

func (s *Service) pushTo(res router.Resource, it Item) {
	iq := stanza.Build(stanza.KindIQ, stanza.TypeSet, s.nextID(), jid.JID{}, res.JID)
	q := s.query(it.Version)
	q.AddChild(itemElement(it))
	iq.El.AddChild(q)
	if !res.Target.Deliver(iq) {
		s.log.Debug("roster push not delivered", "to", res.JID.String())
	}
}

func (s *Service) nextID() string {
	return s.idPrefix + strconv.FormatUint(s.idSeq.Add(1), 10)
}
