package muc

import (
	"context"
	"strings"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// handlePresence handles presence to room@service/nick: joins, presence
// updates, nick changes and leaving (XEP-0045 §7.2-7.4, §7.6, §7.14).
func (s *Service) handlePresence(ctx context.Context, st *stanza.Stanza) error {
	switch st.Type {
	case stanza.TypeAvailable:
		return s.available(ctx, st)
	case stanza.TypeUnavailable:
		s.unavailable(ctx, st)
		return nil
	case stanza.TypeError:
		s.occupantError(ctx, st)
		return nil
	}
	return nil // subscriptions and probes mean nothing to a room
}

func (s *Service) lookup(bare jid.JID) *room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[bare.String()]
}

// available joins, changes nick or updates presence.
func (s *Service) available(ctx context.Context, st *stanza.Stanza) error {
	nick := st.To.Resourcepart()
	if nick == "" || strings.TrimSpace(nick) == "" {
		return stanza.NewError(stanza.JIDMalformed, "a nickname is required (room@service/nick)")
	}
	bare := st.To.Bare()
	for {
		r, created, err := s.roomForJoin(ctx, bare, st)
		if err != nil {
			return err
		}
		var out outbox
		r.mu.Lock()
		if r.gone {
			r.mu.Unlock()
			continue // destroyed meanwhile: try again
		}
		joined, err := s.enter(ctx, r, st, nick, created, &out)
		r.mu.Unlock()
		s.send(ctx, out)
		if err == nil && joined != nil {
			s.sendJoinTail(ctx, r, st, joined)
		}
		return err
	}
}

// roomForJoin returns the room, creating a locked one (or an instant one for
// a client that does not speak XEP-0045, without <x xmlns=muc/>).
func (s *Service) roomForJoin(ctx context.Context, bare jid.JID, st *stanza.Stanza) (*room, bool, error) {
	key := bare.String()
	s.mu.Lock()
	if r := s.rooms[key]; r != nil {
		s.mu.Unlock()
		return r, false, nil
	}
	all := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		all = append(all, r)
	}
	s.mu.Unlock()
	if st.From.Localpart() == "" {
		return nil, false, stanza.NewError(stanza.NotAllowed, "only users may create rooms")
	}
	owned := 0
	for _, r := range all {
		r.mu.Lock()
		if !r.gone && r.affiliation(st.From.Bare()) == Owner {
			owned++
		}
		r.mu.Unlock()
	}
	if owned >= s.cfg.MaxRoomsPerUser {
		return nil, false, stanza.NewError(stanza.NotAllowed, "you own too many rooms already")
	}
	r := newRoom(bare, s.cfg.Default, s.cfg.Now().UTC())
	r.locked = st.El.Child(NS, "x") != nil
	r.affs[st.From.Bare().String()] = &AffiliationItem{JID: st.From.Bare().String(), Affiliation: Owner}
	s.mu.Lock()
	defer s.mu.Unlock()
	if other := s.rooms[key]; other != nil {
		return other, false, nil // created meanwhile
	}
	s.rooms[key] = r
	return r, true, nil
}

// enter does the room side of a join or presence update, under r.mu. It
// returns the occupant when st joined (the caller sends history and subject).
func (s *Service) enter(ctx context.Context, r *room, st *stanza.Stanza, nick string, created bool, out *outbox) (*occupant, error) {
	full, bare := st.From, st.From.Bare()
	if o := r.byJID[full.String()]; o != nil {
		sess := o.sessions[full.String()]
		sess.presence = st.El
		if o.nick == nick {
			o.last = sess
			if st.El.Child(NS, "x") == nil {
				r.broadcastPresence(out, o, stanza.TypeAvailable, nil, nil, nil)
				return nil, nil
			}
			// A join while joined: the client lost track (a new stream
			// after a failed resumption, a restart of the client); it
			// gets the whole join again, the others a presence update.
			for _, other := range r.sortedOccupants() {
				if other == o {
					continue
				}
				out.add(r.presenceFor(other, full, false, stanza.TypeAvailable, nil))
				for _, os := range other.sortedSessions() {
					out.add(r.presenceFor(o, os.full, false, stanza.TypeAvailable, nil))
				}
			}
			for _, os := range o.sortedSessions() {
				if os != sess {
					out.add(r.presenceFor(o, os.full, true, stanza.TypeAvailable, nil))
				}
			}
			out.add(r.presenceFor(o, full, true, stanza.TypeAvailable, nil, r.joinCodes(false)...))
			return o, nil
		}
		return nil, s.changeNick(r, o, st, nick, out)
	}
	aff := r.affiliation(bare)
	x := st.El.Child(NS, "x")
	switch {
	case r.locked && aff != Owner:
		return nil, stanza.NewError(stanza.ItemNotFound, "the room is being created and not yet configured")
	case aff == Outcast:
		return nil, stanza.NewError(stanza.Forbidden, "you are banned from this room")
	case r.cfg.MembersOnly && aff.rank() < Member.rank():
		return nil, stanza.NewError(stanza.RegistrationRequired, "the room is members-only")
	case r.cfg.Password != "" && aff.rank() < Admin.rank() && (x == nil || x.ChildText(NS, "password") != r.cfg.Password):
		e := stanza.NewError(stanza.NotAuthorized, "a password is required")
		e.Type = stanza.Auth
		return nil, e
	}
	o := r.occupants[nick]
	if o != nil && !o.bare.Equal(bare) {
		return nil, stanza.NewError(stanza.Conflict, "that nickname is taken")
	}
	if reserved := r.reservedBy(nick); reserved != "" && reserved != bare.String() {
		return nil, stanza.NewError(stanza.Conflict, "that nickname is registered by another member")
	}
	if prev := r.occupantOf(bare); prev != nil && prev != o {
		return nil, stanza.NewError(stanza.Conflict, "you are in the room under another nickname already")
	}
	if o == nil && aff.rank() < Admin.rank() && len(r.occupants) >= r.cfg.MaxUsers {
		return nil, stanza.NewError(stanza.ServiceUnavailable, "the room is full")
	}
	sess := &session{full: full, presence: st.El}
	if o != nil {
		// Multi-session nick: another resource of the same account.
		o.sessions[full.String()] = sess
		r.byJID[full.String()] = o
		o.last = sess
		for _, other := range r.sortedOccupants() {
			if other != o {
				out.add(r.presenceFor(other, full, false, stanza.TypeAvailable, nil))
			}
		}
		out.add(r.presenceFor(o, full, true, stanza.TypeAvailable, nil, r.joinCodes(false)...))
		return o, nil
	}
	o = &occupant{nick: nick, bare: bare, role: r.defaultRole(aff), id: s.occupantID(r.jid, bare),
		sessions: map[string]*session{full.String(): sess}, last: sess}
	// Existing occupants first (XEP-0045 §7.2.3), then the new one to
	// everybody, its own copy last with the self codes.
	for _, other := range r.sortedOccupants() {
		out.add(r.presenceFor(other, full, false, stanza.TypeAvailable, nil))
	}
	r.occupants[nick] = o
	r.byJID[full.String()] = o
	for _, other := range r.sortedOccupants() {
		if other == o {
			continue
		}
		for _, os := range other.sortedSessions() {
			out.add(r.presenceFor(o, os.full, false, stanza.TypeAvailable, nil))
		}
	}
	out.add(r.presenceFor(o, full, true, stanza.TypeAvailable, nil, r.joinCodes(created)...))
	if a := r.affs[bare.String()]; a != nil && a.Nick == "" {
		// A member's first nick is theirs (registered, reserved, and
		// what mentions of them are matched against).
		a.Nick = nick
		if err := s.save(ctx, r); err != nil {
			s.log.Warn("muc: nick not saved", "room", r.jid, "err", err)
		}
	}
	return o, nil
}

// joinCodes are the status codes of a joining occupant's self-presence.
func (r *room) joinCodes(created bool) []string {
	var c []string
	if r.cfg.WhoIs == "anyone" {
		c = append(c, "100")
	}
	if r.cfg.Archiving {
		c = append(c, "170")
	}
	if created {
		c = append(c, "201")
	}
	return c
}

// reservedBy returns the bare JID that registered nick, "" if none.
func (r *room) reservedBy(nick string) string {
	for _, a := range r.affs {
		if a.Nick == nick && a.Affiliation.rank() >= Member.rank() {
			return a.JID
		}
	}
	return ""
}

// changeNick renames o (XEP-0045 §7.6): unavailable with 303 and the new
// nick, then available under the new nick.
func (s *Service) changeNick(r *room, o *occupant, st *stanza.Stanza, nick string, out *outbox) error {
	if other := r.occupants[nick]; other != nil {
		return stanza.NewError(stanza.Conflict, "that nickname is taken")
	}
	if reserved := r.reservedBy(nick); reserved != "" && reserved != o.bare.String() {
		return stanza.NewError(stanza.Conflict, "that nickname is registered by another member")
	}
	o.last = o.sessions[st.From.String()]
	for _, other := range r.sortedOccupants() {
		for _, sess := range other.sortedSessions() {
			p := r.presenceFor(o, sess.full, other == o, stanza.TypeUnavailable, nil, "303")
			p.El.Child(NSUser, "x").Child(NSUser, "item").SetAttr("nick", nick)
			out.add(p)
		}
	}
	delete(r.occupants, o.nick)
	o.nick = nick
	r.occupants[nick] = o
	r.broadcastPresence(out, o, stanza.TypeAvailable, nil, nil, nil)
	return nil
}

// sendJoinTail sends a joined session the history and the subject
// (XEP-0045 §7.2.14, §7.2.15), read outside the room's lock.
func (s *Service) sendJoinTail(ctx context.Context, r *room, st *stanza.Stanza, o *occupant) {
	var h *xml.Element
	if x := st.El.Child(NS, "x"); x != nil {
		h = x.Child(NS, "history")
	}
	var out outbox
	for _, m := range s.history(ctx, r, h) {
		out.add(m)
	}
	r.mu.Lock()
	subj := stanza.Build(stanza.KindMessage, stanza.TypeGroupchat, "", r.jid, st.From)
	if r.subjectNick != "" {
		subj.SetFrom(r.occupantJID(r.subjectNick))
	}
	subj.El.AddChild(el(stanza.NSClient, "subject").AddText(r.subject))
	if !r.subjectStamp.IsZero() {
		subj.El.AddChild(stanza.Delay(r.jid.String(), stamp(r.subjectStamp)))
	}
	r.mu.Unlock()
	for _, m := range out {
		m.SetTo(st.From)
	}
	out.add(subj)
	s.send(ctx, out)
}

// unavailable handles leaving (XEP-0045 §7.14).
func (s *Service) unavailable(ctx context.Context, st *stanza.Stanza) {
	r := s.lookup(st.To.Bare())
	if r == nil {
		return
	}
	var out outbox
	r.mu.Lock()
	o := r.byJID[st.From.String()]
	if o == nil {
		r.mu.Unlock()
		return
	}
	s.leave(ctx, r, o, st.From, &out, nil)
	r.mu.Unlock()
	s.send(ctx, out)
}

// leave removes one session of o; the last one takes o out of the room.
// Under r.mu.
func (s *Service) leave(ctx context.Context, r *room, o *occupant, full jid.JID, out *outbox, extra []*xml.Element, codes ...string) {
	if len(o.sessions) > 1 {
		delete(o.sessions, full.String())
		delete(r.byJID, full.String())
		if o.last.full.Equal(full) {
			for _, sess := range o.sessions {
				o.last = sess
				break
			}
		}
		role := o.role
		o.role = NoRole
		out.add(r.presenceFor(o, full, true, stanza.TypeUnavailable, extra, codes...))
		o.role = role
		return
	}
	r.removeOccupant(out, o, extra, codes...)
	s.maybeDispose(ctx, r)
}

// maybeDispose deletes a temporary room whose last occupant left. Under
// r.mu.
func (s *Service) maybeDispose(ctx context.Context, r *room) {
	if len(r.occupants) > 0 || (r.cfg.Persistent && !r.locked) {
		return
	}
	r.gone = true
	s.mu.Lock()
	if s.rooms[r.jid.String()] == r {
		delete(s.rooms, r.jid.String())
	}
	s.mu.Unlock()
	s.released(ctx, r.jid.String())
	if r.cfg.Archiving || r.cfg.Persistent {
		if err := s.store.DeleteRoom(ctx, r.jid.String()); err != nil {
			s.log.Error("muc: delete room", "room", r.jid, "err", err)
		}
	}
}

// occupantError handles an error stanza from an occupant's session: a
// session that cannot be reached is removed (status 333).
func (s *Service) occupantError(ctx context.Context, st *stanza.Stanza) {
	e := stanza.ParseError(st.El)
	if e == nil {
		return
	}
	switch e.Condition {
	case stanza.ServiceUnavailable, stanza.RecipientUnavailable, stanza.ItemNotFound,
		stanza.RemoteServerNotFound, stanza.RemoteServerTimeout, stanza.Gone:
	default:
		return
	}
	r := s.lookup(st.To.Bare())
	if r == nil {
		return
	}
	var out outbox
	r.mu.Lock()
	if o := r.byJID[st.From.String()]; o != nil {
		s.leave(ctx, r, o, st.From, &out, nil, "333")
	}
	r.mu.Unlock()
	s.send(ctx, out)
}

// save persists a persistent room. Under r.mu.
func (s *Service) save(ctx context.Context, r *room) error {
	if !r.cfg.Persistent || r.gone {
		return nil
	}
	if err := s.store.SaveRoom(ctx, r.stored()); err != nil {
		s.log.Error("muc: save room", "room", r.jid, "err", err)
		e := stanza.NewError(stanza.InternalServerError, "the room could not be saved")
		e.Type = stanza.Wait
		return e
	}
	return nil
}
