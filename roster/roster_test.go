package roster_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/roster"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// response returns the single IQ result or error with the given id.
func response(t *testing.T, sts []*stanza.Stanza, id string) *stanza.Stanza {
	t.Helper()
	var out *stanza.Stanza
	for _, st := range sts {
		if st.Kind == stanza.KindIQ && st.ID == id && (st.Type == stanza.TypeResult || st.Type == stanza.TypeError) {
			if out != nil {
				t.Fatalf("two responses to %q", id)
			}
			out = st
		}
	}
	if out == nil {
		t.Fatalf("no response to %q in %v", id, sts)
	}
	return out
}

func TestGetEmptyAndInterest(t *testing.T) {
	e := newEnv(t, roster.Config{}, "alice@localhost")
	phone := e.Bind("alice@localhost/phone")
	laptop := e.Bind("alice@localhost/laptop")

	e.Send("alice@localhost/phone", `<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>`)
	res := response(t, phone.Take(), "r1")
	if res.Type != stanza.TypeResult {
		t.Fatalf("roster get: %v", res)
	}
	q := res.El.Child(roster.NS, "query")
	if q == nil || q.AttrValue("ver") != "0" || len(q.Elements()) != 0 {
		t.Fatalf("empty roster result = %v, want an empty query with ver='0'", res)
	}
	if res.To.String() != "alice@localhost/phone" {
		t.Errorf("result to %q", res.To.String())
	}

	// Only the phone asked for the roster: only the phone gets pushes.
	e.Send("alice@localhost/laptop", `<iq type='set' id='s1'><query xmlns='jabber:iq:roster'><item jid='bob@localhost'/></query></iq>`)
	got := laptop.Take()
	if res := response(t, got, "s1"); res.Type != stanza.TypeResult {
		t.Fatalf("roster set: %v", res)
	}
	if items := pushes(t, got); len(items) != 0 {
		t.Errorf("the resource that never asked for the roster got pushes: %v", got)
	}
	items := pushes(t, phone.Take())
	if len(items) != 1 || items[0].AttrValue("jid") != "bob@localhost" {
		t.Fatalf("pushes to the interested resource = %v", items)
	}
	if q := items[0]; q.AttrValue("subscription") != "none" {
		t.Errorf("pushed item %v", q)
	}
}

func TestSetValidation(t *testing.T) {
	e := newEnv(t, roster.Config{}, "alice@localhost")
	phone := e.Bind("alice@localhost/phone")
	long := strings.Repeat("x", roster.MaxTextLen+1)
	ok := strings.Repeat("y", roster.MaxTextLen)
	for i, tc := range []struct {
		query string
		cond  stanza.Condition // "" for success
	}{
		0:  {`<item jid='bob@localhost'/><item jid='carol@localhost'/>`, stanza.BadRequest},
		1:  {``, stanza.BadRequest},
		2:  {`<item/>`, stanza.BadRequest},
		3:  {`<item jid='bob@localhost/res'/>`, stanza.JIDMalformed},
		4:  {`<item jid='@localhost'/>`, stanza.JIDMalformed},
		5:  {`<item jid='bob@localhost'><group></group></item>`, stanza.BadRequest},
		6:  {`<item jid='bob@localhost'><group>A</group><group>A</group></item>`, stanza.BadRequest},
		7:  {`<item jid='bob@localhost' name='` + long + `'/>`, stanza.NotAcceptable},
		8:  {`<item jid='bob@localhost'><group>` + long + `</group></item>`, stanza.NotAcceptable},
		9:  {`<item jid='alice@localhost'/>`, stanza.NotAllowed},
		10: {`<item jid='nobody@localhost' subscription='remove'/>`, stanza.ItemNotFound},
		11: {`<item jid='bob@localhost' name='` + ok + `'><group>` + ok + `</group></item>`, ""},
		// §2.1.2.5: other subscription values are ignored, as is 'ask'.
		12: {`<item jid='carol@localhost' subscription='both' ask='subscribe'/>`, ""},
	} {
		id := "v" + strconv.Itoa(i)
		e.Send("alice@localhost/phone", `<iq type='set' id='`+id+`'><query xmlns='jabber:iq:roster'>`+tc.query+`</query></iq>`)
		res := response(t, phone.Take(), id)
		if got := routertest.ErrorCondition(res); got != string(tc.cond) {
			t.Errorf("%d: condition %q, want %q (%v)", i, got, tc.cond, res)
		}
	}
	if got := e.state("alice@localhost", "carol@localhost"); got != "None" {
		t.Errorf("carol after a set with subscription='both': %q, want None", got)
	}
	it, err := e.stores.Roster.Item(e.Ctx, "alice@localhost", "carol@localhost")
	if err != nil || it.Subscription != roster.SubNone || it.Ask {
		t.Errorf("carol = %+v, %v; want subscription none without ask", it, err)
	}
}

func TestForbidden(t *testing.T) {
	e := newEnv(t, roster.Config{}, "alice@localhost", "bob@localhost")
	phone := e.Bind("alice@localhost/phone")
	for _, typ := range []string{"get", "set"} {
		e.Send("alice@localhost/phone", `<iq type='`+typ+`' id='f' to='bob@localhost'><query xmlns='jabber:iq:roster'><item jid='x@localhost'/></query></iq>`)
		if got := routertest.ErrorCondition(response(t, phone.Take(), "f")); got != string(stanza.Forbidden) {
			t.Errorf("%s of another user's roster: %q, want forbidden", typ, got)
		}
	}
	// Addressed to the own bare JID is fine.
	e.Send("alice@localhost/phone", `<iq type='get' id='own' to='alice@localhost'><query xmlns='jabber:iq:roster'/></iq>`)
	if res := response(t, phone.Take(), "own"); res.Type != stanza.TypeResult {
		t.Errorf("get addressed to own bare JID: %v", res)
	}
}

func TestAddUpdateKeepsSubscription(t *testing.T) {
	e := newEnv(t, roster.Config{}, "alice@localhost")
	phone := e.Bind("alice@localhost/phone")
	e.Router.SetInterested(mustJID(t, "alice@localhost/phone"))
	e.setState("alice@localhost", "bob@localhost", sFromOut)
	e.Send("alice@localhost/phone", `<iq type='set' id='u'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='Bob'><group>Friends</group><group>Work</group></item></query></iq>`)
	got := phone.Take()
	if res := response(t, got, "u"); res.Type != stanza.TypeResult {
		t.Fatalf("update: %v", res)
	}
	items := pushes(t, got)
	if len(items) != 1 {
		t.Fatalf("pushes = %v", got)
	}
	checkPushedState(t, items[0], "bob@localhost", sFromOut)
	if items[0].AttrValue("name") != "Bob" {
		t.Errorf("pushed name %q", items[0].AttrValue("name"))
	}
	var groups []string
	for _, g := range items[0].ChildrenNamed(roster.NS, "group") {
		groups = append(groups, g.Text())
	}
	if !slices.Equal(groups, []string{"Friends", "Work"}) {
		t.Errorf("pushed groups %v", groups)
	}
	if got := e.state("alice@localhost", "bob@localhost"); got != sFromOut {
		t.Errorf("state after update %q, want %q", got, sFromOut)
	}
}

func TestMaxItems(t *testing.T) {
	e := newEnv(t, roster.Config{MaxItems: 2}, "alice@localhost")
	phone := e.Bind("alice@localhost/phone")
	for i := range 3 {
		id := fmt.Sprint("m", i)
		e.Send("alice@localhost/phone", fmt.Sprintf(`<iq type='set' id='%s'><query xmlns='jabber:iq:roster'><item jid='c%d@localhost'/></query></iq>`, id, i))
		res := response(t, phone.Take(), id)
		want := ""
		if i == 2 {
			want = string(stanza.NotAllowed)
		}
		if got := routertest.ErrorCondition(res); got != want {
			t.Errorf("item %d: %q, want %q", i, got, want)
		}
	}
	// Updating an existing item is still possible.
	e.Send("alice@localhost/phone", `<iq type='set' id='up'><query xmlns='jabber:iq:roster'><item jid='c0@localhost' name='zero'/></query></iq>`)
	if got := routertest.ErrorCondition(response(t, phone.Take(), "up")); got != "" {
		t.Errorf("update in a full roster: %q", got)
	}
	// A subscription request that would add an item is refused too.
	e.Send("alice@localhost/phone", `<presence type='subscribe' to='c9@localhost'/>`)
	errs := only(phone.Take(), stanza.KindPresence, stanza.TypeError)
	if len(errs) != 1 || routertest.ErrorCondition(errs[0]) != string(stanza.NotAllowed) {
		t.Errorf("subscribe with a full roster: %v", errs)
	}
}

func TestVersioning(t *testing.T) {
	e := newEnv(t, roster.Config{}, "alice@localhost")
	phone := e.Bind("alice@localhost/phone")
	set := func(item string) {
		e.Send("alice@localhost/phone", `<iq type='set' id='s'><query xmlns='jabber:iq:roster'>`+item+`</query></iq>`)
		if res := response(t, phone.Take(), "s"); res.Type != stanza.TypeResult {
			t.Fatalf("set %s: %v", item, res)
		}
	}
	get := func(ver string) []*stanza.Stanza {
		attr := ""
		if ver != "-" {
			attr = ` ver='` + ver + `'`
		}
		e.Send("alice@localhost/phone", `<iq type='get' id='g'><query xmlns='jabber:iq:roster'`+attr+`/></iq>`)
		return phone.Take()
	}
	set(`<item jid='a@localhost'/>`) // v1
	set(`<item jid='b@localhost'/>`) // v2
	set(`<item jid='c@localhost'/>`) // v3
	// Current version: an empty result and nothing else.
	got := get("3")
	if len(got) != 1 || got[0].Type != stanza.TypeResult || len(got[0].El.Elements()) != 0 {
		t.Fatalf("get with the current ver = %v, want one empty result", got)
	}
	set(`<item jid='b@localhost' name='B'/>`)              // v4
	set(`<item jid='a@localhost' subscription='remove'/>`) // v5
	set(`<item jid='d@localhost'/>`)                       // v6
	phone.Take()

	// An older version: an empty result first, then one push per change.
	got = get("3")
	if len(got) != 4 || response(t, got, "g") != got[0] || len(got[0].El.Elements()) != 0 {
		t.Fatalf("get with ver 3 = %v, want an empty result and 3 pushes", got)
	}
	type push struct{ jid, sub, ver string }
	var ps []push
	for _, st := range got[1:] {
		q := st.El.Child(roster.NS, "query")
		it := q.Child(roster.NS, "item")
		ps = append(ps, push{it.AttrValue("jid"), it.AttrValue("subscription"), q.AttrValue("ver")})
		if st.To.String() != "alice@localhost/phone" || st.Type != stanza.TypeSet {
			t.Errorf("push %v", st)
		}
	}
	want := []push{{"b@localhost", "none", "4"}, {"a@localhost", "remove", "5"}, {"d@localhost", "none", "6"}}
	if !slices.Equal(ps, want) {
		t.Errorf("pushes = %v, want %v", ps, want)
	}

	// Unknown versions and none: the whole roster.
	for _, ver := range []string{"7", "abc", "-1", "", "-"} {
		got := get(ver)
		if len(got) != 1 {
			t.Fatalf("get with ver %q: %v", ver, got)
		}
		q := got[0].El.Child(roster.NS, "query")
		var jids []string
		for _, it := range q.ChildrenNamed(roster.NS, "item") {
			jids = append(jids, it.AttrValue("jid"))
		}
		if q.AttrValue("ver") != "6" || !slices.Equal(jids, []string{"b@localhost", "c@localhost", "d@localhost"}) {
			t.Errorf("get with ver %q = %v", ver, got[0])
		}
	}
}

func TestVersioningDisabled(t *testing.T) {
	e := newEnv(t, roster.Config{DisableVersioning: true}, "alice@localhost")
	if f := e.svc.StreamFeatures(); len(f) != 0 {
		t.Errorf("StreamFeatures = %v, want none", f)
	}
	phone := e.Bind("alice@localhost/phone")
	e.Send("alice@localhost/phone", `<iq type='get' id='g'><query xmlns='jabber:iq:roster' ver='0'/></iq>`)
	res := response(t, phone.Take(), "g")
	q := res.El.Child(roster.NS, "query")
	if q == nil {
		t.Fatalf("get = %v, want a full result", res)
	}
	if _, ok := q.LookupAttr("ver"); ok {
		t.Errorf("result has a ver without versioning: %v", res)
	}
	on := newEnv(t, roster.Config{})
	f := on.svc.StreamFeatures()
	if len(f) != 1 || f[0].Name != (xml.Name{Space: roster.NSVer, Local: "ver"}) {
		t.Errorf("StreamFeatures = %v", f)
	}
}

// TestLocalSubscription runs a whole subscription between two local users.
func TestLocalSubscription(t *testing.T) {
	e := newEnv(t, roster.Config{}, "alice@localhost", "bob@localhost")
	alice := e.online("alice@localhost/phone")
	bob := e.online("bob@localhost/desk")

	// Alice asks.
	e.Send("alice@localhost/phone", `<presence type='subscribe' to='bob@localhost' id='sub1'><status>hi</status></presence>`)
	checkPushedState(t, onePush(t, alice.Take()), "bob@localhost", sNoneOut)
	got := bob.Take()
	reqs := only(got, stanza.KindPresence, stanza.TypeSubscribe)
	if len(reqs) != 1 || reqs[0].From.String() != "alice@localhost" || reqs[0].El.ChildText(stanza.NSClient, "status") != "hi" {
		t.Fatalf("bob got %v, want alice's request from her bare JID", got)
	}
	if len(pushes(t, got)) != 0 {
		t.Errorf("bob got a push for a pending request: %v", got)
	}
	e.expectStates(t, "alice@localhost", "bob@localhost", sNoneOut, sNoneIn)

	// Bob approves: alice gets 'subscribed' and bob's presence.
	e.Send("bob@localhost/desk", `<presence type='subscribed' to='alice@localhost'/>`)
	checkPushedState(t, onePush(t, bob.Take()), "alice@localhost", sFrom)
	got = alice.Take()
	checkPushedState(t, onePush(t, got), "bob@localhost", sTo)
	if s := only(got, stanza.KindPresence, stanza.TypeSubscribed); len(s) != 1 || s[0].From.String() != "bob@localhost" {
		t.Errorf("alice got %v, want bob's approval", got)
	}
	if p := only(got, stanza.KindPresence, stanza.TypeAvailable); len(p) != 1 || p[0].From.String() != "bob@localhost/desk" ||
		p[0].El.ChildText(stanza.NSClient, "show") != "chat" {
		t.Errorf("alice got %v, want bob's presence", got)
	}
	e.expectStates(t, "alice@localhost", "bob@localhost", sTo, sFrom)

	// Bob asks back, alice approves: both.
	e.Send("bob@localhost/desk", `<presence type='subscribe' to='alice@localhost'/>`)
	e.Send("alice@localhost/phone", `<presence type='subscribed' to='bob@localhost'/>`)
	e.expectStates(t, "alice@localhost", "bob@localhost", sBoth, sBoth)
	alice.Take()
	bob.Take()

	// A repeated request from a subscriber is approved by bob's side
	// (A.3.1), which alice's side ignores as she is already subscribed
	// (A.3.3); she gets bob's presence again.
	e.Send("alice@localhost/phone", `<presence type='subscribe' to='bob@localhost'/>`)
	got = alice.Take()
	if p := only(got, stanza.KindPresence, stanza.TypeAvailable); len(p) != 1 || len(got) != 1 {
		t.Errorf("alice got %v, want bob's presence", got)
	}
	if got := only(bob.Take(), stanza.KindPresence, stanza.TypeSubscribe); len(got) != 0 {
		t.Errorf("bob got a request from a subscriber: %v", got)
	}
	e.expectStates(t, "alice@localhost", "bob@localhost", sBoth, sBoth)

	// Alice unsubscribes: bob loses 'from' and alice gets bob's
	// unavailable presence.
	e.Send("alice@localhost/phone", `<presence type='unsubscribe' to='bob@localhost'/>`)
	e.expectStates(t, "alice@localhost", "bob@localhost", sFrom, sTo)
	got = alice.Take()
	if u := only(got, stanza.KindPresence, stanza.TypeUnavailable); len(u) != 1 || u[0].From.String() != "bob@localhost/desk" {
		t.Errorf("alice got %v, want bob's unavailable presence", got)
	}
	if u := only(bob.Take(), stanza.KindPresence, stanza.TypeUnsubscribe); len(u) != 1 {
		t.Errorf("bob did not get the unsubscribe")
	}

	// Alice cancels bob's subscription: bob gets her unavailable presence.
	e.Send("alice@localhost/phone", `<presence type='unsubscribed' to='bob@localhost'/>`)
	e.expectStates(t, "alice@localhost", "bob@localhost", sNone, sNone)
	got = bob.Take()
	if u := only(got, stanza.KindPresence, stanza.TypeUnavailable); len(u) != 1 || u[0].From.String() != "alice@localhost/phone" {
		t.Errorf("bob got %v, want alice's unavailable presence", got)
	}
	if u := only(got, stanza.KindPresence, stanza.TypeUnsubscribed); len(u) != 1 || u[0].From.String() != "alice@localhost" {
		t.Errorf("bob got %v, want alice's unsubscribed", got)
	}
}

func (e *env) expectStates(t *testing.T, a, b, aState, bState string) {
	t.Helper()
	if got := e.state(a, b); got != aState {
		t.Errorf("%s's view of %s = %q, want %q", a, b, got, aState)
	}
	if got := e.state(b, a); got != bState {
		t.Errorf("%s's view of %s = %q, want %q", b, a, got, bState)
	}
}

func onePush(t *testing.T, sts []*stanza.Stanza) *xml.Element {
	t.Helper()
	items := pushes(t, sts)
	if len(items) != 1 {
		t.Fatalf("%d pushes in %v, want 1", len(items), sts)
	}
	return items[0]
}

// TestPendingOnLogin: a request to an offline user waits and is presented
// at each initial presence until it is answered.
func TestPendingOnLogin(t *testing.T) {
	e := newEnv(t, roster.Config{}, "alice@localhost", "bob@localhost")
	e.online("alice@localhost/phone")
	e.Send("alice@localhost/phone", `<presence type='subscribe' to='bob@localhost'/>`)
	e.expectStates(t, "alice@localhost", "bob@localhost", sNoneOut, sNoneIn)

	login := func(res string) []*stanza.Stanza {
		tg := e.Bind("bob@localhost/" + res)
		if got := tg.Take(); len(got) != 0 {
			t.Fatalf("got %v before initial presence", got)
		}
		e.Router.SetPresence(e.Ctx, mustJID(t, "bob@localhost/"+res), routertest.Parse(t, `<presence/>`))
		return tg.Take()
	}
	for _, res := range []string{"one", "two"} {
		got := login(res)
		if len(got) != 1 || got[0].Type != stanza.TypeSubscribe || got[0].From.String() != "alice@localhost" ||
			got[0].To.String() != "bob@localhost" {
			t.Fatalf("at login of %s: %v, want alice's request", res, got)
		}
	}
	e.Send("bob@localhost/two", `<presence type='unsubscribed' to='alice@localhost'/>`)
	e.expectStates(t, "alice@localhost", "bob@localhost", sNone, sNone)
	if got := login("three"); len(got) != 0 {
		t.Errorf("after the denial: %v", got)
	}
}

func TestSubscribeUnknownAndRemote(t *testing.T) {
	e := newEnv(t, roster.Config{}, "alice@localhost")
	alice := e.online("alice@localhost/phone")
	// RFC 6121 §8.5.1: a request to no one is answered 'unsubscribed'.
	e.Send("alice@localhost/phone", `<presence type='subscribe' to='ghost@localhost'/>`)
	got := alice.Take()
	if u := only(got, stanza.KindPresence, stanza.TypeUnsubscribed); len(u) != 1 || u[0].From.String() != "ghost@localhost" {
		t.Errorf("got %v, want unsubscribed from ghost", got)
	}
	if got := e.state("alice@localhost", "ghost@localhost"); got != sNone {
		t.Errorf("state with ghost = %q, want None", got)
	}
	// No server-to-server: remote-server-not-found, but the item stays
	// pending (outbound processing happened).
	e.Send("alice@localhost/phone", `<presence type='subscribe' to='romeo@remote.example' id='x'/>`)
	got = alice.Take()
	errs := only(got, stanza.KindPresence, stanza.TypeError)
	if len(errs) != 1 || routertest.ErrorCondition(errs[0]) != string(stanza.RemoteServerNotFound) || errs[0].To.String() != "alice@localhost/phone" {
		t.Errorf("got %v, want remote-server-not-found to the phone", got)
	}
	if got := e.state("alice@localhost", "romeo@remote.example"); got != sNoneOut {
		t.Errorf("state with romeo = %q, want %q", got, sNoneOut)
	}
	// Subscription to oneself is ignored.
	e.Send("alice@localhost/phone", `<presence type='subscribe' to='alice@localhost'/>`)
	if got := alice.Take(); len(got) != 0 {
		t.Errorf("self-subscription: %v", got)
	}
}

func TestRemove(t *testing.T) {
	e := newEnv(t, roster.Config{}, "alice@localhost", "bob@localhost", "carol@localhost")
	alice := e.online("alice@localhost/phone")
	bob := e.online("bob@localhost/desk")
	e.setState("alice@localhost", "bob@localhost", sBoth)
	e.setState("bob@localhost", "alice@localhost", sBoth)
	e.Send("alice@localhost/phone", `<iq type='set' id='rm'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' subscription='remove'/></query></iq>`)
	got := alice.Take()
	if res := response(t, got, "rm"); res.Type != stanza.TypeResult {
		t.Fatalf("remove: %v", res)
	}
	if it := onePush(t, got); it.AttrValue("subscription") != "remove" || it.AttrValue("jid") != "bob@localhost" {
		t.Errorf("push %v, want a removal", it)
	}
	if _, err := e.stores.Roster.Item(e.Ctx, "alice@localhost", "bob@localhost"); err == nil {
		t.Error("item still there")
	}
	if got := e.state("bob@localhost", "alice@localhost"); got != sNone {
		t.Errorf("bob's view of alice = %q, want None", got)
	}
	got = bob.Take()
	for _, typ := range []string{stanza.TypeUnsubscribe, stanza.TypeUnsubscribed} {
		if s := only(got, stanza.KindPresence, typ); len(s) != 1 || s[0].From.String() != "alice@localhost" {
			t.Errorf("bob got %v, want one %s from alice", got, typ)
		}
	}
	if u := only(got, stanza.KindPresence, stanza.TypeUnavailable); len(u) != 1 || u[0].From.String() != "alice@localhost/phone" {
		t.Errorf("bob got %v, want alice's unavailable presence", got)
	}

	// Removing an item that only has a pending request denies it: the
	// requester's ask is cleared.
	e.Send("carol@localhost/x", `<presence type='subscribe' to='alice@localhost'/>`)
	e.Send("alice@localhost/phone", `<iq type='set' id='add'><query xmlns='jabber:iq:roster'><item jid='carol@localhost'/></query></iq>`)
	e.Send("alice@localhost/phone", `<iq type='set' id='rm2'><query xmlns='jabber:iq:roster'><item jid='carol@localhost' subscription='remove'/></query></iq>`)
	e.expectStates(t, "alice@localhost", "carol@localhost", sNone, sNone)
}

func TestSubscribersAPI(t *testing.T) {
	e := newEnv(t, roster.Config{}, "alice@localhost")
	for c, s := range map[string]string{"n@localhost": sNoneIO, "t@localhost": sToIn, "f@localhost": sFromOut, "b@localhost": sBoth} {
		e.setState("alice@localhost", c, s)
	}
	alice := mustJID(t, "alice@localhost")
	names := func(js []jid.JID) []string {
		var out []string
		for _, j := range js {
			out = append(out, j.String())
		}
		slices.Sort(out)
		return out
	}
	subs, err := e.svc.Subscribers(e.Ctx, alice)
	if err != nil || !slices.Equal(names(subs), []string{"b@localhost", "f@localhost"}) {
		t.Errorf("Subscribers = %v, %v", subs, err)
	}
	subs, err = e.svc.Subscriptions(e.Ctx, alice)
	if err != nil || !slices.Equal(names(subs), []string{"b@localhost", "t@localhost"}) {
		t.Errorf("Subscriptions = %v, %v", subs, err)
	}
	for c, want := range map[string]bool{"n@localhost": false, "t@localhost": false, "f@localhost": true, "b@localhost": true, "x@localhost": false} {
		if got, err := e.svc.IsSubscriber(e.Ctx, alice, mustJID(t, c+"/res")); got != want || err != nil {
			t.Errorf("IsSubscriber(%s) = %v, %v; want %v", c, got, err, want)
		}
	}
}
