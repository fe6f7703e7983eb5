package push

import (
	"slices"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// Namespaces the rules look at.
const (
	nsJingleRTP = "urn:xmpp:jingle:apps:rtp:1"
	nsOMEMOOld  = "urn:xmpp:omemo:0" // OMEMO as Prosody's rules list it
)

// Kind is what a wake-worthy stanza is.
type Kind uint8

// Kinds of stanzas that wake a device.
const (
	None      Kind = iota // not worth a notification
	Message               // a message with a body or an encrypted payload
	Call                  // a XEP-0353 call proposal: urgent
	Subscribe             // a presence subscription request
)

func (k Kind) String() string {
	switch k {
	case Message:
		return "message"
	case Call:
		return "call"
	case Subscribe:
		return "subscribe"
	}
	return "none"
}

// Wake reports whether st, routed to user (the recipient account's bare
// JID), is worth waking the user's phone for, following Prosody
// mod_cloud_notify's is_important rules:
//   - a presence subscription request;
//   - a message (a received carbon copy is unwrapped) that proposes a
//     call (XEP-0353, urgent), or carries an end-to-end encrypted payload
//     (OMEMO, legacy PGP, OX), or a non-empty body;
//   - but not: a carbon of a message the user sent (XEP-0280 <sent/>),
//     headlines, errors, a room's subject change, and a groupchat
//     message that does not mention the user (a XEP-0372 mention of the
//     account, or the account's local part as a word of the body; an
//     encrypted groupchat message, which cannot be read, counts).
//
// Chat states, receipts and markers alone have no body: never.
// It returns the message that decided (the carbon's inner message); it
// allocates nothing except for groupchat messages.
func Wake(st *stanza.Stanza, user jid.JID) (Kind, *xml.Element) {
	switch st.Kind {
	case stanza.KindPresence:
		if st.Type == stanza.TypeSubscribe {
			return Subscribe, st.El
		}
		return None, nil
	case stanza.KindMessage:
	default:
		return None, nil
	}
	m := st.El
	if c := m.Child(stanza.NSCarbons, "received"); c != nil {
		inner := c.Child(stanza.NSForward, "forwarded").Child(stanza.NSClient, "message")
		if inner == nil {
			return None, nil
		}
		m = inner
	} else if m.Child(stanza.NSCarbons, "sent") != nil {
		return None, nil // what the user sent from another device
	}
	typ := m.AttrValue("type")
	switch typ {
	case stanza.TypeHeadline, stanza.TypeError:
		return None, nil
	}
	if m.Child(stanza.NSJingleMsg, "propose") != nil {
		return Call, m
	}
	if encrypted(m) {
		return Message, m
	}
	body := m.ChildText(stanza.NSClient, "body")
	if body == "" {
		return None, nil
	}
	if typ == stanza.TypeGroupchat {
		if m.Child(stanza.NSClient, "subject") != nil || !stanza.Mentions(m, body, user.Bare().String(), user.Localpart()) {
			return None, nil
		}
	}
	return Message, m
}

// encrypted reports whether m carries an end-to-end encrypted payload,
// counting the old OMEMO namespace that Prosody's rules also list.
func encrypted(m *xml.Element) bool {
	return stanza.Encrypted(m) || m.Child(nsOMEMOOld, "encrypted") != nil
}

// stanzaKey identifies a stanza across the paths that may report it twice
// (a hibernated session's queue, then offline storage when it times out):
// the archive's stanza-id for the user (XEP-0359), else sender and id. ""
// when the stanza has neither.
func stanzaKey(st *stanza.Stanza, user jid.JID) string {
	if id := stanza.StanzaID(st, user.String()); id != "" {
		return "s:" + id
	}
	if st.ID == "" {
		return ""
	}
	return "i:" + st.From.String() + "\x00" + st.ID
}

// callInfo returns a call proposal's session id and media (XEP-0353,
// XEP-0167 descriptions).
func callInfo(m *xml.Element) (sid string, media []string) {
	p := m.Child(stanza.NSJingleMsg, "propose")
	if p == nil {
		return "", nil
	}
	for _, d := range p.ChildrenNamed(nsJingleRTP, "description") {
		if md := d.AttrValue("media"); md != "" && !slices.Contains(media, md) {
			media = append(media, md)
		}
	}
	return p.AttrValue("id"), media
}
