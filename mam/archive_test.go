package mam_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

func TestArchiveRules(t *testing.T) {
	const (
		alice = "alice@localhost/desk"
		bob   = "bob@localhost/phone"
	)
	cases := []struct {
		name      string
		from      string
		msg       string // sent to bob (unless it names its own 'to')
		sender    bool   // archived in the sender's archive (alice@localhost)
		recipient bool   // archived in bob@localhost's
		owner     string // the sender's archive, if not alice@localhost
		body      string // Message.Body expected
	}{
		{name: "chat body", from: alice, msg: `<message type='chat' to='bob@localhost'><body>hi</body></message>`, sender: true, recipient: true, body: "hi"},
		{name: "normal body", from: alice, msg: `<message type='normal' to='bob@localhost'><body>hi</body></message>`, sender: true, recipient: true, body: "hi"},
		{name: "no type", from: alice, msg: `<message to='bob@localhost'><body>hi</body></message>`, sender: true, recipient: true, body: "hi"},
		{name: "to full JID", from: alice, msg: `<message type='chat' to='bob@localhost/phone'><body>hi</body></message>`, sender: true, recipient: true, body: "hi"},
		{name: "empty body", from: alice, msg: `<message type='chat' to='bob@localhost'><body/></message>`},
		{name: "headline", from: alice, msg: `<message type='headline' to='bob@localhost'><body>news</body></message>`},
		{name: "groupchat", from: alice, msg: `<message type='groupchat' to='bob@localhost/phone'><body>hi</body></message>`},
		{name: "error", from: alice, msg: `<message type='error' to='bob@localhost'><body>hi</body><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`},
		{name: "chat state only", from: alice, msg: `<message type='chat' to='bob@localhost'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`},
		{name: "receipt only", from: alice, msg: `<message type='chat' to='bob@localhost'><received xmlns='urn:xmpp:receipts' id='x'/></message>`},
		{name: "marker only", from: alice, msg: `<message type='chat' to='bob@localhost'><displayed xmlns='urn:xmpp:chat-markers:0' id='x'/></message>`},
		{name: "omemo legacy", from: alice, msg: `<message type='chat' to='bob@localhost'><encrypted xmlns='eu.siacs.conversations.axolotl'><payload>AAA</payload></encrypted><body>I sent you an OMEMO encrypted message</body></message>`, sender: true, recipient: true, body: ""},
		{name: "omemo 2", from: alice, msg: `<message type='chat' to='bob@localhost'><encrypted xmlns='urn:xmpp:omemo:2'/></message>`, sender: true, recipient: true},
		{name: "openpgp legacy", from: alice, msg: `<message type='chat' to='bob@localhost'><x xmlns='jabber:x:encrypted'>AAA</x></message>`, sender: true, recipient: true},
		{name: "ox", from: alice, msg: `<message type='chat' to='bob@localhost'><openpgp xmlns='urn:xmpp:openpgp:0'>AAA</openpgp></message>`, sender: true, recipient: true},
		{name: "store hint", from: alice, msg: `<message type='chat' to='bob@localhost'><displayed xmlns='urn:xmpp:chat-markers:0' id='x'/><store xmlns='urn:xmpp:hints'/></message>`, sender: true, recipient: true},
		{name: "no-store", from: alice, msg: `<message type='chat' to='bob@localhost'><body>hi</body><no-store xmlns='urn:xmpp:hints'/></message>`},
		{name: "no-permanent-store", from: alice, msg: `<message type='chat' to='bob@localhost'><body>hi</body><no-permanent-store xmlns='urn:xmpp:hints'/></message>`},
		{name: "store and no-store", from: alice, msg: `<message type='chat' to='bob@localhost'><body>hi</body><store xmlns='urn:xmpp:hints'/><no-store xmlns='urn:xmpp:hints'/></message>`},
		{name: "remote sender", from: "romeo@montague.example/orchard", msg: `<message type='chat' to='bob@localhost'><body>hi</body></message>`, recipient: true, body: "hi"},
		{name: "component sender", from: "bridge.localhost", msg: `<message type='chat' to='bob@localhost'><body>hi</body></message>`, recipient: true, body: "hi"},
		{name: "unknown local recipient", from: alice, msg: `<message type='chat' to='nobody@localhost'><body>hi</body></message>`},
		{name: "remote recipient", from: alice, msg: `<message type='chat' to='juliet@capulet.example'><body>hi</body></message>`, sender: true, body: "hi"},
		{name: "to the server", from: alice, msg: `<message type='chat' to='localhost'><body>hi</body></message>`},
	}
	// Archivable (which messages sessions pipeline) is true of every
	// message archived, and false of those that no archive keeps for what
	// they hold.
	notKept := map[string]bool{"empty body": true, "headline": true, "groupchat": true, "error": true,
		"chat state only": true, "receipt only": true, "marker only": true, "no-store": true,
		"no-permanent-store": true, "store and no-store": true}
	for _, c := range cases {
		el, err := xml.Parse([]byte(c.msg), stanza.NSClient)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got, want := mam.Archivable(el), !notKept[c.name]; got != want {
			t.Errorf("%s: Archivable = %v, want %v", c.name, got, want)
		}
		if (c.sender || c.recipient) && notKept[c.name] {
			t.Fatalf("%s: archived, but listed as not kept", c.name)
		}
	}
	backends(t, func(t *testing.T, backend string) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e := newEnv(t, backend, mam.Config{})
				tb := e.online(bob)
				e.send(c.from, c.msg)
				got := tb.Take()
				senderOwner := c.owner
				if senderOwner == "" {
					senderOwner = "alice@localhost"
				}
				sent := e.archive(senderOwner)
				recv := e.archive("bob@localhost")
				if (len(sent) == 1) != c.sender || len(sent) > 1 {
					t.Errorf("sender's archive has %d messages, want archived=%v", len(sent), c.sender)
				}
				if (len(recv) == 1) != c.recipient || len(recv) > 1 {
					t.Errorf("recipient's archive has %d messages, want archived=%v", len(recv), c.recipient)
				}
				var delivered *stanza.Stanza
				for _, st := range got {
					if st.Kind == stanza.KindMessage && st.Type != stanza.TypeError {
						delivered = st
					}
				}
				if c.recipient {
					if delivered == nil {
						t.Fatalf("nothing delivered to bob; got %v", got)
					}
					id := mam.StanzaID(delivered, "bob@localhost")
					if id == "" || id != mam.FormatID(recv[0].ID) {
						t.Errorf("delivered stanza-id %q, archive id %s: %s", id, mam.FormatID(recv[0].ID), delivered)
					}
					if recv[0].Body != c.body {
						t.Errorf("Body = %q, want %q", recv[0].Body, c.body)
					}
				} else if delivered != nil && mam.StanzaID(delivered, "bob@localhost") != "" {
					t.Errorf("stanza-id on a message not archived: %s", delivered)
				}
				if delivered != nil && mam.StanzaID(delivered, "alice@localhost") != "" {
					t.Errorf("the sender's stanza-id was delivered to the recipient: %s", delivered)
				}
				if c.sender && c.recipient && sent[0].ID != recv[0].ID {
					t.Errorf("ids differ: sender %d, recipient %d", sent[0].ID, recv[0].ID)
				}
			})
		}
	})
}

func TestArchivedMessage(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, mam.Config{})
		tb := e.online("bob@localhost/phone")
		e.clock.set(time.Date(2025, 6, 7, 8, 9, 10, 123456789, time.UTC))
		e.send("alice@localhost/desk", `<message type='chat' to='bob@localhost/phone' id='abc'>`+
			`<body>Hello Bob</body>`+
			`<origin-id xmlns='urn:xmpp:sid:0' id='origin-1'/>`+
			`<stanza-id xmlns='urn:xmpp:sid:0' by='bob@localhost' id='forged-by-recipient'/>`+
			`<stanza-id xmlns='urn:xmpp:sid:0' by='Alice@LOCALHOST' id='forged-by-sender'/>`+
			`<stanza-id xmlns='urn:xmpp:sid:0' by='room@muc.example' id='kept'/>`+
			`</message>`)
		got := tb.Take()
		if len(got) != 1 {
			t.Fatalf("bob got %d stanzas, want 1", len(got))
		}
		d := got[0]
		sent, recv := e.archive("alice@localhost"), e.archive("bob@localhost")
		if len(sent) != 1 || len(recv) != 1 {
			t.Fatalf("archives hold %d and %d messages, want 1 and 1", len(sent), len(recv))
		}
		s, r := sent[0], recv[0]
		wantStamp := time.Date(2025, 6, 7, 8, 9, 10, 123456000, time.UTC)
		for _, c := range []struct {
			name      string
			got, want any
		}{
			{"sender Owner", s.Owner, "alice@localhost"},
			{"sender With", s.With, "bob@localhost"},
			{"sender WithResource", s.WithResource, "phone"},
			{"sender Outgoing", s.Outgoing, true},
			{"recipient Owner", r.Owner, "bob@localhost"},
			{"recipient With", r.With, "alice@localhost"},
			{"recipient WithResource", r.WithResource, "desk"},
			{"recipient Outgoing", r.Outgoing, false},
			{"OriginID", r.OriginID, "origin-1"},
			{"Body", r.Body, "Hello Bob"},
			{"sender Stamp", s.Stamp.Equal(wantStamp), true},
			{"recipient Stamp", r.Stamp.Equal(wantStamp), true},
			{"same id", s.ID, r.ID},
			{"id time", mam.IDTime(r.ID).Equal(wantStamp.Truncate(time.Millisecond)), true},
			{"delivered stanza-id", mam.StanzaID(d, "bob@localhost"), mam.FormatID(r.ID)},
			{"other stanza-id kept", mam.StanzaID(d, "room@muc.example"), "kept"},
			{"origin-id kept", d.El.Child(mam.NSSID, "origin-id").AttrValue("id"), "origin-1"},
			{"stanza-ids delivered", len(d.El.ChildrenNamed(mam.NSSID, "stanza-id")), 2},
		} {
			if c.got != c.want {
				t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
			}
		}
		for _, m := range []struct {
			msg mam.Message
			by  string
		}{{s, "alice@localhost"}, {r, "bob@localhost"}} {
			st := parse(t, string(m.msg.Stanza))
			if got := mam.StanzaID(st, m.by); got != mam.FormatID(m.msg.ID) {
				t.Errorf("%s's archived stanza-id = %q, want %q: %s", m.by, got, mam.FormatID(m.msg.ID), st)
			}
			if strings.Contains(string(m.msg.Stanza), "forged") {
				t.Errorf("%s's archived stanza keeps a forged stanza-id: %s", m.by, m.msg.Stanza)
			}
			if n := len(st.El.ChildrenNamed(mam.NSSID, "stanza-id")); n != 2 {
				t.Errorf("%s's archived stanza has %d stanza-ids, want 2 (its own and the room's): %s", m.by, n, st)
			}
			if st.From.String() != "alice@localhost/desk" || st.To.String() != "bob@localhost/phone" || st.ID != "abc" {
				t.Errorf("archived stanza addresses or id changed: %s", st)
			}
		}
	})
}

func TestSpoofedStanzaIDStrippedWhenNotArchived(t *testing.T) {
	e := newEnv(t, memBackend, mam.Config{})
	tb := e.online("bob@localhost/phone")
	orig := parse(t, `<message type='chat' to='bob@localhost'><composing xmlns='http://jabber.org/protocol/chatstates'/>`+
		`<stanza-id xmlns='urn:xmpp:sid:0' by='bob@localhost' id='forged'/></message>`)
	orig.SetFrom(mustJID(t, "alice@localhost/desk"))
	e.r.Route(e.ctx, orig)
	got := tb.Take()
	if len(got) != 1 {
		t.Fatalf("bob got %d stanzas, want 1", len(got))
	}
	if id := mam.StanzaID(got[0], "bob@localhost"); id != "" {
		t.Errorf("forged stanza-id delivered: %s", got[0])
	}
	if mam.StanzaID(orig, "bob@localhost") != "forged" {
		t.Errorf("the routed stanza was changed in place (stanzas are shared): %s", orig)
	}
	if n := e.mem.Len("bob@localhost"); n != 0 {
		t.Errorf("archived %d chat states", n)
	}
}

func TestMessageToSelf(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, mam.Config{})
		tg := e.online("alice@localhost/desk")
		e.send("alice@localhost/desk", `<message type='chat' to='alice@localhost'><body>note</body></message>`)
		msgs := e.archive("alice@localhost")
		if len(msgs) != 1 {
			t.Fatalf("archive holds %d messages, want 1", len(msgs))
		}
		if msgs[0].With != "alice@localhost" {
			t.Errorf("With = %q", msgs[0].With)
		}
		got := tg.Take()
		if len(got) != 1 || mam.StanzaID(got[0], "alice@localhost") != mam.FormatID(msgs[0].ID) {
			t.Errorf("delivered %v, want one message with the stanza-id", got)
		}
		// with=own JID finds it (XEP-0313 §4.1.1).
		f := e.query("alice@localhost/desk", "", form("with", "alice@localhost"))
		if len(f.results) != 1 {
			t.Errorf("with own JID: %d results, want 1", len(f.results))
		}
	})
}

// failingStore fails every Append.
type failingStore struct {
	mam.Store
}

var errDisk = errors.New("disk on fire")

func (failingStore) Append(context.Context, []mam.Message) error { return errDisk }

func TestArchiveFailureStopsDelivery(t *testing.T) {
	store, _ := newStore(t, memBackend)
	e := newEnvStore(t, memBackend, failingStore{store}, nil, mam.Config{})
	tb := e.online("bob@localhost/phone")
	ta := e.online("alice@localhost/desk")
	e.send("alice@localhost/desk", `<message type='chat' to='bob@localhost' id='x'><body>hi</body></message>`)
	if got := tb.Take(); len(got) != 0 {
		t.Errorf("delivered although not archived: %v", got)
	}
	got := ta.Take()
	if len(got) != 1 || got[0].Type != stanza.TypeError {
		t.Fatalf("sender got %v, want an error", got)
	}
	if se := stanza.ParseError(got[0].El); se.Condition != stanza.InternalServerError || se.Type != stanza.Wait {
		t.Errorf("error %s/%s, want wait/internal-server-error", se.Type, se.Condition)
	}
	// Messages that are not archived still flow.
	e.send("alice@localhost/desk", `<message type='chat' to='bob@localhost'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	if got := tb.Take(); len(got) != 1 {
		t.Errorf("chat state: bob got %d stanzas, want 1", len(got))
	}
}

func TestStanzaID(t *testing.T) {
	st := parse(t, `<message><stanza-id xmlns='urn:xmpp:sid:0' by='a@x' id='1'/><stanza-id xmlns='urn:other' by='b@x' id='2'/><stanza-id xmlns='urn:xmpp:sid:0' by='b@x' id='3'/></message>`)
	for by, want := range map[string]string{"a@x": "1", "b@x": "3", "c@x": ""} {
		if got := mam.StanzaID(st, by); got != want {
			t.Errorf("StanzaID(%q) = %q, want %q", by, got, want)
		}
	}
}

func TestIDsIncrease(t *testing.T) {
	e := newEnv(t, memBackend, mam.Config{})
	e.online("bob@localhost/phone")
	// The clock stands still, then goes back: ids still increase and
	// stamps never go back.
	for i := range 50 {
		if i == 25 {
			e.clock.set(epoch.Add(-time.Hour))
		}
		e.send("alice@localhost/desk", `<message type='chat' to='bob@localhost'><body>x</body></message>`)
	}
	msgs := e.archive("bob@localhost")
	if len(msgs) != 50 {
		t.Fatalf("%d archived, want 50", len(msgs))
	}
	for i := 1; i < len(msgs); i++ {
		if msgs[i].ID <= msgs[i-1].ID || msgs[i].Stamp.Before(msgs[i-1].Stamp) {
			t.Fatalf("message %d: id %d stamp %s after id %d stamp %s", i, msgs[i].ID, msgs[i].Stamp, msgs[i-1].ID, msgs[i-1].Stamp)
		}
		if mam.FormatID(msgs[i].ID) <= mam.FormatID(msgs[i-1].ID) {
			t.Fatalf("formatted ids do not sort: %s after %s", mam.FormatID(msgs[i].ID), mam.FormatID(msgs[i-1].ID))
		}
	}
}

func TestFormatParseID(t *testing.T) {
	for _, id := range []int64{1, 31, 32, 1 << 40, time.Now().UnixMilli() << 20, 1<<63 - 1} {
		s := mam.FormatID(id)
		if len(s) != 13 {
			t.Errorf("FormatID(%d) = %q: length %d", id, s, len(s))
		}
		got, err := mam.ParseID(s)
		if err != nil || got != id {
			t.Errorf("ParseID(FormatID(%d) = %q) = %d, %v", id, s, got, err)
		}
	}
	for _, s := range []string{"", "0", "0000000000000", "zzzzzzzzzzzzz", "8000000000000", "000000000000A", "00000000000001", "00000000000-1", "28482-98726-7"} {
		if id, err := mam.ParseID(s); err == nil || !errors.Is(err, mam.ErrInvalidID) {
			t.Errorf("ParseID(%q) = %d, %v; want ErrInvalidID", s, id, err)
		}
	}
}

func TestRemoteRecipientGetsNoStanzaID(t *testing.T) {
	e := newEnv(t, memBackend, mam.Config{})
	comp := e.h.Component("bridge.example")
	e.send(aliceDesk, `<message type='chat' to='juliet@bridge.example'><body>hi</body>`+
		`<stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='forged'/></message>`)
	got := comp.Take()
	if len(got) != 1 {
		t.Fatalf("component got %d stanzas", len(got))
	}
	if n := len(got[0].El.ChildrenNamed(mam.NSSID, "stanza-id")); n != 0 {
		t.Errorf("message to a remote entity carries %d stanza-ids: %s", n, got[0])
	}
	msgs := e.archive("alice@localhost")
	if len(msgs) != 1 || !msgs[0].Outgoing || msgs[0].With != "juliet@bridge.example" {
		t.Fatalf("sender's archive: %+v", msgs)
	}
	if id := mam.StanzaID(parse(t, string(msgs[0].Stanza)), "alice@localhost"); id != mam.FormatID(msgs[0].ID) {
		t.Errorf("archived stanza-id %q", id)
	}
}
