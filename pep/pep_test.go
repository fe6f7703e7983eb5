package pep_test

import (
	"strings"
	"testing"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/pep"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

const (
	alice = "alice@example.org/phone"
	bob   = "bob@example.org/phone"
	carol = "carol@example.org/laptop"
	dave  = "dave@example.org/desk"
)

// Conversations' OMEMO device list publication (eu.siacs.conversations,
// IqGenerator.publishDeviceIds with PublishOptions.openAccess()).
const omemoPublish = `<iq type='set' id='omemo1'>
<pubsub xmlns='http://jabber.org/protocol/pubsub'>
<publish node='eu.siacs.conversations.axolotl.devicelist'>
<item id='current'><list xmlns='eu.siacs.conversations.axolotl'><device id='1287134563'/></list></item>
</publish>
<publish-options><x xmlns='jabber:x:data' type='submit'>
<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>
<field var='pubsub#access_model'><value>open</value></field>
</x></publish-options>
</pubsub></iq>`

// A XEP-0402 bookmark as in its example 3 (with the options of §3.3, as
// Gajim and Dino send them).
const bookmarkPublish = `<iq type='set' id='bm1'>
<pubsub xmlns='http://jabber.org/protocol/pubsub'>
<publish node='urn:xmpp:bookmarks:1'>
<item id='theplay@conference.shakespeare.lit'>
<conference xmlns='urn:xmpp:bookmarks:1' name='The Play&apos;s the Thing' autojoin='true'><nick>JC</nick></conference>
</item>
</publish>
<publish-options><x xmlns='jabber:x:data' type='submit'>
<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>
<field var='pubsub#persist_items'><value>true</value></field>
<field var='pubsub#max_items'><value>max</value></field>
<field var='pubsub#send_last_published_item'><value>never</value></field>
<field var='pubsub#access_model'><value>whitelist</value></field>
</x></publish-options>
</pubsub></iq>`

func getItems(node, extra string) string {
	return `<iq type='get' id='g' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='` +
		node + `'` + extra + `</pubsub></iq>`
}

func TestPublishAutoCreateAndRetrieve(t *testing.T) {
	e := newEnv(t, pep.Config{})
	e.Bind(alice)
	e.Bind(bob)
	e.Bind(carol)

	routertest.WantXML(t, e.IQ(alice, omemoPublish), `<iq type='result' id='omemo1' to='alice@example.org/phone'>
	<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='eu.siacs.conversations.axolotl.devicelist'><item id='current'/></publish></pubsub></iq>`)

	want := `<iq type='result' id='g' from='alice@example.org' to='%s'><pubsub xmlns='http://jabber.org/protocol/pubsub'>
	<items node='eu.siacs.conversations.axolotl.devicelist'><item id='current'><list xmlns='eu.siacs.conversations.axolotl'><device id='1287134563'/></list></item></items></pubsub></iq>`
	// An open node: the owner, a contact and a stranger read it.
	for _, who := range []string{alice, bob, carol} {
		routertest.WantXML(t, e.IQ(who, getItems("eu.siacs.conversations.axolotl.devicelist", "/>")), strings.ReplaceAll(want, "%s", who))
	}
	// The node is open: the same options publish again.
	if r := e.IQ(alice, omemoPublish); r.Type != stanza.TypeResult {
		t.Errorf("publishing again with the same options: %s", r)
	}
	// Other options do not.
	conflicting := strings.Replace(omemoPublish, "<value>open</value>", "<value>presence</value>", 1)
	wantError(t, e.IQ(alice, conflicting), stanza.Conflict, "precondition-not-met")
	// An option the service does not implement is a precondition not met.
	unknown := strings.Replace(omemoPublish, "pubsub#access_model'><value>open", "pubsub#title'><value>T", 1)
	wantError(t, e.IQ(alice, unknown), stanza.Conflict, "precondition-not-met")
}

func TestAccessModels(t *testing.T) {
	e := newEnv(t, pep.Config{})
	e.Bind(alice)
	e.Bind(bob)
	e.Bind(carol)
	e.IQ(alice, bookmarkPublish)
	e.IQ(alice, `<iq type='set' id='n'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='http://jabber.org/protocol/nick'>
	<item><nick xmlns='http://jabber.org/protocol/nick'>Alice</nick></item></publish></pubsub></iq>`)

	// Whitelist: only the owner; a contact is told the node is closed,
	// a stranger that it does not exist.
	r := e.IQ(alice, getItems("urn:xmpp:bookmarks:1", "/>"))
	if r.Type != stanza.TypeResult || !strings.Contains(r.String(), "theplay@conference.shakespeare.lit") {
		t.Errorf("owner's bookmarks: %s", r)
	}
	wantError(t, e.IQ(bob, getItems("urn:xmpp:bookmarks:1", "/>")), stanza.NotAllowed, "closed-node")
	wantError(t, e.IQ(carol, getItems("urn:xmpp:bookmarks:1", "/>")), stanza.ItemNotFound, "")

	// Presence (the default): the owner and contacts.
	for _, who := range []string{alice, bob} {
		if r := e.IQ(who, getItems("http://jabber.org/protocol/nick", "/>")); r.Type != stanza.TypeResult || !strings.Contains(r.String(), ">Alice<") {
			t.Errorf("%s reading the nick: %s", who, r)
		}
	}
	strangerMissing := e.IQ(carol, getItems("http://jabber.org/protocol/nick", "/>"))
	wantError(t, strangerMissing, stanza.ItemNotFound, "")
	// The same answer as for a node that does not exist.
	missing := e.IQ(carol, getItems("urn:xmpp:avatar:metadata", "/>"))
	wantError(t, missing, stanza.ItemNotFound, "")
	if strangerMissing.String() != strings.Replace(missing.String(), "urn:xmpp:avatar:metadata", "http://jabber.org/protocol/nick", 1) {
		t.Errorf("a closed node and a missing one answer differently:\n%s\n%s", strangerMissing, missing)
	}
	// Only the owner publishes.
	wantError(t, e.IQ(bob, strings.Replace(bookmarkPublish, "<iq ", "<iq to='alice@example.org' ", 1)), stanza.Forbidden, "")
}

func TestItemsRetrieval(t *testing.T) {
	e := newEnv(t, pep.Config{})
	e.Bind(alice)
	opts := `<publish-options><x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>3</value></field></x></publish-options>`
	for _, id := range []string{"1", "2", "3", "4"} {
		r := e.IQ(alice, `<iq type='set' id='p'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:microblog:0'><item id='`+id+`'><entry xmlns='http://www.w3.org/2005/Atom'>`+id+`</entry></item></publish>`+opts+`</pubsub></iq>`)
		if r.Type != stanza.TypeResult {
			t.Fatalf("publish %s: %s", id, r)
		}
	}
	ids := func(r *stanza.Stanza) string {
		t.Helper()
		if r.Type != stanza.TypeResult {
			t.Fatalf("items: %s", r)
		}
		var out []string
		for _, it := range r.Payload().Child(pep.NS, "items").ChildrenNamed(pep.NS, "item") {
			out = append(out, it.AttrValue("id"))
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct{ extra, want string }{
		{"/>", "2,3,4"},
		{" max_items='2'/>", "3,4"},
		{" max_items='10'/>", "2,3,4"},
		{"><item id='4'/><item id='1'/><item id='2'/></items>", "2,4"},
	} {
		if got := ids(e.IQ(alice, strings.Replace(getItems("urn:xmpp:microblog:0", tc.extra), " to='alice@example.org'", "", 1))); got != tc.want {
			t.Errorf("items%s = %s, want %s", tc.extra, got, tc.want)
		}
	}
	wantError(t, e.IQ(alice, getItems("urn:xmpp:microblog:0", " max_items='0'/>")), stanza.BadRequest, "")
	wantError(t, e.IQ(alice, getItems("urn:xmpp:microblog:0", " max_items='x'/>")), stanza.BadRequest, "")
	wantError(t, e.IQ(alice, getItems("nope", "/>")), stanza.ItemNotFound, "")
}

func TestErrors(t *testing.T) {
	e := newEnv(t, pep.Config{MaxPayloadSize: 100, MaxNodes: 2})
	e.Bind(alice)
	e.Bind(bob)
	ps := func(typ, body string) string {
		return `<iq type='` + typ + `' id='x'><pubsub xmlns='http://jabber.org/protocol/pubsub'>` + body + `</pubsub></iq>`
	}
	own := func(typ, body string) string {
		return `<iq type='` + typ + `' id='x' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'>` + body + `</pubsub></iq>`
	}
	e.IQ(alice, ps("set", `<publish node='a'><item id='1'><x xmlns='y'/></item></publish>`))
	for i, tc := range []struct {
		from, iq string
		cond     stanza.Condition
		app      string
	}{
		0:  {alice, ps("set", `<publish><item><x xmlns='y'/></item></publish>`), stanza.BadRequest, "nodeid-required"},
		1:  {alice, ps("set", `<publish node='a'/>`), stanza.BadRequest, "item-required"},
		2:  {alice, ps("set", `<publish node='a'><item/></publish>`), stanza.BadRequest, "payload-required"},
		3:  {alice, ps("set", `<publish node='a'><item><x xmlns='y'/><z xmlns='y'/></item></publish>`), stanza.BadRequest, "invalid-payload"},
		4:  {alice, ps("set", `<publish node='a'><item><x xmlns='y'>`+strings.Repeat("z", 100)+`</x></item></publish>`), stanza.NotAcceptable, "payload-too-big"},
		5:  {alice, ps("set", `<subscribe node='a' jid='bob@example.org'/>`), stanza.BadRequest, "invalid-jid"},
		6:  {alice, ps("set", `<subscribe node='a' jid='alice@example.org'/><options><x xmlns='jabber:x:data' type='submit'/></options>`), stanza.FeatureNotImplemented, "unsupported subscription-options"},
		7:  {alice, ps("get", `<publish node='a'><item><x xmlns='y'/></item></publish>`), stanza.BadRequest, ""},
		8:  {alice, ps("set", `<retract node='a'><item id='nope'/></retract>`), stanza.ItemNotFound, ""},
		9:  {alice, ps("set", `<retract node='nope'><item id='1'/></retract>`), stanza.ItemNotFound, ""},
		10: {alice, ps("set", `<retract node='a'/>`), stanza.BadRequest, "item-required"},
		11: {bob, own("set", `<delete node='a'/>`), stanza.Forbidden, ""},
		12: {bob, own("get", `<configure node='a'/>`), stanza.Forbidden, ""},
		13: {alice, own("set", `<delete node='nope'/>`), stanza.ItemNotFound, ""},
		14: {alice, own("set", `<purge node='nope'/>`), stanza.ItemNotFound, ""},
		15: {alice, own("set", `<configure node='a'><x xmlns='jabber:x:data' type='submit'><field var='pubsub#access_model'><value>authorize</value></field></x></configure>`), stanza.NotAcceptable, ""},
		16: {alice, own("set", `<configure node='a'><x xmlns='jabber:x:data' type='submit'><field var='pubsub#title'><value>T</value></field></x></configure>`), stanza.NotAcceptable, ""},
		17: {alice, own("set", `<configure node='a'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:other</value></field></x></configure>`), stanza.BadRequest, ""},
		18: {alice, ps("set", `<create node='a'/>`), stanza.Conflict, ""},
		19: {alice, own("get", `<affiliations node='a'/>`), stanza.FeatureNotImplemented, "unsupported modify-affiliations"},
		20: {alice, ps("set", `<publish node='b'><item><x xmlns='y'/></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='pubsub#access_model'><value>roster</value></field></x></publish-options>`), stanza.Conflict, "precondition-not-met"},
		21: {bob, ps("set", `<retract node='a'><item id='1'/></retract>`) + "", stanza.Forbidden, ""},
		22: {alice, ps("set", `<unknown/>`), stanza.FeatureNotImplemented, ""},
		23: {alice, ps("set", `<publish node='`+strings.Repeat("n", 1025)+`'><item><x xmlns='y'/></item></publish>`), stanza.NotAcceptable, ""},
		24: {alice, ps("set", `<publish node='a'><item id='`+strings.Repeat("i", 1025)+`'><x xmlns='y'/></item></publish>`), stanza.NotAcceptable, ""},
		25: {alice, ps("set", `<unsubscribe node='a' jid='alice@example.org'/>`), stanza.UnexpectedRequest, "not-subscribed"},
		26: {alice, ps("set", `<subscribe node='nope' jid='alice@example.org'/>`), stanza.ItemNotFound, ""},
		27: {alice, ps("set", `<subscribe node='a' jid='not a jid@@'/>`), stanza.BadRequest, "invalid-jid"},
	} {
		iq := tc.iq
		if tc.from == bob && !strings.Contains(iq, " to=") {
			iq = strings.Replace(iq, "<iq ", "<iq to='alice@example.org' ", 1)
		}
		r := e.IQ(tc.from, iq)
		t.Run("", func(t *testing.T) {
			_ = i
			wantError(t, r, tc.cond, tc.app)
		})
	}
	// The byte limit of an account.
	small := newEnv(t, pep.Config{MaxBytes: 100})
	small.Bind(alice)
	fill := func(id string, n int) string {
		return ps("set", `<publish node='a'><item id='`+id+`'><x xmlns='y'>`+strings.Repeat("z", n)+`</x></item></publish>`)
	}
	wantResult(t, small.IQ(alice, fill("1", 60)), "first 80 bytes")
	wantError(t, small.IQ(alice, fill("2", 10)), stanza.NotAcceptable, "")
	wantResult(t, small.IQ(alice, fill("1", 70)), "replacing the item")

	// The node limit: a and b exist, c is one too many.
	e.IQ(alice, ps("set", `<publish node='b'><item><x xmlns='y'/></item></publish>`))
	wantError(t, e.IQ(alice, ps("set", `<publish node='c'><item><x xmlns='y'/></item></publish>`)), stanza.NotAllowed, "max-nodes-exceeded")
}

func TestConfigureDeletePurge(t *testing.T) {
	e := newEnv(t, pep.Config{})
	e.Bind(alice)
	e.Bind(bob)
	own := func(typ, body string) string {
		return `<iq type='` + typ + `' id='o'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'>` + body + `</pubsub></iq>`
	}
	e.IQ(alice, `<iq type='set' id='p'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:avatar:metadata'><item id='h1'><metadata xmlns='urn:xmpp:avatar:metadata'/></item></publish></pubsub></iq>`)
	form := func(access, persist, max, sendLast, notifyRetract string) string {
		return `<x xmlns='jabber:x:data' type='form'>
		<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field>
		<field var='pubsub#access_model' type='list-single' label='Who may subscribe and retrieve items'><option><value>open</value></option><option><value>presence</value></option><option><value>whitelist</value></option><value>` + access + `</value></field>
		<field var='pubsub#persist_items' type='boolean' label='Persist items to storage'><value>` + persist + `</value></field>
		<field var='pubsub#max_items' type='text-single' label='Max number of items to persist (or max)'><value>` + max + `</value></field>
		<field var='pubsub#send_last_published_item' type='list-single' label='When to send the last published item'><option><value>never</value></option><option><value>on_sub</value></option><option><value>on_sub_and_presence</value></option><value>` + sendLast + `</value></field>
		<field var='pubsub#notify_retract' type='boolean' label='Notify subscribers when items are retracted'><value>` + notifyRetract + `</value></field>
		<field var='pubsub#notify_delete' type='boolean' label='Notify subscribers when the node is deleted'><value>1</value></field>
		<field var='pubsub#deliver_notifications' type='boolean' label='Deliver event notifications (always)'><value>1</value></field>
		<field var='pubsub#deliver_payloads' type='boolean' label='Deliver payloads with event notifications (always)'><value>1</value></field></x>`
	}
	routertest.WantXML(t, e.IQ(alice, own("get", `<configure node='urn:xmpp:avatar:metadata'/>`)), `<iq type='result' id='o' to='alice@example.org/phone'>
	<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='urn:xmpp:avatar:metadata'>`+form("presence", "1", "1", "on_sub_and_presence", "1")+`</configure></pubsub></iq>`)
	routertest.WantXML(t, e.IQ(alice, own("get", `<default/>`)), `<iq type='result' id='o' to='alice@example.org/phone'>
	<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><default>`+form("presence", "1", "1", "on_sub_and_presence", "1")+`</default></pubsub></iq>`)

	set := own("set", `<configure node='urn:xmpp:avatar:metadata'><x xmlns='jabber:x:data' type='submit'>
	<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field>
	<field var='pubsub#access_model'><value>open</value></field><field var='pubsub#max_items'><value>max</value></field></x></configure>`)
	routertest.WantXML(t, e.IQ(alice, set), `<iq type='result' id='o' to='alice@example.org/phone'/>`)
	routertest.WantXML(t, e.IQ(alice, own("get", `<configure node='urn:xmpp:avatar:metadata'/>`)), `<iq type='result' id='o' to='alice@example.org/phone'>
	<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='urn:xmpp:avatar:metadata'>`+form("open", "1", "max", "on_sub_and_presence", "1")+`</configure></pubsub></iq>`)
	// The new configuration is what publish-options are checked against.
	r := e.IQ(alice, `<iq type='set' id='p'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:avatar:metadata'><item id='h2'><metadata xmlns='urn:xmpp:avatar:metadata'/></item></publish>
	<publish-options><x xmlns='jabber:x:data' type='submit'><field var='pubsub#access_model'><value>open</value></field><field var='pubsub#max_items'><value>max</value></field></x></publish-options></pubsub></iq>`)
	if r.Type != stanza.TypeResult {
		t.Fatalf("publish with matching options: %s", r)
	}
	// Affiliations: alice owns the node.
	routertest.WantXML(t, e.IQ(alice, `<iq type='get' id='a'><pubsub xmlns='http://jabber.org/protocol/pubsub'><affiliations/></pubsub></iq>`),
		`<iq type='result' id='a' to='alice@example.org/phone'><pubsub xmlns='http://jabber.org/protocol/pubsub'><affiliations><affiliation node='urn:xmpp:avatar:metadata' affiliation='owner'/></affiliations></pubsub></iq>`)
	routertest.WantXML(t, e.IQ(bob, `<iq type='get' id='a' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><affiliations/></pubsub></iq>`),
		`<iq type='result' id='a' from='alice@example.org' to='bob@example.org/phone'><pubsub xmlns='http://jabber.org/protocol/pubsub'><affiliations/></pubsub></iq>`)

	// Purge, then delete.
	routertest.WantXML(t, e.IQ(alice, own("set", `<purge node='urn:xmpp:avatar:metadata'/>`)), `<iq type='result' id='o' to='alice@example.org/phone'/>`)
	r = e.IQ(alice, getItems("urn:xmpp:avatar:metadata", "/>"))
	if r.Type != stanza.TypeResult || len(r.Payload().Child(pep.NS, "items").Elements()) != 0 {
		t.Errorf("items after purge: %s", r)
	}
	routertest.WantXML(t, e.IQ(alice, own("set", `<delete node='urn:xmpp:avatar:metadata'/>`)), `<iq type='result' id='o' to='alice@example.org/phone'/>`)
	wantError(t, e.IQ(alice, getItems("urn:xmpp:avatar:metadata", "/>")), stanza.ItemNotFound, "")

	// Explicit creation with a configuration.
	r = e.IQ(alice, `<iq type='set' id='c'><pubsub xmlns='http://jabber.org/protocol/pubsub'><create node='urn:xmpp:bookmarks:1'/>
	<configure><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field>
	<field var='pubsub#access_model'><value>whitelist</value></field></x></configure></pubsub></iq>`)
	routertest.WantXML(t, r, `<iq type='result' id='c' to='alice@example.org/phone'/>`)
	cfg, err := e.store.Node(e.Ctx, "alice@example.org", "urn:xmpp:bookmarks:1")
	if err != nil || cfg.Access != pep.AccessWhitelist {
		t.Errorf("created node: %+v, %v", cfg, err)
	}
}

func TestNotifications(t *testing.T) {
	e := newEnv(t, pep.Config{})
	const devicelist = "eu.siacs.conversations.axolotl.devicelist"
	notify := []string{"http://jabber.org/protocol/caps", devicelist + "+notify", "urn:xmpp:bookmarks:1+notify", "http://jabber.org/protocol/nick+notify"}
	a, _ := e.online(t, alice, 0, notify...)
	b, _ := e.online(t, bob, 0, notify...)
	c, _ := e.online(t, carol, 0, append(notify, "urn:xmpp:carol")...)
	d, _ := e.online(t, dave, 0, "http://jabber.org/protocol/caps", "urn:xmpp:avatar:metadata+notify")

	e.Send(alice, omemoPublish)
	event := `<message type='headline' from='alice@example.org' to='%s'><event xmlns='http://jabber.org/protocol/pubsub#event'>
	<items node='eu.siacs.conversations.axolotl.devicelist'><item id='current'><list xmlns='eu.siacs.conversations.axolotl'><device id='1287134563'/></list></item></items></event></message>`
	// The owner's resources and the contact asking +notify; not the
	// stranger (even for an open node), not the contact without +notify.
	// The publisher gets the result first.
	got := a.Take()
	if len(got) != 2 || got[0].Kind != stanza.KindIQ || got[0].Type != stanza.TypeResult {
		t.Fatalf("alice got %v, want the result and the event", got)
	}
	routertest.WantXML(t, got[1], strings.ReplaceAll(event, "%s", alice))
	routertest.WantXML(t, b.One(t), strings.ReplaceAll(event, "%s", bob))
	if got := c.Take(); len(got) != 0 {
		t.Errorf("the stranger got %v", got)
	}
	if got := d.Take(); len(got) != 0 {
		t.Errorf("the contact without +notify got %v", got)
	}
	// The owner's other resource gets it.
	a2, last := e.online(t, "alice@example.org/tablet", 1, notify...) // the last item once caps are known
	routertest.WantXML(t, last[0], strings.ReplaceAll(event, "%s", "alice@example.org/tablet"))
	e.Send(alice, omemoPublish)
	routertest.WantXML(t, a2.One(t), strings.ReplaceAll(event, "%s", "alice@example.org/tablet"))
	b.Take()
	a.Take()

	// Whitelisted bookmarks reach the owner only.
	e.Send(alice, bookmarkPublish)
	a.Take()
	if got := a2.Take(); len(got) != 1 || !strings.Contains(got[0].String(), "theplay@conference.shakespeare.lit") {
		t.Errorf("owner's other resource: %v", got)
	}
	if got := b.Take(); len(got) != 0 {
		t.Errorf("a contact got a whitelisted node's event: %v", got)
	}

	// Retract with notify.
	e.Send(alice, `<iq type='set' id='r'><pubsub xmlns='http://jabber.org/protocol/pubsub'><retract node='eu.siacs.conversations.axolotl.devicelist' notify='true'><item id='current'/></retract></pubsub></iq>`)
	routertest.WantXML(t, b.One(t), `<message type='headline' from='alice@example.org' to='bob@example.org/phone'><event xmlns='http://jabber.org/protocol/pubsub#event'>
	<items node='eu.siacs.conversations.axolotl.devicelist'><retract id='current'/></items></event></message>`)
	a2.Take()
	a.Take()
	// Delete: an event too.
	e.Send(alice, `<iq type='set' id='d'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><delete node='eu.siacs.conversations.axolotl.devicelist'/></pubsub></iq>`)
	routertest.WantXML(t, b.One(t), `<message type='headline' from='alice@example.org' to='bob@example.org/phone'><event xmlns='http://jabber.org/protocol/pubsub#event'>
	<delete node='eu.siacs.conversations.axolotl.devicelist'/></event></message>`)
	if got := c.Take(); len(got) != 0 {
		t.Errorf("the stranger got %v", got)
	}
}

func TestLastPublishedOnPresence(t *testing.T) {
	e := newEnv(t, pep.Config{})
	e.Bind(alice)
	e.IQ(alice, omemoPublish)
	e.IQ(alice, bookmarkPublish) // send_last never, whitelist
	e.IQ(alice, `<iq type='set' id='n'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='http://jabber.org/protocol/nick'>
	<item><nick xmlns='http://jabber.org/protocol/nick'>Alice</nick></item></publish></pubsub></iq>`)

	// bob (a contact) comes online asking for the device list and the
	// nick: he gets both; the bookmarks are whitelisted.
	_, got := e.online(t, bob, 2, "eu.siacs.conversations.axolotl.devicelist+notify", "http://jabber.org/protocol/nick+notify", "urn:xmpp:bookmarks:1+notify")
	var nodes []string
	for _, m := range got {
		nodes = append(nodes, m.El.Child(pep.NSEvent, "event").Child(pep.NSEvent, "items").AttrValue("node"))
	}
	if strings.Join(nodes, " ") != "eu.siacs.conversations.axolotl.devicelist http://jabber.org/protocol/nick" {
		t.Errorf("bob got last items of %q", nodes)
	}
	// carol, a stranger, gets nothing (her caps are resolved, then
	// nothing comes).
	c, _ := e.online(t, carol, 0, "eu.siacs.conversations.axolotl.devicelist+notify")
	e.IQ(carol, getItems("eu.siacs.conversations.axolotl.devicelist", "/>")) // a round trip after the goroutine's work
	if got := c.Take(); len(got) != 0 {
		t.Errorf("the stranger got %v", got)
	}
}

// TestCapsMismatch: an answer that does not hash to the advertised ver is
// not used.
func TestCapsMismatch(t *testing.T) {
	e := newEnv(t, pep.Config{})
	e.Bind(alice)
	e.IQ(alice, omemoPublish)
	rec := e.Bind(bob)
	q := capsQuery("eu.siacs.conversations.axolotl.devicelist+notify")
	e.SetPresence(bob, capsPresence(q))
	iq := wait(t, rec, 1)[0]
	reply := routertest.Parse(t, `<iq type='result' id='`+iq.ID+`' from='bob@example.org/phone' to='bob@example.org'>
	<query xmlns='http://jabber.org/protocol/disco#info'><feature var='eu.siacs.conversations.axolotl.devicelist+notify'/><feature var='urn:xmpp:extra'/></query></iq>`)
	e.Router.Route(e.Ctx, reply)
	e.IQ(alice, omemoPublish)
	if got := rec.Take(); len(got) != 0 {
		t.Errorf("bob got %v with unverified caps", got)
	}
}

// FuzzRequest sends arbitrary pubsub, pubsub#owner and private storage
// requests: the
// service never panics and answers each with exactly one result or error.
func FuzzRequest(f *testing.F) {
	f.Add("set", `<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'><item id='1'><x xmlns='y'/></item></publish></pubsub>`)
	f.Add("get", `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='n' max_items='1'><item id='1'/></items></pubsub>`)
	f.Add("set", `<pubsub xmlns='http://jabber.org/protocol/pubsub'><retract node='n' notify='1'><item id='1'/></retract></pubsub>`)
	f.Add("set", `<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='n'><x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>max</value></field></x></configure></pubsub>`)
	f.Add("set", `<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><purge node='n'/></pubsub>`)
	f.Add("set", `<pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='n' jid='alice@example.org/phone'/><options/></pubsub>`)
	f.Add("get", `<pubsub xmlns='http://jabber.org/protocol/pubsub'><subscriptions node='n'/></pubsub>`)
	f.Add("set", omemoPublish[strings.Index(omemoPublish, "<pubsub"):strings.LastIndex(omemoPublish, "</iq>")])
	f.Add("set", `<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'><conference jid='a@b.c' autojoin='1'><nick>n</nick></conference><url url='u'/></storage></query>`)
	f.Add("get", `<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query>`)
	e := newEnv(f, pep.Config{})
	rec := e.Bind(alice)
	f.Fuzz(func(t *testing.T, typ, payload string) {
		if typ != "get" && typ != "set" {
			return
		}
		el, err := xml.Parse([]byte(payload), stanza.NSClient)
		if err != nil || !(((el.Name.Space == pep.NS || el.Name.Space == pep.NSOwner) && el.Name.Local == "pubsub") ||
			(el.Name.Space == pep.NSPrivate && el.Name.Local == "query")) {
			return
		}
		iq := stanza.Build(stanza.KindIQ, typ, "f", jid.MustParse(alice), jid.JID{})
		iq.El.AddChild(el)
		e.Router.Route(t.Context(), iq)
		var replies int
		for _, st := range rec.Take() {
			if st.Kind == stanza.KindIQ && st.ID == "f" {
				replies++
			}
		}
		if replies != 1 {
			t.Fatalf("%d replies to %s", replies, iq)
		}
	})
}

// TestStrangerCannotTellAccounts: for a stranger, a node of a missing
// account, a missing node and a node closed to strangers get the same
// answers (with the router's privacy), for every pubsub request.
func TestStrangerCannotTellAccounts(t *testing.T) {
	e := newEnv(t, pep.Config{})
	e.Bind(alice)
	e.Bind(carol)
	e.IQ(alice, `<iq type='set' id='n'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='http://jabber.org/protocol/nick'>
	<item><nick xmlns='http://jabber.org/protocol/nick'>Alice</nick></item></publish></pubsub></iq>`)
	anon := func(st *stanza.Stanza) string {
		c := st.Copy()
		c.SetFrom(jid.JID{})
		return strings.ReplaceAll(c.String(), "ghost@example.org", "alice@example.org")
	}
	for _, req := range []string{
		`<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='http://jabber.org/protocol/nick'/></pubsub>`,
		`<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='http://jabber.org/protocol/nick'><item id='x'/></items></pubsub>`,
		`<pubsub xmlns='http://jabber.org/protocol/pubsub'><affiliations/></pubsub>`,
		`<pubsub xmlns='http://jabber.org/protocol/pubsub'><subscriptions/></pubsub>`,
	} {
		for _, typ := range []string{"get", "set"} {
			ask := func(to string) *stanza.Stanza {
				return e.IQ(carol, `<iq type='`+typ+`' id='s' to='`+to+`'>`+req+`</iq>`)
			}
			existing, missing := ask("alice@example.org"), ask("ghost@example.org")
			if anon(existing) != anon(missing) {
				t.Errorf("%s %s:\nexisting %s\nmissing  %s", typ, req, existing, missing)
			}
		}
	}
	for _, req := range []string{
		`<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'><item><x xmlns='y'/></item></publish></pubsub>`,
		`<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='http://jabber.org/protocol/nick'/></pubsub>`,
		`<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query>`,
	} {
		existing := e.IQ(carol, `<iq type='set' id='s' to='alice@example.org'>`+req+`</iq>`)
		missing := e.IQ(carol, `<iq type='set' id='s' to='ghost@example.org'>`+req+`</iq>`)
		if anon(existing) != anon(missing) || existing.Type != stanza.TypeError {
			t.Errorf("set %s:\nexisting %s\nmissing  %s", req, existing, missing)
		}
	}
}
