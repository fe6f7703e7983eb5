package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"slices"

	"dormouse.im/dormouse/muc"
	"dormouse.im/dormouse/push"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// registerMUC builds the multi-user chat service ([muc]), brings back its
// persistent rooms and routes its domain to it.
func (s *Server) registerMUC(ctx context.Context, secret []byte) error {
	if !s.cfg.MUC.Enabled {
		return nil
	}
	// Occupant ids (XEP-0421) stay the same across restarts: keyed by a
	// key derived from the server's persistent secret.
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("dormouse muc occupant-id"))
	c := s.cfg.MUC
	var notifier muc.Notifier
	if s.Push != nil {
		notifier = memberPush{s.Push}
	}
	svc, err := muc.New(muc.Config{
		Domain:          s.cfg.MUCDomain(),
		MaxOccupants:    c.MaxOccupants,
		MaxRoomsPerUser: c.MaxRoomsPerUser,
		History:         c.History,
		MaxHistory:      c.MaxHistory,
		Default:         muc.RoomConfig{Archiving: c.Archive},
		PushMembers:     c.PushMembers,
		Notifier:        notifier,
		Secret:          mac.Sum(nil),
	}, s.Stores.MUC, s.Router, s.log.With("component", "muc"))
	if err != nil {
		return fmt.Errorf("server: muc: %w", err)
	}
	if err := svc.Load(ctx); err != nil {
		return fmt.Errorf("server: muc: %w", err)
	}
	if err := s.Router.AddService(svc.Domain(), svc.Name(), svc); err != nil {
		return fmt.Errorf("server: muc at %s: %w", svc.Domain(), err)
	}
	s.muc = svc
	return nil
}

// memberPush wakes the phones of room members who are not joined (issue
// 13 part 6) through the push service, as a message stored offline for
// them would: push.Service.MessageStored wakes the devices without a live
// session, with the occupant as the sender (the room in encrypted
// payloads). The room has already decided that the message concerns the
// member (a mention of its nick, any message with muc.push_members = all,
// or an encrypted one); the copy handed to push says so with a XEP-0372
// mention of the member, which push's rules for groupchat messages look
// for. Nobody receives that copy.
type memberPush struct{ p *push.Service }

func (m memberPush) MemberMessage(ctx context.Context, mm muc.MemberMessage) {
	el := mm.Message.El
	mention := xml.NewElement(stanza.NSReference, "reference", "type", "mention", "uri", "xmpp:"+mm.Member.String())
	c := &xml.Element{Name: el.Name, Attr: slices.Clone(el.Attr), Children: append(slices.Clip(el.Children), xml.Node{El: mention})}
	st := &stanza.Stanza{El: c, Kind: stanza.KindMessage, Type: stanza.TypeGroupchat, ID: mm.Message.ID, From: mm.Message.From}
	st.SetTo(mm.Member)
	m.p.MessageStored(ctx, mm.Member, st)
}
