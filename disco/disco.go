package disco

import (
	"context"
	"log/slog"
	"sync"

	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// Namespaces and well-known values.
const (
	NSInfo       = "http://jabber.org/protocol/disco#info"
	NSItems      = "http://jabber.org/protocol/disco#items"
	NSCaps       = router.NSCaps
	NSData       = "jabber:x:data"                        // XEP-0004 data forms
	NSServerInfo = "http://jabber.org/network/serverinfo" // XEP-0157 FORM_TYPE

	// CapsNode is the XEP-0115 node of the server software.
	CapsNode = "https://dormouse.im"
	// DefaultName is the default name of the server identity.
	DefaultName = "Dormouse"
)

// Item is an entity listed in the server's disco#items, such as a
// component or an internal service on a subdomain.
type Item struct {
	JID  jid.JID
	Name string // optional human-readable name
}

// Contacts are the server's XEP-0157 contact addresses: URIs such as
// "mailto:abuse@example.org" or "xmpp:admin@example.org". Empty lists are
// left out; with none at all, no form is published.
type Contacts struct {
	Abuse    []string
	Admin    []string
	Feedback []string
	Sales    []string
	Security []string
	Status   []string
	Support  []string
}

// Config configures service discovery.
type Config struct {
	// Name is the name of the server identity (server/im). Default
	// DefaultName.
	Name string
	// Items are listed in the server's disco#items (configured components,
	// connected or not).
	Items []Item
	// Services, if set, lists the services and components routed now
	// (Router.Services); they are listed in the server's disco#items too.
	Services func() []router.ServiceEntry
	// Contacts are published as a XEP-0157 form in the server's disco#info.
	Contacts Contacts
	// AccountNodes, if set, returns the nodes of an account that a
	// requester with relation rel may see (PEP nodes, XEP-0163 §5); they
	// are listed in the account's disco#items as <item jid='account'
	// node='…'/>.
	AccountNodes func(ctx context.Context, account jid.JID, rel router.Relation) ([]string, error)
}

// Service answers service discovery queries for the server and its
// accounts. Its methods are safe for concurrent use once Register has been
// called.
type Service struct {
	cfg Config
	log *slog.Logger
	mux *router.Mux // set by Register

	once    sync.Once
	server  *xml.Element // the server's disco#info <query/>; read-only after once
	account *xml.Element // an account's disco#info <query/>; read-only after once
	ver     string       // XEP-0115 verification string of server
}

// New returns a disco service. log may be nil.
func New(cfg Config, log *slog.Logger) *Service {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, log: log.With("xep", "0030")}
}

// Register adds the disco handlers, the server identity and the disco
// features to m. The answers are built from m when first needed (see the
// package documentation), so other features may register before or after,
// as long as they all do before the server starts.
func (s *Service) Register(m *router.Mux) {
	s.mux = m
	m.AddIdentity(router.Identity{Category: "server", Type: "im", Name: s.cfg.Name})
	m.AddFeature(router.ToServer, NSInfo, NSItems, NSCaps)
	m.AddFeature(router.ToAccount, NSInfo, NSItems)
	m.HandleIQ(router.ToServer, NSInfo, "query", s.serverInfo)
	m.HandleIQ(router.ToServer, NSItems, "query", s.serverItems)
	m.HandleIQ(router.ToAccount, NSInfo, "query", s.accountInfo)
	m.HandleIQ(router.ToAccount, NSItems, "query", s.accountItems)
}

// CapsElement returns the XEP-0115 <c/> element for the server's stream
// features (§6.3): <c xmlns='http://jabber.org/protocol/caps' hash='sha-1'
// node='https://dormouse.im' ver='…'/>. Call it after every feature has
// registered. It returns a new element each time.
func (s *Service) CapsElement() *xml.Element {
	return xml.NewElement(NSCaps, "c", "hash", "sha-1", "node", CapsNode, "ver", s.Ver())
}

// Ver returns the server's XEP-0115 verification string. Call it after
// every feature has registered.
func (s *Service) Ver() string {
	s.build()
	return s.ver
}

// build computes the answers from the Mux, once.
func (s *Service) build() {
	s.once.Do(func() {
		if s.mux == nil {
			panic("disco: Service used before Register")
		}
		q := xml.NewElement(NSInfo, "query")
		for _, id := range s.mux.Identities() {
			q.AddChild(identity(id))
		}
		for _, f := range s.mux.Features(router.ToServer) {
			q.AddChild(xml.NewElement(NSInfo, "feature", "var", f))
		}
		if x := s.contactForm(); x != nil {
			q.AddChild(x)
		}
		s.server = q
		s.ver = CapsVer(q)

		a := xml.NewElement(NSInfo, "query")
		a.AddChild(identity(router.Identity{Category: "account", Type: "registered"}))
		for _, id := range s.mux.AccountIdentities() {
			a.AddChild(identity(id))
		}
		for _, f := range s.mux.Features(router.ToAccount) {
			a.AddChild(xml.NewElement(NSInfo, "feature", "var", f))
		}
		s.account = a
		s.log.Debug("service discovery ready", "caps_ver", s.ver)
	})
}

func identity(id router.Identity) *xml.Element {
	e := xml.NewElement(NSInfo, "identity", "category", id.Category, "type", id.Type)
	e.SetAttr("name", id.Name)
	return e
}

// contactForm returns the XEP-0157 form, or nil without addresses.
func (s *Service) contactForm() *xml.Element {
	c := &s.cfg.Contacts
	fields := []struct {
		v    string
		vals []string
	}{
		{"abuse-addresses", c.Abuse},
		{"admin-addresses", c.Admin},
		{"feedback-addresses", c.Feedback},
		{"sales-addresses", c.Sales},
		{"security-addresses", c.Security},
		{"status-addresses", c.Status},
		{"support-addresses", c.Support},
	}
	x := xml.NewElement(NSData, "x", "type", "result")
	ft := xml.NewElement(NSData, "field", "var", "FORM_TYPE", "type", "hidden")
	ft.AddChild(xml.NewElement(NSData, "value").AddText(NSServerInfo))
	x.AddChild(ft)
	n := 0
	for _, f := range fields {
		if len(f.vals) == 0 {
			continue
		}
		fe := xml.NewElement(NSData, "field", "var", f.v, "type", "list-multi")
		for _, v := range f.vals {
			fe.AddChild(xml.NewElement(NSData, "value").AddText(v))
		}
		x.AddChild(fe)
		n++
	}
	if n == 0 {
		return nil
	}
	return x
}

// query checks a disco IQ and returns the node it queries.
func query(iq *stanza.Stanza) (node string, err error) {
	if iq.Type != stanza.TypeGet {
		return "", stanza.NewError(stanza.BadRequest, "service discovery is queried with an IQ get")
	}
	return iq.Payload().AttrValue("node"), nil
}

func (s *Service) serverInfo(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	node, err := query(iq)
	if err != nil {
		return nil, err
	}
	s.build()
	if node != "" && node != CapsNode+"#"+s.ver {
		return nil, stanza.NewError(stanza.ItemNotFound, "")
	}
	q := s.server.Copy()
	q.SetAttr("node", node)
	return iq.Result(q), nil
}

func (s *Service) serverItems(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	node, err := query(iq)
	if err != nil {
		return nil, err
	}
	if node != "" {
		return nil, stanza.NewError(stanza.ItemNotFound, "")
	}
	q := xml.NewElement(NSItems, "query")
	seen := make(map[string]bool, len(s.cfg.Items))
	add := func(addr, name string) {
		if seen[addr] {
			return
		}
		seen[addr] = true
		e := xml.NewElement(NSItems, "item", "jid", addr)
		e.SetAttr("name", name)
		q.AddChild(e)
	}
	if s.cfg.Services != nil {
		for _, x := range s.cfg.Services() {
			add(x.Domain, x.Name)
		}
	}
	for _, it := range s.cfg.Items {
		add(it.JID.String(), it.Name)
	}
	return iq.Result(q), nil
}

// checkAccount returns an error unless the IQ is addressed to an account
// (itself, without 'to'). The router hands the account handlers only IQs
// from the account itself and its contacts, so the account exists
// (XEP-0030 §8: strangers get service-unavailable, as for a JID without an
// account, from the router).
func checkAccount(iq *stanza.Stanza) error {
	target := iq.To.Bare()
	if target.Domainpart() == "" {
		target = iq.From.Bare()
	}
	if target.Localpart() == "" {
		return stanza.NewError(stanza.ServiceUnavailable, "")
	}
	return nil
}

func (s *Service) accountInfo(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	node, err := query(iq)
	if err != nil {
		return nil, err
	}
	if err := checkAccount(iq); err != nil {
		return nil, err
	}
	if node != "" {
		return nil, stanza.NewError(stanza.ItemNotFound, "")
	}
	s.build()
	return iq.Result(s.account.Copy()), nil
}

func (s *Service) accountItems(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	node, err := query(iq)
	if err != nil {
		return nil, err
	}
	if err := checkAccount(iq); err != nil {
		return nil, err
	}
	if node != "" {
		return nil, stanza.NewError(stanza.ItemNotFound, "")
	}
	q := xml.NewElement(NSItems, "query")
	if s.cfg.AccountNodes != nil {
		account, rel := iq.To.Bare(), router.Contact
		if account.Domainpart() == "" || account.Equal(iq.From.Bare()) {
			account, rel = iq.From.Bare(), router.Self
		}
		nodes, err := s.cfg.AccountNodes(ctx, account, rel)
		if err != nil {
			return nil, err
		}
		for _, n := range nodes {
			q.AddChild(xml.NewElement(NSItems, "item", "jid", account.String(), "node", n))
		}
	}
	return iq.Result(q), nil
}
