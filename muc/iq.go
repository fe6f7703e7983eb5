package muc

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

var errNoDomain = errors.New("muc: no domain")

func parseBare(s string) (string, error) {
	j, err := jid.Parse(s)
	if err != nil {
		return "", err
	}
	if j.Domainpart() == "" {
		return "", errNoDomain
	}
	return j.Bare().String(), nil
}

// handleIQ handles IQs to a room or an occupant.
func (s *Service) handleIQ(ctx context.Context, iq *stanza.Stanza) error {
	if iq.Type != stanza.TypeGet && iq.Type != stanza.TypeSet {
		return nil
	}
	p := iq.Payload()
	if p == nil {
		return badRequest("an IQ needs a payload")
	}
	r := s.lookup(iq.To.Bare())
	if iq.To.Resourcepart() != "" {
		if r == nil {
			return stanza.NewError(stanza.ItemNotFound, "no such room")
		}
		return s.occupantIQ(ctx, r, iq, p)
	}
	if r == nil {
		return stanza.NewError(stanza.ItemNotFound, "no such room")
	}
	get := iq.Type == stanza.TypeGet
	var reply *xml.Element
	var err error
	switch {
	case get && p.Name.Space == router.NSDiscoInfo && p.AttrValue("node") == "":
		return s.roomInfo(ctx, r, iq)
	case get && p.Name.Space == router.NSDiscoInfo && p.AttrValue("node") == nodeRoomUser:
		s.roomUserItem(ctx, r, iq)
		return nil
	case get && p.Name.Space == router.NSDiscoItems && p.AttrValue("node") == "":
		reply = el(router.NSDiscoItems, "query")
	case p.Name.Space == NSAdmin && p.Name.Local == "query":
		if !get {
			return s.adminSet(ctx, r, iq, p)
		}
		reply, err = s.adminGet(r, iq, p)
	case p.Name.Space == NSOwner && p.Name.Local == "query":
		if get {
			reply, err = s.ownerGet(r, iq)
		} else {
			return s.ownerSet(ctx, r, iq, p)
		}
	case p.Name.Space == NSRegister && p.Name.Local == "query":
		if get {
			reply, err = s.registerGet(r, iq)
		} else {
			err = s.registerSet(ctx, r, iq, p)
		}
	case get && p.Name.Space == NSMAM && p.Name.Local == "metadata":
		reply, err = s.mamMetadata(ctx, r, iq)
	case p.Name.Space == NSMAM && p.Name.Local == "query":
		if get {
			reply, err = s.mamForm(r, iq)
		} else {
			return s.mamQuery(ctx, r, iq, p)
		}
	default:
		return stanza.NewError(stanza.ServiceUnavailable, "")
	}
	if err != nil {
		return err
	}
	s.r.Route(ctx, iq.Result(reply))
	return nil
}

// occupantIQ handles IQs to an occupant JID. A ping to one's own nick is
// answered by the room (XEP-0410 §3.3); other requests from an occupant are
// relayed to the target's session from the sender's occupant JID and the
// answer relayed back (XEP-0045 §7.5), the real JIDs hidden both ways.
func (s *Service) occupantIQ(ctx context.Context, r *room, iq *stanza.Stanza, p *xml.Element) error {
	r.mu.Lock()
	from := r.byJID[iq.From.String()]
	to := r.occupants[iq.To.Resourcepart()]
	var target jid.JID
	if to != nil {
		target = to.last.full
	}
	r.mu.Unlock()
	switch {
	case from == nil:
		return stanza.NewError(stanza.NotAcceptable, "you are not joined to this room")
	case to == nil:
		return stanza.NewError(stanza.ItemNotFound, "no occupant with that nickname")
	case from == to && p.Name.Space == NSPing && iq.Type == stanza.TypeGet:
		s.r.Route(ctx, iq.Result(nil))
		return nil
	}
	if s.relays.Add(1) > maxRelays {
		s.relays.Add(-1)
		e := stanza.NewError(stanza.ResourceConstraint, "too many requests to occupants are waiting")
		e.Type = stanza.Wait
		return e
	}
	fwd := stanza.Build(stanza.KindIQ, iq.Type, "", r.occupantJID(from.nick), target)
	fwd.El.Children = iq.El.Children // read-only: shared with the request
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.relays.Add(-1)
		ctx, cancel := context.WithTimeout(s.stop, relayTimeout)
		defer cancel()
		reply, err := s.r.SendIQ(ctx, fwd)
		var res *stanza.Stanza
		switch e := stanza.AsError(err); {
		case err == nil:
			res = stanza.Build(stanza.KindIQ, stanza.TypeResult, iq.ID, iq.To, iq.From)
			res.El.Children = reply.El.Children
		case e != nil:
			res = iq.ErrorReply(e)
		default:
			res = iq.ErrorReply(stanza.NewError(stanza.RecipientUnavailable, "the occupant did not answer"))
		}
		s.r.Route(s.stop, res)
	}()
	return nil
}

// relayTimeout bounds the wait for an occupant's answer to a relayed IQ;
// maxRelays bounds the relayed IQs waiting at once (each holds one of the
// router's pending requests, shared with the rest of the server).
const (
	relayTimeout = 30 * time.Second
	maxRelays    = 1000
)

// roomFeatures returns the disco features of r. Under r.mu.
func (r *room) features() []string {
	f := []string{NS, NSStableID, NSSelfPing, router.NSDiscoInfo, router.NSDiscoItems, NSSID, NSOccupant, NSPing, NSRegister}
	pick := func(b bool, yes, no string) {
		if b {
			f = append(f, yes)
		} else {
			f = append(f, no)
		}
	}
	pick(r.cfg.Persistent, "muc_persistent", "muc_temporary")
	pick(r.cfg.Public, "muc_public", "muc_hidden")
	pick(r.cfg.MembersOnly, "muc_membersonly", "muc_open")
	pick(r.cfg.Moderated, "muc_moderated", "muc_unmoderated")
	pick(r.cfg.Password != "", "muc_passwordprotected", "muc_unsecured")
	pick(r.cfg.WhoIs == "anyone", "muc_nonanonymous", "muc_semianonymous")
	if r.cfg.Archiving {
		f = append(f, NSMAM, NSMAMExtended)
	}
	return f
}

// roomInfo answers disco#info at the room (XEP-0045 §6.4) with the
// muc#roominfo form.
func (s *Service) roomInfo(ctx context.Context, r *room, iq *stanza.Stanza) error {
	r.mu.Lock()
	if r.locked && r.affiliation(iq.From.Bare()) != Owner {
		r.mu.Unlock()
		return stanza.NewError(stanza.ItemNotFound, "no such room")
	}
	name := r.cfg.Name
	if name == "" {
		name = r.jid.Localpart()
	}
	res := router.DiscoInfo(iq, []router.Identity{{Category: "conference", Type: "text", Name: name}}, r.features())
	x := el(NSData, "x", "type", "result")
	x.AddChild(field("FORM_TYPE", "hidden", "", NSRoomInfo))
	x.AddChild(field("muc#roominfo_description", "text-single", "Description", r.cfg.Description))
	x.AddChild(field("muc#roominfo_subject", "text-single", "Subject", r.subject))
	x.AddChild(field("muc#roominfo_occupants", "text-single", "Occupants", strconv.Itoa(len(r.occupants))))
	x.AddChild(field("muc#roomconfig_roomname", "text-single", "Name", r.cfg.Name))
	x.AddChild(field("muc#roomconfig_changesubject", "boolean", "Occupants may change the subject", boolValue(r.cfg.ChangeSubject)))
	x.AddChild(field("muc#roomconfig_allowinvites", "boolean", "Occupants may invite", boolValue(r.cfg.AllowInvites)))
	r.mu.Unlock()
	res.Payload().AddChild(x)
	s.r.Route(ctx, res)
	return nil
}

// publicRooms lists the public, configured rooms (XEP-0045 §6.3).
func (s *Service) publicRooms() *xml.Element {
	s.mu.Lock()
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	q := el(router.NSDiscoItems, "query")
	type item struct{ jid, name string }
	var items []item
	for _, r := range rooms {
		r.mu.Lock()
		if r.cfg.Public && !r.locked && !r.gone {
			name := r.cfg.Name
			if name == "" {
				name = r.jid.Localpart()
			}
			items = append(items, item{r.jid.String(), name})
		}
		r.mu.Unlock()
	}
	slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.jid, b.jid) })
	for _, it := range items {
		q.AddChild(el(router.NSDiscoItems, "item", "jid", it.jid, "name", it.name))
	}
	return q
}

// adminGet lists occupants by role or bare JIDs by affiliation (XEP-0045
// §8.5, §9.2, §9.5, §9.8, §10.5, §10.8).
func (s *Service) adminGet(r *room, iq *stanza.Stanza, q *xml.Element) (*xml.Element, error) {
	items := q.ChildrenNamed(NSAdmin, "item")
	if len(items) != 1 {
		return nil, badRequest("one item naming a role or an affiliation")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	actor := r.affiliation(iq.From.Bare())
	res := el(NSAdmin, "query")
	if role, ok := items[0].LookupAttr("role"); ok {
		o := r.byJID[iq.From.String()]
		if o == nil || o.role != Moderator {
			return nil, stanza.NewError(stanza.Forbidden, "only moderators list roles")
		}
		if role != string(Moderator) && role != string(Participant) && role != string(Visitor) {
			return nil, badRequest("unknown role")
		}
		for _, occ := range r.sortedOccupants() {
			if string(occ.role) == role {
				res.AddChild(el(NSAdmin, "item", "nick", occ.nick, "role", role, "affiliation",
					string(r.affiliation(occ.bare)), "jid", occ.bare.String()))
			}
		}
		return res, nil
	}
	aff := Affiliation(items[0].AttrValue("affiliation"))
	if !aff.valid() || aff == None {
		return nil, badRequest("unknown affiliation")
	}
	if actor.rank() < Admin.rank() && !(aff == Member && r.cfg.MembersOnly && actor == Member) {
		return nil, stanza.NewError(stanza.Forbidden, "only admins list affiliations")
	}
	var list []*AffiliationItem
	for _, a := range r.affs {
		if a.Affiliation == aff {
			list = append(list, a)
		}
	}
	slices.SortFunc(list, func(a, b *AffiliationItem) int { return strings.Compare(a.JID, b.JID) })
	for _, a := range list {
		it := el(NSAdmin, "item", "affiliation", string(aff), "jid", a.JID)
		it.SetAttr("nick", a.Nick)
		if a.Reason != "" {
			it.AddChild(el(NSAdmin, "reason").AddText(a.Reason))
		}
		res.AddChild(it)
	}
	return res, nil
}

// adminSet changes roles and affiliations, all items or none (XEP-0045
// §8, §9, §10).
func (s *Service) adminSet(ctx context.Context, r *room, iq *stanza.Stanza, q *xml.Element) error {
	items, err := parseAdminItems(q)
	if err != nil {
		return err
	}
	var out outbox
	r.mu.Lock()
	err = s.applyAdmin(ctx, r, iq.From, items, &out)
	r.mu.Unlock()
	return s.done(ctx, iq, out, err)
}

// done finishes an IQ set that changed a room: on success the stanzas the
// change produced, then the result.
func (s *Service) done(ctx context.Context, iq *stanza.Stanza, out outbox, err error) error {
	if err != nil {
		return err
	}
	s.send(ctx, out)
	s.r.Route(ctx, iq.Result(nil))
	return nil
}

// applyAdmin checks every item, then applies them. Under r.mu.
func (s *Service) applyAdmin(ctx context.Context, r *room, actorJID jid.JID, items []adminItem, out *outbox) error {
	actorAff := r.affiliation(actorJID.Bare())
	actor := r.byJID[actorJID.String()]
	owners := 0
	for _, a := range r.affs {
		if a.Affiliation == Owner {
			owners++
		}
	}
	notAllowed := func(t string) error { return stanza.NewError(stanza.NotAllowed, t) }
	for _, it := range items {
		if it.role != "" {
			t := r.occupants[it.nick]
			if t == nil {
				return stanza.NewError(stanza.ItemNotFound, "no occupant "+strconv.Quote(it.nick))
			}
			if actor == nil || actor.role != Moderator {
				return stanza.NewError(stanza.Forbidden, "only moderators change roles")
			}
			tAff := r.affiliation(t.bare)
			switch {
			case it.role == Moderator || t.role == Moderator && it.role != NoRole:
				if actorAff.rank() < Admin.rank() {
					return notAllowed("only admins grant or revoke moderation")
				}
				if it.role != Moderator && tAff.rank() >= Admin.rank() {
					return notAllowed("admins and owners stay moderators")
				}
			case tAff.rank() >= Admin.rank() || tAff.rank() > actorAff.rank() && tAff != None:
				return notAllowed("you cannot change the role of that occupant")
			}
			continue
		}
		tAff := r.affiliation(mustJID(it.jid))
		high := it.affiliation == Owner || it.affiliation == Admin || tAff == Owner || tAff == Admin
		switch {
		case high && actorAff != Owner:
			return stanza.NewError(stanza.Forbidden, "only owners grant or revoke admin and owner")
		case actorAff.rank() < Admin.rank():
			return stanza.NewError(stanza.Forbidden, "only admins change affiliations")
		case tAff == Owner && it.affiliation != Owner:
			owners--
			if owners < 1 {
				return stanza.NewError(stanza.Conflict, "a room needs an owner")
			}
		}
	}
	for _, it := range items {
		if it.role != "" {
			t := r.occupants[it.nick]
			if t == nil {
				continue // removed by an earlier item
			}
			if it.role == NoRole {
				r.removeOccupant(out, t, nil, "307")
				withReason(*out, it.reason, actor)
				continue
			}
			t.role = it.role
			r.broadcastPresence(out, t, stanza.TypeAvailable, nil, nil, nil)
			continue
		}
		j := mustJID(it.jid)
		if it.affiliation == None {
			delete(r.affs, it.jid)
		} else {
			prev := r.affs[it.jid]
			a := &AffiliationItem{JID: it.jid, Affiliation: it.affiliation, Reason: it.reason}
			if prev != nil {
				a.Nick = prev.Nick
			}
			if t := r.occupantOf(mustJID(it.jid)); t != nil {
				a.Nick = t.nick
			}
			r.affs[it.jid] = a
		}
		t := r.occupantOf(j)
		if t == nil {
			continue
		}
		switch {
		case it.affiliation == Outcast:
			r.removeOccupant(out, t, nil, "301")
			withReason(*out, it.reason, actor)
		case r.cfg.MembersOnly && it.affiliation.rank() < Member.rank():
			r.removeOccupant(out, t, nil, "321")
		default:
			t.role = r.defaultRole(it.affiliation)
			r.broadcastPresence(out, t, stanza.TypeAvailable, nil, nil, nil)
		}
	}
	if len(r.occupants) == 0 {
		s.maybeDispose(ctx, r)
	}
	return s.save(ctx, r)
}

func mustJID(s string) jid.JID {
	j, _ := jid.Parse(s)
	return j
}

// withReason adds the reason and the actor to the items of the removal
// presences just added to out (the ones of type unavailable without one).
func withReason(out outbox, reason string, actor *occupant) {
	for _, p := range out {
		if p.Kind != stanza.KindPresence || p.Type != stanza.TypeUnavailable {
			continue
		}
		it := p.El.Child(NSUser, "x").Child(NSUser, "item")
		if it == nil || it.Child(NSUser, "reason") != nil || it.Child(NSUser, "actor") != nil {
			continue
		}
		if actor != nil {
			it.AddChild(el(NSUser, "actor", "nick", actor.nick))
		}
		if reason != "" {
			it.AddChild(el(NSUser, "reason").AddText(reason))
		}
	}
}

// ownerGet returns the configuration form (XEP-0045 §10.2).
func (s *Service) ownerGet(r *room, iq *stanza.Stanza) (*xml.Element, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.affiliation(iq.From.Bare()) != Owner {
		return nil, stanza.NewError(stanza.Forbidden, "only owners configure the room")
	}
	return el(NSOwner, "query").AddChild(configForm(r.cfg, s.cfg.MaxOccupants)), nil
}

// ownerSet configures (§10.1, §10.2) or destroys (§10.9) the room.
func (s *Service) ownerSet(ctx context.Context, r *room, iq *stanza.Stanza, q *xml.Element) error {
	var out outbox
	r.mu.Lock()
	if r.affiliation(iq.From.Bare()) != Owner {
		r.mu.Unlock()
		return stanza.NewError(stanza.Forbidden, "only owners configure or destroy the room")
	}
	var err error
	switch x, d := q.Child(NSData, "x"), q.Child(NSOwner, "destroy"); {
	case d != nil:
		err = s.destroy(ctx, r, d, &out)
	case x != nil && x.AttrValue("type") == "cancel":
		if r.locked {
			err = s.destroy(ctx, r, el(NSOwner, "destroy"), &out)
		}
	case x != nil:
		err = s.configure(ctx, r, x, &out)
	default:
		err = badRequest("a configuration form or a destroy request")
	}
	r.mu.Unlock()
	return s.done(ctx, iq, out, err)
}

// configure applies a submitted form. Under r.mu.
func (s *Service) configure(ctx context.Context, r *room, x *xml.Element, out *outbox) error {
	c, err := parseConfig(x, r.cfg, s.cfg.MaxOccupants)
	if err != nil {
		return err
	}
	old, wasLocked := r.cfg, r.locked
	r.cfg, r.locked = c, false
	if old.Persistent && !c.Persistent {
		if err := s.store.DeleteRoom(ctx, r.jid.String()); err != nil {
			return err
		}
	}
	if err := s.save(ctx, r); err != nil {
		r.cfg, r.locked = old, wasLocked
		return err
	}
	if wasLocked {
		return nil
	}
	codes := []string{"104"}
	if old.WhoIs != c.WhoIs {
		codes = append(codes, map[bool]string{true: "172", false: "173"}[c.WhoIs == "anyone"])
	}
	if old.Archiving != c.Archiving {
		codes = append(codes, map[bool]string{true: "170", false: "171"}[c.Archiving])
	}
	ux := el(NSUser, "x")
	for _, code := range codes {
		ux.AddChild(el(NSUser, "status", "code", code))
	}
	for _, o := range r.sortedOccupants() {
		for _, sess := range o.sortedSessions() {
			m := stanza.Build(stanza.KindMessage, stanza.TypeGroupchat, "", r.jid, sess.full)
			m.El.AddChild(ux)
			out.add(m)
		}
	}
	if c.MembersOnly && !old.MembersOnly {
		for _, o := range r.sortedOccupants() {
			if r.affiliation(o.bare).rank() < Member.rank() {
				r.removeOccupant(out, o, nil, "322")
			}
		}
	}
	return nil
}

// destroy removes every occupant with the destroy notice and forgets the
// room (XEP-0045 §10.9). Under r.mu.
func (s *Service) destroy(ctx context.Context, r *room, d *xml.Element, out *outbox) error {
	notice := el(NSUser, "destroy")
	if alt := d.AttrValue("jid"); alt != "" {
		if _, err := jid.Parse(alt); err != nil {
			return stanza.NewError(stanza.JIDMalformed, "invalid alternate venue")
		}
		notice.SetAttr("jid", alt)
	}
	if reason := d.ChildText(NSOwner, "reason"); reason != "" {
		notice.AddChild(el(NSUser, "reason").AddText(reason))
	}
	if pw := d.ChildText(NSOwner, "password"); pw != "" {
		notice.AddChild(el(NSUser, "password").AddText(pw))
	}
	if err := s.store.DeleteRoom(ctx, r.jid.String()); err != nil {
		return err
	}
	r.affs = map[string]*AffiliationItem{} // every removal item says affiliation none
	for _, o := range r.sortedOccupants() {
		r.removeOccupant(out, o, []*xml.Element{notice})
	}
	r.gone = true
	s.mu.Lock()
	if s.rooms[r.jid.String()] == r {
		delete(s.rooms, r.jid.String())
	}
	s.mu.Unlock()
	s.released(ctx, r.jid.String())
	return nil
}
