package roster

import (
	"context"
	"fmt"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// handleSubscription processes a presence stanza of type subscribe,
// subscribed, unsubscribe or unsubscribed routed by a local entity (RFC
// 6121 §3). A local user's stanza first goes through outbound processing
// for the user; if the state tables say it is routed, a local contact then
// gets inbound processing in the same call, and a contact elsewhere gets
// the stanza through the router (a component), or the sender gets
// remote-server-not-found. A component's stanza to a local user gets only
// inbound processing.
func (s *Service) handleSubscription(ctx context.Context, p *stanza.Stanza) error {
	if p.To.Domainpart() == "" {
		return nil // a subscription stanza needs a contact: nothing to do
	}
	// §3.1.3: a full JID as the contact is treated as the bare JID.
	contact := p.To.Bare()
	user := p.From.Bare()
	if user.Equal(contact) {
		return nil // no subscription to oneself
	}
	var (
		cur, next state
		route     = true
	)
	localUser := p.From.Localpart() != "" && s.r.IsLocal(p.From.Domainpart())
	if localUser {
		var err error
		if cur, next, route, err = s.outbound(ctx, user, contact, p.Type); err != nil {
			return err
		}
	}
	if !route {
		return nil
	}
	// §3.1.2 and the like: the stanza leaves with the user's bare JID as
	// 'from' and the contact's bare JID as 'to'.
	out := p.Copy()
	out.SetFrom(user)
	out.SetTo(contact)
	switch {
	case s.r.IsLocal(contact.Domainpart()):
		if contact.Localpart() != "" {
			if err := s.inbound(ctx, out); err != nil {
				return err
			}
		}
	case s.r.Send(ctx, out) == 0:
		s.r.Bounce(ctx, p, stanza.NewError(stanza.RemoteServerNotFound, "the remote domain cannot be reached"))
	}
	if !localUser {
		return nil
	}
	switch {
	case p.Type == stanza.TypeSubscribed && next.from && !cur.from:
		// §3.1.5: the contact (this user) now shares its presence.
		s.sendPresence(ctx, user, contact)
	case p.Type == stanza.TypeUnsubscribed && cur.from && !next.from:
		// §3.2.2: and stops sharing it.
		s.sendUnavailable(ctx, user, contact)
	}
	return nil
}

// outbound applies a subscription stanza of type typ from user to contact
// to user's roster (Appendix A.2) and reports whether it is routed.
func (s *Service) outbound(ctx context.Context, user, contact jid.JID, typ string) (cur, next state, route bool, err error) {
	u, c := user.String(), contact.String()
	unlock := s.locks.Lock(u)
	defer unlock()
	it, exists, err := s.item(ctx, u, c)
	if err != nil {
		return cur, cur, false, err
	}
	in, err := s.pendingIn(ctx, u, c)
	if err != nil {
		return cur, cur, false, err
	}
	cur = stateOf(it, in)
	next, route = outbound(typ, cur)
	if next == cur {
		return cur, next, route, nil
	}
	if !exists && (next.to || next.from || next.out) {
		if err := s.checkRoom(ctx, u); err != nil {
			return cur, cur, false, err
		}
	}
	if err := s.apply(ctx, user, it, cur, next, nil); err != nil {
		return cur, cur, false, err
	}
	return cur, next, route, nil
}

// inbound applies a subscription stanza from a contact (st.From, a bare
// JID) to a local user (st.To, a bare JID) on the user's side (Appendix
// A.3), and delivers it to the user's resources if the tables say so.
func (s *Service) inbound(ctx context.Context, st *stanza.Stanza) error {
	user, contact := st.To.Bare(), st.From.Bare()
	exists, err := s.accountExists(ctx, user)
	if err != nil {
		return err
	}
	if !exists {
		// RFC 6121 §8.5.1: a request to no one is answered with
		// 'unsubscribed' (unless the router hides which accounts exist:
		// then it waits unanswered, as a request to an offline account
		// does); other subscription stanzas are ignored.
		if st.Type == stanza.TypeSubscribe && !s.r.HidesAccounts() {
			s.forward(ctx, stanza.Build(stanza.KindPresence, stanza.TypeUnsubscribed, "", user, contact))
		}
		return nil
	}
	var req []byte
	if st.Type == stanza.TypeSubscribe {
		req = st.AppendXML(nil, stanza.NSClient)
	}
	u, c := user.String(), contact.String()
	unlock := s.locks.Lock(u)
	it, _, err := s.item(ctx, u, c)
	if err != nil {
		unlock()
		return err
	}
	in, err := s.pendingIn(ctx, u, c)
	if err != nil {
		unlock()
		return err
	}
	cur := stateOf(it, in)
	res := inbound(st.Type, cur)
	if res.next != cur {
		if err := s.apply(ctx, user, it, cur, res.next, req); err != nil {
			unlock()
			return err
		}
	}
	unlock()

	if res.deliver {
		// To every available resource (and the interested ones: the
		// router's RFC 6121 §8.5.2.1 rules for subscription stanzas). A
		// request the user cannot see now waits in the store and is
		// delivered at the next initial presence (deliverPending).
		s.r.Send(ctx, st)
	}
	if res.approve {
		// A.3.1: the contact is already subscribed: approve on the
		// user's behalf, and send the user's presence as the approval
		// would.
		s.forward(ctx, stanza.Build(stanza.KindPresence, stanza.TypeSubscribed, "", user, contact))
		s.sendPresence(ctx, user, contact)
	}
	if st.Type == stanza.TypeUnsubscribe && cur.from && !res.next.from {
		// §3.3.3: the contact no longer receives the user's presence.
		s.sendUnavailable(ctx, user, contact)
	}
	return nil
}

// apply stores the change from cur to next for it (user's item for a
// contact; it need not exist yet) and pushes the item if it changed. req
// is the request to keep when Pending In starts. Callers hold user's lock.
func (s *Service) apply(ctx context.Context, user jid.JID, it Item, cur, next state, req []byte) error {
	u := user.String()
	if next.in != cur.in {
		var err error
		if next.in {
			err = s.store.AddPending(ctx, u, Pending{Contact: it.Contact, Stanza: req})
		} else {
			err = s.store.RemovePending(ctx, u, it.Contact)
		}
		if err != nil {
			return fmt.Errorf("roster: pending request of %s for %s: %w", it.Contact, u, err)
		}
	}
	if next.subscription() == cur.subscription() && next.out == cur.out {
		return nil
	}
	it.Subscription, it.Ask = next.subscription(), next.out
	ver, err := s.store.Put(ctx, u, it)
	if err != nil {
		return fmt.Errorf("roster: put %s in %s: %w", it.Contact, u, err)
	}
	it.Version = ver
	s.push(user, it)
	return nil
}

// forward sends a subscription stanza the server generates on a user's
// behalf: inbound processing for a local contact, the router for others
// (a component; nothing happens for a domain nobody serves).
func (s *Service) forward(ctx context.Context, st *stanza.Stanza) {
	to := st.To
	if !s.r.IsLocal(to.Domainpart()) {
		s.r.Send(ctx, st)
		return
	}
	if to.Localpart() == "" {
		return
	}
	if err := s.inbound(ctx, st); err != nil {
		s.log.Error("subscription processing failed", "stanza", st.Describe(),
			"from", st.From.String(), "to", to.String(), "err", err)
	}
}

// sendPresence sends the current presence of each of user's available
// resources to contact (RFC 6121 §3.1.5).
func (s *Service) sendPresence(ctx context.Context, user, contact jid.JID) {
	for _, res := range s.r.Resources(user) {
		if !res.Available {
			continue
		}
		if p := res.LastPresence(contact); p != nil {
			s.r.Send(ctx, p)
		}
	}
}

// sendUnavailable sends unavailable presence from each of user's available
// resources to contact (RFC 6121 §3.2.2, §3.3.3).
func (s *Service) sendUnavailable(ctx context.Context, user, contact jid.JID) {
	for _, res := range s.r.Resources(user) {
		if res.Available {
			s.r.Send(ctx, stanza.Build(stanza.KindPresence, stanza.TypeUnavailable, "", res.JID, contact))
		}
	}
}

// deliverPending delivers the unanswered subscription requests to a
// resource that just sent initial presence (RFC 6121 §3.1.3: until the
// user approves or denies a request, it is presented at every login).
func (s *Service) deliverPending(ctx context.Context, full jid.JID) {
	u := full.Bare().String()
	ps, err := s.store.PendingRequests(ctx, u)
	if err != nil {
		s.log.Error("loading pending subscription requests failed", "user", u, "err", err)
		return
	}
	if len(ps) == 0 {
		return
	}
	res, ok := s.r.Resource(full)
	if !ok {
		return
	}
	for _, p := range ps {
		el, err := xml.Parse(p.Stanza, stanza.NSClient)
		var st *stanza.Stanza
		if err == nil {
			st, err = stanza.New(el)
		}
		if err != nil {
			s.log.Error("stored subscription request is invalid", "user", u, "contact", p.Contact, "err", err)
			continue
		}
		if !res.Target.Deliver(st) {
			return
		}
	}
}

func (s *Service) accountExists(ctx context.Context, user jid.JID) (bool, error) {
	if s.cfg.Accounts == nil {
		return true, nil
	}
	ok, err := s.cfg.Accounts.AccountExists(ctx, user)
	if err != nil {
		return false, fmt.Errorf("roster: account %s: %w", user.String(), err)
	}
	return ok, nil
}
