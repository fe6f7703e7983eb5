package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/xml"
)

const (
	nsMUC     = "http://jabber.org/protocol/muc"
	nsMUCUser = "http://jabber.org/protocol/muc#user"
	mucRoom   = "coven@conference.localhost"
)

// mucStatuses returns the muc#user status codes of el.
func mucStatuses(el *xml.Element) string {
	var out []string
	if x := el.Child(nsMUCUser, "x"); x != nil {
		for _, s := range x.ChildrenNamed(nsMUCUser, "status") {
			out = append(out, s.AttrValue("code"))
		}
	}
	return strings.Join(out, ",")
}

func fromRoom(e *xml.Element) bool { return strings.HasPrefix(e.AttrValue("from"), mucRoom) }

func mucItem(el *xml.Element) *xml.Element {
	return el.Child(nsMUCUser, "x").Child(nsMUCUser, "item")
}

// selfPresence waits for c's own presence from the room (status 110).
func selfPresence(t *testing.T, c *xmpptest.Client, typ string) *xml.Element {
	t.Helper()
	return expectStanza(t, c, "presence", func(e *xml.Element) bool {
		return e.AttrValue("type") == typ && strings.Contains(","+mucStatuses(e)+",", ",110,")
	})
}

// joinRoom joins c to room/nick (inner: children of the muc <x/>) and
// waits for its self-presence and the subject, returning what came between.
func joinRoom(t *testing.T, c *xmpptest.Client, room, nick, inner string) (self *xml.Element, before []*xml.Element) {
	t.Helper()
	c.Sendf("<presence to='%s/%s'><x xmlns='%s'>%s</x></presence>", room, nick, nsMUC, inner)
	self, before, err := c.Expect(func(e *xml.Element) bool {
		return e.Name.Local == "presence" && strings.Contains(","+mucStatuses(e)+",", ",110,")
	})
	if err != nil {
		t.Fatalf("join %s/%s: %v (got %v)", room, nick, err, before)
	}
	subj, hist, err := c.Expect(func(e *xml.Element) bool {
		return e.Name.Local == "message" && e.Child("jabber:client", "subject") != nil && e.Child("jabber:client", "body") == nil
	})
	if err != nil || subj == nil {
		t.Fatalf("join %s/%s: no subject: %v", room, nick, err)
	}
	return self, append(before, hist...)
}

func mucConfigure(t *testing.T, c *xmpptest.Client, room string, fields map[string]string) {
	t.Helper()
	var b strings.Builder
	for k, v := range fields {
		fmt.Fprintf(&b, "<field var='muc#roomconfig_%s'><value>%s</value></field>", k, v)
	}
	r, err := c.IQ("cfg", fmt.Sprintf(`<iq type='set' id='cfg' to='%s'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>%s</x></query></iq>`, room, b.String()))
	if err != nil || r.AttrValue("type") != "result" {
		t.Fatalf("configure %s: %v %v", room, r, err)
	}
}

func admin(t *testing.T, c *xmpptest.Client, id, room, item string) *xml.Element {
	t.Helper()
	r, err := c.IQ(id, fmt.Sprintf(`<iq type='set' id='%s' to='%s'><query xmlns='http://jabber.org/protocol/muc#admin'>%s</query></iq>`, id, room, item))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestMUC drives a room over real TLS client streams: creation and
// configuration, joins, messages with stanza-ids, a private message, a
// nick change, kick, ban, the archive, history from it, and a restart that
// brings the room back.
func TestMUC(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice", "bob", "carol")
	alice := online(t, ts, "alice", "phone")
	bob := online(t, ts, "bob", "pc")

	r, _ := alice.IQ("i", "<iq type='get' id='i' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
	if !xmpptest.Contains(r, "jid='conference.localhost'") {
		t.Errorf("server items lack the MUC service: %s", r)
	}
	r, _ = alice.IQ("si", "<iq type='get' id='si' to='conference.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if !xmpptest.Contains(r, "category='conference'") || !xmpptest.Contains(r, "var='"+nsMUC+"'") {
		t.Errorf("service info: %s", r)
	}

	// Creation: locked until configured.
	self, _ := joinRoom(t, alice, mucRoom, "Alice", "")
	if mucStatuses(self) != "110,170,201" || mucItem(self).AttrValue("affiliation") != "owner" {
		t.Fatalf("creator's self-presence: %s", self)
	}
	bob.Sendf("<presence to='%s/Bob'><x xmlns='%s'/></presence>", mucRoom, nsMUC)
	if e := expectStanza(t, bob, "presence", fromRoom); xmpptest.ErrorCondition(e) != "item-not-found" {
		t.Errorf("join of a locked room: %s", e)
	}
	mucConfigure(t, alice, mucRoom, map[string]string{"persistentroom": "1", "enablearchiving": "1", "roomname": "Coven"})

	self, before := joinRoom(t, bob, mucRoom, "Bob", "")
	if mucStatuses(self) != "110,170" || mucItem(self).AttrValue("role") != "participant" {
		t.Errorf("bob's self-presence: %s", self)
	}
	if len(before) != 1 || before[0].AttrValue("from") != mucRoom+"/Alice" {
		t.Errorf("bob sees the occupants first: %v", before)
	}
	expectStanza(t, alice, "presence", func(e *xml.Element) bool { return e.AttrValue("from") == mucRoom+"/Bob" })

	// Messages.
	for i := range 3 {
		bob.Sendf("<message type='groupchat' to='%s' id='g%d'><body>hello %d</body></message>", mucRoom, i, i)
	}
	var sid string
	for i := range 3 {
		for _, c := range []*xmpptest.Client{alice, bob} {
			m := expectStanza(t, c, "message", nil)
			s := m.Child(nsSID, "stanza-id")
			if m.AttrValue("from") != mucRoom+"/Bob" || m.ChildText("jabber:client", "body") != fmt.Sprintf("hello %d", i) ||
				s == nil || s.AttrValue("by") != mucRoom {
				t.Fatalf("groupchat %d: %s", i, m)
			}
			sid = s.AttrValue("id")
		}
	}
	// Private message.
	bob.Sendf("<message type='chat' to='%s/Alice' id='pm'><body>psst</body></message>", mucRoom)
	pm := expectStanza(t, alice, "message", nil)
	if pm.AttrValue("from") != mucRoom+"/Bob" || pm.ChildText("jabber:client", "body") != "psst" || pm.Child(nsMUCUser, "x") == nil {
		t.Errorf("private message: %s", pm)
	}
	// Nick change.
	bob.Sendf("<presence to='%s/Robert'/>", mucRoom)
	p := expectStanza(t, alice, "presence", func(e *xml.Element) bool { return e.AttrValue("type") == "unavailable" })
	if mucStatuses(p) != "303" || mucItem(p).AttrValue("nick") != "Robert" {
		t.Errorf("nick change: %s", p)
	}
	expectStanza(t, alice, "presence", func(e *xml.Element) bool { return e.AttrValue("from") == mucRoom+"/Robert" })
	selfPresence(t, bob, "")
	// Self-ping.
	r, _ = bob.IQ("sp", "<iq type='get' id='sp' to='"+mucRoom+"/Robert'><ping xmlns='urn:xmpp:ping'/></iq>")
	if r.AttrValue("type") != "result" {
		t.Errorf("self-ping: %s", r)
	}

	// History from the archive for a new occupant.
	carol := online(t, ts, "carol", "tab")
	_, hist := joinRoom(t, carol, mucRoom, "Carol", "<history maxstanzas='2'/>")
	var bodies []string
	for _, e := range hist {
		if e.Name.Local == "message" {
			bodies = append(bodies, e.ChildText("jabber:client", "body"))
			if e.Child("urn:xmpp:delay", "delay") == nil {
				t.Errorf("history without delay: %s", e)
			}
		}
	}
	if strings.Join(bodies, "|") != "hello 1|hello 2" {
		t.Errorf("history: %q", bodies)
	}
	// MAM at the room.
	carol.SendRaw("<iq type='set' id='mq' to='" + mucRoom + "'><query xmlns='urn:xmpp:mam:2' queryid='mq'><set xmlns='http://jabber.org/protocol/rsm'><max>10</max></set></query></iq>")
	var got []string
	for {
		e, _, err := carol.Expect(func(e *xml.Element) bool { return e.Name.Local == "message" || e.Name.Local == "iq" })
		if err != nil {
			t.Fatal(err)
		}
		if e.Name.Local == "iq" {
			if e.AttrValue("type") != "result" || e.Child(nsMAM, "fin").AttrValue("complete") != "true" {
				t.Fatalf("mam fin: %s", e)
			}
			break
		}
		if e.Child(nsMAM, "result") != nil {
			got = append(got, forwardedBody(e))
		}
	}
	if strings.Join(got, "|") != "hello 0|hello 1|hello 2" {
		t.Errorf("room archive: %q", got)
	}

	// Kick carol, ban bob.
	if r := admin(t, alice, "k", mucRoom, "<item nick='Carol' role='none'><reason>bye</reason></item>"); r.AttrValue("type") != "result" {
		t.Fatalf("kick: %s", r)
	}
	if p := selfPresence(t, carol, "unavailable"); mucStatuses(p) != "110,307" {
		t.Errorf("kicked: %s", p)
	}
	if r := admin(t, alice, "b", mucRoom, "<item jid='bob@localhost' affiliation='outcast'/>"); r.AttrValue("type") != "result" {
		t.Fatalf("ban: %s", r)
	}
	if p := selfPresence(t, bob, "unavailable"); mucStatuses(p) != "110,301" {
		t.Errorf("banned: %s", p)
	}
	bob.Sendf("<presence to='%s/Bob'><x xmlns='%s'/></presence>", mucRoom, nsMUC)
	if e := expectStanza(t, bob, "presence", fromRoom); xmpptest.ErrorCondition(e) != "forbidden" {
		t.Errorf("banned join: %s", e)
	}

	// A restart brings the room back: configuration, ban list, archive.
	alice.Close()
	bob.Close()
	carol.Close()
	ts.stop()
	ts2 := startWith(t, ts.cfg)
	bob = online(t, ts2, "bob", "pc")
	r, _ = bob.IQ("ri", "<iq type='get' id='ri' to='"+mucRoom+"'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if !xmpptest.Contains(r, "muc_persistent") || !xmpptest.Contains(r, "name='Coven'") || !xmpptest.Contains(r, "var='urn:xmpp:mam:2'") {
		t.Errorf("room after restart: %s", r)
	}
	bob.Sendf("<presence to='%s/Bob'><x xmlns='%s'/></presence>", mucRoom, nsMUC)
	if e := expectStanza(t, bob, "presence", fromRoom); xmpptest.ErrorCondition(e) != "forbidden" {
		t.Errorf("banned join after restart: %s", e)
	}
	carol = online(t, ts2, "carol", "tab")
	_, hist = joinRoom(t, carol, mucRoom, "Carol", "<history maxstanzas='1'/>")
	if len(hist) == 0 || !xmpptest.Contains(hist[len(hist)-1], "hello 2") || !xmpptest.Contains(hist[len(hist)-1], sid) {
		t.Errorf("history after restart: %v", hist)
	}
}

// TestMUCMembersOnlyAndPassword: refusals with their conditions.
func TestMUCMembersOnlyAndPassword(t *testing.T) {
	ts := start(t, func(c *config.Config) { c.MUC.Domain = "rooms.localhost" })
	ts.users("alice", "bob")
	alice := online(t, ts, "alice", "phone")
	bob := online(t, ts, "bob", "pc")
	const room = "secret@rooms.localhost"
	joinRoom(t, alice, room, "Alice", "")
	mucConfigure(t, alice, room, map[string]string{"membersonly": "1"})
	join := func(inner string) *xml.Element {
		bob.Sendf("<presence to='%s/Bob'><x xmlns='%s'>%s</x></presence>", room, nsMUC, inner)
		return expectStanza(t, bob, "presence", func(e *xml.Element) bool { return strings.HasPrefix(e.AttrValue("from"), room) })
	}
	if e := join(""); xmpptest.ErrorCondition(e) != "registration-required" {
		t.Errorf("non-member: %s", e)
	}
	admin(t, alice, "m", room, "<item jid='bob@localhost' affiliation='member'/>")
	mucConfigure(t, alice, room, map[string]string{"passwordprotectedroom": "1", "roomsecret": "pw"})
	if e := join("<password>no</password>"); xmpptest.ErrorCondition(e) != "not-authorized" {
		t.Errorf("wrong password: %s", e)
	}
	if e := join("<password>pw</password>"); e.AttrValue("type") == "error" {
		t.Errorf("member with the password: %s", e)
	}
	selfPresence(t, bob, "")
	// Leaving, then the room is still there (persistence off, but alice
	// is in it).
	bob.Sendf("<presence type='unavailable' to='%s/Bob'/>", room)
	selfPresence(t, bob, "unavailable")
	if el := bob.NoMore(100 * time.Millisecond); el != nil {
		t.Errorf("after leaving: %s", el)
	}
}

// TestMUCDisconnectAndInvite: a client that disconnects without leaving is
// taken out of the room (its server sends unavailable presence to the
// rooms it joined); an invitation to an account that does not exist looks
// the same to the inviter as one to an offline account (nothing comes
// back), and the offline one gets it at its next login.
func TestMUCDisconnectAndInvite(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice", "bob", "carol")
	alice := online(t, ts, "alice", "phone")
	bob := online(t, ts, "bob", "pc")
	joinRoom(t, alice, mucRoom, "Alice", "")
	mucConfigure(t, alice, mucRoom, nil)
	joinRoom(t, bob, mucRoom, "Bob", "")
	expectStanza(t, alice, "presence", func(e *xml.Element) bool { return e.AttrValue("from") == mucRoom+"/Bob" })
	bob.Close()
	p := expectStanza(t, alice, "presence", func(e *xml.Element) bool {
		return e.AttrValue("from") == mucRoom+"/Bob" && e.AttrValue("type") == "unavailable"
	})
	if mucItem(p).AttrValue("role") != "none" {
		t.Errorf("bob's departure: %s", p)
	}
	for _, to := range []string{"ghost@localhost", "carol@localhost"} {
		alice.Sendf("<message to='%s' id='inv'><x xmlns='%s'><invite to='%s'/></x></message>", mucRoom, nsMUCUser, to)
		if el := alice.NoMore(300 * time.Millisecond); el != nil {
			t.Errorf("inviter got something for the invitation to %s: %s", to, el)
		}
	}
	carol := online(t, ts, "carol", "tab")
	inv := expectStanza(t, carol, "message", nil)
	if inv.AttrValue("from") != mucRoom || inv.Child(nsMUCUser, "x").Child(nsMUCUser, "invite").AttrValue("from") != "alice@localhost/phone" {
		t.Errorf("offline invitation: %s", inv)
	}
}

// TestMUCInactiveOccupant: a CSI-inactive occupant (XEP-0352) gets room
// chatter held and a message mentioning it at once, after what was held.
func TestMUCInactiveOccupant(t *testing.T) {
	ts := start(t, nil)
	ts.users("alice", "bob")
	alice := online(t, ts, "alice", "phone")
	bob := online(t, ts, "bob", "pc")
	joinRoom(t, alice, mucRoom, "alice", "")
	mucConfigure(t, alice, mucRoom, nil)
	joinRoom(t, bob, mucRoom, "bob", "")
	bob.SendRaw("<inactive xmlns='urn:xmpp:csi:0'/>")
	if r, err := bob.IQ("p", "<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"); err != nil || r.AttrValue("type") != "result" {
		t.Fatalf("ping: %v %v", r, err)
	}
	alice.Sendf("<message type='groupchat' to='%s'><body>chatter</body></message>", mucRoom)
	if el := bob.NoMore(300 * time.Millisecond); el != nil {
		t.Fatalf("inactive occupant got %s", el)
	}
	alice.Sendf("<message type='groupchat' to='%s'><body>bob, look at this</body></message>", mucRoom)
	first := expectStanza(t, bob, "message", nil)
	second := expectStanza(t, bob, "message", nil)
	if first.ChildText("jabber:client", "body") != "chatter" || second.ChildText("jabber:client", "body") != "bob, look at this" {
		t.Errorf("held then mention: %s, %s", first, second)
	}
}

// TestMUCMemberPush: a member of a persistent room who is not joined (app
// killed: no session) gets a push through her app server for a message
// that mentions her nick, none for the others; once joined, none either.
func TestMUCMemberPush(t *testing.T) {
	ts := startSM(t, pushConfig(func(c *config.Config) { c.Push.IncludeSender = true }), nil, nil)
	ts.users("alice", "bob")
	app := dialAppServer(t, ts)
	bob := online(t, ts, "bob", "pc")
	joinRoom(t, bob, mucRoom, "bob", "")
	mucConfigure(t, bob, mucRoom, map[string]string{"persistentroom": "1", "membersonly": "1"})
	if r := admin(t, bob, "m", mucRoom, "<item jid='alice@localhost' affiliation='member'/>"); r.AttrValue("type") != "result" {
		t.Fatalf("membership: %s", r)
	}
	alice := ts.dial("alice", "phone")
	enablePush(t, alice, "tok-1", "")
	joinRoom(t, alice, mucRoom, "Ally", "")
	alice.Close() // her server sends the room her unavailable presence
	waitFor(t, "alice gone", func() bool { return !available(ts, "alice@localhost/phone") })
	expectStanza(t, bob, "presence", func(e *xml.Element) bool {
		return e.AttrValue("from") == mucRoom+"/Ally" && e.AttrValue("type") == "unavailable"
	})

	bob.Sendf("<message type='groupchat' to='%s' id='g1'><body>just chatting</body></message>", mucRoom)
	app.none(400 * time.Millisecond)
	bob.Sendf("<message type='groupchat' to='%s' id='g2'><body>Ally, are you there?</body></message>", mucRoom)
	p := app.expect()
	if sum, _ := form(t, p); sum["message-count"] != "1" || sum["last-message-sender"] != mucRoom+"/bob" {
		t.Errorf("member push summary: %v", sum)
	}
	if p.AttrValue("from") != "alice@localhost" {
		t.Errorf("publish from %s", p.AttrValue("from"))
	}

	// Joined again: the room delivers, nobody pushes.
	alice = ts.dial("alice", "phone")
	alice.SendRaw("<presence/>")
	joinRoom(t, alice, mucRoom, "Ally", "<history maxstanzas='0'/>")
	bob.Sendf("<message type='groupchat' to='%s' id='g3'><body>Ally: welcome back</body></message>", mucRoom)
	expectStanza(t, alice, "message", func(e *xml.Element) bool { return e.AttrValue("id") == "g3" })
	app.none(400 * time.Millisecond)
}
