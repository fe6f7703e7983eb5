package pep_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/pep"
	"dormouse.im/dormouse/sql/sqltest"
	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// benchRoster: every contact is subscribed to the owner's presence and
// the other way round (parsed once, as a roster cache would hold them).
type benchRoster struct {
	owner    jid.JID
	contacts []jid.JID
}

func (r *benchRoster) Subscribers(_ context.Context, u jid.JID) ([]jid.JID, error) {
	if u.Equal(r.owner) {
		return r.contacts, nil
	}
	return []jid.JID{r.owner}, nil
}

func (r *benchRoster) Subscriptions(ctx context.Context, u jid.JID) ([]jid.JID, error) {
	return r.Subscribers(ctx, u)
}

// Subscribed makes benchRoster the router's Relations too.
func (r *benchRoster) Subscribed(_ context.Context, u, c jid.JID) (bool, error) {
	if u.Equal(r.owner) {
		return slices.ContainsFunc(r.contacts, c.Bare().Equal), nil
	}
	return c.Bare().Equal(r.owner), nil
}

// benchEnv has alice and n contacts (c0 … c<n-1>@example.org), each with
// a device list published (open) and alice with bookmarks.
func benchEnv(b *testing.B, n int) (*routertest.Harness, *pep.Service, *benchRoster, pep.Store) {
	h := routertest.New(b)
	st := sqltest.SQLite(b)
	creds, err := auth.NewCredentials("secret", 1)
	if err != nil {
		b.Fatal(err)
	}
	ro := &benchRoster{owner: jid.MustParse("alice@example.org")}
	names := []string{"alice@example.org"}
	for i := range n {
		c := fmt.Sprintf("c%d@example.org", i)
		names = append(names, c)
		ro.contacts = append(ro.contacts, jid.MustParse(c))
	}
	for _, a := range names {
		if err := st.Accounts.CreateAccount(b.Context(), a, creds); err != nil {
			b.Fatal(err)
		}
	}
	h.Router.SetRelations(ro)
	svc := pep.New(pep.Config{CapsVer: capsVer}, st.PEP, ro, h.Router, h.Log)
	svc.Register(h.Mux)
	b.Cleanup(svc.Close)
	return h, svc, ro, st.PEP
}

// BenchmarkLogin is a Conversations start-up: fetch the OMEMO device list
// of each of 50 contacts and the user's bookmarks. It reports the server
// time and allocations per PEP request (routing included; SQLite).
func BenchmarkLogin(b *testing.B) {
	const contacts = 50
	h, _, ro, _ := benchEnv(b, contacts)
	for i, c := range ro.contacts {
		full := c.String() + "/phone"
		h.Router.Bind(jid.MustParse(full), &routertest.Discard{})
		iq := routertest.Parse(b, publishIQ("p", "eu.siacs.conversations.axolotl.devicelist", "current",
			fmt.Sprintf(`<list xmlns='eu.siacs.conversations.axolotl'><device id='%d'/><device id='%d'/></list>`, i, i+100000), conversationsOpen))
		iq.SetFrom(jid.MustParse(full))
		h.Router.Route(b.Context(), iq)
	}
	alice := jid.MustParse("alice@example.org/phone")
	out := &routertest.Discard{}
	h.Router.Bind(alice, out)
	for i := range 20 {
		iq := routertest.Parse(b, publishIQ("p", "urn:xmpp:bookmarks:1", fmt.Sprintf("room%d@conference.example.org", i), bookmark, conversationsBookmarks))
		iq.SetFrom(alice)
		h.Router.Route(b.Context(), iq)
	}
	reqs := make([]*stanza.Stanza, 0, contacts+1)
	for _, c := range ro.contacts {
		iq := routertest.Parse(b, `<iq type='get' id='f' to='`+c.String()+`'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='eu.siacs.conversations.axolotl.devicelist'/></pubsub></iq>`)
		iq.SetFrom(alice)
		reqs = append(reqs, iq)
	}
	bm := routertest.Parse(b, `<iq type='get' id='bm'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'/></pubsub></iq>`)
	bm.SetFrom(alice)
	reqs = append(reqs, bm)
	out.Reset()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		for _, r := range reqs {
			h.Router.Route(b.Context(), r)
		}
	}
	b.StopTimer()
	if got, want := out.Count(), int64(b.N*len(reqs)); got != want {
		b.Fatalf("%d replies, want %d", got, want)
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*len(reqs)), "ns/request")
	b.ReportMetric(float64(len(reqs)), "requests/login")
}

// BenchmarkNotify200 publishes an item whose event goes to 200 contacts'
// resources (caps known, +notify); it reports the time per recipient.
func BenchmarkNotify200(b *testing.B) {
	const contacts = 200
	h, _, ro, store := benchEnv(b, contacts)
	q := capsQuery("eu.siacs.conversations.axolotl.devicelist+notify")
	ver := capsVer(q)
	if err := store.SetCaps(b.Context(), ver, q.AppendXML(nil, "")); err != nil {
		b.Fatal(err)
	}
	pres := routertest.Parse(b, `<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://test.example' ver='`+ver+`'/></presence>`)
	sink := &routertest.Discard{}
	for _, c := range ro.contacts {
		full := jid.MustParse(c.String() + "/phone")
		h.Router.Bind(full, sink)
		p := pres.Copy()
		p.SetFrom(full)
		h.Router.SetPresence(b.Context(), full, p)
	}
	alice := jid.MustParse("alice@example.org/phone")
	h.Router.Bind(alice, &routertest.Discard{})
	iq := routertest.Parse(b, publishIQ("p", "eu.siacs.conversations.axolotl.devicelist", "current",
		`<list xmlns='eu.siacs.conversations.axolotl'><device id='1287134563'/></list>`, conversationsOpen))
	iq.SetFrom(alice)
	// The caps are learnt (from storage) in the background after the
	// first presence, and then the resources that waited get the last
	// item: wait until publications reach every contact exactly, twice.
	deadline := time.Now().Add(5 * time.Second)
	for exact := 0; exact < 2; {
		sink.Reset()
		h.Router.Route(b.Context(), iq)
		time.Sleep(10 * time.Millisecond)
		if sink.Count() == contacts {
			exact++
			continue
		}
		exact = 0
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d contacts notified", sink.Count(), contacts)
		}
		time.Sleep(5 * time.Millisecond)
	}
	sink.Reset()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		h.Router.Route(b.Context(), iq)
	}
	b.StopTimer()
	if got := sink.Count(); got != int64(b.N*contacts) {
		b.Fatalf("%d events, want %d", got, b.N*contacts)
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*contacts)/1000, "µs/recipient")
}
