package carbons

import (
	"context"
	"slices"

	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// copyHook is the StageCopy hook. It runs for every routed message: it
// scans the children once, finds whether the sender's or the recipient's
// account has resources with carbons enabled without allocating, and looks
// up an account's resources only if it has.
func (s *Service) copyHook(_ context.Context, rt *router.Routing) error {
	st := rt.St
	// Sent copies forward the sender's view when the archive stage
	// stored one (it carries the sender's stanza-id).
	sentView := st
	if rt.Sent != nil {
		sentView = rt.Sent
	}
	p := scan(st.El)
	from, to := st.From, st.To
	if p.private {
		if s.isAccount(to) {
			// §9: the receiving server SHOULD remove <private/> before
			// delivering to the recipient.
			c := st.Copy()
			c.El.RemoveChildren(NS, "private")
			rt.St = c
		}
		return nil
	}
	if p.noCopy || p.carbon {
		return nil
	}
	// Only bound resources of local accounts enable carbons: an account
	// with enabled resources is local. In a cluster, resources on other
	// nodes may have: the account's resources are looked up (send).
	var fromOn, toOn []enabledResource
	fromAny := false
	if hasResource(from) {
		fromOn = s.lookup(from)
		fromAny = len(fromOn) > 0 || (s.cluster && s.isAccount(from))
	}
	if from.Bare().Equal(to.Bare()) {
		// Within one account: one sent copy to each enabled resource that
		// neither sent the message nor gets it directly.
		if fromAny && eligible(st, p, false) {
			s.send(fromOn, from.Bare(), "sent", sentView, from, true)
		}
		return nil
	}
	toOn = s.lookup(to)
	toAny := len(toOn) > 0 || (s.cluster && s.isAccount(to))
	if fromAny && eligible(st, p, false) {
		s.send(fromOn, from.Bare(), "sent", sentView, from, false)
	}
	if toAny && eligible(st, p, true) {
		s.send(toOn, to.Bare(), "received", st, jid.JID{}, true)
	}
	return nil
}

// send delivers a copy of st wrapped in {NS}wrapper to each resource of
// user in on (the resources that enabled carbons), except the sending
// resource (if any) and, if skipDirect, the resources the router delivers
// st to itself.
func (s *Service) send(on []enabledResource, user jid.JID, wrapper string, st *stanza.Stanza, sending jid.JID, skipDirect bool) {
	rs := s.r.Resources(user)
	var direct []router.Resource
	if skipDirect {
		direct = s.r.Recipients(st)
	}
	var w *wrapperElements
	var from string
	for i := range rs {
		r := &rs[i]
		if !isEnabled(on, r) || r.JID.Equal(sending) || slices.ContainsFunc(direct, func(d router.Resource) bool { return d.JID.Equal(r.JID) && d.Target == r.Target }) {
			continue
		}
		if w == nil {
			w = newWrapper(wrapper, st)
			from = user.Localpart() + "@" + user.Domainpart() // one allocation, unlike String
		}
		// Never bounced, never stored: a resource that cannot take the
		// copy misses it (§10.3).
		r.Target.Deliver(newCarbon(w, from, user, r.JID, st.Type))
	}
}

// wrapperElements is the part of a copy that is the same for every
// resource: <sent/> or <received/> holding <forwarded/> holding the
// message. One allocation instead of four.
type wrapperElements struct {
	wrapper, forwarded   xml.Element
	wrapperC, forwardedC [1]xml.Node
}

func newWrapper(local string, st *stanza.Stanza) *wrapperElements {
	w := &wrapperElements{}
	w.forwardedC[0].El = st.El
	w.forwarded = xml.Element{Name: xml.Name{Space: stanza.NSForward, Local: "forwarded"}, Children: w.forwardedC[:]}
	w.wrapperC[0].El = &w.forwarded
	w.wrapper = xml.Element{Name: xml.Name{Space: NS, Local: local}, Children: w.wrapperC[:]}
	return w
}

// carbon is one copy: the stanza, its element and their slices in one
// allocation.
type carbon struct {
	st    stanza.Stanza
	el    xml.Element
	attr  [3]xml.Attr
	child [1]xml.Node
}

// newCarbon returns <message from='user' to='to' type='typ'>(w)</message>
// (§7, §8: from the account's bare JID, to the full JID of the resource,
// the type of the original).
func newCarbon(w *wrapperElements, user string, userJID, to jid.JID, typ string) *stanza.Stanza {
	c := &carbon{}
	c.attr[0] = xml.Attr{Name: xml.Name{Local: "from"}, Value: user}
	c.attr[1] = xml.Attr{Name: xml.Name{Local: "to"}, Value: to.Localpart() + "@" + to.Domainpart() + "/" + to.Resourcepart()}
	n := 2
	if typ != "" {
		c.attr[2] = xml.Attr{Name: xml.Name{Local: "type"}, Value: typ}
		n = 3
	}
	c.child[0].El = &w.wrapper
	c.el = xml.Element{
		Name:     xml.Name{Space: stanza.NSClient, Local: "message"},
		Attr:     c.attr[:n:n],
		Children: c.child[:],
	}
	c.st = stanza.Stanza{El: &c.el, Kind: stanza.KindMessage, Type: typ, To: to, From: userJID}
	return &c.st
}
