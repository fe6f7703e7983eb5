package muc_test

import (
	"slices"
	"strings"
	"testing"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/muc"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

const (
	alice = "alice@example.org/phone"
	bob   = "bob@example.org/pc"
	carol = "carol@example.org/tab"
	room  = "coven@conference.example.org"
)

func TestCreateJoinMessage(t *testing.T) {
	f := newFixture(t, nil)

	got := f.join(alice, room+"/Alice", "")
	if len(got) != 2 || !hasStatus(got[0], "110") || !hasStatus(got[0], "201") {
		t.Fatalf("creator's self-presence and subject: %v", got)
	}
	if it := item(got[0]); it.AttrValue("affiliation") != "owner" || it.AttrValue("role") != "moderator" {
		t.Errorf("creator's item: %s", got[0])
	}
	// Locked until configured.
	got = f.join(bob, room+"/Bob", "")
	if len(got) != 1 || routertest.ErrorCondition(got[0]) != "item-not-found" {
		t.Fatalf("join of a locked room: %v", got)
	}
	// The owner reads the form, then submits it.
	reply := f.IQ(alice, `<iq type='get' id='g' to='`+room+`'><query xmlns='http://jabber.org/protocol/muc#owner'/></iq>`)
	if !strings.Contains(reply.String(), "muc#roomconfig_enablearchiving") {
		t.Errorf("config form: %s", reply)
	}
	f.configure(alice, room, map[string]string{"roomname": "The Coven", "enablearchiving": "1", "whois": "anyone"})

	got = f.join(bob, room+"/Bob", "")
	pres := only(got, stanza.KindPresence)
	if len(pres) != 2 || froms(pres)[0] != room+"/Alice" || froms(pres)[1] != room+"/Bob" {
		t.Fatalf("bob's join: %v", got)
	}
	self := pres[1]
	for _, c := range []string{"110", "100", "170"} {
		if !hasStatus(self, c) {
			t.Errorf("bob's self-presence lacks %s: %s", c, self)
		}
	}
	if item(self).AttrValue("role") != "participant" || item(self).AttrValue("affiliation") != "none" {
		t.Errorf("bob's item: %s", self)
	}
	if item(pres[0]).AttrValue("jid") != alice {
		t.Errorf("non-anonymous room: alice's real JID not shown: %s", pres[0])
	}
	if self.El.Child(muc.NSOccupant, "occupant-id") == nil {
		t.Errorf("no occupant-id: %s", self)
	}
	msgs := only(got, stanza.KindMessage)
	if len(msgs) != 1 || msgs[0].El.Child(stanza.NSClient, "subject") == nil {
		t.Errorf("bob gets the (empty) subject last: %v", msgs)
	}
	alicePres := f.Recorder(alice).Take()
	if len(alicePres) != 1 || alicePres[0].From.String() != room+"/Bob" || hasStatus(alicePres[0], "110") {
		t.Fatalf("alice sees bob join: %v", alicePres)
	}

	// A groupchat message goes to everybody with the room's stanza-id.
	f.Send(bob, `<message type='groupchat' to='`+room+`' id='m1'><body>hello</body><stanza-id xmlns='urn:xmpp:sid:0' id='forged' by='`+room+`'/></message>`)
	for _, who := range []string{alice, bob} {
		m := f.Recorder(who).One(t)
		if m.From.String() != room+"/Bob" || m.Body() != "hello" || m.To.String() != who || m.ID != "m1" {
			t.Errorf("%s got %s", who, m)
		}
		sids := m.El.ChildrenNamed(muc.NSSID, "stanza-id")
		if len(sids) != 1 || sids[0].AttrValue("by") != room || sids[0].AttrValue("id") == "forged" {
			t.Errorf("%s: stanza-ids %v", who, m)
		}
	}
	// Not an occupant: not-acceptable.
	f.Send(carol, `<message type='groupchat' to='`+room+`'><body>hi</body></message>`)
	if c := routertest.ErrorCondition(f.Recorder(carol).One(t)); c != "not-acceptable" {
		t.Errorf("non-occupant's message: %s", c)
	}

	// Subject change by a participant: forbidden unless allowed.
	f.Send(bob, `<message type='groupchat' to='`+room+`'><subject>mine</subject></message>`)
	if c := routertest.ErrorCondition(f.Recorder(bob).One(t)); c != "forbidden" {
		t.Errorf("participant's subject change: %s", c)
	}
	f.Send(alice, `<message type='groupchat' to='`+room+`'><subject>Fire burn</subject></message>`)
	for _, who := range []string{alice, bob} {
		if m := f.Recorder(who).One(t); m.El.ChildText(stanza.NSClient, "subject") != "Fire burn" {
			t.Errorf("%s: subject %s", who, m)
		}
	}

	// Private message.
	f.Send(bob, `<message type='chat' to='`+room+`/Alice'><body>psst</body></message>`)
	pm := f.Recorder(alice).One(t)
	if pm.From.String() != room+"/Bob" || pm.Body() != "psst" || pm.El.Child(muc.NSUser, "x") == nil {
		t.Errorf("private message: %s", pm)
	}
	f.Send(bob, `<message type='chat' to='`+room+`/Nobody'><body>psst</body></message>`)
	if c := routertest.ErrorCondition(f.Recorder(bob).One(t)); c != "item-not-found" {
		t.Errorf("PM to nobody: %s", c)
	}

	// Nick change.
	f.Send(bob, `<presence to='`+room+`/Robert'/>`)
	for _, who := range []string{alice, bob} {
		got := f.Recorder(who).Take()
		if len(got) != 2 || got[0].Type != "unavailable" || !hasStatus(got[0], "303") ||
			item(got[0]).AttrValue("nick") != "Robert" || got[1].From.String() != room+"/Robert" {
			t.Fatalf("%s sees the nick change: %v", who, got)
		}
		if (who == bob) != hasStatus(got[1], "110") {
			t.Errorf("%s: self code on %s", who, got[1])
		}
	}
	// Self-ping (XEP-0410).
	reply = f.IQ(bob, `<iq type='get' id='p' to='`+room+`/Robert'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if reply.Type != "result" {
		t.Errorf("self-ping: %s", reply)
	}
	reply = f.IQ(carol, `<iq type='get' id='p' to='`+room+`/Robert'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if routertest.ErrorCondition(reply) != "not-acceptable" {
		t.Errorf("ping from a non-occupant: %s", reply)
	}

	// Leaving.
	f.Send(bob, `<presence type='unavailable' to='`+room+`/Robert'/>`)
	if p := f.Recorder(bob).One(t); p.Type != "unavailable" || !hasStatus(p, "110") {
		t.Errorf("bob's own unavailable: %s", p)
	}
	if p := f.Recorder(alice).One(t); p.Type != "unavailable" || p.From.String() != room+"/Robert" {
		t.Errorf("alice sees bob leave: %s", p)
	}
}

func TestDiscoAndList(t *testing.T) {
	f := newFixture(t, nil)
	f.create(alice, room, "Alice")
	f.configure(alice, room, map[string]string{"publicroom": "1", "roomname": "Coven", "persistentroom": "1"})
	f.Recorder(alice).Take()
	reply := f.IQ(bob, `<iq type='get' id='i' to='`+service+`'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	routertest.WantXML(t, reply, `<iq type='result' id='i' from='`+service+`' to='`+bob+`'><query xmlns='http://jabber.org/protocol/disco#items'><item jid='`+room+`' name='Coven'/></query></iq>`)
	reply = f.IQ(bob, `<iq type='get' id='i' to='`+service+`'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if !strings.Contains(reply.String(), "var='http://jabber.org/protocol/muc'") {
		t.Errorf("service info: %s", reply)
	}
	reply = f.IQ(bob, `<iq type='get' id='i' to='`+room+`'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	s := reply.String()
	for _, feat := range []string{"muc#stable_id", "muc#self-ping-optimization", "jabber:iq:register", "muc_persistent", "muc_public", "muc_open", "muc_unmoderated", "muc_unsecured", "muc_semianonymous", "muc#roominfo"} {
		if !strings.Contains(s, feat) {
			t.Errorf("room info lacks %s: %s", feat, s)
		}
	}
	if strings.Contains(s, "urn:xmpp:mam:2") {
		t.Errorf("room without archive advertises MAM: %s", s)
	}
	reply = f.IQ(bob, `<iq type='get' id='i' to='nothere@`+service+`'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if routertest.ErrorCondition(reply) != "item-not-found" {
		t.Errorf("info of a missing room: %s", reply)
	}
}

func TestJoinRefusals(t *testing.T) {
	f := newFixture(t, nil)
	f.create(alice, room, "Alice")
	f.configure(alice, room, map[string]string{"passwordprotectedroom": "1", "roomsecret": "s3cret", "maxusers": "2"})
	f.Recorder(alice).Take()
	cases := []struct {
		who, nick, extra, cond string
	}{
		{bob, "Bob", "", "not-authorized"},
		{bob, "Bob", "<password>wrong</password>", "not-authorized"},
		{bob, "Alice", "<password>s3cret</password>", "conflict"},
	}
	for _, c := range cases {
		got := f.join(c.who, room+"/"+c.nick, c.extra)
		if len(got) != 1 || routertest.ErrorCondition(got[0]) != c.cond {
			t.Errorf("%s as %s with %q: %v, want %s", c.who, c.nick, c.extra, got, c.cond)
		}
	}
	if got := f.join(bob, room+"/Bob", "<password>s3cret</password>"); len(got) < 2 {
		t.Fatalf("join with the password: %v", got)
	}
	if got := f.join(carol, room+"/Carol", "<password>s3cret</password>"); len(got) != 1 || routertest.ErrorCondition(got[0]) != "service-unavailable" {
		t.Errorf("join of a full room: %v", got)
	}
	f.TakeAll()
	f.Send(alice, `<presence to='`+room+`'/>`)
	if got := f.Recorder(alice).Take(); len(got) != 1 || routertest.ErrorCondition(got[0]) != "jid-malformed" {
		t.Errorf("presence without a nick: %v", got)
	}
	// Members-only.
	f.TakeAll()
	f.configure(alice, room, map[string]string{"membersonly": "1", "passwordprotectedroom": "0", "maxusers": "10"})
	got := f.Recorder(bob).Take()
	if last := got[len(got)-1]; last.Type != "unavailable" || !hasStatus(last, "322") {
		t.Errorf("bob removed when the room became members-only: %v", got)
	}
	f.TakeAll()
	if got := f.join(carol, room+"/Carol", ""); len(got) != 1 || routertest.ErrorCondition(got[0]) != "registration-required" {
		t.Errorf("non-member joins a members-only room: %v", got)
	}
}

func TestAffiliationsAndModeration(t *testing.T) {
	f := newFixture(t, nil)
	f.create(alice, room, "Alice")
	f.configure(alice, room, map[string]string{"persistentroom": "1"})
	f.join(bob, room+"/Bob", "")
	f.join(carol, room+"/Carol", "")
	f.TakeAll()

	// A participant cannot kick.
	reply := f.IQ(bob, `<iq type='set' id='k' to='`+room+`'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='Carol' role='none'/></query></iq>`)
	if routertest.ErrorCondition(reply) != "forbidden" {
		t.Errorf("participant kicks: %s", reply)
	}
	// The owner kicks carol.
	f.Send(alice, `<iq type='set' id='k' to='`+room+`'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='Carol' role='none'><reason>out</reason></item></query></iq>`)
	got := f.TakeAll()
	kicked := got[carol]
	if len(kicked) != 1 || kicked[0].Type != "unavailable" || !hasStatus(kicked[0], "307") || !hasStatus(kicked[0], "110") ||
		item(kicked[0]).ChildText(muc.NSUser, "reason") != "out" {
		t.Errorf("carol kicked: %v", kicked)
	}
	if len(got[bob]) != 1 || !hasStatus(got[bob][0], "307") {
		t.Errorf("bob sees the kick: %v", got[bob])
	}
	if last := got[alice][len(got[alice])-1]; last.Type != "result" {
		t.Errorf("kick result: %v", got[alice])
	}

	// Ban bob: he goes with 301 and cannot come back.
	f.Send(alice, `<iq type='set' id='b' to='`+room+`'><query xmlns='http://jabber.org/protocol/muc#admin'><item jid='bob@example.org' affiliation='outcast'/></query></iq>`)
	got = f.TakeAll()
	if len(got[bob]) != 1 || !hasStatus(got[bob][0], "301") {
		t.Errorf("bob banned: %v", got[bob])
	}
	if g := f.join(bob, room+"/Bob", ""); len(g) != 1 || routertest.ErrorCondition(g[0]) != "forbidden" {
		t.Errorf("banned bob joins: %v", g)
	}
	// Grant carol membership, then admin; list.
	f.IQ(alice, `<iq type='set' id='m' to='`+room+`'><query xmlns='http://jabber.org/protocol/muc#admin'><item jid='carol@example.org' affiliation='member'/></query></iq>`)
	reply = f.IQ(alice, `<iq type='get' id='l' to='`+room+`'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member'/></query></iq>`)
	routertest.WantXML(t, reply, `<iq type='result' id='l' from='`+room+`' to='`+alice+`'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member' jid='carol@example.org'/></query></iq>`)
	reply = f.IQ(alice, `<iq type='get' id='l' to='`+room+`'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast'/></query></iq>`)
	if !strings.Contains(reply.String(), "bob@example.org") {
		t.Errorf("outcast list: %s", reply)
	}
	// The last owner cannot step down.
	reply = f.IQ(alice, `<iq type='set' id='o' to='`+room+`'><query xmlns='http://jabber.org/protocol/muc#admin'><item jid='alice@example.org' affiliation='member'/></query></iq>`)
	if routertest.ErrorCondition(reply) != "conflict" {
		t.Errorf("last owner steps down: %s", reply)
	}
	// An admin may not touch owners.
	f.IQ(alice, `<iq type='set' id='a' to='`+room+`'><query xmlns='http://jabber.org/protocol/muc#admin'><item jid='carol@example.org' affiliation='admin'/></query></iq>`)
	f.join(carol, room+"/Carol", "")
	f.TakeAll()
	reply = f.IQ(carol, `<iq type='set' id='x' to='`+room+`'><query xmlns='http://jabber.org/protocol/muc#admin'><item jid='alice@example.org' affiliation='outcast'/></query></iq>`)
	if routertest.ErrorCondition(reply) != "forbidden" {
		t.Errorf("admin bans the owner: %s", reply)
	}
	// Persisted: a restart brings the affiliations back.
	f.start(t, nil)
	f.TakeAll()
	reply = f.IQ(alice, `<iq type='get' id='l' to='`+room+`'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='admin'/></query></iq>`)
	if !strings.Contains(reply.String(), "carol@example.org") {
		t.Errorf("admins after restart: %s", reply)
	}
	if g := f.join(bob, room+"/Bob", ""); len(g) != 1 || routertest.ErrorCondition(g[0]) != "forbidden" {
		t.Errorf("banned bob joins after a restart: %v", g)
	}
}

func TestDestroy(t *testing.T) {
	f := newFixture(t, nil)
	f.create(alice, room, "Alice")
	f.configure(alice, room, map[string]string{"persistentroom": "1"})
	f.join(bob, room+"/Bob", "")
	f.TakeAll()
	f.Send(alice, `<iq type='set' id='d' to='`+room+`'><query xmlns='http://jabber.org/protocol/muc#owner'><destroy jid='new@`+service+`'><reason>moved</reason></destroy></query></iq>`)
	got := f.TakeAll()
	p := got[bob]
	if len(p) != 2 || p[1].Type != "unavailable" || !hasStatus(p[1], "110") {
		t.Fatalf("bob on destroy: %v", p)
	}
	d := p[1].El.Child(muc.NSUser, "x").Child(muc.NSUser, "destroy")
	if d == nil || d.AttrValue("jid") != "new@"+service || d.ChildText(muc.NSUser, "reason") != "moved" {
		t.Errorf("destroy notice: %s", p[0])
	}
	rooms, _ := f.store.Rooms(t.Context())
	if len(rooms) != 0 {
		t.Errorf("stored rooms after destroy: %v", rooms)
	}
	reply := f.IQ(bob, `<iq type='get' id='i' to='`+room+`'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if routertest.ErrorCondition(reply) != "item-not-found" {
		t.Errorf("destroyed room info: %s", reply)
	}
}

func TestTemporaryRoomDies(t *testing.T) {
	f := newFixture(t, nil)
	f.create(alice, room, "Alice")
	f.Send(alice, `<presence type='unavailable' to='`+room+`/Alice'/>`)
	f.TakeAll()
	got := f.join(alice, room+"/Alice", "")
	if len(got) == 0 || !hasStatus(got[0], "201") {
		t.Errorf("the temporary room was not destroyed with its last occupant: %v", got)
	}
}

func TestMultiSessionNick(t *testing.T) {
	f := newFixture(t, nil)
	const alice2 = "alice@example.org/laptop"
	f.Bind(alice2)
	f.create(alice, room, "Alice")
	f.join(bob, room+"/Bob", "")
	f.TakeAll()
	got := f.join(alice2, room+"/Alice", "")
	if len(got) < 2 || !hasStatus(only(got, stanza.KindPresence)[1], "110") {
		t.Fatalf("second session joins: %v", got)
	}
	if got := f.Recorder(bob).Take(); len(got) != 0 {
		t.Errorf("bob hears of the second session: %v", got)
	}
	f.Send(bob, `<message type='groupchat' to='`+room+`'><body>both</body></message>`)
	got2 := f.TakeAll()
	if len(got2[alice]) != 1 || len(got2[alice2]) != 1 {
		t.Errorf("both sessions get the message: %v", got2)
	}
	f.Send(alice2, `<presence type='unavailable' to='`+room+`/Alice'/>`)
	got2 = f.TakeAll()
	if len(got2[bob]) != 0 || len(got2[alice2]) != 1 {
		t.Errorf("one session leaves: %v", got2)
	}
}

func TestInvite(t *testing.T) {
	f := newFixture(t, nil)
	f.Online(carol, 0)
	f.create(alice, room, "Alice")
	f.configure(alice, room, map[string]string{"membersonly": "1", "persistentroom": "1"})
	f.TakeAll()
	f.Send(alice, `<message to='`+room+`'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='carol@example.org'><reason>join us</reason></invite></x></message>`)
	inv := f.Recorder(carol).One(t)
	i := inv.El.Child(muc.NSUser, "x").Child(muc.NSUser, "invite")
	if inv.From.String() != room || i == nil || i.AttrValue("from") != alice || i.ChildText(muc.NSUser, "reason") != "join us" {
		t.Errorf("invitation: %s", inv)
	}
	if got := f.join(carol, room+"/Carol", ""); len(only(got, stanza.KindPresence)) != 2 {
		t.Errorf("the invitee joins the members-only room: %v", got)
	}
	f.Send(carol, `<message to='`+room+`'><x xmlns='http://jabber.org/protocol/muc#user'><decline to='alice@example.org/phone'><reason>no</reason></decline></x></message>`)
	got := f.TakeAll()
	if d := got[alice]; len(d) == 0 || !slices.ContainsFunc(d, func(s *stanza.Stanza) bool {
		return s.El.Child(muc.NSUser, "x") != nil && s.El.Child(muc.NSUser, "x").Child(muc.NSUser, "decline") != nil
	}) {
		t.Errorf("decline: %v", got)
	}
}

func TestRejoin(t *testing.T) {
	f := newFixture(t, nil)
	f.create(alice, room, "Alice")
	f.join(bob, room+"/Bob", "")
	f.Send(alice, `<message type='groupchat' to='`+room+`'><body>before</body></message>`)
	f.TakeAll()
	// bob joins again from the same session: the whole join again.
	got := f.join(bob, room+"/Bob", "")
	pres := only(got, stanza.KindPresence)
	if len(pres) != 2 || pres[0].From.String() != room+"/Alice" || !hasStatus(pres[1], "110") {
		t.Fatalf("rejoin presences: %v", got)
	}
	if b := bodies(got); len(b) != 1 || b[0] != "before" {
		t.Errorf("rejoin history: %v", b)
	}
	if a := f.Recorder(alice).Take(); len(a) != 1 || a[0].From.String() != room+"/Bob" || a[0].Type != "" {
		t.Errorf("alice on bob's rejoin: %v", a)
	}
	// A plain presence update is broadcast, no join.
	f.Send(bob, `<presence to='`+room+`/Bob'><show>away</show></presence>`)
	got2 := f.TakeAll()
	for _, who := range []string{alice, bob} {
		if len(got2[who]) != 1 || got2[who][0].El.ChildText(stanza.NSClient, "show") != "away" {
			t.Errorf("%s: presence update %v", who, got2[who])
		}
	}
}

func TestIQRelay(t *testing.T) {
	f := newFixture(t, nil)
	f.create(alice, room, "Alice")
	f.join(bob, room+"/Bob", "")
	f.TakeAll()
	f.Send(alice, `<iq type='get' id='v1' to='`+room+`/Bob'><vCard xmlns='vcard-temp'/></iq>`)
	req := waitFor(t, f.Recorder(bob))
	if req.From.String() != room+"/Alice" || req.To.String() != bob || req.Payload().Name.Local != "vCard" {
		t.Fatalf("relayed request: %s", req)
	}
	reply := stanza.Build(stanza.KindIQ, stanza.TypeResult, req.ID, req.To, req.From)
	reply.El.AddChild(xml.NewElement("vcard-temp", "vCard").AddChild(xml.NewElement("vcard-temp", "FN").AddText("Bob")))
	f.Router.Route(f.Ctx, reply)
	res := waitFor(t, f.Recorder(alice))
	routertest.WantXML(t, res, `<iq type='result' id='v1' from='`+room+`/Bob' to='`+alice+`'><vCard xmlns='vcard-temp'><FN>Bob</FN></vCard></iq>`)
	// An error answer comes back as the error.
	f.Send(alice, `<iq type='get' id='v2' to='`+room+`/Bob'><query xmlns='jabber:iq:version'/></iq>`)
	req = waitFor(t, f.Recorder(bob))
	f.Router.Route(f.Ctx, req.ErrorReply(stanza.NewError(stanza.ServiceUnavailable, "")))
	res = waitFor(t, f.Recorder(alice))
	if routertest.ErrorCondition(res) != "service-unavailable" || res.ID != "v2" || res.From.String() != room+"/Bob" {
		t.Errorf("relayed error: %s", res)
	}
	if err := f.svc.Close(t.Context()); err != nil {
		t.Error(err)
	}
}

func TestRegisterNick(t *testing.T) {
	f := newFixture(t, nil)
	f.create(alice, room, "Alice")
	f.configure(alice, room, map[string]string{"persistentroom": "1"})
	f.TakeAll()
	reply := f.IQ(bob, `<iq type='get' id='r' to='`+room+`'><query xmlns='jabber:iq:register'/></iq>`)
	if !strings.Contains(reply.String(), "muc#register_roomnick") {
		t.Fatalf("registration form: %s", reply)
	}
	submit := func(who, nick string) *stanza.Stanza {
		return f.IQ(who, `<iq type='set' id='s' to='`+room+`'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#register</value></field><field var='muc#register_roomnick'><value>`+nick+`</value></field></x></query></iq>`)
	}
	if r := submit(bob, "Bobby"); r.Type != "result" {
		t.Fatalf("register: %s", r)
	}
	reply = f.IQ(bob, `<iq type='get' id='r' to='`+room+`'><query xmlns='jabber:iq:register'/></iq>`)
	routertest.WantXML(t, reply, `<iq type='result' id='r' from='`+room+`' to='`+bob+`'><query xmlns='jabber:iq:register'><registered/><username>Bobby</username></query></iq>`)
	reply = f.IQ(bob, `<iq type='get' id='n' to='`+room+`'><query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item'/></iq>`)
	routertest.WantXML(t, reply, `<iq type='result' id='n' from='`+room+`' to='`+bob+`'><query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item'><identity category='conference' type='text' name='Bobby'/></query></iq>`)
	if r := submit(carol, "Bobby"); routertest.ErrorCondition(r) != "conflict" {
		t.Errorf("carol registers bob's nick: %s", r)
	}
	if got := f.join(carol, room+"/Bobby", ""); len(got) != 1 || routertest.ErrorCondition(got[0]) != "conflict" {
		t.Errorf("carol joins as bob's registered nick: %v", got)
	}
	// bob is a member now, and the registration survives a restart.
	f.start(t, nil)
	reply = f.IQ(alice, `<iq type='get' id='l' to='`+room+`'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member'/></query></iq>`)
	routertest.WantXML(t, reply, `<iq type='result' id='l' from='`+room+`' to='`+alice+`'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member' jid='bob@example.org' nick='Bobby'/></query></iq>`)
	reply = f.IQ(bob, `<iq type='set' id='u' to='`+room+`'><query xmlns='jabber:iq:register'><remove/></query></iq>`)
	if reply.Type != "result" {
		t.Fatalf("unregister: %s", reply)
	}
	if r := submit(carol, "Bobby"); r.Type != "result" {
		t.Errorf("the nick is free again: %s", r)
	}
}

func TestVoiceRequest(t *testing.T) {
	f := newFixture(t, nil)
	f.create(alice, room, "Alice")
	f.configure(alice, room, map[string]string{"moderatedroom": "1"})
	got := f.join(bob, room+"/Bob", "")
	if self := only(got, stanza.KindPresence)[1]; item(self).AttrValue("role") != "visitor" {
		t.Fatalf("bob joins a moderated room as %s", self)
	}
	f.TakeAll()
	f.Send(bob, `<message type='groupchat' to='`+room+`'><body>hi</body></message>`)
	if c := routertest.ErrorCondition(f.Recorder(bob).One(t)); c != "forbidden" {
		t.Errorf("visitor's message: %s", c)
	}
	f.Send(bob, `<message to='`+room+`'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#request</value></field><field var='muc#role' type='list-single'><value>participant</value></field></x></message>`)
	req := f.Recorder(alice).One(t)
	if !strings.Contains(req.String(), "muc#request_allow") || !strings.Contains(req.String(), "<value>Bob</value>") {
		t.Fatalf("voice request at the moderator: %s", req)
	}
	f.Send(alice, `<message to='`+room+`'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#request</value></field><field var='muc#role'><value>participant</value></field><field var='muc#roomnick'><value>Bob</value></field><field var='muc#request_allow'><value>true</value></field></x></message>`)
	got2 := f.TakeAll()
	if len(got2[bob]) != 1 || item(got2[bob][0]).AttrValue("role") != "participant" {
		t.Fatalf("voice granted: %v", got2)
	}
	f.Send(bob, `<message type='groupchat' to='`+room+`'><body>now I speak</body></message>`)
	if got := f.TakeAll(); len(got[alice]) != 1 || len(got[bob]) != 1 {
		t.Errorf("participant's message: %v", got)
	}
}
