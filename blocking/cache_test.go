package blocking_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"dormouse.im/dormouse/blocking"
	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/router"
	"mellium.im/xmpp/jid"
)

func TestCache(t *testing.T) {
	store := newMemStore()
	w := newWorld(t, store, blocking.Config{})
	hi := `<message type='chat' id='m' from='bob@example.org/pc' to='alice@example.org/phone'><body>hi</body></message>`
	w.route(t, hi, map[string][]string{phone: {hi}})
	loads := store.loadCount()
	if loads != 2 { // bob's list (outbound) and alice's (inbound)
		t.Errorf("%d loads, want 2", loads)
	}
	w.route(t, hi, map[string][]string{phone: {hi}})
	if n := store.loadCount(); n != loads {
		t.Errorf("%d loads after a cached lookup, want %d", n, loads)
	}

	// A block applies at once.
	w.route(t, `<iq type='set' id='b' from='alice@example.org/laptop'><block xmlns='urn:xmpp:blocking'><item jid='bob@example.org'/></block></iq>`,
		map[string][]string{
			laptop: {`<iq type='result' id='b' to='alice@example.org/laptop'/>`},
			bob: {
				`<presence type='unavailable' from='alice@example.org/phone' to='bob@example.org'/>`,
				`<presence type='unavailable' from='alice@example.org/laptop' to='bob@example.org'/>`,
			},
		})
	w.route(t, hi, map[string][]string{bob: {`<message type='error' id='m' from='alice@example.org/phone' to='bob@example.org/pc'><body>hi</body>` +
		stanzaError("service-unavailable", "cancel", "", "") + `</message>`}})
	// So does an unblock.
	w.route(t, `<iq type='set' id='u' from='alice@example.org/laptop'><unblock xmlns='urn:xmpp:blocking'/></iq>`,
		map[string][]string{laptop: {`<iq type='result' id='u' to='alice@example.org/laptop'/>`}})
	w.route(t, hi, map[string][]string{phone: {hi}})

	// The lists of users without resources are dropped when they leave.
	if n := blocking.CacheLen(w.svc); n != 2 {
		t.Errorf("%d cached lists, want 2", n)
	}
	w.Unbind(bob)
	if n := blocking.CacheLen(w.svc); n != 1 {
		t.Errorf("%d cached lists after bob left, want 1", n)
	}
	w.Unbind(phone)
	if n := blocking.CacheLen(w.svc); n != 1 {
		t.Errorf("%d cached lists while alice has a resource, want 1", n)
	}
}

func TestCacheSize(t *testing.T) {
	store := newMemStore()
	w := newWorld(t, store, blocking.Config{CacheSize: 3})
	for i := range 10 {
		to := fmt.Sprintf("user%d@example.org", i)
		// Undelivered: bounced by the router, after the policy hook.
		w.route(t, `<message type='chat' id='m' from='bob@example.org/pc' to='`+to+`'><body>hi</body></message>`,
			map[string][]string{bob: {`<message type='error' id='m' from='` + to + `' to='bob@example.org/pc'><body>hi</body>` +
				stanzaError("service-unavailable", "cancel", "", "") + `</message>`}})
		if n := blocking.CacheLen(w.svc); n > 3 {
			t.Fatalf("%d cached lists, want at most 3", n)
		}
	}
	// bob's, used by every message, stayed.
	loads := store.loadCount()
	w.route(t, `<message type='chat' id='m' from='bob@example.org/pc' to='room@conference.example.org'/>`,
		map[string][]string{conference: {`<message type='chat' id='m' from='bob@example.org/pc' to='room@conference.example.org'/>`}})
	if n := store.loadCount(); n != loads {
		t.Errorf("bob's list was evicted")
	}
}

func TestInterestEndsWithTheResource(t *testing.T) {
	w := newWorld(t, newMemStore(), blocking.Config{})
	w.route(t, `<iq type='get' id='g' from='alice@example.org/phone'><blocklist xmlns='urn:xmpp:blocking'/></iq>`,
		map[string][]string{phone: {`<iq type='result' id='g' to='alice@example.org/phone'><blocklist xmlns='urn:xmpp:blocking'/></iq>`}})
	// The phone reconnects, and has not asked for the list this time.
	w.Unbind(phone)
	w.Bind(phone)
	w.route(t, `<iq type='set' id='b' from='alice@example.org/laptop'><block xmlns='urn:xmpp:blocking'><item jid='montague.net'/></block></iq>`,
		map[string][]string{laptop: {`<iq type='result' id='b' to='alice@example.org/laptop'/>`}})

	// Or a new session replaces it without the old one ending first (no
	// OnGone then).
	w.route(t, `<iq type='get' id='g' from='alice@example.org/phone'><blocklist xmlns='urn:xmpp:blocking'/></iq>`,
		map[string][]string{phone: {`<iq type='result' id='g' to='alice@example.org/phone'><blocklist xmlns='urn:xmpp:blocking'><item jid='montague.net'/></blocklist></iq>`}})
	w.Bind(phone)
	w.route(t, `<iq type='set' id='u' from='alice@example.org/laptop'><unblock xmlns='urn:xmpp:blocking'/></iq>`,
		map[string][]string{laptop: {`<iq type='result' id='u' to='alice@example.org/laptop'/>`}})
}

func TestMaxItems(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { testMaxItems(t, b.new(t)) })
	}
}

func testMaxItems(t *testing.T, store blocking.Store) {
	if err := store.Block(ctx, "alice@example.org", []string{"a@montague.net"}); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, store, blocking.Config{MaxItems: 2})
	block := func(id string, jids ...string) string {
		s := `<iq type='set' id='` + id + `' from='alice@example.org/phone'><block xmlns='urn:xmpp:blocking'>`
		for _, j := range jids {
			s += `<item jid='` + j + `'/>`
		}
		return s + `</block></iq>`
	}
	in := block("1", "b@montague.net", "c@montague.net")
	w.route(t, in, map[string][]string{phone: {`<iq type='error' id='1' from='example.org' to='alice@example.org/phone'><block xmlns='urn:xmpp:blocking'>` +
		`<item jid='b@montague.net'/><item jid='c@montague.net'/></block>` +
		stanzaError("not-acceptable", "modify", "a block list holds at most 2 JIDs", "") + `</iq>`}})
	// Blocking again what is blocked does not count.
	w.route(t, block("2", "a@montague.net", "b@montague.net"), map[string][]string{phone: {`<iq type='result' id='2' to='alice@example.org/phone'/>`}})
}

func TestStoreErrors(t *testing.T) {
	store := newMemStore()
	w := newWorld(t, store, blocking.Config{})
	store.fail = errors.New("disk on fire")
	ise := stanzaError("internal-server-error", "cancel", "", "")
	for _, tc := range []struct {
		in, want string
	}{
		{
			`<message type='chat' id='m' from='bob@example.org/pc' to='alice@example.org'/>`,
			`<message type='error' id='m' from='alice@example.org' to='bob@example.org/pc'>` + ise + `</message>`,
		},
		{
			`<iq type='get' id='g' from='bob@example.org/pc'><blocklist xmlns='urn:xmpp:blocking'/></iq>`,
			`<iq type='error' id='g' from='example.org' to='bob@example.org/pc'><blocklist xmlns='urn:xmpp:blocking'/>` + ise + `</iq>`,
		},
		{
			`<iq type='set' id='u' from='bob@example.org/pc'><unblock xmlns='urn:xmpp:blocking'/></iq>`,
			`<iq type='error' id='u' from='example.org' to='bob@example.org/pc'><unblock xmlns='urn:xmpp:blocking'/>` + ise + `</iq>`,
		},
	} {
		w.route(t, tc.in, map[string][]string{bob: {tc.want}})
	}
}

func TestBlocked(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { testBlocked(t, b.new(t)) })
	}
}

func testBlocked(t *testing.T, store blocking.Store) {
	if err := store.Block(ctx, "alice@example.org", []string{"bob@example.org", "montague.net", "capulet.lit/balcony"}); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, store, blocking.Config{})
	for i, tc := range []struct {
		other string
		want  bool
	}{
		{"bob@example.org", true},
		{"bob@example.org/pc", true},
		{"carol@example.org", false},
		{"romeo@montague.net/orchard", true},
		{"conference.montague.net", true},
		{"montague.network", false},
		{"capulet.lit/balcony", true},
		{"capulet.lit", false},
		{"juliet@capulet.lit/balcony", false},
	} {
		got, err := w.svc.Blocked(ctx, jid.MustParse("alice@example.org/phone"), jid.MustParse(tc.other))
		if err != nil || got != tc.want {
			t.Errorf("%d: Blocked(%s) = %v, %v; want %v", i, tc.other, got, err, tc.want)
		}
	}
}

func TestFeature(t *testing.T) {
	h := routertest.New(t)
	blocking.New(blocking.Config{}, newMemStore(), h.Router, nil).Register(h.Mux)
	if f := h.Mux.Features(router.ToServer); len(f) != 1 || f[0] != blocking.NS {
		t.Errorf("server features %v, want [%s]", f, blocking.NS)
	}
}

// TestConcurrent runs the policy hook while the list changes, for the race
// detector, and checks that the final state is seen.
func TestConcurrent(t *testing.T) {
	store := newMemStore()
	w := newWorld(t, store, blocking.Config{CacheSize: 2})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				from := fmt.Sprintf("bob@example.org/r%d", g)
				w.Route(`<message type='chat' id='m' from='` + from + `' to='alice@example.org'/>`)
				w.Route(fmt.Sprintf(`<message type='chat' id='m' from='%s' to='user%d@example.org'/>`, from, i))
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			w.Route(`<iq type='set' id='b' from='alice@example.org/phone'><block xmlns='urn:xmpp:blocking'><item jid='bob@example.org'/></block></iq>`)
			w.Route(`<iq type='set' id='u' from='alice@example.org/phone'><unblock xmlns='urn:xmpp:blocking'/></iq>`)
		}
		w.Route(`<iq type='set' id='b' from='alice@example.org/phone'><block xmlns='urn:xmpp:blocking'><item jid='bob@example.org'/></block></iq>`)
	})
	wg.Wait()
	ok, err := w.svc.Blocked(ctx, jid.MustParse("alice@example.org"), jid.MustParse("bob@example.org/x"))
	if err != nil || !ok {
		t.Errorf("Blocked = %v, %v after the last block", ok, err)
	}
}

// fakePresence records the calls of blocking.Presence.
type fakePresence struct {
	mu    sync.Mutex
	calls []string
}

func (p *fakePresence) record(op string, user jid.JID, contacts []jid.JID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := op + " " + user.String() + ":"
	for _, c := range contacts {
		s += " " + c.String()
	}
	p.calls = append(p.calls, s)
}

func (p *fakePresence) Blocked(_ context.Context, user jid.JID, contacts []jid.JID) {
	p.record("blocked", user, contacts)
}

func (p *fakePresence) Unblocked(_ context.Context, user jid.JID, contacts []jid.JID) {
	p.record("unblocked", user, contacts)
}

func TestPresenceHook(t *testing.T) {
	p := &fakePresence{}
	w := newWorld(t, newMemStore(), blocking.Config{Presence: p})
	for _, in := range []string{
		// Only user JIDs count, not domains nor the user.
		`<iq type='set' id='b1' from='alice@example.org/phone'><block xmlns='urn:xmpp:blocking'><item jid='bob@example.org'/><item jid='montague.net'/><item jid='romeo@montague.net/orchard'/></block></iq>`,
		`<iq type='set' id='b2' from='alice@example.org/phone'><block xmlns='urn:xmpp:blocking'><item jid='capulet.lit'/><item jid='alice@example.org/laptop'/></block></iq>`,
		`<iq type='set' id='u1' from='alice@example.org/phone'><unblock xmlns='urn:xmpp:blocking'><item jid='bob@example.org'/></unblock></iq>`,
		`<iq type='set' id='u2' from='alice@example.org/phone'><unblock xmlns='urn:xmpp:blocking'/></iq>`,
	} {
		id := routertest.Parse(t, in).ID
		// The service sends no presence itself.
		w.route(t, in, map[string][]string{phone: {`<iq type='result' id='` + id + `' to='alice@example.org/phone'/>`}})
	}
	want := []string{
		"blocked alice@example.org: bob@example.org romeo@montague.net/orchard",
		"unblocked alice@example.org: bob@example.org",
		"unblocked alice@example.org: romeo@montague.net/orchard",
	}
	if !slices.Equal(p.calls, want) {
		t.Errorf("calls\n%q\nwant\n%q", p.calls, want)
	}
}
