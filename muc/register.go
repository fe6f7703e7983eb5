package muc

import (
	"context"

	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// Nick registration (XEP-0045 §7.10-7.12).
const (
	NSRegister     = "jabber:iq:register"
	NSRegisterForm = "http://jabber.org/protocol/muc#register"
	fieldRoomNick  = "muc#register_roomnick"
	nodeRoomUser   = "x-roomuser-item"
)

// registerGet answers a registration request: the registered nick, or the
// form to register one.
func (s *Service) registerGet(r *room, iq *stanza.Stanza) (*xml.Element, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.mayRegister(iq); err != nil {
		return nil, err
	}
	q := el(NSRegister, "query")
	if a := r.affs[iq.From.Bare().String()]; a != nil && a.Nick != "" && a.Affiliation.rank() >= Member.rank() {
		q.AddChild(el(NSRegister, "registered"))
		q.AddChild(el(NSRegister, "username").AddText(a.Nick))
		return q, nil
	}
	x := el(NSData, "x", "type", "form")
	x.AddChild(el(NSData, "title").AddText("Register a nickname in this room"))
	x.AddChild(field("FORM_TYPE", "hidden", "", NSRegisterForm))
	nick := field(fieldRoomNick, "text-single", "Nickname", "")
	nick.AddChild(el(NSData, "required"))
	x.AddChild(nick)
	return q.AddChild(x), nil
}

// mayRegister: banned users may not, nor non-members of members-only rooms
// (membership there is granted by admins). Under r.mu.
func (r *room) mayRegister(iq *stanza.Stanza) error {
	switch aff := r.affiliation(iq.From.Bare()); {
	case aff == Outcast:
		return stanza.NewError(stanza.Forbidden, "you are banned from this room")
	case r.cfg.MembersOnly && aff.rank() < Member.rank():
		return stanza.NewError(stanza.RegistrationRequired, "membership of this room is granted by its admins")
	case r.locked:
		return stanza.NewError(stanza.ItemNotFound, "no such room")
	}
	return nil
}

// registerSet registers a nick (the user becomes a member, if not more) or,
// with <remove/>, gives it up (a member becomes none).
func (s *Service) registerSet(ctx context.Context, r *room, iq *stanza.Stanza, q *xml.Element) error {
	bare := iq.From.Bare().String()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.mayRegister(iq); err != nil {
		return err
	}
	if q.Child(NSRegister, "remove") != nil {
		a := r.affs[bare]
		if a == nil || a.Nick == "" {
			return stanza.NewError(stanza.ItemNotFound, "you have no registered nickname here")
		}
		if a.Affiliation == Member {
			delete(r.affs, bare)
		} else {
			a.Nick = ""
		}
		return s.save(ctx, r)
	}
	x := q.Child(NSData, "x")
	if x == nil || x.AttrValue("type") != "submit" {
		return badRequest("submit the registration form")
	}
	nick := ""
	for _, f := range x.ChildrenNamed(NSData, "field") {
		switch f.AttrValue("var") {
		case "FORM_TYPE":
			if f.ChildText(NSData, "value") != NSRegisterForm {
				return badRequest("FORM_TYPE must be " + NSRegisterForm)
			}
		case fieldRoomNick:
			nick = f.ChildText(NSData, "value")
		}
	}
	if _, err := r.jid.WithResource(nick); err != nil || nick == "" {
		return stanza.NewError(stanza.JIDMalformed, "not a valid nickname")
	}
	if other := r.reservedBy(nick); other != "" && other != bare {
		return stanza.NewError(stanza.Conflict, "that nickname is registered by another member")
	}
	if o := r.occupants[nick]; o != nil && o.bare.String() != bare {
		return stanza.NewError(stanza.Conflict, "that nickname is in use")
	}
	a := r.affs[bare]
	if a == nil {
		a = &AffiliationItem{JID: bare, Affiliation: Member}
		r.affs[bare] = a
	}
	prev := a.Nick
	a.Nick = nick
	if err := s.save(ctx, r); err != nil {
		a.Nick = prev
		return err
	}
	return nil
}

// roomUserItem answers disco#info with node x-roomuser-item (XEP-0045
// §7.12): the sender's registered nick as the identity's name.
func (s *Service) roomUserItem(ctx context.Context, r *room, iq *stanza.Stanza) {
	r.mu.Lock()
	var ids []router.Identity
	if a := r.affs[iq.From.Bare().String()]; a != nil && a.Nick != "" && a.Affiliation.rank() >= Member.rank() {
		ids = []router.Identity{{Category: "conference", Type: "text", Name: a.Nick}}
	}
	r.mu.Unlock()
	s.r.Route(ctx, router.DiscoInfo(iq, ids, nil))
}
