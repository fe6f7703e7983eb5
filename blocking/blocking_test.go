package blocking_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"dormouse.im/dormouse/blocking"
	"dormouse.im/dormouse/internal/routertest"
)

var ctx = context.Background()

// memStore is an in-memory blocking.Store that counts BlockList calls.
type memStore struct {
	mu    sync.Mutex
	lists map[string][]string
	loads int
	fail  error
}

func newMemStore() *memStore { return &memStore{lists: map[string][]string{}} }

func (m *memStore) BlockList(_ context.Context, user string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loads++
	if m.fail != nil {
		return nil, m.fail
	}
	return slices.Clone(m.lists[user]), nil
}

func (m *memStore) Block(_ context.Context, user string, jids []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	for _, j := range jids {
		if !slices.Contains(m.lists[user], j) {
			m.lists[user] = append(m.lists[user], j)
		}
	}
	slices.Sort(m.lists[user])
	return nil
}

func (m *memStore) Unblock(_ context.Context, user string, jids []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if len(jids) == 0 {
		delete(m.lists, user)
		return nil
	}
	m.lists[user] = slices.DeleteFunc(m.lists[user], func(j string) bool { return slices.Contains(jids, j) })
	return nil
}

func (m *memStore) loadCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.loads
}

// world is a harness with the blocking service, alice on two resources,
// bob on one, all available, and a component at conference.example.org.
type world struct {
	*routertest.Harness
	svc   *blocking.Service
	store blocking.Store
}

func newWorld(t *testing.T, store blocking.Store, cfg blocking.Config) *world {
	t.Helper()
	h := routertest.New(t)
	svc := blocking.New(cfg, store, h.Router, nil)
	svc.Register(h.Mux)
	for _, full := range []string{phone, laptop, bob} {
		h.Online(full, 0)
	}
	h.Component(conference)
	return &world{Harness: h, svc: svc, store: store}
}

// route routes in and checks what each client received: want maps a client
// (a full JID or the component's domain) to the stanzas it must get, in
// order; any other client must get nothing.
func (w *world) route(t *testing.T, in string, want map[string][]string) {
	t.Helper()
	h := w.In(t)
	h.Route(in)
	h.Expect(want)
}

const (
	phone      = "alice@example.org/phone"
	laptop     = "alice@example.org/laptop"
	bob        = "bob@example.org/pc"
	conference = "conference.example.org"
)

func stanzaError(cond, typ, text, app string) string {
	s := `<error type='` + typ + `'><` + cond + ` xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>`
	if text != "" {
		s += `<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>` + text + `</text>`
	}
	return s + app + `</error>`
}

var blockedError = stanzaError("not-acceptable", "cancel", "", `<blocked xmlns='urn:xmpp:blocking:errors'/>`)

func TestCommands(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { testCommands(t, b.new(t)) })
	}
}

func testCommands(t *testing.T, store blocking.Store) {
	w := newWorld(t, store, blocking.Config{})
	steps := []struct {
		in   string
		want map[string][]string
	}{
		0: { // phone retrieves the (empty) list and becomes interested
			in:   `<iq type='get' id='b0' from='alice@example.org/phone'><blocklist xmlns='urn:xmpp:blocking'/></iq>`,
			want: map[string][]string{phone: {`<iq type='result' id='b0' to='alice@example.org/phone'><blocklist xmlns='urn:xmpp:blocking'/></iq>`}},
		},
		1: { // the laptop blocks: result, a push to the phone only, unavailable presence to bob
			in: `<iq type='set' id='b1' from='alice@example.org/laptop'><block xmlns='urn:xmpp:blocking'>
				<item jid='bob@example.org'/><item jid='Romeo@Montague.net'/><item jid='bob@example.org'/></block></iq>`,
			want: map[string][]string{
				laptop: {`<iq type='result' id='b1' to='alice@example.org/laptop'/>`},
				phone: {`<iq type='set' id='block-1' to='alice@example.org/phone'><block xmlns='urn:xmpp:blocking'>
					<item jid='bob@example.org'/><item jid='romeo@montague.net'/></block></iq>`},
				bob: {
					`<presence type='unavailable' from='alice@example.org/phone' to='bob@example.org'/>`,
					`<presence type='unavailable' from='alice@example.org/laptop' to='bob@example.org'/>`,
				},
			},
		},
		2: { // the laptop retrieves the list, sorted
			in: `<iq type='get' id='b2' from='alice@example.org/laptop' to='example.org'><blocklist xmlns='urn:xmpp:blocking'/></iq>`,
			want: map[string][]string{laptop: {`<iq type='result' id='b2' from='example.org' to='alice@example.org/laptop'><blocklist xmlns='urn:xmpp:blocking'>
				<item jid='bob@example.org'/><item jid='romeo@montague.net'/></blocklist></iq>`}},
		},
		3: { // unblock one, to the own bare JID: pushes to both
			in: `<iq type='set' id='b3' from='alice@example.org/phone' to='alice@example.org'><unblock xmlns='urn:xmpp:blocking'><item jid='romeo@montague.net'/></unblock></iq>`,
			want: map[string][]string{
				phone: {
					`<iq type='result' id='b3' from='alice@example.org' to='alice@example.org/phone'/>`,
					`<iq type='set' id='block-2' to='alice@example.org/phone'><unblock xmlns='urn:xmpp:blocking'><item jid='romeo@montague.net'/></unblock></iq>`,
				},
				laptop: {`<iq type='set' id='block-3' to='alice@example.org/laptop'><unblock xmlns='urn:xmpp:blocking'><item jid='romeo@montague.net'/></unblock></iq>`},
			},
		},
		4: { // block nothing
			in: `<iq type='set' id='b4' from='alice@example.org/phone'><block xmlns='urn:xmpp:blocking'/></iq>`,
			want: map[string][]string{phone: {`<iq type='error' id='b4' from='example.org' to='alice@example.org/phone'><block xmlns='urn:xmpp:blocking'/>` +
				stanzaError("bad-request", "modify", "block at least one JID", "") + `</iq>`}},
		},
		5: { // a malformed JID
			in: `<iq type='set' id='b5' from='alice@example.org/phone'><block xmlns='urn:xmpp:blocking'><item jid='@bad'/></block></iq>`,
			want: map[string][]string{phone: {`<iq type='error' id='b5' from='example.org' to='alice@example.org/phone'><block xmlns='urn:xmpp:blocking'><item jid='@bad'/></block>` +
				stanzaError("jid-malformed", "modify", `invalid JID "@bad"`, "") + `</iq>`}},
		},
		6: { // unblock all
			in: `<iq type='set' id='b6' from='alice@example.org/laptop'><unblock xmlns='urn:xmpp:blocking'/></iq>`,
			want: map[string][]string{
				laptop: {
					`<iq type='result' id='b6' to='alice@example.org/laptop'/>`,
					`<iq type='set' id='block-5' to='alice@example.org/laptop'><unblock xmlns='urn:xmpp:blocking'/></iq>`,
				},
				phone: {`<iq type='set' id='block-4' to='alice@example.org/phone'><unblock xmlns='urn:xmpp:blocking'/></iq>`},
			},
		},
		7: {
			in:   `<iq type='get' id='b7' from='alice@example.org/phone'><blocklist xmlns='urn:xmpp:blocking'/></iq>`,
			want: map[string][]string{phone: {`<iq type='result' id='b7' to='alice@example.org/phone'><blocklist xmlns='urn:xmpp:blocking'/></iq>`}},
		},
		8: { // someone else's list
			in: `<iq type='get' id='b8' from='bob@example.org/pc' to='alice@example.org'><blocklist xmlns='urn:xmpp:blocking'/></iq>`,
			want: map[string][]string{bob: {`<iq type='error' id='b8' from='alice@example.org' to='bob@example.org/pc'><blocklist xmlns='urn:xmpp:blocking'/>` +
				stanzaError("forbidden", "auth", "a block list is managed by its owner", "") + `</iq>`}},
		},
		9: { // a get of block
			in: `<iq type='get' id='b9' from='bob@example.org/pc'><block xmlns='urn:xmpp:blocking'/></iq>`,
			want: map[string][]string{bob: {`<iq type='error' id='b9' from='example.org' to='bob@example.org/pc'><block xmlns='urn:xmpp:blocking'/>` +
				stanzaError("bad-request", "modify", "expected blocklist (get), block or unblock (set)", "") + `</iq>`}},
		},
		10: { // from a component
			in: `<iq type='get' id='b10' from='conference.example.org' to='example.org'><blocklist xmlns='urn:xmpp:blocking'/></iq>`,
			want: map[string][]string{conference: {`<iq type='error' id='b10' from='example.org' to='conference.example.org'><blocklist xmlns='urn:xmpp:blocking'/>` +
				stanzaError("service-unavailable", "cancel", "", "") + `</iq>`}},
		},
	}
	for i, tc := range steps {
		t.Run(fmt.Sprint(i), func(t *testing.T) { w.route(t, tc.in, tc.want) })
	}
}

func TestPolicy(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { testPolicy(t, b.new(t)) })
	}
}

func testPolicy(t *testing.T, store blocking.Store) {
	msg := func(from, to string) string {
		return `<message type='chat' id='m' from='` + from + `' to='` + to + `'><body>hi</body></message>`
	}
	for i, tc := range []struct {
		blocks []string // alice's list
		in     string
		want   map[string][]string
	}{
		0: { // not blocked
			in:   msg(bob, "alice@example.org"),
			want: map[string][]string{phone: {msg(bob, "alice@example.org")}, laptop: {msg(bob, "alice@example.org")}},
		},
		1: { // inbound message: service-unavailable, as if alice were offline
			blocks: []string{"bob@example.org"},
			in:     msg(bob, "alice@example.org"),
			want: map[string][]string{bob: {`<message type='error' id='m' from='alice@example.org' to='bob@example.org/pc'><body>hi</body>` +
				stanzaError("service-unavailable", "cancel", "", "") + `</message>`}},
		},
		2: { // inbound message to a full JID
			blocks: []string{"bob@example.org"},
			in:     msg(bob, phone),
			want: map[string][]string{bob: {`<message type='error' id='m' from='alice@example.org/phone' to='bob@example.org/pc'><body>hi</body>` +
				stanzaError("service-unavailable", "cancel", "", "") + `</message>`}},
		},
		3: { // inbound presence: dropped
			blocks: []string{"bob@example.org"},
			in:     `<presence type='subscribe' from='bob@example.org/pc' to='alice@example.org'/>`,
		},
		4: { // not blocked, for comparison
			in:   `<presence type='subscribe' from='bob@example.org/pc' to='alice@example.org'/>`,
			want: map[string][]string{phone: {`<presence type='subscribe' from='bob@example.org/pc' to='alice@example.org'/>`}, laptop: {`<presence type='subscribe' from='bob@example.org/pc' to='alice@example.org'/>`}},
		},
		5: { // inbound IQ get
			blocks: []string{"bob@example.org"},
			in:     `<iq type='get' id='q' from='bob@example.org/pc' to='alice@example.org/phone'><query xmlns='jabber:iq:version'/></iq>`,
			want: map[string][]string{bob: {`<iq type='error' id='q' from='alice@example.org/phone' to='bob@example.org/pc'><query xmlns='jabber:iq:version'/>` +
				stanzaError("service-unavailable", "cancel", "", "") + `</iq>`}},
		},
		6: { // inbound IQ result: dropped
			blocks: []string{"bob@example.org"},
			in:     `<iq type='result' id='q' from='bob@example.org/pc' to='alice@example.org/phone'/>`,
		},
		7: { // outbound message
			blocks: []string{"bob@example.org"},
			in:     msg(phone, "bob@example.org"),
			want: map[string][]string{phone: {`<message type='error' id='m' from='bob@example.org' to='alice@example.org/phone'><body>hi</body>` +
				blockedError + `</message>`}},
		},
		8: { // outbound presence: dropped
			blocks: []string{"bob@example.org"},
			in:     `<presence from='alice@example.org/phone' to='bob@example.org'/>`,
		},
		9: { // outbound IQ
			blocks: []string{"bob@example.org"},
			in:     `<iq type='get' id='q' from='alice@example.org/phone' to='bob@example.org/pc'><ping xmlns='urn:xmpp:ping'/></iq>`,
			want: map[string][]string{phone: {`<iq type='error' id='q' from='bob@example.org/pc' to='alice@example.org/phone'><ping xmlns='urn:xmpp:ping'/>` +
				blockedError + `</iq>`}},
		},
		10: { // outbound IQ result: dropped
			blocks: []string{"bob@example.org"},
			in:     `<iq type='result' id='q' from='alice@example.org/phone' to='bob@example.org/pc'/>`,
		},
		11: { // a full JID blocks only that resource
			blocks: []string{"bob@example.org/tablet"},
			in:     msg(bob, "alice@example.org"),
			want:   map[string][]string{phone: {msg(bob, "alice@example.org")}, laptop: {msg(bob, "alice@example.org")}},
		},
		12: {
			blocks: []string{"bob@example.org/pc"},
			in:     msg(bob, "alice@example.org"),
			want: map[string][]string{bob: {`<message type='error' id='m' from='alice@example.org' to='bob@example.org/pc'><body>hi</body>` +
				stanzaError("service-unavailable", "cancel", "", "") + `</message>`}},
		},
		13: { // domain/resource
			blocks: []string{"conference.example.org/bot"},
			in:     msg("conference.example.org/bot", phone),
			want: map[string][]string{conference: {`<message type='error' id='m' from='alice@example.org/phone' to='conference.example.org/bot'><body>hi</body>` +
				stanzaError("service-unavailable", "cancel", "", "") + `</message>`}},
		},
		14: {
			blocks: []string{"conference.example.org/bot"},
			in:     msg("conference.example.org/other", phone),
			want:   map[string][]string{phone: {msg("conference.example.org/other", phone)}},
		},
		15: { // a domain blocks its users
			blocks: []string{"conference.example.org"},
			in:     msg("room@conference.example.org/nick", phone),
			want: map[string][]string{conference: {`<message type='error' id='m' from='alice@example.org/phone' to='room@conference.example.org/nick'><body>hi</body>` +
				stanzaError("service-unavailable", "cancel", "", "") + `</message>`}},
		},
		16: { // and its subdomains
			blocks: []string{"example.org"},
			in:     msg("room@conference.example.org/nick", phone),
			want: map[string][]string{conference: {`<message type='error' id='m' from='alice@example.org/phone' to='room@conference.example.org/nick'><body>hi</body>` +
				stanzaError("service-unavailable", "cancel", "", "") + `</message>`}},
		},
		17: { // outbound to a blocked domain
			blocks: []string{"montague.net"},
			in:     msg(phone, "romeo@montague.net"),
			want: map[string][]string{phone: {`<message type='error' id='m' from='romeo@montague.net' to='alice@example.org/phone'><body>hi</body>` +
				blockedError + `</message>`}},
		},
		18: { // not blocked, for comparison: no federation
			in: msg(phone, "romeo@montague.net"),
			want: map[string][]string{phone: {`<message type='error' id='m' from='romeo@montague.net' to='alice@example.org/phone'><body>hi</body>` +
				stanzaError("remote-server-not-found", "cancel", "server-to-server federation is not supported", "") + `</message>`}},
		},
		19: { // blocking the own server does not block the server itself
			blocks: []string{"example.org"},
			in:     `<iq type='get' id='q' from='alice@example.org/phone' to='example.org'><blocklist xmlns='urn:xmpp:blocking'/></iq>`,
			want: map[string][]string{phone: {`<iq type='result' id='q' from='example.org' to='alice@example.org/phone'><blocklist xmlns='urn:xmpp:blocking'>
				<item jid='example.org'/></blocklist></iq>`}},
		},
		20: { // nor the own account
			blocks: []string{"example.org"},
			in:     msg(phone, "alice@example.org/laptop"),
			want:   map[string][]string{laptop: {msg(phone, "alice@example.org/laptop")}},
		},
		21: { // but it blocks the other users of the server
			blocks: []string{"example.org"},
			in:     msg(phone, "bob@example.org"),
			want: map[string][]string{phone: {`<message type='error' id='m' from='bob@example.org' to='alice@example.org/phone'><body>hi</body>` +
				blockedError + `</message>`}},
		},
		22: { // bob's list is his own
			blocks: []string{"bob@example.org"},
			in:     msg(bob, "room@conference.example.org"),
			want:   map[string][]string{conference: {msg(bob, "room@conference.example.org")}},
		},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if err := store.Unblock(ctx, "alice@example.org", nil); err != nil {
				t.Fatal(err)
			}
			if len(tc.blocks) > 0 {
				if err := store.Block(ctx, "alice@example.org", tc.blocks); err != nil {
					t.Fatal(err)
				}
			}
			w := newWorld(t, store, blocking.Config{})
			w.route(t, tc.in, tc.want)
		})
	}
}
