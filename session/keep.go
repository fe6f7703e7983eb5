package session

import "dormouse.im/dormouse/stanza"

// Namespaces of the payloads that decide whether a message is rescued
// (Rescuable) or delivered at once to an inactive client (CSI).
const (
	nsHints       = "urn:xmpp:hints"                        // XEP-0334
	nsChatStates  = "http://jabber.org/protocol/chatstates" // XEP-0085
	nsReceipts    = "urn:xmpp:receipts"                     // XEP-0184
	nsChatMarkers = "urn:xmpp:chat-markers:0"               // XEP-0333
	nsJingleMsg   = "urn:xmpp:jingle-message:0"             // XEP-0353
	nsConference  = "jabber:x:conference"                   // XEP-0249
	nsMUCUser     = "http://jabber.org/protocol/muc#user"   // XEP-0045
	nsOMEMOLegacy = "eu.siacs.conversations.axolotl"        // XEP-0384 up to 0.3
	nsOMEMO       = "urn:xmpp:omemo:2"                      // XEP-0384
	nsPGPLegacy   = "jabber:x:encrypted"                    // XEP-0027
	nsOpenPGP     = "urn:xmpp:openpgp:0"                    // XEP-0373 (OX)
	nsReference   = "urn:xmpp:reference:0"                  // XEP-0372
)

// Rescuable reports whether a stanza left unacknowledged in a session that
// ends without resumption is worth handing to the Rescuer: a message its
// recipient would want to see later. It is the rule of offline storage
// (package offline, "worth keeping"), kept in step with it:
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
	if st.HasBody() {
		return true
	}
	for _, c := range el.Elements() {
		switch c.Name.Space {
		case nsOMEMOLegacy, nsOMEMO:
			if c.Name.Local == "encrypted" {
				return true
			}
		case nsPGPLegacy:
			if c.Name.Local == "x" {
				return true
			}
		case nsOpenPGP:
			if c.Name.Local == "openpgp" {
				return true
			}
		case nsHints:
			if c.Name.Local == "store" {
				return true
			}
		case nsReceipts:
			if c.Name.Local == "received" {
				return true
			}
		case nsChatMarkers:
			switch c.Name.Local {
			case "received", "displayed", "acknowledged":
				return true
			}
		case nsJingleMsg:
			return true
		case nsConference:
			if c.Name.Local == "x" {
				return true
			}
		case nsMUCUser:
			if c.Name.Local == "x" && c.Child(nsMUCUser, "invite") != nil {
				return true
			}
		}
	}
	return false
}

// encrypted reports whether a message carries an end-to-end encrypted
// payload.
func encrypted(st *stanza.Stanza) bool {
	for _, c := range st.El.Elements() {
		switch {
		case (c.Name.Space == nsOMEMO || c.Name.Space == nsOMEMOLegacy) && c.Name.Local == "encrypted",
			c.Name.Space == nsPGPLegacy && c.Name.Local == "x",
			c.Name.Space == nsOpenPGP && c.Name.Local == "openpgp":
			return true
		}
	}
	return false
}
