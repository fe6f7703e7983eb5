package server_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/pep"
	"dormouse.im/dormouse/roster"
	"dormouse.im/dormouse/server"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// The accounts of the privacy tests. alice asks; bob shares his presence
// with her (her contact); carol and dave are strangers to her, dave with a
// published vCard; ghost has no account.
const (
	privSelf      = "alice@localhost"
	privContact   = "bob@localhost"
	privStranger  = "carol@localhost"
	privPublished = "dave@localhost"
	privMissing   = "ghost@localhost"
)

// accountIQCase is one IQ the server answers on an account's behalf. Each
// want is "result" or the error condition of the answer. A stranger gets
// the same answer for carol (an account that published nothing) and ghost
// (no account); the test checks that the two answers are identical,
// element for element.
//
// A feature that answers on behalf of accounts adds its rows here (PEP,
// MUC registration, …), and what an account publishes for strangers to
// publish below.
type accountIQCase struct {
	name                    string
	typ                     string // get, unless set
	payload                 string
	self, contact, stranger string
	published               string // dave's answer to a stranger; "" = stranger
}

var accountIQCases = []accountIQCase{
	{name: "disco#info", payload: `<query xmlns='http://jabber.org/protocol/disco#info'/>`,
		self: "result", contact: "result", stranger: "service-unavailable"},
	{name: "disco#items", payload: `<query xmlns='http://jabber.org/protocol/disco#items'/>`,
		self: "result", contact: "result", stranger: "service-unavailable"},
	{name: "vcard", payload: `<vCard xmlns='vcard-temp'/>`,
		self: "result", contact: "item-not-found", stranger: "item-not-found", published: "result"},
	{name: "vcard set", typ: "set", payload: `<vCard xmlns='vcard-temp'><FN>x</FN></vCard>`,
		self: "result", contact: "forbidden", stranger: "forbidden", published: "forbidden"},
	{name: "ping", payload: `<ping xmlns='urn:xmpp:ping'/>`,
		self: "service-unavailable", contact: "service-unavailable", stranger: "service-unavailable"},
	{name: "last activity (not implemented)", payload: `<query xmlns='jabber:iq:last'/>`,
		self: "service-unavailable", contact: "service-unavailable", stranger: "service-unavailable"},
	{name: "version", payload: `<query xmlns='jabber:iq:version'/>`,
		self: "service-unavailable", contact: "service-unavailable", stranger: "service-unavailable"},
	{name: "unknown namespace", payload: `<foo xmlns='urn:example:unknown'/>`,
		self: "service-unavailable", contact: "service-unavailable", stranger: "service-unavailable"},
	{name: "pubsub items", payload: `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:omemo:2:devices'/></pubsub>`,
		self: "item-not-found", contact: "item-not-found", stranger: "item-not-found", published: "result"},
	{name: "pubsub items of a closed node", payload: `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'/></pubsub>`,
		self: "item-not-found", contact: "item-not-found", stranger: "item-not-found"},
	{name: "pubsub publish", typ: "set", payload: `<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:example:pep'><item><x xmlns='urn:example:pep'/></item></publish></pubsub>`,
		self: "result", contact: "forbidden", stranger: "forbidden"},
	{name: "pubsub affiliations", payload: `<pubsub xmlns='http://jabber.org/protocol/pubsub'><affiliations/></pubsub>`,
		self: "result", contact: "result", stranger: "result"},
	{name: "pubsub#owner configure", payload: `<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='urn:xmpp:omemo:2:devices'/></pubsub>`,
		self: "item-not-found", contact: "forbidden", stranger: "service-unavailable"},
	{name: "private storage", payload: `<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query>`,
		self: "result", contact: "forbidden", stranger: "service-unavailable"},
	{name: "roster", payload: `<query xmlns='jabber:iq:roster'/>`,
		self: "result", contact: "forbidden", stranger: "service-unavailable"},
	{name: "mam", typ: "set", payload: `<query xmlns='urn:xmpp:mam:2'/>`,
		self: "result", contact: "forbidden", stranger: "service-unavailable"},
	{name: "blocking", payload: `<blocklist xmlns='urn:xmpp:blocking'/>`,
		self: "result", contact: "forbidden", stranger: "service-unavailable"},
	{name: "muc admin (rooms live at the MUC domain, not at accounts)", payload: `<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member'/></query>`,
		self: "service-unavailable", contact: "service-unavailable", stranger: "service-unavailable"},
}

// privacyServer starts a server with the privacy tests' accounts and
// relations, and alice online (available: presence reaches her).
func privacyServer(t *testing.T, mod func(*config.Config)) (*testServer, *xmpptest.Client) {
	t.Helper()
	ts := start(t, mod)
	ts.users("alice", "bob", "carol", "dave")
	ctx := context.Background()
	for _, it := range []struct {
		user string
		item roster.Item
	}{
		{privContact, roster.Item{Contact: privSelf, Subscription: roster.SubFrom}},
		{privSelf, roster.Item{Contact: privContact, Subscription: roster.SubTo}},
	} {
		if _, err := ts.Stores.Roster.Put(ctx, it.user, it.item); err != nil {
			t.Fatal(err)
		}
	}
	// What dave publishes for everyone.
	if err := ts.Stores.VCard.SetVCard(ctx, privPublished, []byte(`<vCard xmlns='vcard-temp'><FN>Dave</FN></vCard>`)); err != nil {
		t.Fatal(err)
	}
	open := pep.DefaultNodeConfig
	open.Access = pep.AccessOpen
	if err := ts.Stores.PEP.CreateNode(ctx, privPublished, "urn:xmpp:omemo:2:devices", open); err != nil {
		t.Fatal(err)
	}
	if err := ts.Stores.PEP.Publish(ctx, privPublished, "urn:xmpp:omemo:2:devices",
		pep.Item{ID: "current", Payload: []byte(`<devices xmlns='urn:xmpp:omemo:2'><device id='1'/></devices>`)}, 1); err != nil {
		t.Fatal(err)
	}
	if err := ts.Stores.PEP.CreateNode(ctx, privPublished, "urn:xmpp:bookmarks:1", pep.DefaultNodeConfig); err != nil {
		t.Fatal(err)
	}
	alice := ts.dial("alice", "phone")
	if err := alice.SendRaw("<presence/>"); err != nil {
		t.Fatal(err)
	}
	return ts, alice
}

// answerOf returns "result" or the error condition of an IQ reply.
func answerOf(el *xml.Element) string {
	if el.AttrValue("type") == "result" {
		return "result"
	}
	return xmpptest.ErrorCondition(el)
}

// anonymous returns el without its addresses and id.
func anonymous(el *xml.Element) string {
	el = el.Copy()
	for _, a := range []string{"from", "to", "id"} {
		el.SetAttr(a, "")
	}
	return el.String()
}

// TestAccountIQPrivacy checks every IQ the server answers on behalf of
// accounts for the account itself, a contact and a stranger (RFC 6121
// §8.5, XEP-0030 §8): a stranger cannot tell an account that published
// nothing from no account.
func TestAccountIQPrivacy(t *testing.T) {
	_, alice := privacyServer(t, nil)
	n := 0
	ask := func(t *testing.T, tc accountIQCase, to string) *xml.Element {
		t.Helper()
		n++
		id := fmt.Sprint("q", n)
		typ := tc.typ
		if typ == "" {
			typ = "get"
		}
		r, err := alice.IQ(id, fmt.Sprintf("<iq type='%s' id='%s' to='%s'>%s</iq>", typ, id, to, tc.payload))
		if err != nil {
			t.Fatalf("%s to %s: %v", tc.name, to, err)
		}
		return r
	}
	for _, tc := range accountIQCases {
		t.Run(tc.name, func(t *testing.T) {
			published := tc.published
			if published == "" {
				published = tc.stranger
			}
			for _, c := range []struct{ to, want string }{
				{privSelf, tc.self}, {privContact, tc.contact}, {privStranger, tc.stranger}, {privPublished, published},
			} {
				if got := ask(t, tc, c.to); answerOf(got) != c.want {
					t.Errorf("to %s: %s, want %s", c.to, got, c.want)
				}
			}
			existing, missing := anonymous(ask(t, tc, privStranger)), anonymous(ask(t, tc, privMissing))
			if existing != missing {
				t.Errorf("a stranger tells them apart:\nexisting %s\nmissing  %s", existing, missing)
			}
		})
	}
	// What contacts keep: the account's features (PEP, push, MAM, …).
	r := ask(t, accountIQCase{payload: `<query xmlns='http://jabber.org/protocol/disco#info'/>`}, privContact)
	q := r.Child("http://jabber.org/protocol/disco#info", "query")
	var features []string
	for _, f := range q.ChildrenNamed("http://jabber.org/protocol/disco#info", "feature") {
		features = append(features, f.AttrValue("var"))
	}
	if !slices.Contains(features, "urn:xmpp:mam:2") || q.Child("http://jabber.org/protocol/disco#info", "identity") == nil {
		t.Errorf("a contact's disco#info lost the account's identity or features: %s", r)
	}
}

// collectFrom sends stanzas from c, then a ping to the server as a barrier,
// and returns what arrived before the ping's answer from the bare JID
// from (anonymous, see anonymous).
func collectFrom(t *testing.T, c *xmpptest.Client, from string, stanzas ...string) []string {
	t.Helper()
	for _, s := range stanzas {
		if err := c.SendRaw(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.SendRaw("<iq type='get' id='barrier' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"); err != nil {
		t.Fatal(err)
	}
	_, skipped, err := c.Expect(func(e *xml.Element) bool { return e.Name.Local == "iq" && e.AttrValue("id") == "barrier" })
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range skipped {
		if f := e.AttrValue("from"); f == from || strings.HasPrefix(f, from+"/") {
			out = append(out, anonymous(e))
		}
	}
	return out
}

// TestHideAccounts checks messages and subscription requests to a missing
// account against those to an existing account that is offline, with
// [privacy] hide_accounts off (bounced, RFC 6121 §8.5.1) and on (the same
// as for the offline account: nothing).
func TestHideAccounts(t *testing.T) {
	for _, hide := range []bool{false, true} {
		t.Run(fmt.Sprint("hide_accounts=", hide), func(t *testing.T) {
			ts, alice := privacyServer(t, func(c *config.Config) { c.Privacy.HideAccounts = hide })
			for _, tc := range []struct {
				name, stanza string
				bounce       string // the answer for a missing account without hide_accounts
			}{
				{"chat", "<message type='chat' id='m1' to='%s'><body>hello?</body></message>", "service-unavailable"},
				{"normal", "<message id='m2' to='%s'><body>hello?</body></message>", "service-unavailable"},
				{"subscription request", "<presence type='subscribe' to='%s'/>", "unsubscribed"},
				{"groupchat (bounced for both)", "<message type='groupchat' id='m3' to='%s'><body>x</body></message>", "service-unavailable"},
			} {
				existing := collectFrom(t, alice, privStranger, fmt.Sprintf(tc.stanza, privStranger))
				missing := collectFrom(t, alice, privMissing, fmt.Sprintf(tc.stanza, privMissing))
				if hide || strings.HasPrefix(tc.name, "groupchat") {
					if !slices.Equal(existing, missing) {
						t.Errorf("%s: offline account answered %v, missing one %v", tc.name, existing, missing)
					}
					continue
				}
				if len(existing) != 0 {
					t.Errorf("%s: an offline account answered %v", tc.name, existing)
				}
				if len(missing) != 1 || !strings.Contains(missing[0], tc.bounce) {
					t.Errorf("%s to a missing account: %v, want %s", tc.name, missing, tc.bounce)
				}
			}
			// carol gets what was sent to her; nothing was kept for ghost.
			carol := ts.dial("carol", "phone")
			if err := carol.SendRaw("<presence/>"); err != nil {
				t.Fatal(err)
			}
			m := expectStanza(t, carol, "message", nil)
			if m.ChildText("jabber:client", "body") != "hello?" {
				t.Errorf("carol got %s", m)
			}
			if n, err := ts.Stores.Offline.Count(context.Background(), privMissing); err != nil || n != 0 {
				t.Errorf("%d messages kept for a missing account (%v)", n, err)
			}
		})
	}
}

// TestStrangerThrottle checks that [privacy] max_new_peers reaches the
// router: beyond it, a message to one more stranger waits (1 s; the
// delays and the log are tested in package router on a fake clock).
func TestStrangerThrottle(t *testing.T) {
	_, alice := privacyServer(t, func(c *config.Config) { c.Privacy.MaxNewPeers = 2 })
	timed := func(to string) time.Duration {
		start := time.Now()
		collectFrom(t, alice, to, "<message type='chat' to='"+to+"'><body>hi</body></message>")
		return time.Since(start)
	}
	for _, to := range []string{privStranger, privPublished, privContact, privStranger} {
		if d := timed(to); d > 500*time.Millisecond {
			t.Errorf("message to %s took %v", to, d)
		}
	}
	if d := timed(privMissing); d < time.Second {
		t.Errorf("the third stranger's message took %v, want a delay of 1 s", d)
	}
}

// BenchmarkStrangerIQ measures the answer to a stranger's IQ for an
// existing account (carol, who published nothing) and a missing one
// (ghost), alternating the two, and reports their latency distributions
// side by side: a missing account must not be answered measurably faster.
// "router" routes in process through the assembled server (the server's
// own work, SQLite stores); "tls" is what a client sees over loopback TLS.
func BenchmarkStrangerIQ(b *testing.B) {
	srv := benchServer(b, "alice", "carol")
	ctx := context.Background()
	payloads := []struct{ name, xml string }{
		{"vcard", `<vCard xmlns='vcard-temp'/>`},
		{"disco-info", `<query xmlns='http://jabber.org/protocol/disco#info'/>`},
		{"unknown", `<foo xmlns='urn:example:unknown'/>`},
	}
	for _, p := range payloads {
		b.Run("router/"+p.name, func(b *testing.B) {
			rec := &routertest.Recorder{}
			srv.Router.Bind(jid.MustParse("alice@localhost/bench"), rec)
			defer srv.Router.Unbind(ctx, jid.MustParse("alice@localhost/bench"), rec)
			iqs := [2]*stanza.Stanza{}
			for i, to := range []string{privStranger, privMissing} {
				iqs[i] = routertest.Parse(b, "<iq type='get' id='b' from='alice@localhost/bench' to='"+to+"'>"+p.xml+"</iq>")
			}
			var lat [2][]time.Duration
			i := 0
			for b.Loop() {
				k := i & 1
				i++
				start := time.Now()
				srv.Router.Route(ctx, iqs[k])
				lat[k] = append(lat[k], time.Since(start))
				rec.Take()
			}
			reportLatencies(b, lat)
		})
	}
	for _, p := range payloads {
		b.Run("tls/"+p.name, func(b *testing.B) {
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			c, err := xmpptest.Dial(dctx, xmpptest.Options{Addr: srv.Addr(server.ListenerC2S).String(), Domain: "localhost",
				User: "alice", Password: "secret-alice", Resource: "tls", Timeout: 5 * time.Second})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			var lat [2][]time.Duration
			i := 0
			for b.Loop() {
				k := i & 1
				i++
				id := fmt.Sprint(i)
				iq := "<iq type='get' id='" + id + "' to='" + []string{privStranger, privMissing}[k] + "'>" + p.xml + "</iq>"
				start := time.Now()
				if _, err := c.IQ(id, iq); err != nil {
					b.Fatal(err)
				}
				lat[k] = append(lat[k], time.Since(start))
			}
			reportLatencies(b, lat)
		})
	}
}

// reportLatencies reports the 50th, 90th and 99th percentiles of the
// existing (lat[0]) and missing (lat[1]) accounts' answers, in µs.
func reportLatencies(b *testing.B, lat [2][]time.Duration) {
	for k, name := range []string{"existing", "missing"} {
		l := lat[k]
		if len(l) == 0 {
			return
		}
		slices.Sort(l)
		for _, q := range []int{50, 90, 99} {
			b.ReportMetric(float64(l[(len(l)-1)*q/100].Nanoseconds())/1e3, fmt.Sprintf("%s-p%d-µs", name, q))
		}
	}
}
