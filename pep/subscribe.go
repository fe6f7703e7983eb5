package pep

import (
	"context"
	"errors"
	"fmt"

	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// subscriber returns the jid attribute of a subscribe or unsubscribe
// request: it must be the requester's bare or full JID (XEP-0060 §6.1.3.1).
func subscriber(iq *stanza.Stanza, op *xml.Element) (jid.JID, error) {
	j, err := jid.Parse(op.AttrValue("jid"))
	if err != nil || !j.Bare().Equal(iq.From.Bare()) || (j.Resourcepart() != "" && !j.Equal(iq.From)) {
		return jid.JID{}, pubsubError(stanza.BadRequest, "invalid-jid", "subscribe your own bare or full JID")
	}
	if len(j.String()) > MaxNameLen {
		return jid.JID{}, stanza.NewError(stanza.NotAcceptable, "the JID is too long")
	}
	return j, nil
}

// subscriptionRequest checks a subscribe or unsubscribe request: the node
// exists and the requester may read it (else the same answers as for
// items), and it names the requester's JID. It returns the node, its
// configuration and the subscriber.
func (s *Service) subscriptionRequest(ctx context.Context, iq *stanza.Stanza, owner jid.JID, rel router.Relation, op *xml.Element, what string) (string, NodeConfig, jid.JID, error) {
	node, cfg, err := s.namedNode(ctx, owner, op, what)
	if err == nil {
		err = mayRead(rel, cfg)
	}
	if err != nil {
		return "", NodeConfig{}, jid.JID{}, err
	}
	j, err := subscriber(iq, op)
	return node, cfg, j, err
}

// subscription returns <subscription node='…' jid='…' subscription='subscribed'/>.
func subscription(node, j string) *xml.Element {
	return xml.NewElement(NS, "subscription", "node", node, "jid", j, "subscription", "subscribed")
}

// subscribe handles an explicit subscription (XEP-0060 §6.1) by anyone who
// may read the node; the subscriber gets the last published item unless
// the node says never (§6.1.7).
func (s *Service) subscribe(ctx context.Context, iq *stanza.Stanza, owner jid.JID, rel router.Relation, op *xml.Element) (*stanza.Stanza, error) {
	node, cfg, j, err := s.subscriptionRequest(ctx, iq, owner, rel, op, "subscribe")
	if err != nil {
		return nil, err
	}
	if err := s.store.Subscribe(ctx, owner.String(), node, j.String()); err != nil {
		return nil, storeErr("subscribe", err)
	}
	reply := iq.Result(xml.NewElement(NS, "pubsub").AddChild(subscription(node, j.String())))
	if cfg.SendLast == SendLastNever || !cfg.PersistItems {
		return reply, nil
	}
	items, err := s.store.Items(ctx, owner.String(), node, 1)
	if err != nil || len(items) == 0 {
		return reply, nil
	}
	it, err := itemElement(NSEvent, items[0])
	if err != nil {
		return reply, nil
	}
	s.r.Deliver(ctx, reply)
	event := xml.NewElement(NSEvent, "event").AddChild(itemsEvent(node, it))
	for _, res := range s.r.Resources(j) {
		if res.Available && (j.Resourcepart() == "" || res.JID.Equal(j)) {
			s.send(ctx, owner, res.JID, event)
		}
	}
	return nil, router.ErrAsync
}

// unsubscribe ends an explicit subscription (XEP-0060 §6.2).
func (s *Service) unsubscribe(ctx context.Context, iq *stanza.Stanza, owner jid.JID, rel router.Relation, op *xml.Element) (*stanza.Stanza, error) {
	node, _, j, err := s.subscriptionRequest(ctx, iq, owner, rel, op, "unsubscribe")
	if err != nil {
		return nil, err
	}
	err = s.store.Unsubscribe(ctx, owner.String(), node, j.String())
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, pubsubError(stanza.UnexpectedRequest, "not-subscribed", "")
	case err != nil:
		return nil, fmt.Errorf("pep: unsubscribe: %w", err)
	}
	return iq.Result(nil), nil
}

// subscriptions lists the requester's explicit subscriptions to the
// owner's nodes (XEP-0060 §5.6), those of its bare and of its full JID.
func (s *Service) subscriptions(ctx context.Context, iq *stanza.Stanza, owner jid.JID, op *xml.Element) (*stanza.Stanza, error) {
	jids := []string{iq.From.Bare().String()}
	if iq.From.Resourcepart() != "" {
		jids = append(jids, iq.From.String())
	}
	subs, err := s.store.Subscriptions(ctx, owner.String(), jids...)
	if err != nil {
		return nil, fmt.Errorf("pep: subscriptions: %w", err)
	}
	el := xml.NewElement(NS, "subscriptions")
	only := op.AttrValue("node")
	el.SetAttr("node", only)
	for _, sub := range subs {
		if only == "" || sub.Node == only {
			el.AddChild(subscription(sub.Node, sub.JID))
		}
	}
	return iq.Result(xml.NewElement(NS, "pubsub").AddChild(el)), nil
}
