package muc

import (
	"context"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// Voice requests (XEP-0045 §7.13, §8.6).
const (
	NSRequest        = "http://jabber.org/protocol/muc#request"
	fieldRole        = "muc#role"
	fieldRequestJID  = "muc#jid"
	fieldRequestNick = "muc#roomnick"
	fieldAllow       = "muc#request_allow"
)

// requestForm returns the muc#request form of msg, nil if it has none.
func requestForm(msg *xml.Element) *xml.Element {
	for _, x := range msg.ChildrenNamed(NSData, "x") {
		for _, f := range x.ChildrenNamed(NSData, "field") {
			if f.AttrValue("var") == "FORM_TYPE" && f.ChildText(NSData, "value") == NSRequest {
				return x
			}
		}
	}
	return nil
}

func formValues(x *xml.Element) map[string]string {
	v := map[string]string{}
	for _, f := range x.ChildrenNamed(NSData, "field") {
		v[f.AttrValue("var")] = f.ChildText(NSData, "value")
	}
	return v
}

// voiceRequest handles a visitor's request for voice (forwarded to the
// moderators as a form) and a moderator's answer (voice granted when
// muc#request_allow is true).
func (s *Service) voiceRequest(ctx context.Context, r *room, st *stanza.Stanza, x *xml.Element) error {
	v := formValues(x)
	var out outbox
	r.mu.Lock()
	o := r.byJID[st.From.String()]
	switch {
	case o == nil:
		r.mu.Unlock()
		return stanza.NewError(stanza.NotAcceptable, "only occupants may ask for voice")
	case x.AttrValue("type") == "submit" && o.role == Moderator && v[fieldAllow] != "":
		// A moderator's answer.
		t := r.occupants[v[fieldRequestNick]]
		allow := v[fieldAllow] == "1" || v[fieldAllow] == "true"
		if t != nil && allow && t.role == Visitor {
			t.role = Participant
			r.broadcastPresence(&out, t, stanza.TypeAvailable, nil, nil, nil)
		}
	case v[fieldRole] == string(Participant) && o.role == Visitor:
		for _, m := range r.sortedOccupants() {
			if m.role != Moderator {
				continue
			}
			for _, sess := range m.sortedSessions() {
				msg := stanza.Build(stanza.KindMessage, "", "", r.jid, sess.full)
				f := el(NSData, "x", "type", "form")
				f.AddChild(el(NSData, "title").AddText("Voice request"))
				f.AddChild(field("FORM_TYPE", "hidden", "", NSRequest))
				f.AddChild(field(fieldRole, "list-single", "Requested role", string(Participant)))
				if r.seesJIDs(sess.full) {
					f.AddChild(field(fieldRequestJID, "jid-single", "User ID", o.bare.String()))
				}
				f.AddChild(field(fieldRequestNick, "text-single", "Room nickname", o.nick))
				f.AddChild(field(fieldAllow, "boolean", "Grant voice to this person?", "false"))
				msg.El.AddChild(f)
				out.add(msg)
			}
		}
	default:
		r.mu.Unlock()
		return stanza.NewError(stanza.NotAcceptable, "not a voice request this room can take")
	}
	r.mu.Unlock()
	s.send(ctx, out)
	return nil
}
