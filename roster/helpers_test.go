package roster_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/roster"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/sql"
	"dormouse.im/dormouse/sql/sqltest"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// target is a fake session or component: it records what it is given.
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

// take returns and forgets what the target got.
func (t *target) take() []*stanza.Stanza {
	t.mu.Lock()
	defer t.mu.Unlock()
	got := t.got
	t.got = nil
	return got
}

// env is a router with the roster service registered, on real storage.
type env struct {
	t      *testing.T
	ctx    context.Context
	stores *sql.Stores
	r      *router.Router
	svc    *roster.Service
	comp   *target // the component serving gw.example
}

const compDomain = "gw.example"

type accountChecker struct{ s auth.Store }

func (a accountChecker) AccountExists(ctx context.Context, bare jid.JID) (bool, error) {
	_, err := a.s.Credentials(ctx, bare.String())
	if errors.Is(err, auth.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newEnv(t *testing.T, cfg roster.Config, accounts ...string) *env {
	t.Helper()
	stores := sqltest.SQLite(t)
	e := &env{t: t, ctx: t.Context(), stores: stores, comp: &target{}}
	for _, a := range accounts {
		if err := stores.Accounts.CreateAccount(e.ctx, a, auth.Credentials{}); err != nil {
			t.Fatalf("CreateAccount(%s): %v", a, err)
		}
	}
	if cfg.Accounts == nil {
		cfg.Accounts = accountChecker{stores.Accounts}
	}
	mux := router.NewMux()
	e.r = router.New([]string{"localhost"}, mux, testLogger())
	e.r.SetAccounts(accountChecker{stores.Accounts})
	e.svc = roster.New(stores.Roster, e.r, cfg, testLogger())
	e.svc.Register(mux)
	if err := e.r.AddComponent(compDomain, e.comp); err != nil {
		t.Fatal(err)
	}
	return e
}

func mustJID(t testing.TB, s string) jid.JID {
	t.Helper()
	j, err := jid.Parse(s)
	if err != nil {
		t.Fatalf("jid.Parse(%q): %v", s, err)
	}
	return j
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

// bind binds a resource and returns its target.
func (e *env) bind(full string) *target {
	e.t.Helper()
	tg := &target{}
	e.r.Bind(mustJID(e.t, full), tg)
	return tg
}

// online binds a resource, marks it interested and available.
func (e *env) online(full string) *target {
	e.t.Helper()
	tg := e.bind(full)
	j := mustJID(e.t, full)
	e.r.SetInterested(j)
	e.r.SetPresence(e.ctx, j, parse(e.t, `<presence from='`+full+`'><show>chat</show></presence>`))
	tg.take() // pending requests delivered on initial presence
	return tg
}

// send routes s as if from (a full JID) had sent it.
func (e *env) send(from, s string) {
	e.t.Helper()
	st := parse(e.t, s)
	st.SetFrom(mustJID(e.t, from))
	e.r.Route(e.ctx, st)
}

// state returns the subscription state of contact in user's roster, named
// as in RFC 6121 Appendix A.
func (e *env) state(user, contact string) string {
	e.t.Helper()
	it, err := e.stores.Roster.Item(e.ctx, user, contact)
	if err != nil && !errors.Is(err, roster.ErrNotFound) {
		e.t.Fatal(err)
	}
	ps, err := e.stores.Roster.PendingRequests(e.ctx, user)
	if err != nil {
		e.t.Fatal(err)
	}
	in := slices.ContainsFunc(ps, func(p roster.Pending) bool { return p.Contact == contact })
	return stateName(it.Subscription, it.Ask, in)
}

func stateName(sub string, out, in bool) string {
	name := map[string]string{"": "None", "none": "None", "to": "To", "from": "From", "both": "Both"}[sub]
	switch {
	case out && in:
		return name + " + Pending Out/In"
	case out:
		return name + " + Pending Out"
	case in:
		return name + " + Pending In"
	}
	return name
}

// setState writes a state named as in RFC 6121 Appendix A directly into
// the store. "None" and "None + Pending In" create no item.
func (e *env) setState(user, contact, name string) {
	e.t.Helper()
	var sub string
	var out, in bool
	switch name {
	case "None":
	case "None + Pending Out":
		out = true
	case "None + Pending In":
		in = true
	case "None + Pending Out/In":
		out, in = true, true
	case "To":
		sub = "to"
	case "To + Pending In":
		sub, in = "to", true
	case "From":
		sub = "from"
	case "From + Pending Out":
		sub, out = "from", true
	case "Both":
		sub = "both"
	default:
		e.t.Fatalf("unknown state %q", name)
	}
	if sub != "" || out {
		if sub == "" {
			sub = "none"
		}
		if _, err := e.stores.Roster.Put(e.ctx, user, roster.Item{Contact: contact, Subscription: sub, Ask: out}); err != nil {
			e.t.Fatal(err)
		}
	}
	if in {
		req := `<presence xmlns='jabber:client' type='subscribe' from='` + contact + `' to='` + user + `'/>`
		if err := e.stores.Roster.AddPending(e.ctx, user, roster.Pending{Contact: contact, Stanza: []byte(req)}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// only returns the stanzas of the given kind and type.
func only(sts []*stanza.Stanza, kind stanza.Kind, typ string) []*stanza.Stanza {
	var out []*stanza.Stanza
	for _, st := range sts {
		if st.Kind == kind && st.Type == typ {
			out = append(out, st)
		}
	}
	return out
}

// pushes returns the roster pushes among sts, as their items.
func pushes(t testing.TB, sts []*stanza.Stanza) []*xml.Element {
	t.Helper()
	var out []*xml.Element
	for _, st := range only(sts, stanza.KindIQ, stanza.TypeSet) {
		q := st.El.Child(roster.NS, "query")
		if q == nil {
			continue
		}
		if st.From.Domainpart() != "" {
			t.Errorf("roster push has from=%q, want none", st.From.String())
		}
		out = append(out, q.Child(roster.NS, "item"))
	}
	return out
}

// errorCondition returns the condition of an error stanza.
func errorCondition(st *stanza.Stanza) string {
	if e := stanza.ParseError(st.El); e != nil {
		return string(e.Condition)
	}
	return ""
}
