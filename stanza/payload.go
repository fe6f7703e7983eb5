package stanza

import "dormouse.im/dormouse/xml"

// Namespaces of the message payloads that decide whether a message is worth
// keeping for later (offline storage, rescue of unacknowledged messages,
// the archive), copied (carbons) or urgent (client state indication), and
// of the wrappers and forms several features read. This is their one home:
// features do not import each other, so what two of them need is here.
const (
	NSHints       = "urn:xmpp:hints"                        // XEP-0334
	NSReceipts    = "urn:xmpp:receipts"                     // XEP-0184
	NSChatMarkers = "urn:xmpp:chat-markers:0"               // XEP-0333
	NSJingleMsg   = "urn:xmpp:jingle-message:0"             // XEP-0353
	NSConference  = "jabber:x:conference"                   // XEP-0249
	NSMUCUser     = "http://jabber.org/protocol/muc#user"   // XEP-0045
	NSOMEMOLegacy = "eu.siacs.conversations.axolotl"        // XEP-0384 up to 0.3 (Conversations)
	NSOMEMO       = "urn:xmpp:omemo:2"                      // XEP-0384
	NSPGPLegacy   = "jabber:x:encrypted"                    // XEP-0027
	NSOpenPGP     = "urn:xmpp:openpgp:0"                    // XEP-0373 (OX)
	NSChatStates  = "http://jabber.org/protocol/chatstates" // XEP-0085
	NSForward     = "urn:xmpp:forward:0"                    // XEP-0297, the wrapper of carbons and archive results
	NSCarbons     = "urn:xmpp:carbons:2"                    // XEP-0280
	NSData        = "jabber:x:data"                         // XEP-0004 data forms
)

// Encrypted reports whether a message carries an end-to-end encrypted
// payload (OMEMO, legacy OpenPGP, OX).
func Encrypted(el *xml.Element) bool {
	for _, n := range el.Children {
		if c := n.El; c != nil && EncryptedPayload(c) {
			return true
		}
	}
	return false
}

// EncryptedPayload reports whether c, a child of a message, is an end-to-end
// encrypted payload (OMEMO <encrypted/>, legacy OpenPGP <x/>, OX
// <openpgp/>).
func EncryptedPayload(c *xml.Element) bool {
	switch c.Name.Space {
	case NSOMEMOLegacy, NSOMEMO:
		return c.Name.Local == "encrypted"
	case NSPGPLegacy:
		return c.Name.Local == "x"
	case NSOpenPGP:
		return c.Name.Local == "openpgp"
	}
	return false
}

// WorthKeeping reports whether a message carries something its recipient
// wants to see later: a body, an encrypted payload, a XEP-0334 <store/>
// hint, a delivery receipt or chat marker, a Jingle message (call) or a
// room invitation. It looks at the payload only; callers apply their own
// rules on types and <no-store/>.
func WorthKeeping(st *Stanza) bool {
	if st.HasBody() {
		return true
	}
	for _, n := range st.El.Children {
		c := n.El
		if c == nil {
			continue
		}
		if EncryptedPayload(c) {
			return true
		}
		switch c.Name.Space {
		case NSHints:
			if c.Name.Local == "store" {
				return true
			}
		case NSReceipts:
			if c.Name.Local == "received" {
				return true
			}
		case NSChatMarkers:
			switch c.Name.Local {
			case "received", "displayed", "acknowledged":
				return true
			}
		case NSJingleMsg:
			return true // propose, retract, accept, proceed, reject, finish
		case NSConference:
			if c.Name.Local == "x" {
				return true
			}
		case NSMUCUser:
			if c.Name.Local == "x" && c.Child(NSMUCUser, "invite") != nil {
				return true
			}
		}
	}
	return false
}

// NSSID is XEP-0359 Unique and Stable Stanza IDs.
const NSSID = "urn:xmpp:sid:0"

// StanzaID returns the id of st's XEP-0359 <stanza-id/> added by the
// entity by (an archive: an account's or a room's bare JID), or "".
func StanzaID(st *Stanza, by string) string {
	for _, n := range st.El.Children {
		if e := n.El; e != nil && e.Name.Space == NSSID && e.Name.Local == "stanza-id" && e.AttrValue("by") == by {
			return e.AttrValue("id")
		}
	}
	return ""
}
