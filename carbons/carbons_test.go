package carbons_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"dormouse.im/dormouse/carbons"
	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// TestEnableDisable checks the enable and disable requests (§4, §5, §10.1).
func TestEnableDisable(t *testing.T) {
	const (
		enable  = "<enable xmlns='urn:xmpp:carbons:2'/>"
		disable = "<disable xmlns='urn:xmpp:carbons:2'/>"
	)
	type req struct{ to, payload string }
	for i, tc := range []struct {
		before  []string // payloads sent first, each answered with a result
		req     req
		typ     string // "get" instead of set
		cond    stanza.Condition
		enabled bool
	}{
		0:  {req: req{"", enable}, enabled: true},
		1:  {req: req{"localhost", enable}, enabled: true},
		2:  {req: req{"alice@localhost", enable}, enabled: true},
		3:  {req: req{"bob@localhost", enable}, cond: stanza.NotAllowed},
		4:  {before: []string{enable}, req: req{"bob@localhost", disable}, cond: stanza.NotAllowed, enabled: true},
		5:  {before: []string{enable}, req: req{"", enable}, enabled: true},
		6:  {before: []string{enable}, req: req{"", disable}},
		7:  {before: []string{enable}, req: req{"localhost", disable}},
		8:  {before: []string{enable}, req: req{"alice@localhost", disable}},
		9:  {req: req{"", disable}},
		10: {before: []string{enable, disable}, req: req{"", disable}},
		11: {before: []string{enable, disable}, req: req{"", enable}, enabled: true},
		12: {req: req{"", enable}, typ: "get", cond: stanza.BadRequest},
		13: {req: req{"", "<private xmlns='urn:xmpp:carbons:2'/>"}, cond: stanza.BadRequest},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			e := newEnv(t)
			a := e.Online("alice@localhost/a", 0)
			other := e.Online("alice@localhost/b", 0)
			e.Online("bob@localhost/b", 0)
			for _, p := range tc.before {
				if got := e.iq(a, "", p); got.Type != stanza.TypeResult {
					t.Fatalf("%s: %s", p, got)
				}
			}
			typ := tc.typ
			if typ == "" {
				typ = "set"
			}
			to := ""
			if tc.req.to != "" {
				to = " to='" + tc.req.to + "'"
			}
			e.Route("<iq type='" + typ + "' id='q' from='alice@localhost/a'" + to + ">" + tc.req.payload + "</iq>")
			got := a.Take()
			if len(got) != 1 || got[0].ID != "q" || !got[0].To.Equal(a.JID) {
				t.Fatalf("answer: %v", got)
			}
			if tc.cond == "" {
				if got[0].Type != stanza.TypeResult || len(got[0].El.Elements()) != 0 {
					t.Errorf("got %s, want an empty result", got[0])
				}
			} else if e := stanza.ParseError(got[0].El); got[0].Type != stanza.TypeError || e == nil || e.Condition != tc.cond {
				t.Errorf("got %s, want %s", got[0], tc.cond)
			}
			if on := e.svc.Enabled(a.JID); on != tc.enabled {
				t.Errorf("enabled: %v, want %v", on, tc.enabled)
			}
			if e.svc.Enabled(other.JID) {
				t.Error("the other resource is enabled too")
			}
		})
	}
}

// TestEnableNotAClient checks that only bound resources of local accounts
// enable carbons (§4.1: not-allowed for a client not hosted here).
func TestEnableNotAClient(t *testing.T) {
	e := newEnv(t)
	comp := e.Component("gateway.example")
	for _, from := range []string{"gateway.example", "user@gateway.example/r", "alice@localhost"} {
		e.Route("<iq type='set' id='q' from='" + from + "' to='localhost'><enable xmlns='urn:xmpp:carbons:2'/></iq>")
	}
	got := comp.Take()
	if len(got) != 2 {
		t.Fatalf("component got %v", got)
	}
	for _, st := range got {
		if e := stanza.ParseError(st.El); e == nil || e.Condition != stanza.NotAllowed {
			t.Errorf("got %s, want not-allowed", st)
		}
	}
	// alice@localhost has no session: the error goes nowhere, and nothing
	// is enabled.
	if e.svc.Enabled(jid.MustParse("alice@localhost")) {
		t.Error("a bare JID is enabled")
	}
}

// TestGone checks that carbons end with the session that enabled them.
func TestGone(t *testing.T) {
	e := newEnv(t)
	a := e.Online("alice@localhost/a", 1)
	b := e.Online("alice@localhost/b", 5)
	e.enable(a, b)

	// The session ends: its state goes.
	e.Unbind(a.JID.String())
	if e.svc.Enabled(a.JID) {
		t.Error("enabled after unbind")
	}
	a = e.Online("alice@localhost/a", 1)
	e.Route("<message type='chat' from='juliet@capulet.example/balcony' to='alice@localhost/b'><body>1</body></message>")
	if got := a.Take(); len(got) != 0 {
		t.Errorf("a new session of the resource got %v", kinds(got))
	}

	// A session replaced by a new one with the same full JID (a conflict):
	// the new one starts disabled.
	e.enable(a)
	a2 := &routertest.Recorder{JID: a.JID}
	if old := e.Router.BindReplacing(e.Ctx, a.JID, a2); old != a {
		t.Fatalf("replaced %v", old)
	}
	e.SetPresence(a.JID.String(), "<presence><priority>1</priority></presence>")
	if e.svc.Enabled(a.JID) {
		t.Error("the replacing session is enabled")
	}
	e.Route("<message type='chat' from='juliet@capulet.example/balcony' to='alice@localhost/b'><body>2</body></message>")
	if got := append(a.Take(), a2.Take()...); len(got) != 0 {
		t.Errorf("after the conflict: %v", kinds(got))
	}
	e.enable(a2)
	e.Route("<message type='chat' from='juliet@capulet.example/balcony' to='alice@localhost/b'><body>3</body></message>")
	if got := kinds(a2.Take()); !slices.Equal(got, []string{"received"}) {
		t.Errorf("after enabling again: %v", got)
	}

	// Another resource's end leaves this one alone.
	e.Unbind(b.JID.String())
	if !e.svc.Enabled(a2.JID) {
		t.Error("disabled by another resource's end")
	}
}

// TestRules checks which messages are copied (§6's recommended rules, §9).
// Alice's resource a sends (or bob receives); alice/b and bob/b2 have
// carbons enabled and do not get the message directly.
func TestRules(t *testing.T) {
	const (
		A  = "from='alice@localhost/a'"
		B  = "to='bob@localhost'"
		hi = "<body>hi</body>"
	)
	for _, tc := range []struct {
		name           string
		msg            string
		sent, received bool // alice/b gets a sent copy, bob/b2 a received one
	}{
		{"chat", "<message type='chat' " + A + " " + B + ">" + hi + "</message>", true, true},
		{"chat without body", "<message type='chat' " + A + " " + B + "><composing xmlns='http://jabber.org/protocol/chatstates'/></message>", true, true},
		{"normal with body", "<message type='normal' " + A + " " + B + ">" + hi + "</message>", true, true},
		{"no type with body", "<message " + A + " " + B + ">" + hi + "</message>", true, true},
		{"normal with empty body", "<message " + A + " " + B + "><body/></message>", true, true},
		{"normal without body", "<message type='normal' " + A + " " + B + "><thread>t1</thread></message>", false, false},
		{"normal, chat state only", "<message " + A + " " + B + "><active xmlns='http://jabber.org/protocol/chatstates'/></message>", true, true},
		{"normal, receipt only", "<message " + A + " " + B + "><received xmlns='urn:xmpp:receipts' id='m0'/></message>", true, true},
		{"normal, chat marker only", "<message " + A + " " + B + "><displayed xmlns='urn:xmpp:chat-markers:0' id='m0'/></message>", true, true},
		{"normal, jingle message", "<message " + A + " " + B + "><propose xmlns='urn:xmpp:jingle-message:0' id='j1'/></message>", true, true},
		{"normal, direct invitation", "<message " + A + " " + B + "><x xmlns='jabber:x:conference' jid='room@conference.example'/></message>", true, true},
		{"headline", "<message type='headline' " + A + " " + B + ">" + hi + "</message>", false, false},
		{"error", "<message type='error' " + A + " " + B + "><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>", false, false},
		{"private", "<message type='chat' " + A + " " + B + ">" + hi + "<private xmlns='urn:xmpp:carbons:2'/></message>", false, false},
		{"no-copy", "<message type='chat' " + A + " " + B + ">" + hi + "<no-copy xmlns='urn:xmpp:hints'/></message>", false, false},
		{"private and no-copy", "<message type='chat' " + A + " " + B + ">" + hi + "<private xmlns='urn:xmpp:carbons:2'/><no-copy xmlns='urn:xmpp:hints'/></message>", false, false},
		{"already a received carbon", "<message type='chat' " + A + " " + B + "><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' type='chat' from='x@y/z' to='bob@localhost'>" + hi + "</message></forwarded></received></message>", false, false},
		{"already a sent carbon", "<message type='chat' " + A + " " + B + "><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' type='chat' from='bob@localhost/x' to='x@y'>" + hi + "</message></forwarded></sent></message>", false, false},
		{"archive result", "<message " + A + " " + B + "><result xmlns='urn:xmpp:mam:2' queryid='q' id='1'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' type='chat' from='x@y/z' to='bob@localhost'>" + hi + "</message></forwarded></result></message>", false, false},
		{"chat to a remote contact", "<message type='chat' " + A + " to='juliet@capulet.example'>" + hi + "</message>", true, false},
		{"chat from a remote contact", "<message type='chat' from='juliet@capulet.example/balcony' " + B + ">" + hi + "</message>", false, true},
		{"from the server", "<message from='localhost' " + B + ">" + hi + "</message>", false, true},
		{"groupchat from a room", "<message type='groupchat' from='room@conference.example/nick' to='bob@localhost/b1'>" + hi + "</message>", false, false},
		{"groupchat to a room", "<message type='groupchat' " + A + " to='room@conference.example'>" + hi + "</message>", false, false},
		{"MUC private message received", "<message type='chat' from='room@conference.example/nick' " + B + ">" + hi + "<x xmlns='http://jabber.org/protocol/muc#user'/></message>", false, false},
		{"MUC private message received to a full JID", "<message type='chat' from='room@conference.example/nick' to='bob@localhost/b1'>" + hi + "<x xmlns='http://jabber.org/protocol/muc#user'/></message>", false, false},
		{"MUC private message sent", "<message type='chat' " + A + " to='room@conference.example/nick'>" + hi + "<x xmlns='http://jabber.org/protocol/muc#user'/></message>", true, false},
		{"MUC private message sent, chat state", "<message type='chat' " + A + " to='room@conference.example/nick'><active xmlns='http://jabber.org/protocol/chatstates'/><x xmlns='http://jabber.org/protocol/muc#user'/></message>", true, false},
		{"mediated invitation", "<message from='room@conference.example' " + B + "><x xmlns='http://jabber.org/protocol/muc#user'><invite from='juliet@capulet.example'/></x></message>", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			a, ab, b1, b2 := e.twoUsers()
			e.enable(a, ab, b1, b2)
			for _, d := range []string{"conference.example", "capulet.example"} {
				e.Component(d)
			}
			e.Route(tc.msg)
			got := map[string][]string{}
			for _, r := range []*routertest.Recorder{a, ab, b1, b2} {
				for _, k := range kinds(r.Take()) {
					if k == "sent" || k == "received" {
						got[r.JID.Resourcepart()] = append(got[r.JID.Resourcepart()], k)
					}
				}
			}
			want := map[string][]string{}
			if tc.sent {
				want["b"] = []string{"sent"}
			}
			if tc.received {
				want["b2"] = []string{"received"}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("copies: %v, want %v", got, want)
			}
		})
	}
}

// TestSent checks the sent copies (§8): their wrapper and addressing, and
// who gets one.
func TestSent(t *testing.T) {
	for _, senderEnabled := range []bool{false, true} {
		t.Run(fmt.Sprint("sender enabled ", senderEnabled), func(t *testing.T) {
			e := newEnv(t)
			a := e.Online("alice@localhost/a", 1)
			b := e.Online("alice@localhost/b", 1)     // enabled
			c := e.Online("alice@localhost/c", 1)     // not enabled
			d := e.Bind("alice@localhost/d")          // enabled, no presence yet
			n := e.Online("alice@localhost/n", -1)    // enabled, negative priority
			bob := e.Online("bob@localhost/phone", 0) // not enabled
			e.enable(b, d, n)
			if senderEnabled {
				e.enable(a)
			}
			e.Route("<message type='chat' id='m1' from='alice@localhost/a' to='bob@localhost'><body>hi</body><thread>t1</thread></message>")
			for _, r := range []*routertest.Recorder{b, d, n} {
				got := r.Take()
				if len(got) != 1 {
					t.Fatalf("%s got %v", r.JID, kinds(got))
				}
				routertest.WantSerialized(t, got[0], `<message from='alice@localhost' to='`+r.JID.String()+`' type='chat'>
					<sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>
						<message xmlns='jabber:client' type='chat' id='m1' from='alice@localhost/a' to='bob@localhost'>
							<body>hi</body><thread>t1</thread>
						</message>
					</forwarded></sent></message>`)
				if !got[0].From.Equal(jid.MustParse("alice@localhost")) || !got[0].To.Equal(r.JID) || got[0].Type != "chat" {
					t.Errorf("addressing: from %s to %s type %s", got[0].From, got[0].To, got[0].Type)
				}
			}
			for _, r := range []*routertest.Recorder{a, c} {
				if got := r.Take(); len(got) != 0 {
					t.Errorf("%s got %v", r.JID, kinds(got))
				}
			}
			if got := kinds(bob.Take()); !slices.Equal(got, []string{"message"}) {
				t.Errorf("bob got %v", got)
			}
		})
	}
}

// TestSentKeepsType checks that a copy has the original's type, or none.
func TestSentKeepsType(t *testing.T) {
	e := newEnv(t)
	e.Online("alice@localhost/a", 1)
	b := e.Online("alice@localhost/b", 1)
	e.Online("bob@localhost/phone", 0)
	e.enable(b)
	e.Route("<message from='alice@localhost/a' to='bob@localhost'><body>hi</body></message>")
	got := b.Take()
	if len(got) != 1 {
		t.Fatalf("got %v", kinds(got))
	}
	routertest.WantSerialized(t, got[0], `<message from='alice@localhost' to='alice@localhost/b'><sent xmlns='urn:xmpp:carbons:2'>
		<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='alice@localhost/a' to='bob@localhost'><body>hi</body></message></forwarded>
	</sent></message>`)
}

// TestReceived checks the received copies (§7): to each enabled resource
// that does not get the message under RFC 6121 §8.5.
func TestReceived(t *testing.T) {
	for _, tc := range []struct {
		to   string
		want map[string]string // resource: what it gets
	}{
		// A bare JID: the available resources of the highest non-negative
		// priority get the message.
		{"bob@localhost", map[string]string{"b1": "message", "b2": "message", "b3": "received", "b4": "received", "b5": "received"}},
		{"bob@localhost/b3", map[string]string{"b3": "message", "b1": "received", "b4": "received", "b5": "received"}},
		{"bob@localhost/b2", map[string]string{"b2": "message", "b1": "received", "b3": "received", "b4": "received", "b5": "received"}},
		// Bound without presence: a full JID still reaches it.
		{"bob@localhost/b5", map[string]string{"b5": "message", "b1": "received", "b3": "received", "b4": "received"}},
		// Not bound: chat falls back to the bare JID rules.
		{"bob@localhost/gone", map[string]string{"b1": "message", "b2": "message", "b3": "received", "b4": "received", "b5": "received"}},
	} {
		t.Run(tc.to, func(t *testing.T) {
			e := newEnv(t)
			rs := []*routertest.Recorder{
				e.Online("bob@localhost/b1", 5),  // enabled
				e.Online("bob@localhost/b2", 5),  // not enabled
				e.Online("bob@localhost/b3", 1),  // enabled
				e.Online("bob@localhost/b4", -1), // enabled
				e.Bind("bob@localhost/b5"),       // enabled, no presence
				e.Online("bob@localhost/b6", 1),  // not enabled
			}
			e.enable(rs[0], rs[2], rs[3], rs[4])
			e.Route("<message type='chat' id='m1' from='juliet@capulet.example/balcony' to='" + tc.to + "'><body>hi</body></message>")
			for _, r := range rs {
				res := r.JID.Resourcepart()
				got := r.Take()
				if k := strings.Join(kinds(got), ","); k != tc.want[res] {
					t.Errorf("%s got %q, want %q", res, k, tc.want[res])
					continue
				}
				if tc.want[res] != "received" {
					continue
				}
				routertest.WantSerialized(t, got[0], `<message from='bob@localhost' to='`+r.JID.String()+`' type='chat'>
					<received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>
						<message xmlns='jabber:client' type='chat' id='m1' from='juliet@capulet.example/balcony' to='`+tc.to+`'><body>hi</body></message>
					</forwarded></received></message>`)
			}
		})
	}
}

// TestLocalToLocal checks a message between two local users: sent copies
// for the sender's resources, received copies for the recipient's.
func TestLocalToLocal(t *testing.T) {
	e := newEnv(t)
	a, ab, b1, b2 := e.twoUsers()
	e.enable(a, ab, b1, b2)
	e.Route("<message type='chat' from='alice@localhost/a' to='bob@localhost'><body>hi</body></message>")
	for r, want := range map[*routertest.Recorder]string{a: "", ab: "sent", b1: "message", b2: "received"} {
		if got := strings.Join(kinds(r.Take()), ","); got != want {
			t.Errorf("%s got %q, want %q", r.JID, got, want)
		}
	}
}

// TestSameAccount checks messages within one account: each resource gets
// the message once at most, directly or as a sent copy, never as a
// received one, and the sender gets nothing.
func TestSameAccount(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		want     map[string]string
	}{
		{"a", "alice@localhost", map[string]string{"a": "message", "b": "message", "c": "sent"}},
		{"a", "", map[string]string{"a": "message", "b": "message", "c": "sent"}},
		{"c", "alice@localhost", map[string]string{"a": "message", "b": "message"}},
		{"a", "alice@localhost/c", map[string]string{"c": "message", "b": "sent"}},
		{"a", "alice@localhost/d", map[string]string{"d": "message", "b": "sent", "c": "sent"}},
		{"a", "alice@localhost/a", map[string]string{"a": "message", "b": "sent", "c": "sent"}},
	} {
		t.Run(tc.from+" to "+tc.to, func(t *testing.T) {
			e := newEnv(t)
			rs := []*routertest.Recorder{
				e.Online("alice@localhost/a", 5), // enabled
				e.Online("alice@localhost/b", 5), // enabled
				e.Online("alice@localhost/c", 1), // enabled
				e.Online("alice@localhost/d", 1), // not enabled
			}
			e.enable(rs[:3]...)
			to := ""
			if tc.to != "" {
				to = " to='" + tc.to + "'"
			}
			e.Route("<message type='chat' from='alice@localhost/" + tc.from + "'" + to + "><body>note</body></message>")
			for _, r := range rs {
				res := r.JID.Resourcepart()
				if got := strings.Join(kinds(r.Take()), ","); got != tc.want[res] {
					t.Errorf("%s got %q, want %q", res, got, tc.want[res])
				}
			}
		})
	}
}

// TestStanzaID checks that copies forward the message as the archive stage
// left it, with its XEP-0359 stanza-ids.
func TestStanzaID(t *testing.T) {
	// stamp adds a stanza-id for each local account of the message, as the
	// archive does before the copy stage.
	stamp := func(m *router.Mux) {
		m.Use(router.StageArchive, router.Hook{Name: "archive", Func: func(_ context.Context, rt *router.Routing) error {
			c := rt.St.Copy()
			for _, j := range []jid.JID{rt.St.To, rt.St.From} {
				if j.Domainpart() == host {
					c.El.AddChild(xml.NewElement("urn:xmpp:sid:0", "stanza-id", "by", j.Bare().String(), "id", "id-"+j.Localpart()))
				}
			}
			rt.St = c
			return nil
		}})
	}
	e := newEnv(t, stamp)
	a, ab, b1, b2 := e.twoUsers()
	e.enable(ab, b2)
	e.Route("<message type='chat' id='m1' from='alice@localhost/a' to='bob@localhost'><body>hi</body></message>")
	direct := b1.Take()
	sent, received := ab.Take(), b2.Take()
	if len(direct) != 1 || len(sent) != 1 || len(received) != 1 || len(a.Take()) != 0 {
		t.Fatalf("direct %v, sent %v, received %v", kinds(direct), kinds(sent), kinds(received))
	}
	const want = `<message xmlns='jabber:client' type='chat' id='m1' from='alice@localhost/a' to='bob@localhost'><body>hi</body>
		<stanza-id xmlns='urn:xmpp:sid:0' by='bob@localhost' id='id-bob'/>
		<stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='id-alice'/></message>`
	routertest.WantSerialized(t, direct[0], want)
	for _, c := range []*stanza.Stanza{sent[0], received[0]} {
		if f := forwarded(t, c); f != direct[0].El {
			t.Errorf("forwarded %s, not the delivered message", f)
		}
	}
}

// TestPrivate checks that a private message is not copied and that the
// receiving server strips <private/> before delivery (§9).
func TestPrivate(t *testing.T) {
	e := newEnv(t)
	a, ab, b1, b2 := e.twoUsers()
	e.enable(a, ab, b1, b2)
	msg := routertest.Parse(t, "<message type='chat' from='alice@localhost/a' to='bob@localhost'><body>hi</body><private xmlns='urn:xmpp:carbons:2'/><no-copy xmlns='urn:xmpp:hints'/></message>")
	e.Router.Route(e.Ctx, msg)
	got := b1.Take()
	if len(got) != 1 {
		t.Fatalf("bob/b1 got %v", kinds(got))
	}
	routertest.WantSerialized(t, got[0], "<message type='chat' from='alice@localhost/a' to='bob@localhost'><body>hi</body><no-copy xmlns='urn:xmpp:hints'/></message>")
	if msg.El.Child(carbons.NS, "private") == nil {
		t.Error("the routed stanza was changed")
	}
	for _, r := range []*routertest.Recorder{a, ab, b2} {
		if got := r.Take(); len(got) != 0 {
			t.Errorf("%s got %v", r.JID, kinds(got))
		}
	}

	// To a remote user, the receiving server decides: <private/> stays.
	rt := &router.Routing{St: routertest.Parse(t, "<message type='chat' from='alice@localhost/a' to='juliet@capulet.example'><body>hi</body><private xmlns='urn:xmpp:carbons:2'/></message>")}
	st := rt.St
	if err := e.svc.Hook().Func(e.Ctx, rt); err != nil || rt.St != st {
		t.Errorf("remote: %v, stanza replaced %v", err, rt.St != st)
	}
	if got := ab.Take(); len(got) != 0 {
		t.Errorf("alice/b got %v", kinds(got))
	}
}

// TestNeverBounced checks that a resource that cannot take a copy just
// misses it: no error goes back to the sender, and the message is still
// delivered.
func TestNeverBounced(t *testing.T) {
	e := newEnv(t)
	a, ab, b1, b2 := e.twoUsers()
	e.enable(ab, b2)
	ab.Limit(0)
	b2.Limit(0)
	e.Route("<message type='chat' from='alice@localhost/a' to='bob@localhost'><body>hi</body></message>")
	if got := a.Take(); len(got) != 0 {
		t.Errorf("the sender got %v", kinds(got))
	}
	if got := kinds(b1.Take()); !slices.Equal(got, []string{"message"}) {
		t.Errorf("bob/b1 got %v", got)
	}
}

// TestDisco checks the advertised features (§3).
func TestDisco(t *testing.T) {
	e := newEnv(t)
	f := e.Mux.Features(router.ToServer)
	if !slices.Contains(f, carbons.NS) || !slices.Contains(f, carbons.NSRules) {
		t.Errorf("server features %v", f)
	}
	if f := e.Mux.Features(router.ToAccount); slices.Contains(f, carbons.NS) {
		t.Errorf("account features %v", f)
	}
}
