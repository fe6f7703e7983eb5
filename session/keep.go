package session

import "dormouse.im/dormouse/stanza"

// Namespaces of the payloads that decide whether a message is rescued
// (Rescuable) or delivered at once to an inactive client (CSI).
const (
	nsHints     = stanza.NSHints
	nsJingleMsg = stanza.NSJingleMsg
	nsReference = "urn:xmpp:reference:0" // XEP-0372
)

// Rescuable reports whether a stanza left unacknowledged in a session that
// ends without resumption is worth handing to the Rescuer: a message its
// recipient would want to see later: the rule of offline storage, through
// the same stanza.WorthKeeping:
//
//   - only messages: presence, IQs and chat-state-only messages are dropped;
//   - never groupchat, headline or error messages (RFC 6121 §8.5.2; a room
//     keeps its own history), nor a message with a XEP-0334 <no-store/>;
//   - a body, an encrypted payload (OMEMO, OpenPGP, OX), a <store/> hint, a
//     delivery receipt or chat marker, a Jingle message (call) or a room
//     invitation makes it worth keeping.
//
// A XEP-0359 stanza-id (the message is archived) does not exempt a message:
// clients that do not sync from the archive rely on offline delivery.
func Rescuable(st *stanza.Stanza) bool {
	if st.Kind != stanza.KindMessage {
		return false
	}
	switch st.Type {
	case stanza.TypeGroupchat, stanza.TypeHeadline, stanza.TypeError:
		return false
	}
	el := st.El
	if el.Child(nsHints, "no-store") != nil || el.Child(nsHints, "no-storage") != nil {
		return false
	}
	return stanza.WorthKeeping(st)
}

// encrypted reports whether a message carries an end-to-end encrypted
// payload.
func encrypted(st *stanza.Stanza) bool { return stanza.Encrypted(st.El) }
