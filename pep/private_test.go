package pep_test

import (
	"strings"
	"testing"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/pep"
	"dormouse.im/dormouse/stanza"
)

func privateIQ(typ, inner string) string {
	return `<iq type='` + typ + `' id='pr'><query xmlns='jabber:iq:private'>` + inner + `</query></iq>`
}

func TestPrivateXMLStorage(t *testing.T) {
	e := newEnv(t, pep.Config{})
	e.Bind(alice)
	e.Bind(bob)
	// XEP-0049 §2.3: nothing stored yet: the empty element back.
	routertest.WantXML(t, e.IQ(alice, privateIQ("get", `<exodus xmlns='exodus:prefs'/>`)),
		`<iq type='result' id='pr' to='alice@example.org/phone'><query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'/></query></iq>`)
	prefs := `<exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus>`
	routertest.WantXML(t, e.IQ(alice, privateIQ("set", prefs)), `<iq type='result' id='pr' to='alice@example.org/phone'/>`)
	routertest.WantXML(t, e.IQ(alice, privateIQ("get", `<exodus xmlns='exodus:prefs'/>`)),
		`<iq type='result' id='pr' to='alice@example.org/phone'><query xmlns='jabber:iq:private'>`+prefs+`</query></iq>`)

	for i, tc := range []struct {
		from, iq string
		cond     stanza.Condition
	}{
		0: {bob, strings.Replace(privateIQ("get", `<exodus xmlns='exodus:prefs'/>`), "<iq ", "<iq to='alice@example.org' ", 1), stanza.Forbidden},
		1: {bob, strings.Replace(privateIQ("set", prefs), "<iq ", "<iq to='alice@example.org' ", 1), stanza.Forbidden},
		2: {alice, privateIQ("get", ``), stanza.BadRequest},
		3: {alice, privateIQ("get", `<a xmlns='a'/><b xmlns='b'/>`), stanza.BadRequest},
		4: {alice, privateIQ("set", `<query xmlns='jabber:iq:roster'/>`), stanza.NotAcceptable},
		5: {alice, privateIQ("get", `<x xmlns='jabber:client'/>`), stanza.NotAcceptable},
		6: {alice, privateIQ("set", `<storage xmlns='storage:bookmarks'><conference jid='not a jid@@'/></storage>`), stanza.BadRequest},
	} {
		t.Run("", func(t *testing.T) {
			_ = i
			wantError(t, e.IQ(tc.from, tc.iq), tc.cond, "")
		})
	}
}

// TestBookmarksCompat: a XEP-0048 client (private storage) and a XEP-0402
// client (PEP) see and change the same bookmarks (XEP-0402 §5.3), and the
// owner's resources get the events.
func TestBookmarksCompat(t *testing.T) {
	e := newEnv(t, pep.Config{})
	old := e.Bind(alice) // a XEP-0048 client
	modern, _ := e.online(t, "alice@example.org/laptop", 0, pep.NSBookmarks+"+notify")

	legacy := `<storage xmlns='storage:bookmarks'>
	<conference name='Council of Oberon' autojoin='true' jid='council@conference.underhill.lit'><nick>Puck</nick><password>Titania</password></conference>
	<conference name='The Play' jid='theplay@conference.shakespeare.lit'/>
	<url name='Complete Works of Shakespeare' url='http://the-tech.mit.edu/Shakespeare/'/></storage>`
	routertest.WantXML(t, e.IQ(alice, privateIQ("set", legacy)), `<iq type='result' id='pr' to='alice@example.org/phone'/>`)
	if got := old.Take(); len(got) != 0 {
		t.Errorf("the XEP-0048 client (no caps) got %v", got)
	}
	evs := modern.Take()
	if len(evs) != 2 {
		t.Fatalf("the XEP-0402 client got %d events, want 2: %v", len(evs), evs)
	}
	routertest.WantXML(t, evs[0], `<message type='headline' from='alice@example.org' to='alice@example.org/laptop'><event xmlns='http://jabber.org/protocol/pubsub#event'>
	<items node='urn:xmpp:bookmarks:1'><item id='council@conference.underhill.lit'>
	<conference xmlns='urn:xmpp:bookmarks:1' name='Council of Oberon' autojoin='true'><nick>Puck</nick><password>Titania</password></conference></item></items></event></message>`)

	// The XEP-0402 client reads them, and adds one with extensions.
	r := e.IQ("alice@example.org/laptop", `<iq type='get' id='g'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'/></pubsub></iq>`)
	routertest.WantXML(t, r, `<iq type='result' id='g' to='alice@example.org/laptop'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'>
	<item id='council@conference.underhill.lit'><conference xmlns='urn:xmpp:bookmarks:1' name='Council of Oberon' autojoin='true'><nick>Puck</nick><password>Titania</password></conference></item>
	<item id='theplay@conference.shakespeare.lit'><conference xmlns='urn:xmpp:bookmarks:1' name='The Play'/></item></items></pubsub></iq>`)
	e.Send("alice@example.org/laptop", publishIQ("p", pep.NSBookmarks, "orchard@conference.shakespeare.lit",
		`<conference xmlns='urn:xmpp:bookmarks:1' name='Orchard'><extensions><state xmlns='http://myclient.example/bookmark/state' minimized='true'/></extensions></conference>`,
		conversationsBookmarks))
	if got := modern.Take(); len(got) != 2 || got[0].Type != stanza.TypeResult {
		t.Fatalf("XEP-0402 publish: %v", got)
	}

	// The XEP-0048 client sees all three and the url.
	routertest.WantXML(t, e.IQ(alice, privateIQ("get", `<storage xmlns='storage:bookmarks'/>`)), `<iq type='result' id='pr' to='alice@example.org/phone'><query xmlns='jabber:iq:private'>
	<storage xmlns='storage:bookmarks'><url name='Complete Works of Shakespeare' url='http://the-tech.mit.edu/Shakespeare/'/>
	<conference jid='council@conference.underhill.lit' name='Council of Oberon' autojoin='true'><nick>Puck</nick><password>Titania</password></conference>
	<conference jid='theplay@conference.shakespeare.lit' name='The Play'/>
	<conference jid='orchard@conference.shakespeare.lit' name='Orchard'/></storage></query></iq>`)

	// It removes The Play and renames the orchard: one retraction, one
	// publication keeping the extensions, nothing for the unchanged one.
	legacy2 := `<storage xmlns='storage:bookmarks'>
	<conference name='Council of Oberon' autojoin='true' jid='council@conference.underhill.lit'><nick>Puck</nick><password>Titania</password></conference>
	<conference name='The Orchard' jid='orchard@conference.shakespeare.lit'/></storage>`
	wantResult(t, e.IQ(alice, privateIQ("set", legacy2)), "second legacy set")
	evs = modern.Take()
	if len(evs) != 2 {
		t.Fatalf("the XEP-0402 client got %d events, want 2: %v", len(evs), evs)
	}
	routertest.WantXML(t, evs[0], `<message type='headline' from='alice@example.org' to='alice@example.org/laptop'><event xmlns='http://jabber.org/protocol/pubsub#event'>
	<items node='urn:xmpp:bookmarks:1'><item id='orchard@conference.shakespeare.lit'><conference xmlns='urn:xmpp:bookmarks:1' name='The Orchard'><extensions><state xmlns='http://myclient.example/bookmark/state' minimized='true'/></extensions></conference></item></items></event></message>`)
	routertest.WantXML(t, evs[1], `<message type='headline' from='alice@example.org' to='alice@example.org/laptop'><event xmlns='http://jabber.org/protocol/pubsub#event'>
	<items node='urn:xmpp:bookmarks:1'><retract id='theplay@conference.shakespeare.lit'/></items></event></message>`)
	// The url went with the new storage (it had none).
	r = e.IQ(alice, privateIQ("get", `<storage xmlns='storage:bookmarks'/>`))
	if strings.Contains(r.String(), "<url") || strings.Count(r.String(), "<conference") != 2 {
		t.Errorf("legacy bookmarks after the second set: %s", r)
	}
	// The node was created with the XEP-0402 configuration.
	cfg, err := e.store.Node(e.Ctx, "alice@example.org", pep.NSBookmarks)
	if err != nil || cfg.Access != pep.AccessWhitelist || cfg.MaxItems != 0 {
		t.Errorf("bookmarks node: %+v %v", cfg, err)
	}
}
