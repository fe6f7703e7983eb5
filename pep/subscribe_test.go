package pep_test

import (
	"strings"
	"testing"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/pep"
	"dormouse.im/dormouse/stanza"
)

func subscribeIQ(typ, op, node, j string) string {
	return `<iq type='set' id='s' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><` + op +
		` node='` + node + `' jid='` + j + `'/></pubsub></iq>`
}

// TestSubscribe: explicit subscriptions (XEP-0060 §6.1, §6.2, §5.6).
func TestSubscribe(t *testing.T) {
	e := newEnv(t, pep.Config{})
	const dl = "eu.siacs.conversations.axolotl.devicelist"
	a := e.Bind(alice)
	e.IQ(alice, omemoPublish)
	e.IQ(alice, bookmarkPublish)
	e.IQ(alice, `<iq type='set' id='n'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='http://jabber.org/protocol/nick'>
	<item><nick xmlns='http://jabber.org/protocol/nick'>Alice</nick></item></publish></pubsub></iq>`)

	// carol, a stranger without caps, subscribes her laptop to the open
	// device list: the result, then the last item.
	c := e.Online(carol, 0)
	e.Send(carol, subscribeIQ("set", "subscribe", dl, carol))
	got := c.Take()
	if len(got) != 2 {
		t.Fatalf("carol got %v, want the result and the last item", got)
	}
	routertest.WantXML(t, got[0], `<iq type='result' id='s' from='alice@example.org' to='carol@example.org/laptop'><pubsub xmlns='http://jabber.org/protocol/pubsub'>
	<subscription node='eu.siacs.conversations.axolotl.devicelist' jid='carol@example.org/laptop' subscription='subscribed'/></pubsub></iq>`)
	if got[1].Type != stanza.TypeHeadline || !strings.Contains(got[1].String(), "device id='1287134563'") {
		t.Errorf("last item: %s", got[1])
	}
	// A node closed to her looks missing; whitelisted is closed for bob.
	wantError(t, e.IQ(carol, subscribeIQ("set", "subscribe", "http://jabber.org/protocol/nick", carol)), stanza.ItemNotFound, "")
	e.Bind(bob)
	wantError(t, e.IQ(bob, subscribeIQ("set", "subscribe", "urn:xmpp:bookmarks:1", "bob@example.org")), stanza.NotAllowed, "closed-node")

	// A publication reaches her, caps or not.
	e.Send(alice, omemoPublish)
	a.Take()
	if got := c.Take(); len(got) != 1 || !strings.Contains(got[0].String(), "<items node='eu.siacs.conversations.axolotl.devicelist'>") {
		t.Errorf("carol got %v, want the event", got)
	}
	// Her subscriptions.
	routertest.WantXML(t, e.IQ(carol, `<iq type='get' id='l' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscriptions/></pubsub></iq>`),
		`<iq type='result' id='l' from='alice@example.org' to='carol@example.org/laptop'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscriptions>
		<subscription node='eu.siacs.conversations.axolotl.devicelist' jid='carol@example.org/laptop' subscription='subscribed'/></subscriptions></pubsub></iq>`)

	// bob subscribes his bare JID to the nick (presence access, he is a
	// contact): both his resources get events, once each, also the one
	// whose caps ask for it.
	b1, _ := e.online(t, "bob@example.org/tablet", 1, "http://jabber.org/protocol/nick+notify")
	b2 := e.Online(bob, 0)
	e.Send(bob, subscribeIQ("set", "subscribe", "http://jabber.org/protocol/nick", "bob@example.org"))
	if got := b2.Take(); len(got) != 2 {
		t.Fatalf("bob/phone got %v, want the result and the last item", got)
	}
	b1.Take() // the last item (bare JID subscription)
	e.Send(alice, `<iq type='set' id='n'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='http://jabber.org/protocol/nick'>
	<item><nick xmlns='http://jabber.org/protocol/nick'>Alice Liddell</nick></item></publish></pubsub></iq>`)
	a.Take()
	for _, r := range []*routertest.Recorder{b1, b2} {
		if got := r.Take(); len(got) != 1 || !strings.Contains(got[0].String(), "Alice Liddell") {
			t.Errorf("%s got %v, want one event", r.JID, got)
		}
	}
	if got := c.Take(); len(got) != 0 {
		t.Errorf("carol got %v from a node closed to her", got)
	}

	// Unsubscribed: nothing more.
	wantResult(t, e.IQ(carol, subscribeIQ("set", "unsubscribe", dl, carol)), "unsubscribe")
	e.Send(alice, omemoPublish)
	if got := c.Take(); len(got) != 0 {
		t.Errorf("carol got %v after unsubscribing", got)
	}
	wantError(t, e.IQ(carol, subscribeIQ("set", "unsubscribe", dl, carol)), stanza.UnexpectedRequest, "not-subscribed")
}
