package pep

import (
	"context"
	"slices"
	"strings"

	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// retractEvent returns the <items/> event of a retraction.
func retractEvent(node, id string) *xml.Element {
	return itemsEvent(node, xml.NewElement(NSEvent, "retract", "id", id))
}

// itemsEvent returns <items node='…'>child</items> for an event.
func itemsEvent(node string, child *xml.Element) *xml.Element {
	return xml.NewElement(NSEvent, "items", "node", node).AddChild(child)
}

// notify sends an event about a node of owner (XEP-0163 §4.3) to every
// available resource that may read the node and either asked for it in its
// XEP-0115 entity capabilities (NODE+notify) or subscribed explicitly
// (XEP-0060 §6.1; a bare JID subscription covers every available resource):
// the owner's own resources and, unless the node is whitelisted, those of
// the contacts subscribed to the owner's presence, and, for an open node,
// of anyone subscribed. The <event/> element is shared by the messages
// (stanzas are read-only once routed).
func (s *Service) notify(ctx context.Context, owner jid.JID, ev event) {
	event := xml.NewElement(NSEvent, "event").AddChild(ev.el)
	for _, full := range s.recipients(ctx, owner, ev) {
		s.send(ctx, owner, full, event)
	}
}

// recipients returns the resources a notification goes to, each once.
func (s *Service) recipients(ctx context.Context, owner jid.JID, ev event) []jid.JID {
	var out []jid.JID
	interested := func(user jid.JID) {
		for _, res := range s.r.Resources(user) {
			if res.Available && s.wants(res, ev.node) {
				out = append(out, res.JID)
			}
		}
	}
	interested(owner)
	var contacts []jid.JID
	if ev.cfg.Access != AccessWhitelist {
		var err error
		if contacts, err = s.roster.Subscribers(ctx, owner); err != nil {
			s.log.Error("loading subscribers failed", "user", owner.String(), "err", err)
		}
		for _, c := range contacts {
			if s.r.IsLocal(c.Domainpart()) {
				interested(c)
			}
		}
	}
	if len(ev.subs) == 0 {
		return out
	}
	// Explicit subscribers, unless notified already for their caps.
	seen := make(map[string]bool, len(out))
	for _, j := range out {
		seen[j.String()] = true
	}
	for _, sj := range ev.subs {
		j, err := jid.Parse(sj)
		if err != nil || !s.r.IsLocal(j.Domainpart()) {
			continue
		}
		// The subscriber must still be allowed to read the node.
		switch {
		case j.Bare().Equal(owner):
		case ev.cfg.Access == AccessOpen:
		case ev.cfg.Access == AccessPresence && slices.ContainsFunc(contacts, j.Bare().Equal):
		default:
			continue
		}
		for _, res := range s.r.Resources(j) {
			k := res.JID.String()
			if res.Available && !seen[k] && (j.Resourcepart() == "" || res.JID.Equal(j)) {
				seen[k] = true
				out = append(out, res.JID)
			}
		}
	}
	return out
}

// send delivers an event message from owner to a resource: a headline
// (XEP-0163 §4.3.3), which client state indication holds back and which
// no offline storage keeps.
func (s *Service) send(ctx context.Context, owner, full jid.JID, event *xml.Element) {
	msg := stanza.Build(stanza.KindMessage, stanza.TypeHeadline, "", owner, full)
	msg.El.AddChild(event)
	s.r.Deliver(ctx, msg)
}

// wants reports whether a resource's entity capabilities include
// node+notify (XEP-0163 §4.4). Capabilities not yet known are looked up in
// the background (and the resource gets the last published items once they
// are); until then the resource gets no events.
func (s *Service) wants(res router.Resource, node string) bool {
	c := capsOf(res, false)
	if c.ver == "" {
		return false
	}
	feats, ok := s.caps.get(c.ver)
	if !ok {
		s.resolve(res.JID, capsOf(res, true))
		return false
	}
	return feats[node+"+notify"]
}

// available runs when a resource sent initial presence: it gets the last
// published items it asks for (XEP-0163 §4.3.4, send_last_published_item
// on_sub_and_presence), once its capabilities are known.
func (s *Service) available(_ context.Context, full jid.JID) {
	s.goTrack(func(ctx context.Context) {
		res, ok := s.r.Resource(full)
		if !ok {
			return
		}
		c := capsOf(res, false)
		if c.ver == "" {
			return
		}
		feats, ok := s.caps.get(c.ver)
		if !ok {
			s.resolve(full, capsOf(res, true))
			return
		}
		s.sendLast(ctx, full, feats)
	})
}

// sendLast sends a resource of user the newest item of each node it asks
// for (feats holds its capabilities) and may read: of the user's own nodes
// and of those of the contacts the user is subscribed to.
func (s *Service) sendLast(ctx context.Context, full jid.JID, feats map[string]bool) {
	if res, ok := s.resource(full); !ok || !res.Available || !hasNotify(feats) {
		return
	}
	user := full.Bare()
	owners := []jid.JID{user}
	subs, err := s.roster.Subscriptions(ctx, user)
	if err != nil {
		s.log.Error("loading subscriptions failed", "user", user.String(), "err", err)
	}
	for _, c := range subs {
		if s.r.IsLocal(c.Domainpart()) && !c.Equal(user) {
			owners = append(owners, c)
		}
	}
	for _, o := range owners {
		last, err := s.store.LastItems(ctx, o.String())
		if err != nil {
			s.log.Error("loading last items failed", "user", o.String(), "err", err)
			continue
		}
		for _, ni := range last {
			if ni.Config.SendLast != SendLastOnSubAndPresence || !feats[ni.Name+"+notify"] {
				continue
			}
			if ni.Config.Access == AccessWhitelist && !o.Equal(user) {
				continue
			}
			it, err := itemElement(NSEvent, ni.Item)
			if err != nil {
				s.log.Error("stored item unreadable", "user", o.String(), "node", ni.Name, "err", err)
				continue
			}
			s.send(ctx, o, full, xml.NewElement(NSEvent, "event").AddChild(itemsEvent(ni.Name, it)))
		}
	}
}

// hasNotify reports whether feats asks for any node's notifications.
func hasNotify(feats map[string]bool) bool {
	for f := range feats {
		if strings.HasSuffix(f, "+notify") {
			return true
		}
	}
	return false
}

// resource returns the bound resource full: local, or on another node of
// a cluster (a publish here looked up its capabilities: once known, it
// gets the last items, the event it missed included).
func (s *Service) resource(full jid.JID) (router.Resource, bool) {
	if res, ok := s.r.Resource(full); ok {
		return res, true
	}
	for _, res := range s.r.Resources(full.Bare()) {
		if res.JID.Equal(full) {
			return res, true
		}
	}
	return router.Resource{}, false
}
