package roster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// handleIQ answers jabber:iq:roster get and set (RFC 6121 §2). Only the
// account itself may use its roster (§2.1.5, §2.3.3: forbidden otherwise).
//
// Both branches deliver their result themselves, under the user's lock,
// and return router.ErrAsync: a result sent after the lock is released
// could arrive after a roster push for a later change, and a client would
// then overwrite the pushed change with the older snapshot.
func (s *Service) handleIQ(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	if iq.From.Localpart() == "" || !s.r.IsLocal(iq.From.Domainpart()) {
		return nil, stanza.NewError(stanza.Forbidden, "only local accounts have a roster")
	}
	user := iq.From.Bare()
	if iq.To.Domainpart() != "" && !iq.To.Equal(user) {
		return nil, stanza.NewError(stanza.Forbidden, "a roster belongs to its account only")
	}
	switch iq.Type {
	case stanza.TypeGet:
		return s.get(ctx, iq, user)
	case stanza.TypeSet:
		return s.set(ctx, iq, user)
	}
	return nil, stanza.NewError(stanza.BadRequest, "")
}

// get answers a roster get (RFC 6121 §2.2, §2.6). With a 'ver' the server
// knows and that is current, the answer is an empty result; with an older
// known 'ver' it is an empty result followed by a push for each change
// since, removals included (§2.6.3). Anything else gets the full roster.
func (s *Service) get(ctx context.Context, iq *stanza.Stanza, user jid.JID) (*stanza.Stanza, error) {
	// Interested first, so that a change made while we read is pushed
	// (after our result: pushes are sent under the same lock).
	s.r.SetInterested(iq.From)
	u := user.String()
	unlock := s.locks.Lock(u)
	defer unlock()

	if ver, ok := iq.Payload().LookupAttr("ver"); ok && ver != "" && !s.cfg.DisableVersioning {
		if since, err := strconv.ParseInt(ver, 10, 64); err == nil && since >= 0 {
			changes, cur, err := s.store.Changes(ctx, u, since)
			if err != nil {
				return nil, fmt.Errorf("roster: changes of %s: %w", u, err)
			}
			if since <= cur {
				s.r.Deliver(ctx, iq.Result(nil))
				if res, ok := s.r.Resource(iq.From); ok {
					for _, it := range changes {
						s.pushTo(res, it)
					}
				}
				return nil, router.ErrAsync
			}
			// A version from the future (another server, a reset
			// database): send everything.
		}
	}
	items, ver, err := s.store.Roster(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("roster: get %s: %w", u, err)
	}
	q := s.query(ver)
	for _, it := range items {
		q.AddChild(itemElement(it))
	}
	s.r.Deliver(ctx, iq.Result(q))
	return nil, router.ErrAsync
}

// set handles a roster set (RFC 6121 §2.3 add or update, §2.5 remove).
func (s *Service) set(ctx context.Context, iq *stanza.Stanza, user jid.JID) (*stanza.Stanza, error) {
	q := iq.Payload()
	items := q.ChildrenNamed(NS, "item")
	if len(items) != 1 || len(q.Elements()) != 1 {
		return nil, stanza.NewError(stanza.BadRequest, "a roster set must contain exactly one item")
	}
	el := items[0]
	v, ok := el.LookupAttr("jid")
	if !ok || v == "" {
		return nil, stanza.NewError(stanza.BadRequest, "the item has no 'jid'")
	}
	contact, err := jid.Parse(v)
	if err != nil || contact.Resourcepart() != "" {
		return nil, stanza.NewError(stanza.JIDMalformed, "the item's 'jid' must be a valid bare JID")
	}
	// §2.1.2.5: in a roster set the server ignores every 'subscription'
	// value other than "remove"; 'ask' is likewise not the client's to set
	// (§2.1.2.2).
	if el.AttrValue("subscription") == "remove" {
		return s.remove(ctx, iq, user, contact)
	}
	if contact.Equal(user) {
		return nil, stanza.NewError(stanza.NotAllowed, "the account's own JID cannot be a roster item")
	}
	it := Item{Contact: contact.String(), Name: el.AttrValue("name")}
	if len(it.Name) > MaxTextLen {
		return nil, stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("the item name is longer than %d bytes", MaxTextLen))
	}
	for _, g := range el.ChildrenNamed(NS, "group") {
		name := g.Text()
		switch {
		case name == "":
			return nil, stanza.NewError(stanza.BadRequest, "empty group name")
		case len(name) > MaxTextLen:
			return nil, stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("a group name is longer than %d bytes", MaxTextLen))
		case slices.Contains(it.Groups, name):
			return nil, stanza.NewError(stanza.BadRequest, "duplicate group "+strconv.Quote(name))
		}
		it.Groups = append(it.Groups, name)
	}
	slices.Sort(it.Groups)

	u := user.String()
	unlock := s.locks.Lock(u)
	defer unlock()
	old, exists, err := s.item(ctx, u, it.Contact)
	if err != nil {
		return nil, err
	}
	if exists {
		// Only the name and the groups are the client's to change.
		it.Subscription, it.Ask = old.Subscription, old.Ask
	} else {
		it.Subscription = SubNone
		if err := s.checkRoom(ctx, u); err != nil {
			return nil, err
		}
	}
	if it.Version, err = s.store.Put(ctx, u, it); err != nil {
		return nil, fmt.Errorf("roster: put %s in %s: %w", it.Contact, u, err)
	}
	s.push(user, it)
	s.r.Deliver(ctx, iq.Result(nil))
	return nil, router.ErrAsync
}

// remove deletes an item (RFC 6121 §2.5). The contact is told what ends
// with it (§2.5.2): 'unsubscribe' if the user was subscribed to it or had
// asked to be, 'unsubscribed' if it was subscribed to the user or had
// asked to be, and then unavailable presence if it was receiving the user's.
func (s *Service) remove(ctx context.Context, iq *stanza.Stanza, user, contact jid.JID) (*stanza.Stanza, error) {
	u, c := user.String(), contact.String()
	unlock := s.locks.Lock(u)
	it, exists, err := s.item(ctx, u, c)
	if err != nil {
		unlock()
		return nil, err
	}
	if !exists {
		unlock()
		return nil, stanza.NewError(stanza.ItemNotFound, "no such roster item")
	}
	in, err := s.pendingIn(ctx, u, c)
	if err != nil {
		unlock()
		return nil, err
	}
	ver, err := s.store.Delete(ctx, u, c)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("roster: delete %s from %s: %w", c, u, err)
	}
	if in {
		if err := s.store.RemovePending(ctx, u, c); err != nil {
			s.log.Error("removing a pending subscription request failed", "user", u, "contact", c, "err", err)
		}
	}
	s.push(user, Item{Contact: c, Version: ver, Removed: true})
	s.r.Deliver(ctx, iq.Result(nil))
	unlock()

	st := stateOf(it, in)
	if st.to || st.out {
		s.forward(ctx, stanza.Build(stanza.KindPresence, stanza.TypeUnsubscribe, "", user, contact))
	}
	if st.from || st.in {
		s.forward(ctx, stanza.Build(stanza.KindPresence, stanza.TypeUnsubscribed, "", user, contact))
	}
	if st.from {
		s.sendUnavailable(ctx, user, contact)
	}
	return nil, router.ErrAsync
}

// item returns user's item for contact and whether it exists.
func (s *Service) item(ctx context.Context, user, contact string) (Item, bool, error) {
	it, err := s.store.Item(ctx, user, contact)
	switch {
	case err == nil:
		return it, true, nil
	case errors.Is(err, ErrNotFound):
		return Item{Contact: contact, Subscription: SubNone}, false, nil
	}
	return Item{}, false, fmt.Errorf("roster: item %s of %s: %w", contact, user, err)
}

// pendingIn reports whether contact has an unanswered subscription request
// to user.
func (s *Service) pendingIn(ctx context.Context, user, contact string) (bool, error) {
	ps, err := s.store.PendingRequests(ctx, user)
	if err != nil {
		return false, fmt.Errorf("roster: pending requests of %s: %w", user, err)
	}
	for _, p := range ps {
		if p.Contact == contact {
			return true, nil
		}
	}
	return false, nil
}

// checkRoom fails with not-allowed if user's roster cannot take another
// item (RFC 6121 §2.3.3).
func (s *Service) checkRoom(ctx context.Context, user string) error {
	if s.cfg.MaxItems < 0 {
		return nil
	}
	n, err := s.store.Count(ctx, user)
	if err != nil {
		return fmt.Errorf("roster: count %s: %w", user, err)
	}
	if n >= s.cfg.MaxItems {
		return stanza.NewError(stanza.NotAllowed, fmt.Sprintf("the roster is full (at most %d items)", s.cfg.MaxItems))
	}
	return nil
}
