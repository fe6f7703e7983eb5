package presence_test

import (
	"context"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"dormouse.im/dormouse/presence"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// fakeRoster holds subscriptions as (subscriber, user) pairs: the
// subscriber receives the user's presence.
type fakeRoster struct {
	mu   sync.Mutex
	subs map[[2]string]bool
}

func (f *fakeRoster) subscribe(subscriber, user string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs == nil {
		f.subs = map[[2]string]bool{}
	}
	f.subs[[2]string{subscriber, user}] = true
}

func (f *fakeRoster) list(match func(p [2]string) (string, bool)) []jid.JID {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []jid.JID
	for p := range f.subs {
		if s, ok := match(p); ok {
			out = append(out, jid.MustParse(s))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

func (f *fakeRoster) Subscribers(_ context.Context, user jid.JID) ([]jid.JID, error) {
	return f.list(func(p [2]string) (string, bool) { return p[0], p[1] == user.Bare().String() }), nil
}

func (f *fakeRoster) Subscriptions(_ context.Context, user jid.JID) ([]jid.JID, error) {
	return f.list(func(p [2]string) (string, bool) { return p[1], p[0] == user.Bare().String() }), nil
}

func (f *fakeRoster) IsSubscriber(_ context.Context, user, contact jid.JID) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.subs[[2]string{contact.Bare().String(), user.Bare().String()}], nil
}

type target struct {
	mu  sync.Mutex
	got []*stanza.Stanza
}

func (t *target) Deliver(st *stanza.Stanza) bool {
	t.mu.Lock()
	t.got = append(t.got, st)
	t.mu.Unlock()
	return true
}

func (t *target) take() []*stanza.Stanza {
	t.mu.Lock()
	defer t.mu.Unlock()
	got := t.got
	t.got = nil
	return got
}

type env struct {
	t      *testing.T
	ctx    context.Context
	r      *router.Router
	roster *fakeRoster
	svc    *presence.Service
	rooms  *target // the component conference.example
	full   map[string]*target
}

func newEnv(t *testing.T, cfg presence.Config) *env {
	e := &env{t: t, ctx: t.Context(), roster: &fakeRoster{}, rooms: &target{}, full: map[string]*target{}}
	mux := router.NewMux()
	e.r = router.New([]string{"localhost"}, mux, slog.New(slog.DiscardHandler))
	e.svc = presence.New(e.roster, e.r, cfg, slog.New(slog.DiscardHandler))
	e.svc.Register(mux)
	if err := e.r.AddComponent("conference.example", e.rooms); err != nil {
		t.Fatal(err)
	}
	return e
}

func parse(t testing.TB, s string) *stanza.Stanza {
	t.Helper()
	el, err := xml.Parse([]byte(s), stanza.NSClient)
	if err != nil {
		t.Fatalf("xml.Parse(%q): %v", s, err)
	}
	st, err := stanza.New(el)
	if err != nil {
		t.Fatalf("stanza.New(%q): %v", s, err)
	}
	return st
}

func (e *env) bind(full string) *target {
	tg := &target{}
	e.r.Bind(jid.MustParse(full), tg)
	e.full[full] = tg
	return tg
}

func (e *env) send(from, s string) {
	e.t.Helper()
	st := parse(e.t, s)
	st.SetFrom(jid.MustParse(from))
	e.r.Route(e.ctx, st)
}

// online binds full and sends initial presence with the given show.
func (e *env) online(full, show string) *target {
	tg := e.bind(full)
	e.send(full, `<presence><show>`+show+`</show></presence>`)
	return tg
}

// takeAll empties every target.
func (e *env) takeAll() {
	for _, tg := range e.full {
		tg.take()
	}
	e.rooms.take()
}

// summary describes presence stanzas as "type from->to [show]", sorted.
func summary(sts []*stanza.Stanza) []string {
	var out []string
	for _, st := range sts {
		typ := st.Type
		if typ == "" {
			typ = "available"
		}
		s := st.Kind.String() + " " + typ + " " + st.From.String() + "->" + st.To.String()
		if show := st.El.ChildText(stanza.NSClient, "show"); show != "" {
			s += " " + show
		}
		if e := stanza.ParseError(st.El); e != nil {
			s += " " + string(e.Condition)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func expect(t *testing.T, who string, got []*stanza.Stanza, want ...string) {
	t.Helper()
	sort.Strings(want)
	if s := summary(got); !slices.Equal(s, want) {
		t.Errorf("%s got:\n\t%s\nwant:\n\t%s", who, strings.Join(s, "\n\t"), strings.Join(want, "\n\t"))
	}
}

func TestInitialPresence(t *testing.T) {
	e := newEnv(t, presence.Config{})
	// bob and alice are mutual, carol receives alice's presence, alice
	// receives dave's; eve has nothing to do with alice.
	e.roster.subscribe("bob@localhost", "alice@localhost")
	e.roster.subscribe("alice@localhost", "bob@localhost")
	e.roster.subscribe("carol@localhost", "alice@localhost")
	e.roster.subscribe("alice@localhost", "dave@localhost")
	e.roster.subscribe("alice@localhost", "room@conference.example")
	bob := e.online("bob@localhost/desk", "away")
	carol := e.online("carol@localhost/c", "dnd")
	dave := e.online("dave@localhost/d1", "xa")
	dave2 := e.online("dave@localhost/d2", "chat")
	eve := e.online("eve@localhost/e", "chat")
	laptop := e.online("alice@localhost/laptop", "away")
	e.takeAll()

	phone := e.online("alice@localhost/phone", "chat")
	expect(t, "phone", phone.take(),
		"presence available alice@localhost/phone->alice@localhost chat", // own broadcast
		"presence available bob@localhost/desk->alice@localhost/phone away",
		"presence available dave@localhost/d1->alice@localhost/phone xa",
		"presence available dave@localhost/d2->alice@localhost/phone chat",
		"presence available alice@localhost/laptop->alice@localhost/phone away",
	)
	expect(t, "laptop", laptop.take(), "presence available alice@localhost/phone->alice@localhost chat")
	expect(t, "bob", bob.take(), "presence available alice@localhost/phone->bob@localhost chat")
	expect(t, "carol", carol.take(), "presence available alice@localhost/phone->carol@localhost chat")
	expect(t, "dave", append(dave.take(), dave2.take()...))
	expect(t, "eve", eve.take())
	// A contact on a component's domain gets a probe from the bare JID.
	expect(t, "rooms", e.rooms.take(), "presence probe alice@localhost->room@conference.example")

	// A later update is broadcast, without probes.
	e.send("alice@localhost/phone", `<presence><show>dnd</show></presence>`)
	expect(t, "phone", phone.take(), "presence available alice@localhost/phone->alice@localhost dnd")
	expect(t, "bob", bob.take(), "presence available alice@localhost/phone->bob@localhost dnd")
	expect(t, "rooms", e.rooms.take())
}

func TestProbe(t *testing.T) {
	e := newEnv(t, presence.Config{})
	e.roster.subscribe("alice@localhost", "bob@localhost")
	bob := e.online("bob@localhost/desk", "away")
	e.takeAll()
	// A non-subscriber's probe is ignored.
	stranger := e.online("mallory@localhost/m", "chat")
	expect(t, "mallory", stranger.take(), "presence available mallory@localhost/m->mallory@localhost chat")
	e.send("mallory@localhost/m", `<presence type='probe' to='bob@localhost'/>`)
	expect(t, "mallory after probe", stranger.take())
	expect(t, "bob", bob.take())

	// A subscriber's probe is answered; with the contact offline, with
	// unavailable presence from the bare JID.
	alice := e.online("alice@localhost/phone", "chat")
	alice.take()
	e.send("alice@localhost/phone", `<presence type='probe' to='bob@localhost'/>`)
	expect(t, "alice", alice.take(), "presence available bob@localhost/desk->alice@localhost/phone away")
	e.send("bob@localhost/desk", `<presence type='unavailable'/>`)
	alice.take()
	e.send("alice@localhost/phone", `<presence type='probe' to='bob@localhost'/>`)
	expect(t, "alice", alice.take(), "presence unavailable bob@localhost->alice@localhost/phone")
}

func TestDirectedAndUnavailable(t *testing.T) {
	e := newEnv(t, presence.Config{})
	e.roster.subscribe("bob@localhost", "alice@localhost")
	bob := e.online("bob@localhost/desk", "away")
	eve := e.online("eve@localhost/e", "chat")
	frank := e.online("frank@localhost/f", "chat")
	laptop := e.online("alice@localhost/laptop", "away")
	phone := e.online("alice@localhost/phone", "chat")
	e.takeAll()

	// Directed presence goes to its recipient whatever the subscriptions.
	e.send("alice@localhost/phone", `<presence to='eve@localhost'><show>chat</show></presence>`)
	e.send("alice@localhost/phone", `<presence to='bob@localhost/desk'><show>chat</show></presence>`)
	e.send("alice@localhost/phone", `<presence to='frank@localhost/f'/>`)
	e.send("alice@localhost/phone", `<presence to='room@conference.example/alice'/>`)
	expect(t, "eve", eve.take(), "presence available alice@localhost/phone->eve@localhost chat")
	expect(t, "bob", bob.take(), "presence available alice@localhost/phone->bob@localhost/desk chat")
	expect(t, "frank", frank.take(), "presence available alice@localhost/phone->frank@localhost/f")
	expect(t, "rooms", e.rooms.take(), "presence available alice@localhost/phone->room@conference.example/alice")
	// Directed unavailable takes frank off the list.
	e.send("alice@localhost/phone", `<presence type='unavailable' to='frank@localhost/f'/>`)
	expect(t, "frank", frank.take(), "presence unavailable alice@localhost/phone->frank@localhost/f")

	// Unavailable goes to subscribers, own resources and the directed
	// recipients the broadcast missed, once each.
	e.send("alice@localhost/phone", `<presence type='unavailable'><status>bye</status></presence>`)
	expect(t, "bob", bob.take(), "presence unavailable alice@localhost/phone->bob@localhost")
	expect(t, "eve", eve.take(), "presence unavailable alice@localhost/phone->eve@localhost")
	expect(t, "frank", frank.take())
	expect(t, "rooms", e.rooms.take(), "presence unavailable alice@localhost/phone->room@conference.example/alice")
	expect(t, "laptop", laptop.take(), "presence unavailable alice@localhost/phone->alice@localhost")
	expect(t, "phone", phone.take())

	// The list was cleared: the end of the session sends nothing more.
	e.r.Unbind(e.ctx, jid.MustParse("alice@localhost/phone"), phone)
	for name, tg := range map[string]*target{"bob": bob, "eve": eve, "laptop": laptop} {
		expect(t, name, tg.take())
	}
	expect(t, "rooms", e.rooms.take())
}

func TestGone(t *testing.T) {
	e := newEnv(t, presence.Config{})
	e.roster.subscribe("bob@localhost", "alice@localhost")
	bob := e.online("bob@localhost/desk", "away")
	laptop := e.online("alice@localhost/laptop", "away")
	phone := e.online("alice@localhost/phone", "chat")
	e.send("alice@localhost/phone", `<presence to='room@conference.example/alice'/>`)
	e.takeAll()

	e.r.Unbind(e.ctx, jid.MustParse("alice@localhost/phone"), phone)
	expect(t, "bob", bob.take(), "presence unavailable alice@localhost/phone->bob@localhost")
	expect(t, "laptop", laptop.take(), "presence unavailable alice@localhost/phone->alice@localhost")
	expect(t, "rooms", e.rooms.take(), "presence unavailable alice@localhost/phone->room@conference.example/alice")
	expect(t, "phone", phone.take())

	// A session that never sent presence ends silently.
	quiet := e.bind("alice@localhost/quiet")
	e.r.Unbind(e.ctx, jid.MustParse("alice@localhost/quiet"), quiet)
	expect(t, "bob", bob.take())
	expect(t, "laptop", laptop.take())

	// One that only sent directed presence tells its recipients.
	shy := e.bind("alice@localhost/shy")
	e.send("alice@localhost/shy", `<presence to='room@conference.example/shy'/>`)
	e.rooms.take()
	e.r.Unbind(e.ctx, jid.MustParse("alice@localhost/shy"), shy)
	expect(t, "rooms", e.rooms.take(), "presence unavailable alice@localhost/shy->room@conference.example/shy")
	expect(t, "bob", bob.take())
}

// TestReplacedSession: a new session binding the same full JID replaces
// the old one without an OnGone; its initial presence is initial (probes)
// and the old session's directed recipients learn it went away.
func TestReplacedSession(t *testing.T) {
	e := newEnv(t, presence.Config{})
	e.roster.subscribe("alice@localhost", "bob@localhost")
	e.roster.subscribe("bob@localhost", "alice@localhost")
	e.online("bob@localhost/desk", "away")
	old := e.online("alice@localhost/phone", "chat")
	e.send("alice@localhost/phone", `<presence to='room@conference.example/alice'/>`)
	e.takeAll()

	phone := e.online("alice@localhost/phone", "dnd") // binds a new target
	expect(t, "new phone", phone.take(),
		"presence available alice@localhost/phone->alice@localhost dnd",
		"presence available bob@localhost/desk->alice@localhost/phone away")
	expect(t, "rooms", e.rooms.take(), "presence unavailable alice@localhost/phone->room@conference.example/alice")
	bob := e.full["bob@localhost/desk"]
	expect(t, "bob", bob.take(), "presence available alice@localhost/phone->bob@localhost dnd")
	// The old session's late end does nothing (the router ignores it).
	e.r.Unbind(e.ctx, jid.MustParse("alice@localhost/phone"), old)
	expect(t, "bob", bob.take())
	expect(t, "rooms", e.rooms.take())
}

func TestLimitsAndRemote(t *testing.T) {
	e := newEnv(t, presence.Config{MaxDirected: 1})
	phone := e.online("alice@localhost/phone", "chat")
	phone.take()
	e.send("alice@localhost/phone", `<presence to='room@conference.example/a'/>`)
	e.send("alice@localhost/phone", `<presence to='room@conference.example/a'/>`) // same one: fine
	expect(t, "phone", phone.take())
	e.send("alice@localhost/phone", `<presence to='other@conference.example/a' id='x'/>`)
	expect(t, "phone", phone.take(), "presence error other@conference.example/a->alice@localhost/phone resource-constraint")
	e.send("alice@localhost/phone", `<presence type='unavailable' to='room@conference.example/a'/>`)
	e.send("alice@localhost/phone", `<presence to='juliet@remote.example'/>`)
	expect(t, "phone", phone.take(), "presence error juliet@remote.example->alice@localhost/phone remote-server-not-found")
}

func TestFromComponent(t *testing.T) {
	e := newEnv(t, presence.Config{})
	e.roster.subscribe("room@conference.example", "alice@localhost")
	phone := e.online("alice@localhost/phone", "chat")
	phone.take()
	e.rooms.take()
	// Directed presence from a component is delivered.
	e.send("room@conference.example/bob", `<presence to='alice@localhost/phone'><show>away</show></presence>`)
	expect(t, "phone", phone.take(), "presence available room@conference.example/bob->alice@localhost/phone away")
	// Without 'to' it means nothing.
	e.send("room@conference.example/bob", `<presence/>`)
	expect(t, "phone", phone.take())
	// A component's probe is answered if it is subscribed.
	e.send("room@conference.example", `<presence type='probe' to='alice@localhost'/>`)
	expect(t, "rooms", e.rooms.take(), "presence available alice@localhost/phone->room@conference.example chat")
	e.send("other@conference.example", `<presence type='probe' to='alice@localhost'/>`)
	expect(t, "rooms", e.rooms.take())
	// Error presence is delivered by the router.
	e.send("room@conference.example/bob", `<presence type='error' to='alice@localhost/phone'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`)
	expect(t, "phone", phone.take(), "presence error room@conference.example/bob->alice@localhost/phone item-not-found")
}
