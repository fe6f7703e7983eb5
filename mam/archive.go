package mam

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// ArchiveHook returns the StageArchive hook ("mam") that archives 1:1
// messages and stamps them with their XEP-0359 stanza-id; see the package
// documentation for the rules. Register adds it.
func (s *Service) ArchiveHook() router.Hook {
	return router.Hook{Name: "mam", Kinds: []stanza.Kind{stanza.KindMessage}, Func: s.archive}
}

// StanzaID returns the id of st's <stanza-id xmlns='urn:xmpp:sid:0'/> whose
// 'by' is by (a bare JID string, as jid.JID.String() gives it), or "" if st
// has none. Features that resend archived messages (carbons, stream
// management) use it to find the archive id.
func StanzaID(st *stanza.Stanza, by string) string { return stanza.StanzaID(st, by) }

// archive is the StageArchive hook.
func (s *Service) archive(ctx context.Context, rt *router.Routing) error {
	st := rt.St
	if st.Kind != stanza.KindMessage {
		return nil
	}
	from, to := st.From, st.To
	fromBare, toBare := from.Bare(), to.Bare()
	// The local sides: the sender's archive if the sender is a local
	// account, the recipient's if the recipient is one. The router runs
	// StageArchive for a local recipient only if the account exists (it
	// answers service-unavailable before the stages otherwise), so an
	// addressed local user here is an account; it runs it for remote
	// recipients too (components, later other servers), for the sender's
	// archive.
	senderLocal := from.Localpart() != "" && s.r.IsLocal(from.Domainpart())
	recipientLocal := to.Localpart() != "" && s.r.IsLocal(to.Domainpart())
	if !senderLocal && !recipientLocal {
		return nil
	}
	self := senderLocal && recipientLocal && fromBare.Equal(toBare)

	// XEP-0359 §4 rule 3: a stanza-id claiming one of our archives was
	// not set by us; remove it whether or not this message is archived,
	// so that no client trusts a forged archive id.
	var c *stanza.Stanza // the modified copy, once made
	if spoofed(st.El, senderLocal, fromBare, recipientLocal, toBare) {
		c = st.Copy()
		stripStanzaIDs(c.El, senderLocal, fromBare, recipientLocal, toBare)
		rt.St = c
	}

	if !worthArchiving(st) {
		return nil
	}
	archiveSender := senderLocal && !self
	archiveRecipient := recipientLocal
	// Each address is turned into a string once (jid.JID.String
	// allocates).
	fromS, toS := fromBare.String(), toBare.String()
	var err error
	if archiveSender {
		if archiveSender, err = s.wants(ctx, fromBare, fromS, to, toS); err != nil {
			return s.archiveFailed(ctx, st, err)
		}
	}
	if archiveRecipient {
		if archiveRecipient, err = s.wants(ctx, toBare, toS, from, fromS); err != nil {
			return s.archiveFailed(ctx, st, err)
		}
	}
	if !archiveSender && !archiveRecipient {
		return nil
	}

	id, stamp := s.ids.next()
	if c == nil {
		c = st.Copy()
	}
	body := ""
	if !stanza.Encrypted(st.El) { // an encrypted message's body is a fallback text
		body = st.Body()
	}
	originID := ""
	if o := st.El.Child(NSSID, "origin-id"); o != nil {
		originID = o.AttrValue("id")
	}
	sid := xml.NewElement(NSSID, "stanza-id", "by", "", "id", FormatID(id))
	c.El.AddChild(sid)
	var msgs [2]Message
	n := 0
	var sent *stanza.Stanza
	var senderXML []byte // the sender's archived stanza
	if archiveSender {
		sid.SetAttr("by", fromS)
		senderXML = c.AppendXML(nil, stanza.NSClient)
		msgs[n] = Message{
			ID: id, Owner: fromS, With: toS, WithResource: to.Resourcepart(),
			Stamp: stamp, Outgoing: true, OriginID: originID, Body: body,
			Stanza: senderXML,
		}
		n++
		sent = c.Copy() // the sender's view, for sent carbons
	}
	if archiveRecipient {
		sid.SetAttr("by", toS)
		msgs[n] = Message{
			ID: id, Owner: toS, With: fromS, WithResource: from.Resourcepart(),
			Stamp: stamp, Outgoing: false, OriginID: originID, Body: body,
			Stanza: recipientXML(c, sid, fromS, senderXML),
		}
		n++
	} else {
		// XEP-0313 §3.5: no stanza-id in a message to someone who
		// cannot read the archive it names.
		c.El.Children = c.El.Children[:len(c.El.Children)-1]
	}
	if err := s.write(ctx, msgs[:n]); err != nil {
		return s.archiveFailed(ctx, st, err)
	}
	if archiveRecipient || rt.St == c {
		rt.St = c
	}
	rt.Sent = sent
	return nil
}

// recipientXML returns c serialized (jabber:client) for the recipient's
// archive, its last child sid (the <stanza-id/>) naming the recipient's
// archive. If the sender's copy was serialized (senderXML, sid naming
// from), it is reused: the two differ only in sid, the stanza's last
// child, so only sid is serialized again, rather than the whole stanza.
func recipientXML(c *stanza.Stanza, sid *xml.Element, from string, senderXML []byte) []byte {
	if senderXML != nil {
		to := sid.AttrValue("by")
		sid.SetAttr("by", from)
		fromSID := sid.AppendXML(nil, stanza.NSClient)
		sid.SetAttr("by", to)
		end := "</" + c.El.Name.Local + ">"
		if head, ok := bytes.CutSuffix(senderXML, []byte(end)); ok {
			if head, ok := bytes.CutSuffix(head, fromSID); ok {
				b := make([]byte, 0, len(senderXML)+len(to)-len(from))
				b = append(b, head...)
				b = sid.AppendXML(b, stanza.NSClient)
				return append(b, end...)
			}
		}
	}
	return c.AppendXML(nil, stanza.NSClient)
}

// archiveFailed logs an archiving failure and returns the error that stops
// the message: archive first means a message the archive could not take is
// not delivered either (a device that syncs later would miss it), and the
// sender may retry.
func (s *Service) archiveFailed(ctx context.Context, st *stanza.Stanza, err error) error {
	if suppressed, ok := s.failLog.allow(time.Now()); ok {
		s.log.LogAttrs(ctx, slog.LevelError, "archiving failed",
			slog.String("stanza", st.Describe()), slog.Any("err", err),
			slog.Int("suppressed", suppressed))
	}
	return &stanza.Error{Type: stanza.Wait, Condition: stanza.InternalServerError,
		Text: "the message could not be archived"}
}

// write appends msgs through the group-commit batcher, if any.
func (s *Service) write(ctx context.Context, msgs []Message) error {
	var err error
	if s.batch != nil {
		err = s.batch.write(ctx, msgs)
	} else {
		err = s.append(ctx, msgs)
	}
	if err != nil {
		return fmt.Errorf("mam: append %d messages: %w", len(msgs), err)
	}
	return nil
}

// worthArchiving reports whether a message is one XEP-0313 §5.1.1 (and
// this server's policy) keeps: see Archivable.
func worthArchiving(st *stanza.Stanza) bool { return Archivable(st.El) }

// Archivable reports whether the message el is one the archive keeps, if
// its owners' preferences let it: type chat or normal (or none) with a
// body, an encrypted payload or a XEP-0334 <store/> hint, and no
// <no-store/> or <no-permanent-store/> hint. Sessions route such messages
// while they read on (they may wait for a group commit); others at once.
func Archivable(el *xml.Element) bool {
	switch el.AttrValue("type") {
	case "", stanza.TypeNormal, stanza.TypeChat:
	default:
		return false // error, groupchat, headline
	}
	keep := false
	for _, n := range el.Children {
		e := n.El
		if e == nil {
			continue
		}
		switch e.Name.Space {
		case stanza.NSHints:
			switch e.Name.Local {
			case "no-store", "no-permanent-store":
				return false
			case "store":
				keep = true
			}
		case stanza.NSClient:
			if e.Name.Local == "body" && e.Text() != "" {
				keep = true
			}
		default:
			if stanza.EncryptedPayload(e) {
				keep = true
			}
		}
	}
	return keep
}

// claimsArchive reports whether a stanza-id element names one of the local
// archives involved.
func claimsArchive(e *xml.Element, senderLocal bool, fromBare jid.JID, recipientLocal bool, toBare jid.JID) bool {
	if e.Name.Space != NSSID || e.Name.Local != "stanza-id" {
		return false
	}
	by := e.AttrValue("by")
	if (senderLocal && by == fromBare.String()) || (recipientLocal && by == toBare.String()) {
		return true
	}
	// An unnormalized spelling of the same address claims it too.
	j, err := jid.Parse(by)
	if err != nil {
		return false
	}
	return (senderLocal && j.Equal(fromBare)) || (recipientLocal && j.Equal(toBare))
}

func spoofed(el *xml.Element, senderLocal bool, fromBare jid.JID, recipientLocal bool, toBare jid.JID) bool {
	for _, n := range el.Children {
		if n.El != nil && claimsArchive(n.El, senderLocal, fromBare, recipientLocal, toBare) {
			return true
		}
	}
	return false
}

func stripStanzaIDs(el *xml.Element, senderLocal bool, fromBare jid.JID, recipientLocal bool, toBare jid.JID) {
	out := el.Children[:0]
	for _, n := range el.Children {
		if n.El != nil && claimsArchive(n.El, senderLocal, fromBare, recipientLocal, toBare) {
			continue
		}
		out = append(out, n)
	}
	clear(el.Children[len(out):])
	el.Children = out
}

// wants reports whether owner's preferences archive a message exchanged
// with other (the 'to' of an outgoing message, the 'from' of an incoming
// one), by XEP-0441 §2.3. ownerS and otherBare are owner.String() and
// other.Bare().String().
func (s *Service) wants(ctx context.Context, owner jid.JID, ownerS string, other jid.JID, otherBare string) (bool, error) {
	p, err := s.userPrefs(ctx, owner, ownerS)
	if err != nil {
		return false, err
	}
	bare, full := otherBare, ""
	if len(p.Never) > 0 || len(p.Always) > 0 {
		full = other.String()
	}
	in := func(list []string) bool {
		for _, j := range list {
			if j == bare || j == full {
				return true
			}
		}
		return false
	}
	switch {
	case in(p.Never):
		return false, nil
	case in(p.Always):
		return true, nil
	}
	switch p.Default {
	case PrefAlways:
		return true, nil
	case PrefRoster:
		if s.cfg.Roster == nil {
			return false, nil
		}
		ok, err := s.cfg.Roster.InRoster(ctx, owner, other.Bare())
		if err != nil {
			return false, fmt.Errorf("mam: roster of %s: %w", owner.String(), err)
		}
		return ok, nil
	}
	return false, nil
}

// userPrefs returns owner's preferences (key is owner.String()), the
// configured default (with empty lists) if never set.
func (s *Service) userPrefs(ctx context.Context, owner jid.JID, key string) (Prefs, error) {
	if p, ok := s.prefs.get(key); ok {
		if p.Default == "" {
			p.Default = s.cfg.Default
		}
		return p, nil
	}
	p, err := s.store.Prefs(ctx, key)
	switch {
	case errors.Is(err, ErrNotFound):
		p = Prefs{}
	case err != nil:
		return Prefs{}, fmt.Errorf("mam: preferences of %s: %w", key, err)
	}
	s.prefs.put(key, p)
	if p.Default == "" {
		p.Default = s.cfg.Default
	}
	return p, nil
}
