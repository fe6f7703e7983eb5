package muc

import (
	"context"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// Notifier learns of groupchat messages for members who are not joined
// (issue part 6): the push service implements it and server connects the
// two. MemberMessage runs on the sender's goroutine after the message was
// archived and fanned out; it must not block (queue the push and return).
type Notifier interface {
	MemberMessage(ctx context.Context, m MemberMessage)
}

// MemberMessage is a groupchat message for a member (owner, admin or
// member) of a persistent or members-only room with no joined session,
// chosen by Config.PushMembers: mentions only (the default; an end-to-end
// encrypted message, which the room cannot read, counts), every message,
// or never.
type MemberMessage struct {
	Member  jid.JID        // the member's bare JID: whose devices to wake
	Room    jid.JID        // the room's bare JID (last-message-sender of the push)
	Nick    string         // the sender's nick
	Mention bool           // the body names the member's nick (false for encrypted messages)
	Body    string         // the body, "" for encrypted messages
	ID      string         // the stanza-id by the room: the client fetches from here by MAM
	Message *stanza.Stanza // the message as broadcast, without 'to'; read-only
}

// membersToNotify lists the pushes for msg, sent by o. Under r.mu.
func (s *Service) membersToNotify(r *room, o *occupant, msg *xml.Element) []MemberMessage {
	if s.cfg.Notifier == nil || s.cfg.PushMembers == PushNever || !(r.cfg.Persistent || r.cfg.MembersOnly) {
		return nil
	}
	body := msg.ChildText(stanza.NSClient, "body")
	encrypted := stanza.Encrypted(msg)
	if body == "" && !encrypted {
		return nil
	}
	var out []MemberMessage
	var st *stanza.Stanza
	for _, a := range r.affs {
		if a.Affiliation.rank() < Member.rank() || a.JID == o.bare.String() {
			continue
		}
		member, err := jid.Parse(a.JID)
		if err != nil || r.occupantOf(member) != nil {
			continue
		}
		mention := !encrypted && stanza.ContainsWord(body, a.Nick)
		if s.cfg.PushMembers == PushMentions && !mention && !encrypted {
			continue
		}
		if st == nil {
			st = &stanza.Stanza{El: msg, Kind: stanza.KindMessage, Type: stanza.TypeGroupchat, ID: msg.AttrValue("id"), From: r.occupantJID(o.nick)}
		}
		sid := ""
		if e := msg.Child(NSSID, "stanza-id"); e != nil {
			sid = e.AttrValue("id")
		}
		out = append(out, MemberMessage{Member: member, Room: r.jid, Nick: o.nick, Mention: mention,
			Body: body, ID: sid, Message: st})
	}
	return out
}
