package pep_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/pep"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// publishOptions returns <publish-options/> with the fields as a client
// writes them (FORM_TYPE first).
func publishOptions(fields ...string) string {
	var b strings.Builder
	b.WriteString(`<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>`)
	for i := 0; i+1 < len(fields); i += 2 {
		fmt.Fprintf(&b, `<field var='%s'><value>%s</value></field>`, fields[i], fields[i+1])
	}
	b.WriteString(`</x></publish-options>`)
	return b.String()
}

func publishIQ(id, node, itemID, payload, options string) string {
	item := `<item>`
	if itemID != "" {
		item = `<item id='` + itemID + `'>`
	}
	return `<iq type='set' id='` + id + `'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='` + node + `'>` +
		item + payload + `</item></publish>` + options + `</pubsub></iq>`
}

// The publish options of the clients, from their sources:
// Conversations (PublishOptions.openAccess, persistentWhitelistAccessMaxItems),
// Gajim (nbxmpp BOOKMARK_OPTIONS; older nbxmpp BOOKMARK_2_OPTIONS with
// max_items 128), Dino (bookmarks2 with the options of XEP-0402 §3.3).
var (
	conversationsOpen      = publishOptions("pubsub#access_model", "open")
	conversationsBookmarks = publishOptions("pubsub#persist_items", "true", "pubsub#access_model", "whitelist",
		"pubsub#send_last_published_item", "never", "pubsub#max_items", "max", "pubsub#notify_delete", "true", "pubsub#notify_retract", "true")
	gajimBookmarks = publishOptions("pubsub#notify_delete", "true", "pubsub#notify_retract", "true", "pubsub#persist_items", "true",
		"pubsub#max_items", "max", "pubsub#access_model", "whitelist", "pubsub#send_last_published_item", "never")
	oldGajimBookmarks = strings.Replace(gajimBookmarks, "<value>max</value>", "<value>128</value>", 1)
	dinoBookmarks     = publishOptions("pubsub#persist_items", "true", "pubsub#max_items", "max",
		"pubsub#send_last_published_item", "never", "pubsub#access_model", "whitelist")
	omemo2Devices = publishOptions("pubsub#access_model", "open")
	omemo2Bundles = publishOptions("pubsub#max_items", "max", "pubsub#access_model", "open", "pubsub#persist_items", "true")
)

const (
	axolotlBundle = `<bundle xmlns='eu.siacs.conversations.axolotl'><signedPreKeyPublic signedPreKeyId='1'>BUmK3cXcLWyVz2Yl6aA/8iTRoatqCVkWvN3oWg2yGD4e</signedPreKeyPublic>` +
		`<signedPreKeySignature>PYRQlb7/CvEAC05ntf1m8tGjsQmKPNqlp93fD+zAE1xMD4BJIjMtbiyqPZvyi1q0WzGFNbZ8AhQ5pULgGbnTBQ==</signedPreKeySignature>` +
		`<identityKey>BSVCkQlUEyoVMfjW4ff6cUEQd+1hMwVAlyEEOdgqh9ZQ</identityKey><prekeys><preKeyPublic preKeyId='1'>BeRMlBeYxF5V1d4xX1DIBwc6TMH0F6y5X3OGoNkyXvAt</preKeyPublic>` +
		`<preKeyPublic preKeyId='2'>BQ9JaeWg0A6AdBaZ3LeU8pYWAkvRdnIdtk49GFPPMRBQ</preKeyPublic></prekeys></bundle>`
	bookmark = `<conference xmlns='urn:xmpp:bookmarks:1' name='The Play&apos;s the Thing' autojoin='true'><nick>JC</nick></conference>`
)

func wantResult(t *testing.T, r *stanza.Stanza, what string) {
	t.Helper()
	if r.Type != stanza.TypeResult {
		t.Fatalf("%s: %s", what, r)
	}
}

// TestConversationsLogin replays what Conversations publishes after login
// (OMEMO device list and bundle open, bookmarks whitelisted) and what a
// contact and a stranger fetch.
func TestConversationsLogin(t *testing.T) {
	e := newEnv(t, pep.Config{})
	e.Bind(alice)
	e.Bind(bob)
	e.Bind(carol)
	wantResult(t, e.IQ(alice, publishIQ("dl", "eu.siacs.conversations.axolotl.devicelist", "current",
		`<list xmlns='eu.siacs.conversations.axolotl'><device id='1287134563'/></list>`, conversationsOpen)), "device list")
	wantResult(t, e.IQ(alice, publishIQ("b", "eu.siacs.conversations.axolotl.bundles:1287134563", "current", axolotlBundle, conversationsOpen)), "bundle")
	wantResult(t, e.IQ(alice, publishIQ("bm", "urn:xmpp:bookmarks:1", "theplay@conference.shakespeare.lit", bookmark, conversationsBookmarks)), "bookmark")
	wantResult(t, e.IQ(alice, publishIQ("av", "urn:xmpp:avatar:metadata", "111f4b3c50d7b0df729d299bc6f8e9ef9066971f",
		`<metadata xmlns='urn:xmpp:avatar:metadata'><info bytes='12345' width='64' height='64' id='111f4b3c50d7b0df729d299bc6f8e9ef9066971f' type='image/png'/></metadata>`, "")), "avatar metadata")

	// A stranger starting an OMEMO session fetches the device list and
	// the bundle (Conversations' fetchDeviceIds / fetchBundle).
	for _, who := range []string{bob, carol} {
		r := e.IQ(who, `<iq type='get' id='f' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='eu.siacs.conversations.axolotl.bundles:1287134563' max_items='1'/></pubsub></iq>`)
		if r.Type != stanza.TypeResult || !strings.Contains(r.String(), "signedPreKeyPublic signedPreKeyId='1'") {
			t.Errorf("%s fetching the bundle: %s", who, r)
		}
	}
	// Avatar metadata (presence access): the contact, not the stranger.
	for who, ok := range map[string]bool{bob: true, carol: false} {
		r := e.IQ(who, getItems("urn:xmpp:avatar:metadata", " max_items='1'/>"))
		if (r.Type == stanza.TypeResult) != ok {
			t.Errorf("%s fetching the avatar metadata: %s", who, r)
		}
	}
	// Bookmarks: the owner's own fetch at login.
	r := e.IQ(alice, `<iq type='get' id='bm'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'/></pubsub></iq>`)
	if r.Type != stanza.TypeResult || !strings.Contains(r.String(), "item id='theplay@conference.shakespeare.lit'") {
		t.Errorf("bookmarks: %s", r)
	}
}

// TestBookmarkClientsAgree: Conversations, Gajim and Dino use slightly
// different options for the same bookmarks node. Those meaning the same
// configuration are accepted by each other's node; a conflicting one (an
// older Gajim asking max_items 128) gets precondition-not-met, and the
// client's recovery, configuring the node and publishing again, works
// (what Conversations and Gajim do).
func TestBookmarkClientsAgree(t *testing.T) {
	e := newEnv(t, pep.Config{})
	e.Bind(alice)
	wantResult(t, e.IQ(alice, publishIQ("1", "urn:xmpp:bookmarks:1", "a@conference.example.org", bookmark, conversationsBookmarks)), "Conversations")
	wantResult(t, e.IQ(alice, publishIQ("2", "urn:xmpp:bookmarks:1", "b@conference.example.org", bookmark, gajimBookmarks)), "Gajim")
	wantResult(t, e.IQ(alice, publishIQ("3", "urn:xmpp:bookmarks:1", "c@conference.example.org", bookmark, dinoBookmarks)), "Dino")
	wantError(t, e.IQ(alice, publishIQ("4", "urn:xmpp:bookmarks:1", "d@conference.example.org", bookmark, oldGajimBookmarks)), stanza.Conflict, "precondition-not-met")
	// Recovery: the same fields as a node configuration, then publish.
	conf := strings.NewReplacer("publish-options", "configure", "pubsub#publish-options", "pubsub#node_config").Replace(oldGajimBookmarks)
	conf = strings.Replace(conf, "<configure>", "<configure node='urn:xmpp:bookmarks:1'>", 1)
	wantResult(t, e.IQ(alice, `<iq type='set' id='c'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'>`+conf+`</pubsub></iq>`), "configure")
	wantResult(t, e.IQ(alice, publishIQ("4", "urn:xmpp:bookmarks:1", "d@conference.example.org", bookmark, oldGajimBookmarks)), "old Gajim after configuring")
	r := e.IQ(alice, `<iq type='get' id='g'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'/></pubsub></iq>`)
	if got := strings.Count(r.String(), "<conference "); got != 4 {
		t.Errorf("%d bookmarks, want 4: %s", got, r)
	}
}

// TestOMEMO2 publishes the OMEMO 2 device list and one bundle item per
// device (XEP-0384 §5.3: urn:xmpp:omemo:2:bundles with max_items max),
// and a stranger fetches one bundle by item id.
func TestOMEMO2(t *testing.T) {
	e := newEnv(t, pep.Config{})
	e.Bind(alice)
	e.Bind(carol)
	wantResult(t, e.IQ(alice, publishIQ("d", "urn:xmpp:omemo:2:devices", "current",
		`<devices xmlns='urn:xmpp:omemo:2'><device id='12345' label='phone'/><device id='4223'/></devices>`, omemo2Devices)), "devices")
	for _, id := range []string{"12345", "4223"} {
		wantResult(t, e.IQ(alice, publishIQ("b"+id, "urn:xmpp:omemo:2:bundles", id,
			`<bundle xmlns='urn:xmpp:omemo:2'><spk id='0'>b64</spk><spks>b64</spks><ik>`+id+`</ik><prekeys><pk id='0'>b64</pk></prekeys></bundle>`, omemo2Bundles)), "bundle "+id)
	}
	r := e.IQ(carol, `<iq type='get' id='f' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:omemo:2:bundles'><item id='4223'/></items></pubsub></iq>`)
	if r.Type != stanza.TypeResult || !strings.Contains(r.String(), "<ik>4223</ik>") || strings.Contains(r.String(), "12345") {
		t.Errorf("stranger fetching one bundle: %s", r)
	}
	r = e.IQ(carol, `<iq type='get' id='f' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:omemo:2:devices'/></pubsub></iq>`)
	if r.Type != stanza.TypeResult || !strings.Contains(r.String(), "device id='4223'") {
		t.Errorf("stranger fetching the device list: %s", r)
	}
}

// TestNotifyDelete: a node configured with notify_delete false is deleted
// without an event.
func TestNotifyDelete(t *testing.T) {
	e := newEnv(t, pep.Config{})
	const node = "http://jabber.org/protocol/mood"
	b, _ := e.online(t, bob, 0, node+"+notify")
	a := e.Bind(alice)
	e.Send(alice, publishIQ("m", node, "", `<mood xmlns='http://jabber.org/protocol/mood'><happy/></mood>`, publishOptions("pubsub#notify_delete", "false")))
	if got := a.Take(); len(got) != 1 || got[0].Type != stanza.TypeResult {
		t.Fatalf("publish: %v", got)
	}
	if got := b.Take(); len(got) != 1 || !strings.Contains(got[0].String(), "<happy/>") {
		t.Fatalf("bob: %v", got)
	}
	wantResult(t, e.IQ(alice, `<iq type='set' id='d'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><delete node='`+node+`'/></pubsub></iq>`), "delete")
	if got := b.Take(); len(got) != 0 {
		t.Errorf("bob got %v after a delete without notify_delete", got)
	}
}

// TestConcurrentAutoCreate: several resources publishing to a node that
// does not exist yet all succeed, and the node keeps the items.
func TestConcurrentAutoCreate(t *testing.T) {
	e := newEnv(t, pep.Config{})
	const n = 8
	recs := make([]string, n)
	for i := range recs {
		recs[i] = fmt.Sprintf("alice@example.org/r%d", i)
		e.Bind(recs[i])
	}
	done := make(chan *stanza.Stanza, n)
	for i, full := range recs {
		go func() {
			e.Send(full, publishIQ("p", "urn:xmpp:microblog:0", fmt.Sprint(i), `<entry xmlns='http://www.w3.org/2005/Atom'/>`,
				publishOptions("pubsub#max_items", "max")))
			done <- e.Recorder(full).Take()[0]
		}()
	}
	for range n {
		if r := <-done; r.Type != stanza.TypeResult {
			t.Errorf("publish: %s", r)
		}
	}
	items, err := e.store.Items(e.Ctx, "alice@example.org", "urn:xmpp:microblog:0", 0)
	if err != nil || len(items) != n {
		t.Errorf("%d items (%v), want %d", len(items), err, n)
	}
}

func TestVisibleNodes(t *testing.T) {
	e := newEnv(t, pep.Config{})
	e.Bind(alice)
	e.IQ(alice, omemoPublish)
	e.IQ(alice, bookmarkPublish)
	e.IQ(alice, publishIQ("n", "http://jabber.org/protocol/nick", "", `<nick xmlns='http://jabber.org/protocol/nick'>A</nick>`, ""))
	owner := jid.MustParse("alice@example.org")
	for rel, want := range map[router.Relation]string{
		router.Self:     "eu.siacs.conversations.axolotl.devicelist http://jabber.org/protocol/nick urn:xmpp:bookmarks:1",
		router.Contact:  "eu.siacs.conversations.axolotl.devicelist http://jabber.org/protocol/nick",
		router.Stranger: "eu.siacs.conversations.axolotl.devicelist",
	} {
		got, err := e.svc.VisibleNodes(e.Ctx, owner, rel)
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("%s sees %q (%v), want %q", rel, got, err, want)
		}
	}
	// A missing account has nothing to show.
	if got, err := e.svc.VisibleNodes(e.Ctx, jid.MustParse("ghost@example.org"), router.Stranger); err != nil || len(got) != 0 {
		t.Errorf("ghost: %q %v", got, err)
	}
}

// TestCapsFromStorage: capabilities learnt before (stored) are not asked
// again; a resource showing them gets the last items at once.
func TestCapsFromStorage(t *testing.T) {
	e := newEnv(t, pep.Config{})
	e.Bind(alice)
	e.IQ(alice, omemoPublish)
	q := capsQuery("eu.siacs.conversations.axolotl.devicelist+notify")
	if err := e.store.SetCaps(e.Ctx, capsVer(q), q.AppendXML(nil, "")); err != nil {
		t.Fatal(err)
	}
	b := e.Bind(bob)
	e.SetPresence(bob, capsPresence(q))
	got := wait(t, b, 1)
	if got[0].Kind != stanza.KindMessage || !strings.Contains(got[0].String(), "device id='1287134563'") {
		t.Errorf("bob got %s, want the last device list and no caps query", got[0])
	}
}

// TestClose: after Close, presence starts no background work.
func TestClose(t *testing.T) {
	e := newEnv(t, pep.Config{})
	e.svc.Close()
	b := e.Bind(bob)
	e.SetPresence(bob, capsPresence(capsQuery("urn:xmpp:avatar:metadata+notify")))
	if !e.svc.Quiesce(time.Second) {
		t.Fatal("background work after Close")
	}
	if got := b.Take(); len(got) != 0 {
		t.Errorf("bob got %v after Close", got)
	}
}
