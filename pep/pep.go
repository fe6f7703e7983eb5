package pep

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// Namespaces.
const (
	NS      = "http://jabber.org/protocol/pubsub"
	NSOwner = "http://jabber.org/protocol/pubsub#owner"
	NSEvent = "http://jabber.org/protocol/pubsub#event"
	NSCaps  = router.NSCaps
	NSInfo  = "http://jabber.org/protocol/disco#info"
)

// Features lists the disco#info features an account advertises for this
// service: what is implemented, nothing more.
var Features = []string{
	NS + "#access-open",
	NS + "#access-presence",
	NS + "#access-whitelist",
	NS + "#auto-create",
	NS + "#config-node",
	NS + "#create-and-configure",
	NS + "#create-nodes",
	NS + "#config-node-max",
	NS + "#delete-items",
	NS + "#delete-nodes",
	NS + "#filtered-notifications",
	NS + "#item-ids",
	NS + "#last-published",
	NS + "#multi-items",
	NS + "#persistent-items",
	NS + "#presence-notifications",
	NS + "#publish",
	NS + "#publish-options",
	NS + "#purge-nodes",
	NS + "#retract-items",
	NS + "#retrieve-affiliations",
	NS + "#retrieve-default",
	NS + "#retrieve-items",
	NS + "#retrieve-subscriptions",
	NS + "#subscribe",
}

// Defaults of Config.
const (
	DefaultMaxPayloadSize = 1 << 20
	DefaultMaxNodes       = 1000
	DefaultMaxItems       = 1000
	DefaultMaxBytes       = 16 << 20
	// DefaultMaxResolving bounds the XEP-0115 queries in flight.
	DefaultMaxResolving = 100
)

// Config configures the service. The zero value is usable, except that
// without CapsVer no client's entity capabilities are trusted (and so no
// notifications go to contacts' and the owner's resources).
type Config struct {
	// MaxPayloadSize is the largest item payload accepted, serialized, in
	// bytes (the stanza size limit applies first). Default
	// DefaultMaxPayloadSize.
	MaxPayloadSize int
	// MaxNodes is how many nodes one account may have. Default
	// DefaultMaxNodes.
	MaxNodes int
	// MaxItems is how many items one node keeps at most, also with
	// max_items=max (the oldest go first). Default DefaultMaxItems.
	MaxItems int
	// MaxBytes is how many bytes of item payloads one account may store
	// in all its nodes. Default DefaultMaxBytes.
	MaxBytes int64
	// CapsVer computes the XEP-0115 verification string of a disco#info
	// <query/> (disco.CapsVer): an answer to a caps query is used only if
	// it hashes to the advertised ver.
	CapsVer func(query *xml.Element) string
}

// Roster is what the service needs to know about subscriptions (users and
// contacts are bare JIDs).
type Roster interface {
	// Subscribers returns the contacts subscribed to user's presence
	// (subscription 'from' or 'both').
	Subscribers(ctx context.Context, user jid.JID) ([]jid.JID, error)
	// Subscriptions returns the contacts whose presence user is
	// subscribed to ('to' or 'both').
	Subscriptions(ctx context.Context, user jid.JID) ([]jid.JID, error)
}

// Service is the personal eventing service of every local account. Its
// methods are safe for concurrent use.
type Service struct {
	cfg    Config
	store  Store
	roster Roster
	r      *router.Router
	log    *slog.Logger

	ctx    context.Context // of the goroutines; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the goroutines resolving caps and sending last items
	busy   atomic.Int32   // how many of them run (for tests)
	mu     sync.Mutex     // guards closed, and orders wg.Add before Close's wg.Wait
	closed bool

	caps capsCache
}

// New returns the service. log may be nil.
func New(cfg Config, store Store, roster Roster, r *router.Router, log *slog.Logger) *Service {
	if cfg.MaxPayloadSize <= 0 {
		cfg.MaxPayloadSize = DefaultMaxPayloadSize
	}
	if cfg.MaxNodes <= 0 {
		cfg.MaxNodes = DefaultMaxNodes
	}
	if cfg.MaxItems <= 0 {
		cfg.MaxItems = DefaultMaxItems
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{
		cfg: cfg, store: store, roster: roster, r: r,
		log:    log.With("xep", "0163"),
		ctx:    ctx,
		cancel: cancel,
		caps:   newCapsCache(),
	}
}

// Register adds the pubsub handlers at accounts' bare JIDs, the hook that
// sends last published items on initial presence, and the features.
func (s *Service) Register(m *router.Mux) {
	// Public: open nodes are readable by anyone, so strangers (and the
	// JIDs of missing accounts, as strangers) reach the handler too.
	m.HandlePublicIQ(NS, "pubsub", s.handlePubsub)
	m.HandleIQ(router.ToAccount, NSOwner, "pubsub", s.handleOwner)
	m.HandleIQ(router.ToAccount, NSPrivate, "query", s.handlePrivate)
	m.OnAvailable(s.available)
	m.AddFeature(router.ToAccount, Features...)
	m.AddFeature(router.ToAccount, FeatureBookmarksCompat)
	m.AddAccountIdentity(router.Identity{Category: "pubsub", Type: "pep"})
}

// Close stops the service's goroutines and waits for them; no new ones
// start after it.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// goTrack runs f on a goroutine Close waits for (unless Close was called).
func (s *Service) goTrack(f func(ctx context.Context)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.wg.Add(1)
	s.busy.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.busy.Add(-1)
		f(s.ctx)
	}()
}

// target returns the account an IQ is addressed to (its own without 'to').
func target(iq *stanza.Stanza) (jid.JID, error) {
	owner := iq.To.Bare()
	if owner.Domainpart() == "" {
		owner = iq.From.Bare()
	}
	if owner.Localpart() == "" {
		return jid.JID{}, stanza.NewError(stanza.ServiceUnavailable, "")
	}
	return owner, nil
}

// storeErr maps a store's ErrNotFound to item-not-found and wraps others.
func storeErr(op string, err error) error {
	if errors.Is(err, ErrNotFound) {
		return errNodeNotFound()
	}
	return fmt.Errorf("pep: %s: %w", op, err)
}

// newItemID returns an item id for an item published without one.
func newItemID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// handlePubsub answers <pubsub xmlns='http://jabber.org/protocol/pubsub'/>
// from a requester with relation rel to the owner. It is called for local
// JIDs without an account too (rel Stranger): a stranger's answer depends
// only on what the account published for strangers, after the same work,
// so a missing account looks like one that published nothing.
func (s *Service) handlePubsub(ctx context.Context, iq *stanza.Stanza, rel router.Relation) (*stanza.Stanza, error) {
	owner, err := target(iq)
	if err != nil {
		return nil, err
	}
	ps := iq.Payload()
	op := ps.FirstChild()
	if op == nil || op.Name.Space != NS {
		return nil, stanza.NewError(stanza.BadRequest, "an empty pubsub request")
	}
	set := iq.Type == stanza.TypeSet
	switch {
	case op.Name.Local == "publish" && set:
		return s.publish(ctx, iq, owner, rel, op, ps.Child(NS, "publish-options"))
	case op.Name.Local == "retract" && set:
		return s.retract(ctx, iq, owner, rel, op)
	case op.Name.Local == "create" && set:
		return s.create(ctx, iq, owner, rel, op, ps.Child(NS, "configure"))
	case op.Name.Local == "items" && !set:
		return s.items(ctx, iq, owner, rel, op)
	case op.Name.Local == "affiliations" && !set:
		return s.affiliations(ctx, iq, owner, rel, op)
	case op.Name.Local == "subscribe" && set:
		if o := ps.Child(NS, "options"); o != nil && len(o.Elements()) > 0 {
			return nil, unsupported("subscription-options")
		}
		return s.subscribe(ctx, iq, owner, rel, op)
	case op.Name.Local == "unsubscribe" && set:
		return s.unsubscribe(ctx, iq, owner, rel, op)
	case op.Name.Local == "subscriptions" && !set:
		return s.subscriptions(ctx, iq, owner, op)
	}
	switch op.Name.Local {
	case "options":
		return nil, unsupported("subscription-options")
	case "publish", "retract", "create", "items", "affiliations", "subscribe", "unsubscribe", "subscriptions":
		return nil, stanza.NewError(stanza.BadRequest, "wrong iq type for "+op.Name.Local)
	}
	return nil, stanza.NewError(stanza.FeatureNotImplemented, "")
}

// handleOwner answers <pubsub xmlns='http://jabber.org/protocol/pubsub#owner'/>.
func (s *Service) handleOwner(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	owner, err := target(iq)
	if err != nil {
		return nil, err
	}
	op := iq.Payload().FirstChild()
	if op == nil || op.Name.Space != NSOwner {
		return nil, stanza.NewError(stanza.BadRequest, "an empty pubsub#owner request")
	}
	if !iq.From.Bare().Equal(owner) {
		if op.Name.Local == "default" {
			return s.defaultConfig(iq)
		}
		return nil, errNotOwner()
	}
	set := iq.Type == stanza.TypeSet
	switch {
	case op.Name.Local == "configure":
		return s.configure(ctx, iq, owner, op, set)
	case op.Name.Local == "default" && !set:
		return s.defaultConfig(iq)
	case op.Name.Local == "delete" && set:
		return s.deleteNode(ctx, iq, owner, op)
	case op.Name.Local == "purge" && set:
		return s.purge(ctx, iq, owner, op)
	}
	switch op.Name.Local {
	case "subscriptions":
		return nil, unsupported("manage-subscriptions")
	case "affiliations":
		return nil, unsupported("modify-affiliations")
	case "default", "delete", "purge":
		return nil, stanza.NewError(stanza.BadRequest, "wrong iq type for "+op.Name.Local)
	}
	return nil, stanza.NewError(stanza.FeatureNotImplemented, "")
}

// namedNode returns the node a request names and its configuration.
func (s *Service) namedNode(ctx context.Context, owner jid.JID, op *xml.Element, what string) (string, NodeConfig, error) {
	node, err := nodeAttr(op)
	if err != nil {
		return "", NodeConfig{}, err
	}
	cfg, err := s.store.Node(ctx, owner.String(), node)
	if err != nil {
		return "", NodeConfig{}, storeErr(what, err)
	}
	return node, cfg, nil
}

// nodeAttr returns the node attribute, or the nodeid-required error.
func nodeAttr(op *xml.Element) (string, error) {
	n := op.AttrValue("node")
	if n == "" {
		return "", pubsubError(stanza.BadRequest, "nodeid-required", "")
	}
	if len(n) > MaxNameLen {
		return "", stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("node names are at most %d bytes", MaxNameLen))
	}
	return n, nil
}

// MaxNameLen bounds node names, item ids and private storage namespaces,
// in bytes (they are database keys).
const MaxNameLen = 1024

// checkID refuses an item id longer than MaxNameLen.
func checkID(id string) error {
	if len(id) > MaxNameLen {
		return stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("item ids are at most %d bytes", MaxNameLen))
	}
	return nil
}

// keep is how many items a node with cfg keeps.
func (s *Service) keep(cfg NodeConfig) int {
	if cfg.MaxItems == 0 || cfg.MaxItems > s.cfg.MaxItems {
		return s.cfg.MaxItems
	}
	return cfg.MaxItems
}

// publish handles a publish request (XEP-0060 §7.1, XEP-0163 §3).
func (s *Service) publish(ctx context.Context, iq *stanza.Stanza, owner jid.JID, rel router.Relation, op, opts *xml.Element) (*stanza.Stanza, error) {
	if rel != router.Self {
		return nil, errNotOwner()
	}
	node, err := nodeAttr(op)
	if err != nil {
		return nil, err
	}
	items := op.ChildrenNamed(NS, "item")
	if len(items) == 0 {
		return nil, pubsubError(stanza.BadRequest, "item-required", "")
	}
	if len(items) > 1 || len(op.Elements()) > 1 {
		return nil, pubsubError(stanza.BadRequest, "invalid-payload", "publish one item at a time")
	}
	payloads := items[0].Elements()
	switch len(payloads) {
	case 0:
		return nil, pubsubError(stanza.BadRequest, "payload-required", "")
	case 1:
	default:
		return nil, pubsubError(stanza.BadRequest, "invalid-payload", "an item has one payload element")
	}
	payload := payloads[0]
	data := payload.AppendXML(nil, "")
	var pre []Field
	if opts != nil {
		if x := opts.Child(NSData, "x"); x != nil {
			if pre, err = ParseForm(x, FormPublishOption); err != nil {
				return nil, stanza.NewError(stanza.BadRequest, err.Error())
			}
		}
	}
	id := items[0].AttrValue("id")
	if id == "" {
		id = newItemID()
	} else if err := checkID(id); err != nil {
		return nil, err
	}

	create, err := DefaultNodeConfig.Apply(pre)
	if err != nil {
		// XEP-0060 §7.1.5: options the service cannot configure a new
		// node with are not met either.
		create = NodeConfig{}
	}
	cfg, err := s.put(ctx, owner, node, id, payload, data, create, pre)
	if err != nil {
		return nil, err
	}
	res := xml.NewElement(NS, "pubsub").AddChild(
		xml.NewElement(NS, "publish", "node", node).AddChild(xml.NewElement(NS, "item", "id", id)))
	it := xml.NewElement(NSEvent, "item", "id", id).AddChild(payload.Copy())
	return s.replyThenNotify(ctx, iq.Result(res), owner, []event{s.newEvent(ctx, owner, cfg, node, itemsEvent(node, it))})
}

// put stores an item (payload, serialized as data) in a node of owner. A
// missing node is created with the configuration create (XEP-0163 §3
// auto-create; a zero create means its options cannot make a node: the
// precondition is not met); an existing one must meet the publish options
// pre (XEP-0060 §7.1.5). It returns the node's configuration.
func (s *Service) put(ctx context.Context, owner jid.JID, node, id string, payload *xml.Element, data []byte, create NodeConfig, pre []Field) (NodeConfig, error) {
	if len(data) > s.cfg.MaxPayloadSize {
		return NodeConfig{}, pubsubError(stanza.NotAcceptable, "payload-too-big",
			fmt.Sprintf("the payload is larger than %d bytes", s.cfg.MaxPayloadSize))
	}
	user := owner.String()
	cfg, err := s.store.Node(ctx, user, node)
	if errors.Is(err, ErrNotFound) {
		if create == (NodeConfig{}) {
			return NodeConfig{}, pubsubError(stanza.Conflict, "precondition-not-met", "the publish options cannot configure a node")
		}
		cfg = create
		err = s.createNode(ctx, user, node, cfg)
		if errors.Is(err, ErrExists) {
			// Created by a concurrent publication: its configuration
			// is what the options must meet.
			cfg, err = s.store.Node(ctx, user, node)
		} else if err == nil {
			pre = nil
		}
	}
	switch {
	case err != nil:
		return NodeConfig{}, storeErr("publish", err)
	case !cfg.Meets(pre):
		return NodeConfig{}, pubsubError(stanza.Conflict, "precondition-not-met",
			"the publish options do not match the node's configuration")
	}
	if cfg.PersistItems {
		used, err := s.store.Usage(ctx, user, node, id)
		if err != nil {
			return NodeConfig{}, storeErr("publish", err)
		}
		if used+int64(len(data)) > s.cfg.MaxBytes {
			return NodeConfig{}, stanza.NewError(stanza.NotAcceptable,
				fmt.Sprintf("an account stores at most %d bytes of items", s.cfg.MaxBytes))
		}
		if err := s.store.Publish(ctx, user, node, Item{ID: id, Payload: data}, s.keep(cfg)); err != nil {
			return NodeConfig{}, storeErr("publish", err)
		}
	}
	return cfg, nil
}

// createNode creates a node within the account's node limit; an error
// wrapping ErrExists if it exists.
func (s *Service) createNode(ctx context.Context, user, node string, cfg NodeConfig) error {
	nodes, err := s.store.Nodes(ctx, user)
	if err != nil {
		return storeErr("create", err)
	}
	if len(nodes) >= s.cfg.MaxNodes {
		return pubsubError(stanza.NotAllowed, "max-nodes-exceeded",
			fmt.Sprintf("an account has at most %d nodes", s.cfg.MaxNodes))
	}
	if err := s.store.CreateNode(ctx, user, node, cfg); err != nil {
		return fmt.Errorf("pep: create %s: %w", node, err)
	}
	return nil
}

// create handles an explicit node creation (XEP-0060 §8.1).
func (s *Service) create(ctx context.Context, iq *stanza.Stanza, owner jid.JID, rel router.Relation, op, conf *xml.Element) (*stanza.Stanza, error) {
	if rel != router.Self {
		return nil, errNotOwner()
	}
	node := op.AttrValue("node")
	if node == "" {
		return nil, pubsubError(stanza.NotAcceptable, "nodeid-required", "instant nodes are not supported")
	}
	cfg := DefaultNodeConfig
	if conf != nil {
		if x := conf.Child(NSData, "x"); x != nil {
			fields, err := ParseForm(x, FormNodeConfig)
			if err != nil {
				return nil, stanza.NewError(stanza.BadRequest, err.Error())
			}
			if cfg, err = cfg.Apply(fields); err != nil {
				return nil, stanza.NewError(stanza.NotAcceptable, err.Error())
			}
		}
	}
	if err := s.createNode(ctx, owner.String(), node, cfg); errors.Is(err, ErrExists) {
		return nil, stanza.NewError(stanza.Conflict, "the node exists")
	} else if err != nil {
		return nil, err
	}
	return iq.Result(nil), nil
}

// mayRead returns nil if a requester with relation rel to the owner may
// retrieve the items of a node with cfg (XEP-0060 §6.5.3, §4.5), else the
// error to answer. A stranger is told that a node it may not read does
// not exist, as for a missing node (or account): strangers learn nothing
// from closed nodes; a contact is told <not-allowed/> with <closed-node/>
// for a whitelisted one.
func mayRead(rel router.Relation, cfg NodeConfig) error {
	switch {
	case rel == router.Self, cfg.Access == AccessOpen:
		return nil
	case rel == router.Stranger:
		return errNodeNotFound()
	case cfg.Access == AccessPresence:
		return nil
	}
	return pubsubError(stanza.NotAllowed, "closed-node", "")
}

// items handles items retrieval (XEP-0060 §6.5).
func (s *Service) items(ctx context.Context, iq *stanza.Stanza, owner jid.JID, rel router.Relation, op *xml.Element) (*stanza.Stanza, error) {
	node, cfg, err := s.namedNode(ctx, owner, op, "items")
	if err != nil {
		return nil, err
	}
	user := owner.String()
	if err := mayRead(rel, cfg); err != nil {
		return nil, err
	}
	var ids []string
	for _, it := range op.ChildrenNamed(NS, "item") {
		id := it.AttrValue("id")
		if id == "" {
			return nil, pubsubError(stanza.BadRequest, "item-required", "")
		}
		ids = append(ids, id)
	}
	var got []Item
	if len(ids) > 0 {
		got, err = s.store.ItemsByID(ctx, user, node, ids)
	} else {
		max := 0
		if v, ok := op.LookupAttr("max_items"); ok {
			if max, err = parseMaxItems(v); err != nil || max == 0 {
				return nil, stanza.NewError(stanza.BadRequest, "max_items is a positive number")
			}
		}
		got, err = s.store.Items(ctx, user, node, max)
	}
	if err != nil {
		return nil, storeErr("items", err)
	}
	el := xml.NewElement(NS, "items", "node", node)
	for _, it := range got {
		e, err := itemElement(NS, it)
		if err != nil {
			s.log.Error("stored item unreadable", "user", user, "node", node, "item", it.ID, "err", err)
			continue
		}
		el.AddChild(e)
	}
	return iq.Result(xml.NewElement(NS, "pubsub").AddChild(el)), nil
}

// itemElement returns a stored item as <item id='…'>payload</item> in
// namespace space (NS in results, NSEvent in notifications).
func itemElement(space string, it Item) (*xml.Element, error) {
	p, err := xml.Parse(it.Payload, "")
	if err != nil {
		return nil, err
	}
	return xml.NewElement(space, "item", "id", it.ID).AddChild(p), nil
}

// retract handles item retraction (XEP-0060 §7.2).
func (s *Service) retract(ctx context.Context, iq *stanza.Stanza, owner jid.JID, rel router.Relation, op *xml.Element) (*stanza.Stanza, error) {
	if rel != router.Self {
		return nil, errNotOwner()
	}
	node, err := nodeAttr(op)
	if err != nil {
		return nil, err
	}
	items := op.ChildrenNamed(NS, "item")
	if len(items) != 1 || items[0].AttrValue("id") == "" {
		return nil, pubsubError(stanza.BadRequest, "item-required", "retract one item, by id")
	}
	id := items[0].AttrValue("id")
	user := owner.String()
	cfg, err := s.store.Node(ctx, user, node)
	if err != nil {
		return nil, storeErr("retract", err)
	}
	if err := s.store.Retract(ctx, user, node, id); err != nil {
		return nil, storeErr("retract", err)
	}
	notify := cfg.NotifyRetract
	if v, ok := op.LookupAttr("notify"); ok {
		notify, _ = parseBool(v)
	}
	if !notify {
		return iq.Result(nil), nil
	}
	return s.replyThenNotify(ctx, iq.Result(nil), owner, []event{s.newEvent(ctx, owner, cfg, node, retractEvent(node, id))})
}

// affiliations answers the requester's affiliations (XEP-0060 §5.7): the
// owner owns every node; anyone else has none.
func (s *Service) affiliations(ctx context.Context, iq *stanza.Stanza, owner jid.JID, rel router.Relation, op *xml.Element) (*stanza.Stanza, error) {
	el := xml.NewElement(NS, "affiliations")
	if rel == router.Self {
		nodes, err := s.store.Nodes(ctx, owner.String())
		if err != nil {
			return nil, storeErr("affiliations", err)
		}
		only := op.AttrValue("node")
		for _, n := range nodes {
			if only == "" || only == n.Name {
				el.AddChild(xml.NewElement(NS, "affiliation", "node", n.Name, "affiliation", "owner"))
			}
		}
	}
	return iq.Result(xml.NewElement(NS, "pubsub").AddChild(el)), nil
}

// defaultConfig answers the default node configuration (XEP-0060 §8.3).
func (s *Service) defaultConfig(iq *stanza.Stanza) (*stanza.Stanza, error) {
	if iq.Type != stanza.TypeGet {
		return nil, stanza.NewError(stanza.BadRequest, "the default configuration is retrieved with an iq get")
	}
	return iq.Result(xml.NewElement(NSOwner, "pubsub").AddChild(
		xml.NewElement(NSOwner, "default").AddChild(DefaultNodeConfig.Form()))), nil
}

// configure gets or sets a node's configuration (XEP-0060 §8.2).
func (s *Service) configure(ctx context.Context, iq *stanza.Stanza, owner jid.JID, op *xml.Element, set bool) (*stanza.Stanza, error) {
	node, cfg, err := s.namedNode(ctx, owner, op, "configure")
	if err != nil {
		return nil, err
	}
	user := owner.String()
	if !set {
		return iq.Result(xml.NewElement(NSOwner, "pubsub").AddChild(
			xml.NewElement(NSOwner, "configure", "node", node).AddChild(cfg.Form()))), nil
	}
	x := op.Child(NSData, "x")
	if x == nil {
		return nil, stanza.NewError(stanza.BadRequest, "a configuration form is required")
	}
	if x.AttrValue("type") == "cancel" {
		return iq.Result(nil), nil
	}
	fields, err := ParseForm(x, FormNodeConfig)
	if err != nil {
		return nil, stanza.NewError(stanza.BadRequest, err.Error())
	}
	if cfg, err = cfg.Apply(fields); err != nil {
		return nil, stanza.NewError(stanza.NotAcceptable, err.Error())
	}
	if err := s.store.ConfigureNode(ctx, user, node, cfg, s.keep(cfg)); err != nil {
		return nil, storeErr("configure", err)
	}
	return iq.Result(nil), nil
}

// deleteNode deletes a node (XEP-0060 §8.4) and notifies its subscribers.
func (s *Service) deleteNode(ctx context.Context, iq *stanza.Stanza, owner jid.JID, op *xml.Element) (*stanza.Stanza, error) {
	node, cfg, err := s.namedNode(ctx, owner, op, "delete")
	if err != nil {
		return nil, err
	}
	user := owner.String()
	ev := s.newEvent(ctx, owner, cfg, node, xml.NewElement(NSEvent, "delete", "node", node)) // before the subscriptions go
	if err := s.store.DeleteNode(ctx, user, node); err != nil {
		return nil, storeErr("delete", err)
	}
	if !cfg.NotifyDelete {
		return iq.Result(nil), nil
	}
	return s.replyThenNotify(ctx, iq.Result(nil), owner, []event{ev})
}

// purge deletes a node's items (XEP-0060 §8.5) and notifies.
func (s *Service) purge(ctx context.Context, iq *stanza.Stanza, owner jid.JID, op *xml.Element) (*stanza.Stanza, error) {
	node, cfg, err := s.namedNode(ctx, owner, op, "purge")
	if err != nil {
		return nil, err
	}
	user := owner.String()
	if err := s.store.Purge(ctx, user, node); err != nil {
		return nil, storeErr("purge", err)
	}
	return s.replyThenNotify(ctx, iq.Result(nil), owner, []event{s.newEvent(ctx, owner, cfg, node, xml.NewElement(NSEvent, "purge", "node", node))})
}

// event is a notification to send about a node.
type event struct {
	cfg  NodeConfig
	node string
	el   *xml.Element // the child of <event/>
	subs []string     // the node's explicit subscribers
}

// newEvent returns the event el about a node, with its explicit
// subscribers as they are now.
func (s *Service) newEvent(ctx context.Context, owner jid.JID, cfg NodeConfig, node string, el *xml.Element) event {
	subs, err := s.store.NodeSubscribers(ctx, owner.String(), node)
	if err != nil {
		s.log.Error("loading node subscribers failed", "user", owner.String(), "node", node, "err", err)
	}
	return event{cfg: cfg, node: node, el: el, subs: subs}
}

// replyThenNotify delivers the reply to a request, then the notifications
// of the events it caused, so that the requester sees its result first.
func (s *Service) replyThenNotify(ctx context.Context, reply *stanza.Stanza, owner jid.JID, evs []event) (*stanza.Stanza, error) {
	s.r.Deliver(ctx, reply)
	for _, ev := range evs {
		s.notify(ctx, owner, ev)
	}
	return nil, router.ErrAsync
}

// VisibleNodes returns the names of the owner's nodes whose items a
// requester with relation rel may retrieve, sorted: what the account's
// disco#items lists (XEP-0163 §5 via XEP-0030). It returns nil for a
// requester who may see none.
func (s *Service) VisibleNodes(ctx context.Context, owner jid.JID, rel router.Relation) ([]string, error) {
	nodes, err := s.store.Nodes(ctx, owner.Bare().String())
	if err != nil {
		return nil, fmt.Errorf("pep: nodes: %w", err)
	}
	var out []string
	for _, n := range nodes {
		if mayRead(rel, n.Config) == nil {
			out = append(out, n.Name)
		}
	}
	return out, nil
}
