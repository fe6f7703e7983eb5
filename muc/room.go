package muc

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strings"
	"sync"
	"time"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// room is one chat room. Every field is guarded by mu, which is never held
// while routing (see outbox) or calling the notifier; the store is called
// under it so that saves of one room are ordered.
type room struct {
	mu      sync.Mutex
	jid     jid.JID
	cfg     RoomConfig
	locked  bool // created, waiting for its owner's configuration (XEP-0045 §10.1)
	created time.Time

	subject, subjectNick string
	subjectStamp         time.Time

	affs      map[string]*AffiliationItem // by bare JID; none is absent
	occupants map[string]*occupant        // by nick
	byJID     map[string]*occupant        // by full JID of each session
	history   []historyEntry              // rooms without an archive: the last messages
	gone      bool                        // destroyed: the service no longer lists it
}

// occupant is one nick in a room: one bare JID, with one or more sessions
// (multi-session nicks: several resources of one account under one nick).
type occupant struct {
	nick     string
	bare     jid.JID
	role     Role
	id       string              // XEP-0421 occupant id
	sessions map[string]*session // by full JID
	last     *session            // the session whose presence the room shows
}

type session struct {
	full     jid.JID
	presence *xml.Element // the last available presence it sent to the room
}

type historyEntry struct {
	at  time.Time
	msg *xml.Element // as broadcast, without 'to'
	n   int          // its serialized size
}

func newRoom(j jid.JID, cfg RoomConfig, now time.Time) *room {
	return &room{
		jid: j, cfg: cfg, created: now,
		affs:      map[string]*AffiliationItem{},
		occupants: map[string]*occupant{},
		byJID:     map[string]*occupant{},
	}
}

func restoreRoom(j jid.JID, sr StoredRoom, maxUsers int) *room {
	r := newRoom(j, sr.Config.normalized(maxUsers), sr.Created)
	r.subject, r.subjectNick, r.subjectStamp = sr.Subject, sr.SubjectNick, sr.SubjectStamp
	for _, a := range sr.Affiliations {
		if a.Affiliation.valid() && a.Affiliation != None {
			a := a
			r.affs[a.JID] = &a
		}
	}
	return r
}

// stored returns what a Store keeps of r.
func (r *room) stored() StoredRoom {
	sr := StoredRoom{JID: r.jid.String(), Config: r.cfg, Subject: r.subject, SubjectNick: r.subjectNick,
		SubjectStamp: r.subjectStamp, Created: r.created}
	for _, a := range r.affs {
		sr.Affiliations = append(sr.Affiliations, *a)
	}
	slices.SortFunc(sr.Affiliations, func(a, b AffiliationItem) int { return strings.Compare(a.JID, b.JID) })
	return sr
}

func (c RoomConfig) normalized(maxUsers int) RoomConfig {
	if c.MaxUsers <= 0 || c.MaxUsers > maxUsers {
		c.MaxUsers = maxUsers
	}
	if c.WhoIs != "anyone" {
		c.WhoIs = "moderators"
	}
	switch c.AllowPM {
	case "anyone", "participants", "moderators", "none":
	default:
		c.AllowPM = "anyone"
	}
	return c
}

func (r *room) affiliation(bare jid.JID) Affiliation {
	if a := r.affs[bare.String()]; a != nil {
		return a.Affiliation
	}
	return None
}

// defaultRole is the role an affiliation gets on joining (XEP-0045 §5.1.2).
func (r *room) defaultRole(a Affiliation) Role {
	switch a {
	case Owner, Admin:
		return Moderator
	case Member:
		return Participant
	case Outcast:
		return NoRole
	}
	if r.cfg.Moderated {
		return Visitor
	}
	return Participant
}

// occupantJID is room@service/nick.
func (r *room) occupantJID(nick string) jid.JID {
	j, err := r.jid.WithResource(nick)
	if err != nil {
		return r.jid
	}
	return j
}

// occupantID returns the XEP-0421 id of bare in room: an HMAC under the
// service's secret, so it is stable (across restarts too, given the same
// Config.Secret), opaque, and different in every room.
func (s *Service) occupantID(room, bare jid.JID) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(room.String()))
	m.Write([]byte{0})
	m.Write([]byte(bare.String()))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:15])
}

// seesJIDs reports whether to (a session of an occupant, or nobody) may see
// real JIDs: in non-anonymous rooms everybody, else moderators.
func (r *room) seesJIDs(to jid.JID) bool {
	if r.cfg.WhoIs == "anyone" {
		return true
	}
	o := r.byJID[to.String()]
	return o != nil && o.role == Moderator
}

// itemFor returns the muc#user item describing o to the recipient to.
func (r *room) itemFor(o *occupant, to jid.JID, self bool) *xml.Element {
	it := el(NSUser, "item", "affiliation", string(r.affiliation(o.bare)), "role", string(o.role))
	if self || r.seesJIDs(to) {
		j := o.bare
		if o.last != nil {
			j = o.last.full
		}
		it.SetAttr("jid", j.String())
	}
	return it
}

// presenceFor returns o's presence as the room shows it to the session to:
// from room@service/nick, type typ, the occupant's own presence payload
// (for available presence), and the muc#user item, extra children of the
// muc#user x and status codes.
func (r *room) presenceFor(o *occupant, to jid.JID, self bool, typ string, extra []*xml.Element, codes ...string) *stanza.Stanza {
	p := stanza.Build(stanza.KindPresence, typ, "", r.occupantJID(o.nick), to)
	if typ == stanza.TypeAvailable && o.last != nil && o.last.presence != nil {
		for _, c := range o.last.presence.Elements() {
			switch c.Name.Space {
			case NS, NSUser, NSOccupant, stanza.NSStanzas:
				continue
			}
			p.El.AddChild(c)
		}
	}
	x := el(NSUser, "x")
	x.AddChild(r.itemFor(o, to, self))
	for _, e := range extra {
		x.AddChild(e)
	}
	if self {
		codes = append([]string{"110"}, codes...)
	}
	for _, c := range codes {
		x.AddChild(el(NSUser, "status", "code", c))
	}
	p.El.AddChild(x)
	p.El.AddChild(el(NSOccupant, "occupant-id", "id", o.id))
	return p
}

// broadcastPresence adds o's presence for every session in the room, with
// the self codes for o's own sessions.
func (r *room) broadcastPresence(out *outbox, o *occupant, typ string, extra []*xml.Element, codes []string, selfCodes []string) {
	for _, other := range r.sortedOccupants() {
		for _, sess := range other.sortedSessions() {
			self := other == o
			c := codes
			if self {
				c = append(slices.Clone(codes), selfCodes...)
			}
			out.add(r.presenceFor(o, sess.full, self, typ, extra, c...))
		}
	}
	if _, in := r.occupants[o.nick]; !in || r.occupants[o.nick] != o {
		// o already left the maps: its own sessions still hear of it.
		for _, sess := range o.sortedSessions() {
			out.add(r.presenceFor(o, sess.full, true, typ, extra, append(slices.Clone(codes), selfCodes...)...))
		}
	}
}

func (r *room) sortedOccupants() []*occupant {
	out := make([]*occupant, 0, len(r.occupants))
	for _, o := range r.occupants {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b *occupant) int { return strings.Compare(a.nick, b.nick) })
	return out
}

func (o *occupant) sortedSessions() []*session {
	out := make([]*session, 0, len(o.sessions))
	for _, s := range o.sessions {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *session) int { return strings.Compare(a.full.String(), b.full.String()) })
	return out
}

// occupantsOf returns the occupants whose real bare JID is bare (one at
// most: a bare JID has one nick).
func (r *room) occupantOf(bare jid.JID) *occupant {
	for _, o := range r.occupants {
		if o.bare.Equal(bare) {
			return o
		}
	}
	return nil
}

// removeOccupant takes o out of the room and adds its unavailable presence,
// with codes, for everybody (o's sessions included, with 110).
func (r *room) removeOccupant(out *outbox, o *occupant, extra []*xml.Element, codes ...string) {
	delete(r.occupants, o.nick)
	for k := range o.sessions {
		delete(r.byJID, k)
	}
	o.role = NoRole
	r.broadcastPresence(out, o, stanza.TypeUnavailable, extra, codes, nil)
}

// addressed returns a copy of msg (shared children) from from to to.
func addressed(msg *xml.Element, from, to jid.JID) *stanza.Stanza {
	c := &xml.Element{Name: msg.Name, Attr: slices.Clone(msg.Attr), Children: msg.Children}
	st := &stanza.Stanza{El: c, Kind: stanza.KindMessage, Type: c.AttrValue("type"), ID: c.AttrValue("id"), From: from}
	st.SetTo(to)
	return st
}
