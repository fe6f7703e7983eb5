// Package routertest drives a router.Router in tests: recording targets in
// place of client sessions and components, and helpers to write stanzas as
// XML, route them and check what each entity received.
//
// A feature's tests make a Harness, register the feature on its Mux, bind
// a Recorder per client resource and route stanzas:
//
//	h := routertest.New(t)
//	ping.New(ping.Config{}, nil).Register(h.Mux)
//	h.Bind("alice@example.org/phone")
//	reply := h.IQ("alice@example.org/phone", `<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>`)
//	routertest.WantXML(t, reply, `<iq type='result' id='p' to='alice@example.org/phone'/>`)
//
// The router delivers synchronously: when Route returns, every recipient
// has been handed its stanzas, so no helper here waits.
package routertest

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// Host is the host a Harness serves when New is given none.
const Host = "example.org"

// Recorder is a stanza.Target that records the stanzas it is given. Its
// zero value takes every stanza; its methods are safe for concurrent use.
type Recorder struct {
	// JID is the address the recorder stands for: the full JID of a
	// client resource or the domain of a component. Bind and Component
	// set it.
	JID jid.JID

	mu      sync.Mutex
	got     []*stanza.Stanza
	limited bool
	left    int // with limited: how many more stanzas it takes
}

// Deliver records st. It returns false, recording nothing, once a limit set
// with Limit is used up.
func (r *Recorder) Deliver(st *stanza.Stanza) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.limited {
		if r.left == 0 {
			return false
		}
		r.left--
	}
	r.got = append(r.got, st)
	return true
}

// Limit makes the recorder take n more stanzas and refuse the rest, like a
// session whose queue is full.
func (r *Recorder) Limit(n int) {
	r.mu.Lock()
	r.limited, r.left = true, n
	r.mu.Unlock()
}

// Take returns and forgets the stanzas recorded so far, in delivery order.
func (r *Recorder) Take() []*stanza.Stanza {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

// One takes the recorded stanzas and returns the only one, failing t
// unless there is exactly one.
func (r *Recorder) One(t testing.TB) *stanza.Stanza {
	t.Helper()
	got := r.Take()
	if len(got) != 1 {
		t.Fatalf("%s got %d stanzas, want 1: %v", r.JID.String(), len(got), got)
	}
	return got[0]
}

// Discard is a stanza.Target that takes every stanza and keeps only a
// count of them, for benchmarks, where a Recorder would keep growing. Its
// zero value is ready to use; its methods are safe for concurrent use.
type Discard struct{ n atomic.Int64 }

// Deliver counts st and drops it.
func (d *Discard) Deliver(*stanza.Stanza) bool {
	d.n.Add(1)
	return true
}

// Count returns how many stanzas d has taken since it was made or last
// reset.
func (d *Discard) Count() int64 { return d.n.Load() }

// Reset sets the count back to zero.
func (d *Discard) Reset() { d.n.Store(0) }

// Accounts is a router.AccountChecker for Router.SetAccounts: the bare
// JIDs set to true in it, written as jid.JID.String writes them, are the
// accounts.
type Accounts map[string]bool

// AccountExists reports whether the bare JID of j is in a.
func (a Accounts) AccountExists(_ context.Context, j jid.JID) (bool, error) {
	return a[j.Bare().String()], nil
}

// Subscriptions is a router.Relations for Router.SetRelations: for each
// account (a bare JID as jid.JID.String writes it), the bare JIDs it
// shares its presence with.
type Subscriptions map[string][]string

// Subscribed reports whether account shares its presence with requester.
func (s Subscriptions) Subscribed(_ context.Context, account, requester jid.JID) (bool, error) {
	return slices.Contains(s[account.Bare().String()], requester.Bare().String()), nil
}

// Harness is a router serving some hosts, with an empty Mux for the
// features under test, and the recorders bound on it. Its methods fail the
// test T on any error; call In for a subtest's view.
type Harness struct {
	T      testing.TB
	Ctx    context.Context // the context of the test given to New, for routing and storage calls
	Log    *slog.Logger    // the router's logger, from Logger
	Router *router.Router
	Mux    *router.Mux

	recs *recorders // shared by the views In returns
}

type recorders struct {
	mu sync.Mutex
	m  map[string]*Recorder // by full JID or component domain
}

// New returns a harness whose router serves hosts (the first is the main
// host), or Host if there are none. No account checker is set, so every
// local bare JID counts as an account until Router.SetAccounts is called.
func New(t testing.TB, hosts ...string) *Harness {
	t.Helper()
	if len(hosts) == 0 {
		hosts = []string{Host}
	}
	mux := router.NewMux()
	log := Logger()
	return &Harness{
		T:      t,
		Ctx:    t.Context(),
		Log:    log,
		Router: router.New(hosts, mux, log),
		Mux:    mux,
		recs:   &recorders{m: map[string]*Recorder{}},
	}
}

// In returns a view of h that fails t instead of h.T: the same router,
// context and recorders. A subtest uses h.In(t) so that failures stop the
// subtest, from its own goroutine.
func (h *Harness) In(t testing.TB) *Harness {
	c := *h
	c.T = t
	return &c
}

// Logger returns a logger for services under test: debug records on
// standard error with go test -v, nothing otherwise.
func Logger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func (h *Harness) jid(s string) jid.JID {
	h.T.Helper()
	j, err := jid.Parse(s)
	if err != nil {
		h.T.Fatalf("routertest: jid %q: %v", s, err)
	}
	return j
}

func (h *Harness) keep(rec *Recorder) {
	h.recs.mu.Lock()
	h.recs.m[rec.JID.String()] = rec
	h.recs.mu.Unlock()
}

// Bind binds the full JID full to a new recorder, as a client session
// binding a resource, and returns it. It replaces any earlier recorder at
// that address, as a new session replaces an old one (no OnGone hooks
// run; see Router.Bind).
func (h *Harness) Bind(full string) *Recorder {
	h.T.Helper()
	rec := &Recorder{JID: h.jid(full)}
	h.Router.Bind(rec.JID, rec)
	h.keep(rec)
	return rec
}

// Component connects a new recorder as the component serving domain.
func (h *Harness) Component(domain string) *Recorder {
	h.T.Helper()
	rec := &Recorder{JID: h.jid(domain)}
	if err := h.Router.AddComponent(rec.JID.String(), rec); err != nil {
		h.T.Fatalf("routertest: component %s: %v", domain, err)
	}
	h.keep(rec)
	return rec
}

// Recorder returns the recorder h last bound at addr, a full JID or a
// component domain.
func (h *Harness) Recorder(addr string) *Recorder {
	h.T.Helper()
	key := h.jid(addr).String()
	h.recs.mu.Lock()
	rec := h.recs.m[key]
	h.recs.mu.Unlock()
	if rec == nil {
		h.T.Fatalf("routertest: nothing bound at %s", addr)
	}
	return rec
}

// Unbind unbinds the recorder bound at full, as its session ending, which
// runs the OnGone hooks, and reports whether the router removed it. The
// harness still holds the recorder: Expect checks that it gets nothing.
func (h *Harness) Unbind(full string) bool {
	h.T.Helper()
	rec := h.Recorder(full)
	return h.Router.Unbind(h.Ctx, rec.JID, rec)
}

// SetPresence records presence, an available presence written as XML, as
// the broadcast presence of the bound resource full (its 'from' is set to
// full), as a session does for initial presence; the first one runs the
// OnAvailable hooks.
func (h *Harness) SetPresence(full, presence string) {
	h.T.Helper()
	j := h.jid(full)
	p := Parse(h.T, presence)
	p.SetFrom(j)
	if _, ok := h.Router.SetPresence(h.Ctx, j, p); !ok {
		h.T.Fatalf("routertest: presence of %s, which is not bound", full)
	}
}

// Online binds full to a new recorder and makes it available with the given
// priority (Bind, then SetPresence).
func (h *Harness) Online(full string, priority int) *Recorder {
	h.T.Helper()
	rec := h.Bind(full)
	h.SetPresence(full, fmt.Sprintf(`<presence><priority>%d</priority></presence>`, priority))
	return rec
}

// Route parses s and routes it with the addresses written in it.
func (h *Harness) Route(s string) {
	h.T.Helper()
	h.Router.Route(h.Ctx, Parse(h.T, s))
}

// Send parses s and routes it as sent by from: its 'from' is set to from,
// as a session stamps it.
func (h *Harness) Send(from, s string) {
	h.T.Helper()
	st := Parse(h.T, s)
	st.SetFrom(h.jid(from))
	h.Router.Route(h.Ctx, st)
}

// IQ sends the IQ written in iq from the recorder bound at from (see Send)
// and returns the reply: the one stanza that recorder then holds. It fails
// unless the recorder got exactly one stanza.
func (h *Harness) IQ(from, iq string) *stanza.Stanza {
	h.T.Helper()
	rec := h.Recorder(from)
	h.Send(from, iq)
	return rec.One(h.T)
}

// TakeAll takes what every recorder h holds got, by address; a recorder
// that got nothing is left out.
func (h *Harness) TakeAll() map[string][]*stanza.Stanza {
	h.recs.mu.Lock()
	defer h.recs.mu.Unlock()
	out := map[string][]*stanza.Stanza{}
	for addr, rec := range h.recs.m {
		if got := rec.Take(); len(got) > 0 {
			out[addr] = got
		}
	}
	return out
}

// Expect takes what every recorder got and checks it against want: the
// recorder at each address in want (a full JID or component domain,
// written as jid.JID.String writes it) must have got the stanzas written
// there, in order (compared as WantXML does), and every other recorder
// nothing.
func (h *Harness) Expect(want map[string][]string) {
	h.T.Helper()
	got := h.TakeAll()
	addrs := map[string]bool{}
	for a := range got {
		addrs[a] = true
	}
	for a := range want {
		if key := h.jid(a).String(); key != a {
			h.T.Fatalf("routertest: Expect: write %q as %q", a, key)
		}
		addrs[a] = true
	}
	for _, a := range slices.Sorted(maps.Keys(addrs)) {
		g, w := got[a], want[a]
		if len(g) != len(w) {
			h.T.Errorf("%s got %d stanzas, want %d: %v", a, len(g), len(w), g)
			continue
		}
		for i := range g {
			WantXML(h.T, g[i], w[i])
		}
	}
}

// Parse parses s, written with jabber:client as the default namespace, as
// a stanza.
func Parse(t testing.TB, s string) *stanza.Stanza {
	t.Helper()
	el, err := xml.Parse([]byte(s), stanza.NSClient)
	if err != nil {
		t.Fatalf("routertest: parse %s: %v", s, err)
	}
	st, err := stanza.New(el)
	if err != nil {
		t.Fatalf("routertest: stanza %s: %v", s, err)
	}
	return st
}

// WantXML fails t unless got is equivalent to the element written in want
// (jabber:client default namespace), as EqualXML decides.
func WantXML(t testing.TB, got *stanza.Stanza, want string) {
	t.Helper()
	w := parseWant(t, want)
	if !EqualXML(got.El, w) {
		t.Errorf("got  %s\nwant %s", got, w)
	}
}

// WantSerialized is WantXML, and then checks got as a session would write
// it too: got serialized as jabber:client XML and parsed again must still
// be equivalent to want. It reports one failure at most.
func WantSerialized(t testing.TB, got *stanza.Stanza, want string) {
	t.Helper()
	w := parseWant(t, want)
	if !EqualXML(got.El, w) {
		t.Errorf("got  %s\nwant %s", got, w)
		return
	}
	again, err := xml.Parse(got.AppendXML(nil, stanza.NSClient), stanza.NSClient)
	if err != nil || !EqualXML(again, w) {
		t.Errorf("serialized: %s (%v)\nwant %s", got, err, w)
	}
}

// parseWant parses the element written in want, failing t if it cannot.
func parseWant(t testing.TB, want string) *xml.Element {
	t.Helper()
	w, err := xml.Parse([]byte(want), stanza.NSClient)
	if err != nil {
		t.Fatalf("routertest: parse %s: %v", want, err)
	}
	return w
}

// EqualXML reports whether a and b are equivalent: the same names, the
// same attributes in any order, the same child elements in order and the
// same text, with leading and trailing white space trimmed.
func EqualXML(a, b *xml.Element) bool {
	if a.Name != b.Name || len(a.Attr) != len(b.Attr) {
		return false
	}
	for _, x := range a.Attr {
		if !slices.Contains(b.Attr, x) {
			return false
		}
	}
	if strings.TrimSpace(a.Text()) != strings.TrimSpace(b.Text()) {
		return false
	}
	ae, be := a.Elements(), b.Elements()
	if len(ae) != len(be) {
		return false
	}
	for i := range ae {
		if !EqualXML(ae[i], be[i]) {
			return false
		}
	}
	return true
}

// ErrorCondition returns the defined condition of an error stanza, or ""
// if st carries no error.
func ErrorCondition(st *stanza.Stanza) string {
	if e := stanza.ParseError(st.El); e != nil {
		return string(e.Condition)
	}
	return ""
}
