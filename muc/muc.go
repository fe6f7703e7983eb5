package muc

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// Namespaces.
const (
	NS         = "http://jabber.org/protocol/muc"
	NSUser     = "http://jabber.org/protocol/muc#user"
	NSAdmin    = "http://jabber.org/protocol/muc#admin"
	NSOwner    = "http://jabber.org/protocol/muc#owner"
	NSPing     = "urn:xmpp:ping"
	NSSID      = stanza.NSSID
	NSOccupant = "urn:xmpp:occupant-id:0"
	NSMAM      = "urn:xmpp:mam:2"
	// NSMAMExtended: before-id, after-id, ids and metadata (XEP-0313).
	NSMAMExtended = "urn:xmpp:mam:2#extended"
	NSRSM         = "http://jabber.org/protocol/rsm"
	NSForward     = "urn:xmpp:forward:0"
	NSData        = "jabber:x:data"
	NSConfig      = "http://jabber.org/protocol/muc#roomconfig"
	NSRoomInfo    = "http://jabber.org/protocol/muc#roominfo"
	// NSStableID: the room reflects a groupchat message's 'id' unchanged
	// (a XEP-0045 registered feature).
	NSStableID = "http://jabber.org/protocol/muc#stable_id"
	// NSSelfPing: the room answers self-pings itself (XEP-0410 §3.3).
	NSSelfPing = "http://jabber.org/protocol/muc#self-ping-optimization"
)

// Push policies for members who are not joined (Config.PushMembers).
const (
	PushMentions = "mentions"
	PushAll      = "all"
	PushNever    = "never"
)

// Defaults of Config's zero values.
const (
	DefaultMaxOccupants    = 200
	DefaultMaxRoomsPerUser = 100
	DefaultHistory         = 20
	DefaultMaxHistory      = 100
	DefaultMaxPage         = 100
)

// Config configures the service. Zero values mean the defaults.
type Config struct {
	// Domain is the service's domain (conference.example.org). Required.
	Domain string
	// Name is the service's name in disco (default "Chatrooms").
	Name string
	// MaxOccupants is the default and the largest muc#roomconfig_maxusers.
	MaxOccupants int
	// MaxRoomsPerUser bounds the rooms one bare JID may own.
	MaxRoomsPerUser int
	// History is how many messages a join gets without a <history/>
	// element; MaxHistory bounds what any join gets, and the in-memory
	// history of rooms without an archive.
	History, MaxHistory int
	// MaxPage bounds an archive query page.
	MaxPage int
	// Default is the configuration of new rooms (MaxUsers 0: MaxOccupants,
	// WhoIs "": moderators, AllowPM "": anyone).
	Default RoomConfig
	// PushMembers is the default push policy for members who are not
	// joined: PushMentions (default), PushAll or PushNever.
	PushMembers string
	// Notifier, if set, learns of groupchat messages for members who are not
	// joined (see MemberMessage).
	Notifier Notifier
	// Secret keys the XEP-0421 occupant ids (at least 16 bytes; the server
	// passes one derived from its persistent secret). Empty: a random one,
	// so ids change when the service restarts.
	Secret []byte
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Router is what the service needs of the router (*router.Router).
type Router interface {
	Route(ctx context.Context, st *stanza.Stanza)
	Send(ctx context.Context, st *stanza.Stanza) int
	SendIQ(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error)
}

// Service is the multi-user chat service at Config.Domain. It is a
// router.Service.
type Service struct {
	cfg    Config
	store  Store
	r      Router
	log    *slog.Logger
	domain jid.JID
	secret []byte
	ids    idGen

	// stop ends the goroutines relaying IQs to occupants; wg tracks them.
	stop   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	relays atomic.Int32 // IQs relayed to occupants and waiting for the answer

	mu    sync.Mutex
	rooms map[string]*room // by bare JID string; guarded by mu

	place *placement // which node serves a room; nil on a single node (owner.go)
}

var _ router.Service = (*Service)(nil)

// New returns the service. Call Load to bring back persistent rooms.
func New(cfg Config, store Store, r Router, log *slog.Logger) (*Service, error) {
	d, err := jid.Parse(cfg.Domain)
	if err != nil || d.Localpart() != "" || d.Resourcepart() != "" {
		return nil, fmt.Errorf("muc: invalid domain %q", cfg.Domain)
	}
	if cfg.Name == "" {
		cfg.Name = "Chatrooms"
	}
	if cfg.MaxOccupants <= 0 {
		cfg.MaxOccupants = DefaultMaxOccupants
	}
	if cfg.MaxRoomsPerUser <= 0 {
		cfg.MaxRoomsPerUser = DefaultMaxRoomsPerUser
	}
	if cfg.MaxHistory <= 0 {
		cfg.MaxHistory = DefaultMaxHistory
	}
	if cfg.History <= 0 {
		cfg.History = DefaultHistory
	}
	cfg.History = min(cfg.History, cfg.MaxHistory)
	if cfg.MaxPage <= 0 {
		cfg.MaxPage = DefaultMaxPage
	}
	switch cfg.PushMembers {
	case "":
		cfg.PushMembers = PushMentions
	case PushMentions, PushAll, PushNever:
	default:
		return nil, fmt.Errorf("muc: push_members %q: want mentions, all or never", cfg.PushMembers)
	}
	cfg.Default = cfg.Default.normalized(cfg.MaxOccupants)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	secret := cfg.Secret
	if len(secret) < 16 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	}
	stop, cancel := context.WithCancel(context.Background())
	return &Service{
		cfg: cfg, store: store, r: r, domain: d, secret: secret,
		log:  log.With("xep", "0045"),
		stop: stop, cancel: cancel,
		rooms: map[string]*room{},
	}, nil
}

// Domain returns the service's domain.
func (s *Service) Domain() string { return s.domain.String() }

// Name returns the service's name.
func (s *Service) Name() string { return s.cfg.Name }

// Load brings back every persistent room from the store.
func (s *Service) Load(ctx context.Context) error {
	stored, err := s.store.Rooms(ctx)
	if err != nil {
		return fmt.Errorf("muc: load rooms: %w", err)
	}
	rooms := make([]*room, 0, len(stored))
	for _, sr := range stored {
		j, err := jid.Parse(sr.JID)
		if err != nil {
			s.log.Warn("muc: stored room with an invalid JID", "room", sr.JID)
			continue
		}
		r := restoreRoom(j, sr, s.cfg.MaxOccupants)
		if err := s.continueIDs(ctx, r); err != nil {
			return fmt.Errorf("muc: load rooms: %w", err)
		}
		rooms = append(rooms, r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rooms {
		s.rooms[r.jid.String()] = r
	}
	return nil
}

// continueIDs makes the stanza-ids the service assigns from now on come
// after the last one in r's archive, so that a restart within the same
// millisecond, or a clock set back, neither repeats an id nor puts new
// messages before old ones.
func (s *Service) continueIDs(ctx context.Context, r *room) error {
	if !r.cfg.Archiving {
		return nil
	}
	page, err := s.store.QueryArchive(ctx, ArchiveQuery{Room: r.jid.String(), Max: 1, Last: true})
	if err != nil {
		return fmt.Errorf("muc: archive of %s: %w", r.jid, err)
	}
	if len(page.Messages) == 1 {
		s.ids.atLeast(page.Messages[0].ID)
	}
	return nil
}

// Close tells every occupant that the service is shutting down (status 332)
// and waits (bounded by ctx) for the IQs it relays. Persistent rooms stay
// in the store. In a cluster, only the occupants of the rooms this node
// serves hear of it (those of a room another node took over while this
// node was cut off are that node's), and the rooms are released.
func (s *Service) Close(ctx context.Context) error {
	s.cancel()
	if p := s.place; p != nil {
		p.mu.Lock()
		p.closed = true // serves no room from now on
		p.mu.Unlock()
		defer s.releaseAll(context.WithoutCancel(ctx))
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("muc: waiting for relayed IQs: %w", ctx.Err())
	}
	s.mu.Lock()
	rooms := make([]*room, 0, len(s.rooms))
	for key, r := range s.rooms {
		if s.place == nil || s.place.serves(key) {
			rooms = append(rooms, r)
		}
	}
	s.mu.Unlock()
	for _, r := range rooms {
		var out outbox
		r.mu.Lock()
		for _, o := range r.occupants {
			for _, sess := range o.sessions {
				o.role = NoRole
				out.add(r.presenceFor(o, sess.full, true, stanza.TypeUnavailable, nil, "332"))
			}
		}
		r.occupants, r.byJID = map[string]*occupant{}, map[string]*occupant{}
		r.mu.Unlock()
		s.send(ctx, out)
	}
	return nil
}

// HandleStanza implements router.Service.
func (s *Service) HandleStanza(ctx context.Context, st *stanza.Stanza) error {
	var err error
	if s.place != nil && st.To.Localpart() != "" {
		local, ferr := s.routeRoom(ctx, st)
		if !local {
			if errors.Is(ferr, errDeclined) {
				return ferr // to the node that forwarded st (see routeRoom)
			}
			if ferr != nil {
				s.fail(ctx, st, ferr)
			}
			return nil
		}
	}
	switch {
	case st.To.Localpart() == "":
		err = s.handleService(ctx, st)
	case st.Kind == stanza.KindPresence:
		err = s.handlePresence(ctx, st)
	case st.Kind == stanza.KindMessage:
		err = s.handleMessage(ctx, st)
	case st.Kind == stanza.KindIQ:
		err = s.handleIQ(ctx, st)
	}
	if err != nil {
		s.fail(ctx, st, err)
	}
	return nil
}

// fail answers st with an error stanza, never for errors and IQ results.
func (s *Service) fail(ctx context.Context, st *stanza.Stanza, err error) {
	if st.Type == stanza.TypeError || (st.Kind == stanza.KindIQ && st.Type == stanza.TypeResult) {
		return
	}
	e := stanza.AsError(err)
	if e == nil {
		s.log.Error("muc: internal error", "stanza", st.Describe(), "err", err)
		e = stanza.NewError(stanza.InternalServerError, "")
	}
	reply := st.ErrorReply(e)
	if st.Kind == stanza.KindPresence {
		s.r.Send(ctx, reply)
		return
	}
	s.r.Route(ctx, reply)
}

// outbox collects stanzas built under a room's lock, sent after it is
// released (a bounce of one of them comes back to the service).
type outbox []*stanza.Stanza

func (o *outbox) add(st *stanza.Stanza) { *o = append(*o, st) }

func (s *Service) send(ctx context.Context, out outbox) {
	for _, st := range out {
		if st.Kind == stanza.KindPresence {
			s.r.Send(ctx, st)
		} else {
			s.r.Route(ctx, st)
		}
	}
}

// handleService answers stanzas to the service's domain itself.
func (s *Service) handleService(ctx context.Context, st *stanza.Stanza) error {
	if st.Kind != stanza.KindIQ {
		if st.Type == stanza.TypeError {
			return nil
		}
		return stanza.NewError(stanza.ServiceUnavailable, "")
	}
	if st.Type != stanza.TypeGet && st.Type != stanza.TypeSet {
		return nil
	}
	p := st.Payload()
	switch {
	case st.Type == stanza.TypeGet && p != nil && p.Name.Space == router.NSDiscoInfo && p.AttrValue("node") == "":
		s.r.Route(ctx, router.DiscoInfo(st,
			[]router.Identity{{Category: "conference", Type: "text", Name: s.cfg.Name}},
			[]string{router.NSDiscoInfo, router.NSDiscoItems, NS, NSStableID, NSSID, NSOccupant}))
		return nil
	case st.Type == stanza.TypeGet && p != nil && p.Name.Space == router.NSDiscoItems && p.AttrValue("node") == "":
		s.r.Route(ctx, st.Result(s.publicRooms()))
		return nil
	}
	return stanza.NewError(stanza.ServiceUnavailable, "")
}

// idGen gives out time-ordered ids: milliseconds << 20 | a counter,
// strictly increasing.
type idGen struct {
	mu   sync.Mutex
	last int64
}

func (g *idGen) next(now time.Time) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	id := now.UnixMilli() << 20
	if id <= g.last {
		id = g.last + 1
	}
	g.last = id
	return id
}

// atLeast makes the next ids greater than id.
func (g *idGen) atLeast(id int64) {
	g.mu.Lock()
	g.last = max(g.last, id)
	g.mu.Unlock()
}

// formatID and parseID write and read stanza-ids (base 36).
func formatID(id int64) string { return strconv.FormatInt(id, 36) }

func parseID(s string) (int64, bool) {
	id, err := strconv.ParseInt(s, 36, 64)
	return id, err == nil && id > 0
}

// stamp formats a XEP-0082 DateTime.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// el is a shorthand for xml.NewElement.
func el(space, local string, attrs ...string) *xml.Element {
	return xml.NewElement(space, local, attrs...)
}
