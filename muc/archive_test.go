package muc_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/muc"
	"dormouse.im/dormouse/stanza"
)

// archivedRoom makes a room with archiving on, alice owner, bob member,
// and n messages from bob ("m0" ...).
func archivedRoom(t *testing.T, f *fixture, fields map[string]string, n int) {
	t.Helper()
	f.create(alice, room, "Alice")
	if fields == nil {
		fields = map[string]string{}
	}
	fields["enablearchiving"] = "1"
	f.configure(alice, room, fields)
	f.IQ(alice, `<iq type='set' id='m' to='`+room+`'><query xmlns='http://jabber.org/protocol/muc#admin'><item jid='bob@example.org' affiliation='member'/></query></iq>`)
	f.join(bob, room+"/Bob", "")
	for i := range n {
		f.Send(bob, fmt.Sprintf(`<message type='groupchat' to='%s' id='id%d'><body>m%d</body></message>`, room, i, i))
	}
	f.Send(bob, `<message type='groupchat' to='`+room+`'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	f.Send(bob, `<presence type='unavailable' to='`+room+`/Bob'/>`)
	f.TakeAll()
}

func bodies(got []*stanza.Stanza) []string {
	var out []string
	for _, st := range got {
		if st.Kind != stanza.KindMessage {
			continue
		}
		if r := st.El.Child(muc.NSMAM, "result"); r != nil {
			fwd := r.Child(muc.NSForward, "forwarded").Child(stanza.NSClient, "message")
			out = append(out, fwd.ChildText(stanza.NSClient, "body"))
			continue
		}
		if b := st.Body(); b != "" {
			out = append(out, b)
		}
	}
	return out
}

func TestRoomArchive(t *testing.T) {
	f := newFixture(t, nil)
	archivedRoom(t, f, nil, 5)

	f.Send(bob, `<iq type='set' id='q1' to='`+room+`'><query xmlns='urn:xmpp:mam:2' queryid='x'><set xmlns='http://jabber.org/protocol/rsm'><max>2</max></set></query></iq>`)
	got := f.Recorder(bob).Take()
	if b := bodies(got); strings.Join(b, ",") != "m0,m1" {
		t.Fatalf("first page: %v", got)
	}
	fin := got[len(got)-1]
	if fin.Type != "result" || fin.El.Child(muc.NSMAM, "fin").AttrValue("complete") == "true" {
		t.Fatalf("fin: %s", fin)
	}
	res := got[0].El.Child(muc.NSMAM, "result")
	if res.AttrValue("queryid") != "x" || got[0].From.String() != room {
		t.Errorf("result: %s", got[0])
	}
	fwd := res.Child(muc.NSForward, "forwarded").Child(stanza.NSClient, "message")
	sid := fwd.Child(muc.NSSID, "stanza-id")
	if fwd.AttrValue("from") != room+"/Bob" || sid == nil || sid.AttrValue("id") != res.AttrValue("id") {
		t.Errorf("forwarded: %s", got[0])
	}
	last := fin.El.Child(muc.NSMAM, "fin").Child(muc.NSRSM, "set").ChildText(muc.NSRSM, "last")
	f.Send(bob, `<iq type='set' id='q2' to='`+room+`'><query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>10</max><after>`+last+`</after></set></query></iq>`)
	got = f.Recorder(bob).Take()
	if b := bodies(got); strings.Join(b, ",") != "m2,m3,m4" || got[len(got)-1].El.Child(muc.NSMAM, "fin").AttrValue("complete") != "true" {
		t.Fatalf("second page: %v", got)
	}
	// The last page, flipped.
	f.Send(bob, `<iq type='set' id='q3' to='`+room+`'><query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>2</max><before/></set><flip-page/></query></iq>`)
	if b := bodies(f.Recorder(bob).Take()); strings.Join(b, ",") != "m4,m3" {
		t.Fatalf("last page flipped: %v", b)
	}
	// ids and metadata (#extended).
	f.Send(bob, `<iq type='set' id='q4' to='`+room+`'><query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field><field var='ids'><value>`+last+`</value></field></x></query></iq>`)
	if b := bodies(f.Recorder(bob).Take()); strings.Join(b, ",") != "m1" {
		t.Errorf("ids: %v", b)
	}
	reply := f.IQ(bob, `<iq type='get' id='md' to='`+room+`'><metadata xmlns='urn:xmpp:mam:2'/></iq>`)
	md := reply.El.Child(muc.NSMAM, "metadata")
	if md == nil || md.Child(muc.NSMAM, "start") == nil || md.Child(muc.NSMAM, "end") == nil ||
		md.Child(muc.NSMAM, "start").AttrValue("id") != res.AttrValue("id") {
		t.Errorf("metadata: %s", reply)
	}
	// The form.
	reply = f.IQ(bob, `<iq type='get' id='f' to='`+room+`'><query xmlns='urn:xmpp:mam:2'/></iq>`)
	if !strings.Contains(reply.String(), "urn:xmpp:mam:2") || reply.Type != "result" {
		t.Errorf("form: %s", reply)
	}
	// Semi-anonymous: 'with' is for moderators.
	reply = f.IQ(bob, `<iq type='set' id='w' to='`+room+`'><query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field><field var='with'><value>bob@example.org</value></field></x></query></iq>`)
	if routertest.ErrorCondition(reply) != "forbidden" {
		t.Errorf("with by a member of a semi-anonymous room: %s", reply)
	}
	f.Send(alice, `<iq type='set' id='w' to='`+room+`'><query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field><field var='with'><value>bob@example.org</value></field></x></query></iq>`)
	if b := bodies(f.Recorder(alice).Take()); len(b) != 5 {
		t.Errorf("with by the owner: %v", b)
	}
	// Bad input.
	for _, q := range []string{
		`<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>-1</max></set></query>`,
		`<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='start'><value>yesterday</value></field></x></query>`,
	} {
		reply := f.IQ(bob, `<iq type='set' id='bad' to='`+room+`'>`+q+`</iq>`)
		if routertest.ErrorCondition(reply) != "bad-request" {
			t.Errorf("%s: %s", q, reply)
		}
	}
}

func TestRoomArchiveAccess(t *testing.T) {
	f := newFixture(t, nil)
	archivedRoom(t, f, map[string]string{"membersonly": "1"}, 1)
	reply := f.IQ(carol, `<iq type='set' id='q' to='`+room+`'><query xmlns='urn:xmpp:mam:2'/></iq>`)
	if routertest.ErrorCondition(reply) != "forbidden" {
		t.Errorf("non-member queries a members-only room: %s", reply)
	}
	f.configure(alice, room, map[string]string{"enablearchiving": "0"})
	reply = f.IQ(bob, `<iq type='set' id='q' to='`+room+`'><query xmlns='urn:xmpp:mam:2'/></iq>`)
	if routertest.ErrorCondition(reply) != "service-unavailable" {
		t.Errorf("query with archiving off: %s", reply)
	}
}

func TestHistory(t *testing.T) {
	for _, archived := range []bool{true, false} {
		t.Run(fmt.Sprint("archived=", archived), func(t *testing.T) {
			f := newFixture(t, func(c *muc.Config) { c.History = 3 })
			fields := map[string]string{}
			if !archived {
				fields["enablearchiving"] = "0"
			}
			if archived {
				archivedRoom(t, f, fields, 5)
			} else {
				f.create(alice, room, "Alice")
				f.join(bob, room+"/Bob", "")
				for i := range 5 {
					f.Send(bob, fmt.Sprintf(`<message type='groupchat' to='%s'><body>m%d</body></message>`, room, i))
				}
				f.TakeAll()
			}
			cases := []struct {
				history string
				want    string
			}{
				{"", "m2,m3,m4"},
				{"<history maxstanzas='0'/>", ""},
				{"<history maxstanzas='2'/>", "m3,m4"},
				{"<history maxstanzas='50'/>", "m2,m3,m4"}, // no more than the service's History? no: MaxHistory
				{"<history seconds='3600'/>", "m2,m3,m4"},
				{"<history since='2999-01-01T00:00:00Z'/>", ""},
				{"<history maxchars='0'/>", ""},
			}
			cases[3].want = "m0,m1,m2,m3,m4"
			for _, c := range cases {
				got := f.join(carol, room+"/Carol", c.history)
				msgs := only(got, stanza.KindMessage)
				if len(msgs) == 0 || msgs[len(msgs)-1].El.Child(stanza.NSClient, "subject") == nil {
					t.Fatalf("%s: subject not last: %v", c.history, got)
				}
				if b := strings.Join(bodies(msgs[:len(msgs)-1]), ","); b != c.want {
					t.Errorf("history %q: %s, want %s", c.history, b, c.want)
				}
				for _, m := range msgs[:len(msgs)-1] {
					if m.El.Child(stanza.NSDelay, "delay") == nil || m.To.String() != carol {
						t.Errorf("history message: %s", m)
					}
				}
				f.Send(carol, `<presence type='unavailable' to='`+room+`/Carol'/>`)
				f.TakeAll()
			}
		})
	}
}

func TestMemberPush(t *testing.T) {
	f := newFixture(t, nil)
	archivedRoom(t, f, map[string]string{"persistentroom": "1"}, 0)
	// bob is a member with the nick Bob and is not joined.
	f.Send(alice, `<message type='groupchat' to='`+room+`'><body>no mention</body></message>`)
	f.Send(alice, `<message type='groupchat' to='`+room+`'><body>hey bob, look</body></message>`)
	f.Send(alice, `<message type='groupchat' to='`+room+`'><body>bobby is someone else</body></message>`)
	got := f.push.take()
	if len(got) != 1 || got[0].Member.String() != "bob@example.org" || !got[0].Mention || got[0].Room.String() != room ||
		got[0].Nick != "Alice" || got[0].ID == "" || got[0].Body != "hey bob, look" {
		t.Fatalf("pushes: %+v", got)
	}
	// An encrypted message cannot be read: it counts as a mention.
	f.Send(alice, `<message type='groupchat' to='`+room+`'><encrypted xmlns='eu.siacs.conversations.axolotl'><payload>AAAA</payload></encrypted><body>OMEMO</body></message>`)
	if got := f.push.take(); len(got) != 1 || got[0].Mention {
		t.Errorf("push for an encrypted message: %+v", got)
	}
	// Joined members get no push.
	f.join(bob, room+"/Bob", "")
	f.Send(alice, `<message type='groupchat' to='`+room+`'><body>Bob: hi</body></message>`)
	if got := f.push.take(); len(got) != 0 {
		t.Errorf("push for a joined member: %+v", got)
	}
	// push_members = all.
	f.start(t, func(c *muc.Config) { c.PushMembers = muc.PushAll })
	f.TakeAll()
	f.join(alice, room+"/Alice", "")
	f.Send(alice, `<message type='groupchat' to='`+room+`'><body>anything</body></message>`)
	if got := f.push.take(); len(got) != 1 || got[0].Mention {
		t.Errorf("push_members=all: %+v", got)
	}
}

func TestMentions(t *testing.T) {
	for body, want := range map[string]bool{
		"bob":            true,
		"Hi Bob!":        true,
		"@bob: x":        true,
		"bobby":          false,
		"thebob":         false,
		"":               false,
		"bo":             false,
		"x bob_ y":       false,
		"Ünïcode bob ü":  true,
		"bobbob bob":     true,
		"b o b":          false,
		"BOB":            true,
		"a long bob and": true,
	} {
		if got := muc.Mentions(body, "Bob"); got != want {
			t.Errorf("Mentions(%q, Bob) = %v, want %v", body, got, want)
		}
	}
}

// TestIDsAfterRestart: a service started again (same store) with its
// clock set back an hour assigns stanza-ids after the archive's last, so
// ids neither repeat nor go back in time.
func TestIDsAfterRestart(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func(c *muc.Config) { c.Now = func() time.Time { return now } }
	f := newFixture(t, clock)
	archivedRoom(t, f, map[string]string{"persistentroom": "1"}, 0)
	sid := func(body string) string {
		t.Helper()
		f.Send(alice, `<message type='groupchat' to='`+room+`'><body>`+body+`</body></message>`)
		for _, st := range f.Recorder(alice).Take() {
			if st.Kind == stanza.KindMessage && st.Type == stanza.TypeGroupchat {
				if e := st.El.Child(muc.NSSID, "stanza-id"); e != nil {
					return e.AttrValue("id")
				}
			}
			t.Fatalf("%s: %s", body, st)
		}
		t.Fatalf("%s: no echo", body)
		return ""
	}
	before := sid("before")
	now = now.Add(-time.Hour)
	f.start(t, clock)
	f.TakeAll()
	f.join(alice, room+"/Alice", "")
	after := sid("after")
	if a, b := parseTestID(t, after), parseTestID(t, before); a <= b {
		t.Errorf("stanza-id after the restart %s (%d) is not after %s (%d)", after, a, before, b)
	}
}

func parseTestID(t *testing.T, s string) int64 {
	t.Helper()
	id, err := strconv.ParseInt(s, 36, 64)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
