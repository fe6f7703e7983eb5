package carbons

import (
	"strings"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// Namespaces.
const (
	NS      = stanza.NSCarbons           // protocol and disco#info feature
	NSRules = "urn:xmpp:carbons:rules:0" // disco#info feature: §6's recommended rules are followed
)

// nsMAMPrefix starts the namespaces of XEP-0313 results (urn:xmpp:mam:2
// and older). The other payloads that decide whether a message is copied
// have their namespaces in package stanza.
const nsMAMPrefix = "urn:xmpp:mam:"

// payload is what the eligibility rules need to know about a message's
// children, found in one pass.
type payload struct {
	private bool // <private xmlns='urn:xmpp:carbons:2'/>
	noCopy  bool // XEP-0334 <no-copy/>
	carbon  bool // already a carbon (<sent/> or <received/>), or an archive result
	body    bool // <body/>, even empty (§6: "contains a <body> element")
	im      bool // a payload used in instant messaging
	mucUser bool // <x xmlns='http://jabber.org/protocol/muc#user'/>
}

// scan classifies the children of a message.
func scan(el *xml.Element) payload {
	var p payload
	for i := range el.Children {
		c := el.Children[i].El
		if c == nil {
			continue
		}
		switch c.Name.Space {
		case stanza.NSClient:
			if c.Name.Local == "body" {
				p.body = true
			}
		case NS:
			switch c.Name.Local {
			case "private":
				p.private = true
			case "sent", "received":
				p.carbon = true
			}
		case stanza.NSHints:
			if c.Name.Local == "no-copy" {
				p.noCopy = true
			}
		case stanza.NSChatStates, stanza.NSReceipts, stanza.NSChatMarkers, stanza.NSJingleMsg:
			p.im = true
		case stanza.NSConference:
			if c.Name.Local == "x" {
				p.im = true // direct invitation
			}
		case stanza.NSMUCUser:
			if c.Name.Local == "x" {
				p.mucUser = true
				if c.Child(stanza.NSMUCUser, "invite") != nil {
					p.im = true // mediated invitation
				}
			}
		default:
			if c.Name.Local == "result" && strings.HasPrefix(c.Name.Space, nsMAMPrefix) {
				p.carbon = true
			}
		}
	}
	return p
}

// eligible applies XEP-0280 §6's recommended rules to a message st with
// children p. received is the direction: true for the copies a local
// recipient's other resources get, false for the copies the sender's
// resources get.
func eligible(st *stanza.Stanza, p payload, received bool) bool {
	if p.private || p.noCopy || p.carbon {
		return false
	}
	switch st.Type {
	case stanza.TypeGroupchat, stanza.TypeError:
		// Groupchat: MUC rules. Error: eligible only in response to an
		// eligible message, which would need tracking (see the package
		// documentation).
		return false
	}
	if received && p.mucUser && hasResource(st.From) {
		// A private message from a MUC occupant (room@service/nick): the
		// MUC service copies it to every joined client itself. A mediated
		// invitation comes from the room's bare JID.
		return false
	}
	switch st.Type {
	case stanza.TypeChat:
		return true
	case stanza.TypeNormal, "":
		if p.body {
			return true
		}
	}
	return p.im
}

// hasResource reports whether j has a resourcepart, without allocating.
func hasResource(j jid.JID) bool { return !j.Equal(j.Bare()) }
