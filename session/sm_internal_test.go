package session

import (
	"math"
	"strconv"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"

	"mellium.im/xmpp/jid"
)

func TestAckCount(t *testing.T) {
	const top = math.MaxUint32
	for i, c := range []struct {
		h, acked uint32
		unacked  int
		n        uint32
		ok       bool
	}{
		0:  {h: 0, acked: 0, unacked: 0, n: 0, ok: true},
		1:  {h: 3, acked: 0, unacked: 5, n: 3, ok: true},
		2:  {h: 5, acked: 0, unacked: 5, n: 5, ok: true},
		3:  {h: 6, acked: 0, unacked: 5, n: 6, ok: false},
		4:  {h: 7, acked: 7, unacked: 2, n: 0, ok: true},
		5:  {h: 6, acked: 7, unacked: 2, n: top, ok: false},    // h going back
		6:  {h: 1, acked: top - 2, unacked: 5, n: 4, ok: true}, // wraps past 2^32
		7:  {h: 2, acked: top - 2, unacked: 5, n: 5, ok: true},
		8:  {h: 3, acked: top - 2, unacked: 5, n: 6, ok: false},
		9:  {h: top, acked: top - 1, unacked: 1, n: 1, ok: true},
		10: {h: 0, acked: top, unacked: 1, n: 1, ok: true},
		11: {h: top, acked: 0, unacked: 1 << 20, n: top, ok: false},
	} {
		n, ok := ackCount(c.h, c.acked, c.unacked)
		if n != c.n || ok != c.ok {
			t.Errorf("%d: ackCount(%d, %d, %d) = %d, %v; want %d, %v", i, c.h, c.acked, c.unacked, n, ok, c.n, c.ok)
		}
	}
}

func TestParseH(t *testing.T) {
	for _, v := range []string{"", "-1", "4294967296", "1.0", "0x10", " 1"} {
		if _, err := parseH(v); err == nil {
			t.Errorf("parseH(%q) succeeded", v)
		}
	}
	if h, err := parseH("4294967295"); err != nil || h != math.MaxUint32 {
		t.Errorf("parseH(max) = %d, %v", h, err)
	}
}

func msg(i int) *stanza.Stanza {
	st := stanza.Build(stanza.KindMessage, stanza.TypeChat, strconv.Itoa(i), jid.MustParse("a@x/r"), jid.MustParse("b@x/r"))
	st.El.AddChild(xml.NewElement(stanza.NSClient, "body").AddText("m" + strconv.Itoa(i)))
	return st
}

func TestOutQueue(t *testing.T) {
	var q outQueue
	for i := range 200 {
		q.push(queued{st: msg(i)})
	}
	next := 0
	for _, n := range []int{1, 70, 0, 29, 50} {
		q.drop(n)
		next += n
		if q.len() != 200-next {
			t.Fatalf("after dropping %d: len %d", next, q.len())
		}
		if got := q.items()[0].st.ID; got != strconv.Itoa(next) {
			t.Fatalf("after dropping %d: head %s", next, got)
		}
	}
	q.push(queued{st: msg(200)})
	q.compact()
	if q.len() != 51 || q.items()[50].st.ID != "200" {
		t.Fatalf("after compact: len %d", q.len())
	}
	all := q.take()
	if len(all) != 51 || all[0].st.ID != "150" || q.len() != 0 {
		t.Fatalf("take: %d items from %s, len after %d", len(all), all[0].st.ID, q.len())
	}
	q.drop(0)
	if q.take() != nil {
		t.Fatal("take of an empty queue")
	}
}

// TestSessionAckWraps drives a session's queue across h = 2^32.
func TestSessionAckWraps(t *testing.T) {
	srv := &Server{}
	srv.init()
	s := &Session{srv: srv, sm: true, state: stateHibernated, acked: math.MaxUint32 - 1}
	for i := range 5 {
		s.out.push(queued{st: msg(i)}) // stanzas 2^32-1 (h=2^32-1), 0, 1, 2, 3
	}
	if err := s.ack(1); err != nil { // acknowledges 3
		t.Fatal(err)
	}
	if s.out.len() != 2 || s.out.items()[0].st.ID != "3" {
		t.Fatalf("after h=1: %d queued, head %s", s.out.len(), s.out.items()[0].st.ID)
	}
	err := s.ack(4)
	if _, ok := err.(*handledTooHigh); !ok {
		t.Fatalf("h=4 with 2 queued after h=1: %v", err)
	}
	if e := err.(*handledTooHigh); e.sent != 3 || e.h != 4 {
		t.Fatalf("too high: %+v", e)
	}
	if err := s.ack(3); err != nil || s.out.len() != 0 {
		t.Fatalf("h=3: %v, %d left", err, s.out.len())
	}
	if string(err.(*handledTooHigh).appendXML(nil)) != "<stream:error><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"+
		"<handled-count-too-high xmlns='urn:xmpp:sm:3' h='4' send-count='3'/>"+
		"<text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>h acknowledges more stanzas than were sent</text></stream:error>" {
		t.Errorf("error XML: %s", err.(*handledTooHigh).appendXML(nil))
	}
}

func TestSMID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newSMID("")
		if len(id) < 26 || seen[id] { // 26 base32 characters: 130 bits
			t.Fatalf("id %q (len %d, seen %v)", id, len(id), seen[id])
		}
		seen[id] = true
	}
}

func TestRegistry(t *testing.T) {
	var r registry
	r.init(3, time.Hour)
	now := time.Unix(1e9, 0)
	alice := &Session{id: "A", bare: "alice@x"}
	r.add("A", alice)
	if r.lookup("A", "alice@x") != alice {
		t.Fatal("lookup by the owner failed")
	}
	if r.lookup("A", "mallory@x") != nil || r.lookup("B", "alice@x") != nil {
		t.Fatal("an SM-ID resolves for another account or an unknown id")
	}
	r.retire(alice, 42, now)
	if r.lookup("A", "alice@x") != nil {
		t.Fatal("retired session still resumable")
	}
	if h, ok := r.staleH("A", "alice@x", now); !ok || h != 42 {
		t.Fatalf("staleH = %d, %v", h, ok)
	}
	if _, ok := r.staleH("A", "mallory@x", now); ok {
		t.Fatal("another account learns the old h")
	}
	// At most 3 per account: the oldest goes.
	for i := range 4 {
		s := &Session{id: "S" + strconv.Itoa(i), bare: "bob@x"}
		r.add(s.id, s)
		r.retire(s, uint32(i), now.Add(time.Duration(i)*time.Minute))
	}
	if _, ok := r.staleH("S0", "bob@x", now.Add(5*time.Minute)); ok {
		t.Error("the fourth old session of bob did not evict the first")
	}
	if h, ok := r.staleH("S3", "bob@x", now.Add(5*time.Minute)); !ok || h != 3 {
		t.Errorf("S3: %d, %v", h, ok)
	}
	// Expiry.
	if _, ok := r.staleH("A", "alice@x", now.Add(time.Hour)); ok {
		t.Error("old session kept past its TTL")
	}
	if _, ok := r.staleH("S3", "bob@x", now.Add(2*time.Hour)); ok {
		t.Error("old session kept past its TTL")
	}
	if len(r.old) != 0 || len(r.byUser) != 0 || len(r.fifo) != 0 {
		t.Errorf("expired entries left: %d %d %d", len(r.old), len(r.byUser), len(r.fifo))
	}
}

// parse parses a stanza for the tests.
func parse(t *testing.T, s string) *stanza.Stanza { return routertest.Parse(t, s) }

func TestClassify(t *testing.T) {
	for i, c := range []struct {
		xml             string
		urgent, rescued bool
	}{
		0:  {"<message type='chat'><body>hi</body></message>", true, true},
		1:  {"<message type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>", false, false},
		2:  {"<message><encrypted xmlns='eu.siacs.conversations.axolotl'><payload>x</payload></encrypted></message>", true, true},
		3:  {"<message><encrypted xmlns='urn:xmpp:omemo:2'/></message>", true, true},
		4:  {"<message><openpgp xmlns='urn:xmpp:openpgp:0'>x</openpgp></message>", true, true},
		5:  {"<message><x xmlns='jabber:x:encrypted'>x</x></message>", true, true},
		6:  {"<message><propose xmlns='urn:xmpp:jingle-message:0' id='c'/></message>", true, true},
		7:  {"<message><received xmlns='urn:xmpp:receipts' id='1'/></message>", false, true},
		8:  {"<message><displayed xmlns='urn:xmpp:chat-markers:0' id='1'/></message>", false, true},
		9:  {"<message type='groupchat'><body>lunch?</body></message>", false, false},
		10: {"<message type='groupchat'><body>Alice, lunch?</body></message>", true, false},
		11: {"<message type='groupchat'><body>x</body><reference xmlns='urn:xmpp:reference:0' type='mention' uri='xmpp:alice@x'/></message>", true, false},
		12: {"<message type='headline'><event xmlns='http://jabber.org/protocol/pubsub#event'/></message>", false, false},
		13: {"<message type='chat'><body>x</body><no-store xmlns='urn:xmpp:hints'/></message>", true, false},
		14: {"<message type='error'><error type='cancel'/></message>", true, false},
		15: {"<presence/>", false, false},
		16: {"<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>", true, false},
		17: {"<message><store xmlns='urn:xmpp:hints'/></message>", false, true},
		18: {"<message><x xmlns='jabber:x:conference' jid='r@c'/></message>", false, true},
		19: {"<message type='chat'><body>hi</body><stanza-id xmlns='urn:xmpp:sid:0' id='1' by='a@x'/></message>", true, true},
		// Carbons: a copy is as urgent as what it carries (sent copies only
		// for call signals) and is never rescued (the original went elsewhere).
		20: {"<message from='alice@x' type='chat'><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' type='chat' from='b@x/r'><body>hi</body></message></forwarded></received></message>", true, false},
		21: {"<message from='alice@x' type='chat'><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' type='chat' from='b@x/r'><active xmlns='http://jabber.org/protocol/chatstates'/></message></forwarded></received></message>", false, false},
		22: {"<message from='alice@x' type='chat'><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' type='chat' to='b@x'><body>hi</body></message></forwarded></sent></message>", false, false},
		23: {"<message from='alice@x' type='chat'><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' to='b@x'><proceed xmlns='urn:xmpp:jingle-message:0' id='c'/></message></forwarded></sent></message>", true, false},
	} {
		st := parse(t, c.xml)
		if got := urgent(st, "alice", "alice@x"); got != c.urgent {
			t.Errorf("%d: urgent = %v", i, got)
		}
		if got := Rescuable(st); got != c.rescued {
			t.Errorf("%d: Rescuable = %v", i, got)
		}
	}
}

func TestHoldQueue(t *testing.T) {
	var q holdQueue
	in := []string{
		"<presence from='b@x/1'/>",
		"<message from='b@x/1'><active xmlns='http://jabber.org/protocol/chatstates'/></message>",
		"<presence from='c@x/1'/>",
		"<presence from='b@x/1'><show>away</show></presence>",
		"<presence from='b@x' type='subscribe'/>",
		"<presence from='b@x' type='subscribe'/>",
		"<presence from='c@x/1' type='unavailable'/>",
	}
	sup := 0
	for _, s := range in {
		if q.add(queued{st: parse(t, s)}) {
			sup++
		}
	}
	if sup != 2 || q.len() != 5 {
		t.Fatalf("superseded %d, len %d", sup, q.len())
	}
	out := q.take()
	want := []int{1, 3, 4, 5, 6}
	for i, e := range out {
		if st := e.st; st.String() != parse(t, in[want[i]]).String() {
			t.Errorf("held %d = %s, want %s", i, st, in[want[i]])
		}
	}
	if q.len() != 0 || q.items != nil || q.pres != nil {
		t.Error("take did not empty the queue")
	}
}
