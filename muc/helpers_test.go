package muc_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/muc"
	"dormouse.im/dormouse/sql/sqltest"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

const service = "conference.example.org"

// fixture is a router with the MUC service at conference.example.org on
// a real SQLite store.
type fixture struct {
	*routertest.Harness
	svc   *muc.Service
	store muc.Store
	push  *pushes
}

type pushes struct {
	mu  sync.Mutex
	got []muc.MemberMessage
}

func (p *pushes) MemberMessage(_ context.Context, m muc.MemberMessage) {
	p.mu.Lock()
	p.got = append(p.got, m)
	p.mu.Unlock()
}

func (p *pushes) take() []muc.MemberMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	got := p.got
	p.got = nil
	return got
}

// newFixture returns a fixture with alice, bob and carol bound (not
// available: an occupant needs no presence broadcast); mod adjusts the
// service configuration.
func newFixture(t *testing.T, mod func(*muc.Config)) *fixture {
	t.Helper()
	h := routertest.New(t)
	f := &fixture{Harness: h, store: sqltest.SQLite(t).MUC, push: &pushes{}}
	f.start(t, mod)
	for _, full := range []string{alice, bob, carol} {
		f.Bind(full)
	}
	return f
}

// start (re)creates the service on f's store, as a server start does.
func (f *fixture) start(t *testing.T, mod func(*muc.Config)) {
	t.Helper()
	if f.svc != nil {
		f.Router.RemoveService(service, f.svc)
	}
	cfg := muc.Config{Domain: service, Notifier: f.push}
	if mod != nil {
		mod(&cfg)
	}
	svc, err := muc.New(cfg, f.store, f.Router, f.Log)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := f.Router.AddService(service, "Chatrooms", svc); err != nil {
		t.Fatal(err)
	}
	f.svc = svc
}

// join sends a join presence from full to room/nick (extra inside <x/>)
// and returns what full got.
func (f *fixture) join(full, roomNick, extra string) []*stanza.Stanza {
	f.T.Helper()
	f.Send(full, `<presence to='`+roomNick+`'><x xmlns='http://jabber.org/protocol/muc'>`+extra+`</x></presence>`)
	return f.Recorder(full).Take()
}

// create creates an instant room owned by full under nick.
func (f *fixture) create(full, room, nick string) {
	f.T.Helper()
	got := f.join(full, room+"/"+nick, "")
	if len(got) == 0 || !hasStatus(got[0], "201") {
		f.T.Fatalf("creating %s: %v", room, got)
	}
	f.configure(full, room, nil)
}

// configure submits the configuration form with the given fields.
func (f *fixture) configure(full, room string, fields map[string]string) *stanza.Stanza {
	f.T.Helper()
	var b strings.Builder
	b.WriteString(`<iq type='set' id='cfg' to='` + room + `'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>`)
	b.WriteString(`<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>`)
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteString(`<field var='muc#roomconfig_` + k + `'><value>` + fields[k] + `</value></field>`)
	}
	b.WriteString(`</x></query></iq>`)
	f.Send(full, b.String())
	got := f.Recorder(full).Take()
	var reply *stanza.Stanza
	for _, st := range got {
		if st.Kind == stanza.KindIQ {
			reply = st
		}
	}
	if reply == nil || reply.Type != stanza.TypeResult {
		f.T.Fatalf("configure %s: %v", room, got)
	}
	return reply
}

// statuses returns the muc#user status codes of st.
func statuses(st *stanza.Stanza) []string {
	var out []string
	if x := st.El.Child(muc.NSUser, "x"); x != nil {
		for _, s := range x.ChildrenNamed(muc.NSUser, "status") {
			out = append(out, s.AttrValue("code"))
		}
	}
	return out
}

func hasStatus(st *stanza.Stanza, code string) bool { return slices.Contains(statuses(st), code) }

// item returns the muc#user item of st.
func item(st *stanza.Stanza) *xml.Element {
	return st.El.Child(muc.NSUser, "x").Child(muc.NSUser, "item")
}

// only returns the stanzas of kind k.
func only(got []*stanza.Stanza, k stanza.Kind) []*stanza.Stanza {
	var out []*stanza.Stanza
	for _, st := range got {
		if st.Kind == k {
			out = append(out, st)
		}
	}
	return out
}

// waitFor waits for rec's first stanza (one relayed from another
// goroutine) and returns it.
func waitFor(t *testing.T, rec *routertest.Recorder) *stanza.Stanza {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if got := rec.Take(); len(got) > 0 {
			return got[0]
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%s got nothing", rec.JID.String())
	return nil
}

func froms(got []*stanza.Stanza) []string {
	var out []string
	for _, st := range got {
		out = append(out, st.From.String())
	}
	return out
}
