package presence_test

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/presence"
	"dormouse.im/dormouse/stanza"
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

type env struct {
	*routertest.Harness
	roster *fakeRoster
	svc    *presence.Service
	rooms  *routertest.Recorder // the component conference.example
}

func newEnv(t *testing.T, cfg presence.Config) *env {
	h := routertest.New(t, "localhost")
	e := &env{Harness: h, roster: &fakeRoster{}}
	e.svc = presence.New(cfg, e.roster, e.Router, e.Log)
	e.svc.Register(e.Mux)
	e.rooms = e.Component("conference.example")
	return e
}

// online binds full and sends initial presence with the given show.
func (e *env) online(full, show string) *routertest.Recorder {
	rec := e.Bind(full)
	e.Send(full, `<presence><show>`+show+`</show></presence>`)
	return rec
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
	e.TakeAll()

	phone := e.online("alice@localhost/phone", "chat")
	expect(t, "phone", phone.Take(),
		"presence available alice@localhost/phone->alice@localhost chat", // own broadcast
		"presence available bob@localhost/desk->alice@localhost/phone away",
		"presence available dave@localhost/d1->alice@localhost/phone xa",
		"presence available dave@localhost/d2->alice@localhost/phone chat",
		"presence available alice@localhost/laptop->alice@localhost/phone away",
	)
	expect(t, "laptop", laptop.Take(), "presence available alice@localhost/phone->alice@localhost chat")
	expect(t, "bob", bob.Take(), "presence available alice@localhost/phone->bob@localhost chat")
	expect(t, "carol", carol.Take(), "presence available alice@localhost/phone->carol@localhost chat")
	expect(t, "dave", append(dave.Take(), dave2.Take()...))
	expect(t, "eve", eve.Take())
	// A contact on a component's domain gets a probe from the bare JID.
	expect(t, "rooms", e.rooms.Take(), "presence probe alice@localhost->room@conference.example")

	// A later update is broadcast, without probes.
	e.Send("alice@localhost/phone", `<presence><show>dnd</show></presence>`)
	expect(t, "phone", phone.Take(), "presence available alice@localhost/phone->alice@localhost dnd")
	expect(t, "bob", bob.Take(), "presence available alice@localhost/phone->bob@localhost dnd")
	expect(t, "rooms", e.rooms.Take())
}

func TestProbe(t *testing.T) {
	e := newEnv(t, presence.Config{})
	e.roster.subscribe("alice@localhost", "bob@localhost")
	bob := e.online("bob@localhost/desk", "away")
	e.TakeAll()
	// A non-subscriber's probe is ignored.
	stranger := e.online("mallory@localhost/m", "chat")
	expect(t, "mallory", stranger.Take(), "presence available mallory@localhost/m->mallory@localhost chat")
	e.Send("mallory@localhost/m", `<presence type='probe' to='bob@localhost'/>`)
	expect(t, "mallory after probe", stranger.Take())
	expect(t, "bob", bob.Take())

	// A subscriber's probe is answered; with the contact offline, with
	// unavailable presence from the bare JID.
	alice := e.online("alice@localhost/phone", "chat")
	alice.Take()
	e.Send("alice@localhost/phone", `<presence type='probe' to='bob@localhost'/>`)
	expect(t, "alice", alice.Take(), "presence available bob@localhost/desk->alice@localhost/phone away")
	e.Send("bob@localhost/desk", `<presence type='unavailable'/>`)
	alice.Take()
	e.Send("alice@localhost/phone", `<presence type='probe' to='bob@localhost'/>`)
	expect(t, "alice", alice.Take(), "presence unavailable bob@localhost->alice@localhost/phone")
}

func TestDirectedAndUnavailable(t *testing.T) {
	e := newEnv(t, presence.Config{})
	e.roster.subscribe("bob@localhost", "alice@localhost")
	bob := e.online("bob@localhost/desk", "away")
	eve := e.online("eve@localhost/e", "chat")
	frank := e.online("frank@localhost/f", "chat")
	laptop := e.online("alice@localhost/laptop", "away")
	phone := e.online("alice@localhost/phone", "chat")
	e.TakeAll()

	// Directed presence goes to its recipient whatever the subscriptions.
	e.Send("alice@localhost/phone", `<presence to='eve@localhost'><show>chat</show></presence>`)
	e.Send("alice@localhost/phone", `<presence to='bob@localhost/desk'><show>chat</show></presence>`)
	e.Send("alice@localhost/phone", `<presence to='frank@localhost/f'/>`)
	e.Send("alice@localhost/phone", `<presence to='room@conference.example/alice'/>`)
	expect(t, "eve", eve.Take(), "presence available alice@localhost/phone->eve@localhost chat")
	expect(t, "bob", bob.Take(), "presence available alice@localhost/phone->bob@localhost/desk chat")
	expect(t, "frank", frank.Take(), "presence available alice@localhost/phone->frank@localhost/f")
	expect(t, "rooms", e.rooms.Take(), "presence available alice@localhost/phone->room@conference.example/alice")
	// Directed unavailable takes frank off the list.
	e.Send("alice@localhost/phone", `<presence type='unavailable' to='frank@localhost/f'/>`)
	expect(t, "frank", frank.Take(), "presence unavailable alice@localhost/phone->frank@localhost/f")

	// Unavailable goes to subscribers, own resources and the directed
	// recipients the broadcast missed, once each.
	e.Send("alice@localhost/phone", `<presence type='unavailable'><status>bye</status></presence>`)
	expect(t, "bob", bob.Take(), "presence unavailable alice@localhost/phone->bob@localhost")
	expect(t, "eve", eve.Take(), "presence unavailable alice@localhost/phone->eve@localhost")
	expect(t, "frank", frank.Take())
	expect(t, "rooms", e.rooms.Take(), "presence unavailable alice@localhost/phone->room@conference.example/alice")
	expect(t, "laptop", laptop.Take(), "presence unavailable alice@localhost/phone->alice@localhost")
	expect(t, "phone", phone.Take())

	// The list was cleared: the end of the session sends nothing more.
	e.Unbind("alice@localhost/phone")
	for name, tg := range map[string]*routertest.Recorder{"bob": bob, "eve": eve, "laptop": laptop} {
		expect(t, name, tg.Take())
	}
	expect(t, "rooms", e.rooms.Take())
}

func TestGone(t *testing.T) {
	e := newEnv(t, presence.Config{})
	e.roster.subscribe("bob@localhost", "alice@localhost")
	bob := e.online("bob@localhost/desk", "away")
	laptop := e.online("alice@localhost/laptop", "away")
	phone := e.online("alice@localhost/phone", "chat")
	e.Send("alice@localhost/phone", `<presence to='room@conference.example/alice'/>`)
	e.TakeAll()

	e.Unbind("alice@localhost/phone")
	expect(t, "bob", bob.Take(), "presence unavailable alice@localhost/phone->bob@localhost")
	expect(t, "laptop", laptop.Take(), "presence unavailable alice@localhost/phone->alice@localhost")
	expect(t, "rooms", e.rooms.Take(), "presence unavailable alice@localhost/phone->room@conference.example/alice")
	expect(t, "phone", phone.Take())

	// A session that never sent presence ends silently.
	e.Bind("alice@localhost/quiet")
	e.Unbind("alice@localhost/quiet")
	expect(t, "bob", bob.Take())
	expect(t, "laptop", laptop.Take())

	// One that only sent directed presence tells its recipients.
	e.Bind("alice@localhost/shy")
	e.Send("alice@localhost/shy", `<presence to='room@conference.example/shy'/>`)
	e.rooms.Take()
	e.Unbind("alice@localhost/shy")
	expect(t, "rooms", e.rooms.Take(), "presence unavailable alice@localhost/shy->room@conference.example/shy")
	expect(t, "bob", bob.Take())
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
	e.Send("alice@localhost/phone", `<presence to='room@conference.example/alice'/>`)
	e.TakeAll()

	phone := e.online("alice@localhost/phone", "dnd") // binds a new target
	expect(t, "new phone", phone.Take(),
		"presence available alice@localhost/phone->alice@localhost dnd",
		"presence available bob@localhost/desk->alice@localhost/phone away")
	expect(t, "rooms", e.rooms.Take(), "presence unavailable alice@localhost/phone->room@conference.example/alice")
	bob := e.Recorder("bob@localhost/desk")
	expect(t, "bob", bob.Take(), "presence available alice@localhost/phone->bob@localhost dnd")
	// The old session's late end does nothing (the router ignores it).
	e.Router.Unbind(e.Ctx, jid.MustParse("alice@localhost/phone"), old)
	expect(t, "bob", bob.Take())
	expect(t, "rooms", e.rooms.Take())
}

func TestLimitsAndRemote(t *testing.T) {
	e := newEnv(t, presence.Config{MaxDirected: 1})
	phone := e.online("alice@localhost/phone", "chat")
	phone.Take()
	e.Send("alice@localhost/phone", `<presence to='room@conference.example/a'/>`)
	e.Send("alice@localhost/phone", `<presence to='room@conference.example/a'/>`) // same one: fine
	expect(t, "phone", phone.Take())
	e.Send("alice@localhost/phone", `<presence to='other@conference.example/a' id='x'/>`)
	expect(t, "phone", phone.Take(), "presence error other@conference.example/a->alice@localhost/phone resource-constraint")
	e.Send("alice@localhost/phone", `<presence type='unavailable' to='room@conference.example/a'/>`)
	e.Send("alice@localhost/phone", `<presence to='juliet@remote.example'/>`)
	expect(t, "phone", phone.Take(), "presence error juliet@remote.example->alice@localhost/phone remote-server-not-found")
}

func TestFromComponent(t *testing.T) {
	e := newEnv(t, presence.Config{})
	e.roster.subscribe("room@conference.example", "alice@localhost")
	phone := e.online("alice@localhost/phone", "chat")
	phone.Take()
	e.rooms.Take()
	// Directed presence from a component is delivered.
	e.Send("room@conference.example/bob", `<presence to='alice@localhost/phone'><show>away</show></presence>`)
	expect(t, "phone", phone.Take(), "presence available room@conference.example/bob->alice@localhost/phone away")
	// Without 'to' it means nothing.
	e.Send("room@conference.example/bob", `<presence/>`)
	expect(t, "phone", phone.Take())
	// A component's probe is answered if it is subscribed.
	e.Send("room@conference.example", `<presence type='probe' to='alice@localhost'/>`)
	expect(t, "rooms", e.rooms.Take(), "presence available alice@localhost/phone->room@conference.example chat")
	e.Send("other@conference.example", `<presence type='probe' to='alice@localhost'/>`)
	expect(t, "rooms", e.rooms.Take())
	// Error presence is delivered by the router.
	e.Send("room@conference.example/bob", `<presence type='error' to='alice@localhost/phone'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`)
	expect(t, "phone", phone.Take(), "presence error room@conference.example/bob->alice@localhost/phone item-not-found")
}
