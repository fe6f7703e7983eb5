package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/pep"
	"dormouse.im/dormouse/sql"
)

// itemIDs returns the ids of items, in order.
func itemIDs(items []pep.Item) []string {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	return ids
}

func wantItems(t testing.TB, what string, got []pep.Item, err error, want ...string) {
	t.Helper()
	check(t, what, err)
	if ids := itemIDs(got); !slices.Equal(ids, want) && !(len(ids) == 0 && len(want) == 0) {
		t.Errorf("%s = %q, want %q", what, ids, want)
	}
}

func testPEP(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	p := s.PEP
	const user, other = "juliet@example.com", "romeo@example.net"
	createAccounts(t, s, user, other)
	const node = "urn:xmpp:bookmarks:1"

	_, err := p.Node(ctx, user, node)
	wantErr(t, "Node before CreateNode", err, pep.ErrNotFound)
	wantErr(t, "Publish without the node", p.Publish(ctx, user, node, pep.Item{ID: "a", Payload: []byte("<x/>")}, 0), pep.ErrNotFound)
	_, err = p.Items(ctx, user, node, 0)
	wantErr(t, "Items without the node", err, pep.ErrNotFound)
	_, err = p.ItemsByID(ctx, user, node, []string{"a"})
	wantErr(t, "ItemsByID without the node", err, pep.ErrNotFound)
	wantErr(t, "Purge without the node", p.Purge(ctx, user, node), pep.ErrNotFound)
	wantErr(t, "DeleteNode without the node", p.DeleteNode(ctx, user, node), pep.ErrNotFound)
	wantErr(t, "ConfigureNode without the node", p.ConfigureNode(ctx, user, node, pep.DefaultNodeConfig, 0), pep.ErrNotFound)
	wantErr(t, "CreateNode without an account", p.CreateNode(ctx, "ghost@example.org", node, pep.DefaultNodeConfig), auth.ErrNotFound)

	cfg := pep.NodeConfig{Access: pep.AccessWhitelist, PersistItems: true, MaxItems: 0, SendLast: pep.SendLastNever, NotifyRetract: false, NotifyDelete: true}
	check(t, "CreateNode", p.CreateNode(ctx, user, node, cfg))
	wantErr(t, "CreateNode again", p.CreateNode(ctx, user, node, pep.DefaultNodeConfig), pep.ErrExists)
	got, err := p.Node(ctx, user, node)
	check(t, "Node", err)
	if got != cfg {
		t.Errorf("Node = %+v, want %+v", got, cfg)
	}
	_, err = p.Node(ctx, other, node)
	wantErr(t, "Node of another account", err, pep.ErrNotFound)

	items, err := p.Items(ctx, user, node, 0)
	wantItems(t, "Items of an empty node", items, err)

	payload := func(id string) []byte {
		return []byte(fmt.Sprintf("<conference xmlns='urn:xmpp:bookmarks:1' name='Room %s 🌹'/>", id))
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		check(t, "Publish "+id, p.Publish(ctx, user, node, pep.Item{ID: id, Payload: payload(id)}, 0))
	}
	items, err = p.Items(ctx, user, node, 0)
	wantItems(t, "Items", items, err, "a", "b", "c", "d")
	if string(items[2].Payload) != string(payload("c")) {
		t.Errorf("payload = %q, want %q", items[2].Payload, payload("c"))
	}
	items, err = p.Items(ctx, user, node, 2)
	wantItems(t, "Items max 2", items, err, "c", "d")

	// Republishing an id replaces the item and makes it the newest.
	check(t, "Publish b again", p.Publish(ctx, user, node, pep.Item{ID: "b", Payload: []byte("<new xmlns='x'/>")}, 0))
	items, err = p.Items(ctx, user, node, 0)
	wantItems(t, "Items after replacing b", items, err, "a", "c", "d", "b")
	if string(items[3].Payload) != "<new xmlns='x'/>" {
		t.Errorf("replaced payload = %q", items[3].Payload)
	}
	items, err = p.ItemsByID(ctx, user, node, []string{"d", "zz", "a"})
	wantItems(t, "ItemsByID", items, err, "a", "d")

	last, err := p.LastItems(ctx, user)
	check(t, "LastItems", err)
	if len(last) != 1 || last[0].Name != node || last[0].Item.ID != "b" || last[0].Config != cfg {
		t.Errorf("LastItems = %+v, want node %s with item b", last, node)
	}

	// Retract.
	check(t, "Retract c", p.Retract(ctx, user, node, "c"))
	wantErr(t, "Retract c again", p.Retract(ctx, user, node, "c"), pep.ErrNotFound)
	wantErr(t, "Retract in a missing node", p.Retract(ctx, user, "nope", "a"), pep.ErrNotFound)
	items, err = p.Items(ctx, user, node, 0)
	wantItems(t, "Items after Retract", items, err, "a", "d", "b")

	// Keeping the newest N.
	check(t, "Publish e keep 2", p.Publish(ctx, user, node, pep.Item{ID: "e", Payload: payload("e")}, 2))
	items, err = p.Items(ctx, user, node, 0)
	wantItems(t, "Items after keep 2", items, err, "b", "e")
	cfg2 := cfg
	cfg2.MaxItems, cfg2.Access, cfg2.NotifyRetract, cfg2.NotifyDelete = 1, pep.AccessOpen, true, false
	check(t, "ConfigureNode keep 1", p.ConfigureNode(ctx, user, node, cfg2, 1))
	got, err = p.Node(ctx, user, node)
	check(t, "Node after ConfigureNode", err)
	if got != cfg2 {
		t.Errorf("Node after ConfigureNode = %+v, want %+v", got, cfg2)
	}
	items, err = p.Items(ctx, user, node, 0)
	wantItems(t, "Items after ConfigureNode keep 1", items, err, "e")

	// Several nodes, sorted; LastItems leaves out empty ones.
	check(t, "CreateNode avatar", p.CreateNode(ctx, user, "urn:xmpp:avatar:metadata", pep.DefaultNodeConfig))
	check(t, "CreateNode devicelist", p.CreateNode(ctx, user, "eu.siacs.conversations.axolotl.devicelist", pep.DefaultNodeConfig))
	check(t, "Publish devicelist", p.Publish(ctx, user, "eu.siacs.conversations.axolotl.devicelist", pep.Item{ID: "current", Payload: []byte("<list xmlns='eu.siacs.conversations.axolotl'/>")}, 1))
	nodes, err := p.Nodes(ctx, user)
	check(t, "Nodes", err)
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	if want := []string{"eu.siacs.conversations.axolotl.devicelist", "urn:xmpp:avatar:metadata", node}; !slices.Equal(names, want) {
		t.Errorf("Nodes = %q, want %q", names, want)
	}
	last, err = p.LastItems(ctx, user)
	check(t, "LastItems", err)
	if len(last) != 2 || last[0].Item.ID != "current" || last[1].Item.ID != "e" {
		t.Errorf("LastItems = %+v", last)
	}
	nodes, err = p.Nodes(ctx, other)
	check(t, "Nodes of another", err)
	if len(nodes) != 0 {
		t.Errorf("Nodes of another = %+v", nodes)
	}

	// Purge and delete.
	check(t, "Purge", p.Purge(ctx, user, node))
	items, err = p.Items(ctx, user, node, 0)
	wantItems(t, "Items after Purge", items, err)
	check(t, "Publish after Purge", p.Publish(ctx, user, node, pep.Item{ID: "f", Payload: payload("f")}, 0))
	check(t, "DeleteNode", p.DeleteNode(ctx, user, node))
	_, err = p.Node(ctx, user, node)
	wantErr(t, "Node after DeleteNode", err, pep.ErrNotFound)
	check(t, "CreateNode after DeleteNode", p.CreateNode(ctx, user, node, cfg))
	items, err = p.Items(ctx, user, node, 0)
	wantItems(t, "Items of the re-created node", items, err)

	// Caps.
	_, err = p.Caps(ctx, "q07IKJEyjvHSyhy//CH0CxmKi8w=")
	wantErr(t, "Caps unknown", err, pep.ErrNotFound)
	info := []byte("<query xmlns='http://jabber.org/protocol/disco#info'><feature var='urn:xmpp:avatar:metadata+notify'/></query>")
	check(t, "SetCaps", p.SetCaps(ctx, "q07IKJEyjvHSyhy//CH0CxmKi8w=", info))
	check(t, "SetCaps again", p.SetCaps(ctx, "q07IKJEyjvHSyhy//CH0CxmKi8w=", info))
	b, err := p.Caps(ctx, "q07IKJEyjvHSyhy//CH0CxmKi8w=")
	check(t, "Caps", err)
	if string(b) != string(info) {
		t.Errorf("Caps = %q, want %q", b, info)
	}

	// Usage: the bytes of the payloads but one item's.
	check(t, "Publish for usage", p.Publish(ctx, user, "eu.siacs.conversations.axolotl.devicelist", pep.Item{ID: "u2", Payload: []byte("0123456789")}, 0))
	all, err := p.Usage(ctx, user, "", "")
	check(t, "Usage", err)
	but, err := p.Usage(ctx, user, "eu.siacs.conversations.axolotl.devicelist", "u2")
	check(t, "Usage but one", err)
	if all-but != 10 || but <= 0 {
		t.Errorf("Usage = %d, without u2 %d; want a difference of 10", all, but)
	}
	if n, err := p.Usage(ctx, other, "", ""); err != nil || n != 0 {
		t.Errorf("Usage of another = %d, %v", n, err)
	}

	// Subscriptions.
	const sn = "eu.siacs.conversations.axolotl.devicelist"
	wantErr(t, "Subscribe without the node", p.Subscribe(ctx, user, "nope", other), pep.ErrNotFound)
	check(t, "Subscribe", p.Subscribe(ctx, user, sn, other+"/phone"))
	check(t, "Subscribe again", p.Subscribe(ctx, user, sn, other+"/phone"))
	check(t, "Subscribe bare", p.Subscribe(ctx, user, sn, other))
	check(t, "Subscribe to another node", p.Subscribe(ctx, user, "urn:xmpp:avatar:metadata", other))
	check(t, "Subscribe someone else", p.Subscribe(ctx, user, sn, "carol@example.org"))
	jids, err := p.NodeSubscribers(ctx, user, sn)
	check(t, "NodeSubscribers", err)
	if want := []string{"carol@example.org", other, other + "/phone"}; !slices.Equal(jids, want) {
		t.Errorf("NodeSubscribers = %q, want %q", jids, want)
	}
	subs, err := p.Subscriptions(ctx, user, other, other+"/phone")
	check(t, "Subscriptions", err)
	if want := []pep.Subscription{{Node: sn, JID: other}, {Node: sn, JID: other + "/phone"}, {Node: "urn:xmpp:avatar:metadata", JID: other}}; !slices.Equal(subs, want) {
		t.Errorf("Subscriptions = %v, want %v", subs, want)
	}
	check(t, "Unsubscribe", p.Unsubscribe(ctx, user, sn, other+"/phone"))
	wantErr(t, "Unsubscribe again", p.Unsubscribe(ctx, user, sn, other+"/phone"), pep.ErrNotFound)
	check(t, "DeleteNode with subscriptions", p.DeleteNode(ctx, user, "urn:xmpp:avatar:metadata"))
	subs, err = p.Subscriptions(ctx, user, other)
	check(t, "Subscriptions after DeleteNode", err)
	if want := []pep.Subscription{{Node: sn, JID: other}}; !slices.Equal(subs, want) {
		t.Errorf("Subscriptions after DeleteNode = %v, want %v", subs, want)
	}

	// Private XML.
	_, err = p.PrivateXML(ctx, user, "storage:bookmarks")
	wantErr(t, "PrivateXML unknown", err, pep.ErrNotFound)
	wantErr(t, "SetPrivateXML without an account", p.SetPrivateXML(ctx, "ghost@example.org", "x", []byte("<x xmlns='x'/>")), auth.ErrNotFound)
	for _, d := range []string{"<storage xmlns='storage:bookmarks'/>", "<storage xmlns='storage:bookmarks'><url name='🌹' url='https://example.org'/></storage>"} {
		check(t, "SetPrivateXML", p.SetPrivateXML(ctx, user, "storage:bookmarks", []byte(d)))
		b, err := p.PrivateXML(ctx, user, "storage:bookmarks")
		check(t, "PrivateXML", err)
		if string(b) != d {
			t.Errorf("PrivateXML = %q, want %q", b, d)
		}
	}
	_, err = p.PrivateXML(ctx, other, "storage:bookmarks")
	wantErr(t, "PrivateXML of another", err, pep.ErrNotFound)

	// Deleting the account deletes its nodes and items.
	check(t, "DeleteAccount", s.Accounts.DeleteAccount(ctx, user))
	createAccounts(t, s, user)
	nodes, err = p.Nodes(ctx, user)
	check(t, "Nodes of a re-created account", err)
	if len(nodes) != 0 {
		t.Errorf("a re-created account has nodes %+v", nodes)
	}
	last, err = p.LastItems(ctx, user)
	check(t, "LastItems of a re-created account", err)
	if len(last) != 0 {
		t.Errorf("a re-created account has items %+v", last)
	}
	_, err = p.PrivateXML(ctx, user, "storage:bookmarks")
	wantErr(t, "PrivateXML of a re-created account", err, pep.ErrNotFound)
}

// testPEPConcurrent publishes to one node from several goroutines: every
// item is kept in some order, none lost, the newest N kept.
func testPEPConcurrent(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	p := s.PEP
	const user, node = "juliet@example.com", "urn:xmpp:microblog:0"
	createAccounts(t, s, user)
	cfg := pep.DefaultNodeConfig
	cfg.MaxItems = 0
	check(t, "CreateNode", p.CreateNode(ctx, user, node, cfg))
	const writers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := p.Publish(ctx, user, node, pep.Item{ID: fmt.Sprintf("%d-%d", w, i), Payload: []byte("<p/>")}, 0); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	items, err := p.Items(ctx, user, node, 0)
	check(t, "Items", err)
	if len(items) != writers*each {
		t.Errorf("%d items, want %d", len(items), writers*each)
	}
	check(t, "Publish keep 5", p.Publish(ctx, user, node, pep.Item{ID: "last", Payload: []byte("<p/>")}, 5))
	items, err = p.Items(ctx, user, node, 0)
	check(t, "Items", err)
	if len(items) != 5 || items[4].ID != "last" {
		t.Errorf("after keep 5: %q", itemIDs(items))
	}
	if err := p.Retract(ctx, user, node, "nope"); !errors.Is(err, pep.ErrNotFound) {
		t.Errorf("Retract of a missing item: %v", err)
	}
}
