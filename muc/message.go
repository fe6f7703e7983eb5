package muc

import (
	"context"
	"fmt"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// handleMessage handles messages to a room or an occupant.
func (s *Service) handleMessage(ctx context.Context, st *stanza.Stanza) error {
	if st.Type == stanza.TypeError {
		s.occupantError(ctx, st)
		return nil
	}
	r := s.lookup(st.To.Bare())
	if r == nil {
		return stanza.NewError(stanza.ItemNotFound, "no such room")
	}
	if st.To.Resourcepart() != "" {
		return s.privateMessage(ctx, r, st)
	}
	if st.Type == stanza.TypeGroupchat {
		return s.groupchat(ctx, r, st)
	}
	if x := st.El.Child(NSUser, "x"); x != nil {
		if inv := x.Child(NSUser, "invite"); inv != nil {
			return s.invite(ctx, r, st, x, inv)
		}
		if d := x.Child(NSUser, "decline"); d != nil {
			return s.decline(ctx, r, st, d)
		}
	}
	if x := requestForm(st.El); x != nil {
		return s.voiceRequest(ctx, r, st, x)
	}
	return stanza.NewError(stanza.BadRequest, "messages to a room are of type groupchat")
}

// groupchat broadcasts an occupant's message (XEP-0045 §7.4) or subject
// change (§8.1), archived first when the room keeps an archive.
func (s *Service) groupchat(ctx context.Context, r *room, st *stanza.Stanza) error {
	now := s.cfg.Now().UTC()
	r.mu.Lock()
	o := r.byJID[st.From.String()]
	switch {
	case o == nil:
		r.mu.Unlock()
		return stanza.NewError(stanza.NotAcceptable, "only occupants may send messages to the room")
	case o.role == Visitor:
		r.mu.Unlock()
		return stanza.NewError(stanza.Forbidden, "visitors have no voice in this room")
	}
	msg := st.El.Copy()
	msg.SetAttr("to", "")
	from := r.occupantJID(o.nick)
	msg.SetAttr("from", from.String())
	stripForged(msg, r.jid)
	subject := msg.Child(stanza.NSClient, "subject")
	if subject != nil && !st.HasBody() {
		if o.role != Moderator && !(r.cfg.ChangeSubject && o.role == Participant) {
			r.mu.Unlock()
			return stanza.NewError(stanza.Forbidden, "you may not change the subject")
		}
		r.subject, r.subjectNick, r.subjectStamp = subject.Text(), o.nick, now
		if err := s.save(ctx, r); err != nil {
			r.mu.Unlock()
			return err
		}
	}
	id := s.ids.next(now)
	msg.AddChild(el(NSSID, "stanza-id", "id", formatID(id), "by", r.jid.String()))
	msg.AddChild(el(NSOccupant, "occupant-id", "id", o.id))
	if worthKeeping(msg) {
		if r.cfg.Archiving {
			m := ArchivedMessage{Room: r.jid.String(), ID: id, Stamp: now, Nick: o.nick, Sender: o.bare.String(),
				Body: msg.ChildText(stanza.NSClient, "body"), Stanza: msg.AppendXML(nil, stanza.NSClient)}
			if err := s.store.Archive(ctx, m); err != nil {
				r.mu.Unlock()
				s.log.Error("muc: archive", "room", r.jid, "err", err)
				e := stanza.NewError(stanza.InternalServerError, "the room could not archive the message")
				e.Type = stanza.Wait
				return e
			}
		} else {
			r.remember(historyEntry{at: now, msg: msg, n: len(msg.AppendXML(nil, stanza.NSClient))}, s.cfg.MaxHistory)
		}
	}
	out := make(outbox, 0, len(r.byJID))
	for _, other := range r.occupants { // delivery order across recipients does not matter
		for _, sess := range other.sessions {
			out.add(addressed(msg, from, sess.full))
		}
	}
	notify := s.membersToNotify(r, o, msg)
	r.mu.Unlock()
	s.send(ctx, out)
	for _, n := range notify {
		s.cfg.Notifier.MemberMessage(ctx, n)
	}
	return nil
}

// remember keeps msg in the in-memory history of a room without archive.
func (r *room) remember(h historyEntry, max int) {
	r.history = append(r.history, h)
	if over := len(r.history) - max; over > 0 {
		r.history = append(r.history[:0], r.history[over:]...)
	}
}

// stripForged removes stanza-ids claiming the room and occupant ids (the
// room adds its own: XEP-0359 §4, XEP-0421 §4).
func stripForged(msg *xml.Element, room jid.JID) {
	msg.RemoveChildren(NSOccupant, "occupant-id")
	out := msg.Children[:0]
	for _, c := range msg.Children {
		if c.El != nil && c.El.Name.Space == NSSID && c.El.Name.Local == "stanza-id" {
			if by, err := jid.Parse(c.El.AttrValue("by")); err == nil && by.Equal(room) {
				continue
			}
		}
		out = append(out, c)
	}
	msg.Children = out
}

// worthKeeping reports whether a groupchat message goes to the history and
// archive: a body, an end-to-end encrypted payload or a store hint, and no
// no-store hint. Subject changes are not kept: the room sends its subject
// after the history, and a subject in the history would read as the
// current one to clients.
func worthKeeping(msg *xml.Element) bool {
	st := &stanza.Stanza{El: msg, Kind: stanza.KindMessage}
	if msg.Child("urn:xmpp:hints", "no-store") != nil || msg.Child("urn:xmpp:hints", "no-permanent-store") != nil {
		return false
	}
	return st.HasBody() || stanza.Encrypted(msg) || msg.Child("urn:xmpp:hints", "store") != nil
}

// privateMessage relays a private message between occupants (XEP-0045
// §7.5).
func (s *Service) privateMessage(ctx context.Context, r *room, st *stanza.Stanza) error {
	if st.Type == stanza.TypeGroupchat {
		return stanza.NewError(stanza.BadRequest, "groupchat messages go to the room, not to an occupant")
	}
	r.mu.Lock()
	from := r.byJID[st.From.String()]
	to := r.occupants[st.To.Resourcepart()]
	var err error
	switch {
	case from == nil:
		err = stanza.NewError(stanza.NotAcceptable, "only occupants may send private messages")
	case to == nil:
		err = stanza.NewError(stanza.ItemNotFound, "no occupant with that nickname")
	case !r.allowsPM(from):
		err = stanza.NewError(stanza.Forbidden, "private messages are not allowed in this room")
	}
	if err != nil {
		r.mu.Unlock()
		return err
	}
	msg := st.El.Copy()
	fromJID := r.occupantJID(from.nick)
	msg.SetAttr("from", fromJID.String())
	msg.RemoveChildren(NSOccupant, "occupant-id")
	if msg.Child(NSUser, "x") == nil {
		msg.AddChild(el(NSUser, "x"))
	}
	msg.AddChild(el(NSOccupant, "occupant-id", "id", from.id))
	var out outbox
	for _, sess := range to.sortedSessions() {
		out.add(addressed(msg, fromJID, sess.full))
	}
	r.mu.Unlock()
	s.send(ctx, out)
	return nil
}

func (r *room) allowsPM(o *occupant) bool {
	switch r.cfg.AllowPM {
	case "none":
		return false
	case "moderators":
		return o.role == Moderator
	case "participants":
		return o.role == Moderator || o.role == Participant
	}
	return true
}

// invite relays a mediated invitation (XEP-0045 §7.8.2); in a members-only
// room the invitee becomes a member.
func (s *Service) invite(ctx context.Context, r *room, st *stanza.Stanza, x, inv *xml.Element) error {
	to, err := jid.Parse(inv.AttrValue("to"))
	if err != nil || to.Domainpart() == "" {
		return stanza.NewError(stanza.JIDMalformed, "the invitation needs a valid 'to'")
	}
	if len(x.ChildrenNamed(NSUser, "invite")) > 1 {
		return stanza.NewError(stanza.BadRequest, "one invitation per message")
	}
	r.mu.Lock()
	o := r.byJID[st.From.String()]
	aff := r.affiliation(st.From.Bare())
	switch {
	case o == nil:
		r.mu.Unlock()
		return stanza.NewError(stanza.NotAcceptable, "only occupants may invite")
	case aff.rank() < Admin.rank() && !r.cfg.AllowInvites && r.cfg.MembersOnly:
		r.mu.Unlock()
		return stanza.NewError(stanza.Forbidden, "only admins may invite to this room")
	}
	if r.cfg.MembersOnly && r.affiliation(to.Bare()).rank() < Member.rank() && r.affiliation(to.Bare()) != Outcast {
		r.affs[to.Bare().String()] = &AffiliationItem{JID: to.Bare().String(), Affiliation: Member}
		if err := s.save(ctx, r); err != nil {
			r.mu.Unlock()
			return err
		}
	}
	m := stanza.Build(stanza.KindMessage, "", st.ID, r.jid, to)
	ux := el(NSUser, "x")
	i := el(NSUser, "invite", "from", st.From.String())
	if reason := inv.ChildText(NSUser, "reason"); reason != "" {
		i.AddChild(el(NSUser, "reason").AddText(reason))
	}
	ux.AddChild(i)
	if r.cfg.Password != "" {
		ux.AddChild(el(NSUser, "password").AddText(r.cfg.Password))
	}
	m.El.AddChild(ux)
	m.El.AddChild(el(stanza.NSClient, "body").AddText(fmt.Sprintf("%s invites you to the room %s", st.From.Bare(), r.jid)))
	r.mu.Unlock()
	s.r.Route(ctx, m)
	return nil
}

// decline relays a declined invitation to the inviter (XEP-0045 §7.8.2).
func (s *Service) decline(ctx context.Context, r *room, st *stanza.Stanza, d *xml.Element) error {
	to, err := jid.Parse(d.AttrValue("to"))
	if err != nil || to.Domainpart() == "" {
		return stanza.NewError(stanza.JIDMalformed, "the decline needs a valid 'to'")
	}
	m := stanza.Build(stanza.KindMessage, "", st.ID, r.jid, to)
	dx := el(NSUser, "decline", "from", st.From.Bare().String())
	if reason := d.ChildText(NSUser, "reason"); reason != "" {
		dx.AddChild(el(NSUser, "reason").AddText(reason))
	}
	m.El.AddChild(el(NSUser, "x").AddChild(dx))
	s.r.Route(ctx, m)
	return nil
}
