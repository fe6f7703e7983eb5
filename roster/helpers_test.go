package roster_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/roster"
	"dormouse.im/dormouse/sql"
	"dormouse.im/dormouse/sql/sqltest"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// env is a harness serving localhost with the roster service registered,
// on real storage.
type env struct {
	*routertest.Harness
	stores *sql.Stores
	svc    *roster.Service
	comp   *routertest.Recorder // the component serving gw.example
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

func newEnv(t *testing.T, cfg roster.Config, accounts ...string) *env {
	t.Helper()
	h := routertest.New(t, "localhost")
	stores := sqltest.SQLite(t)
	e := &env{Harness: h, stores: stores}
	for _, a := range accounts {
		if err := stores.Accounts.CreateAccount(e.Ctx, a, auth.Credentials{}); err != nil {
			t.Fatalf("CreateAccount(%s): %v", a, err)
		}
	}
	if cfg.Accounts == nil {
		cfg.Accounts = accountChecker{stores.Accounts}
	}
	e.Router.SetAccounts(accountChecker{stores.Accounts})
	e.svc = roster.New(cfg, stores.Roster, e.Router, e.Log)
	e.svc.Register(e.Mux)
	e.comp = e.Component(compDomain)
	return e
}

// in returns a view of e that fails t, for a subtest.
func (e *env) in(t *testing.T) *env {
	c := *e
	c.Harness = e.Harness.In(t)
	return &c
}

func mustJID(t testing.TB, s string) jid.JID {
	t.Helper()
	j, err := jid.Parse(s)
	if err != nil {
		t.Fatalf("jid.Parse(%q): %v", s, err)
	}
	return j
}

// online binds a resource, marks it interested and available.
func (e *env) online(full string) *routertest.Recorder {
	e.T.Helper()
	rec := e.Bind(full)
	e.Router.SetInterested(mustJID(e.T, full))
	e.SetPresence(full, `<presence><show>chat</show></presence>`)
	rec.Take() // pending requests delivered on initial presence
	return rec
}

// state returns the subscription state of contact in user's roster, named
// as in RFC 6121 Appendix A.
func (e *env) state(user, contact string) string {
	e.T.Helper()
	it, err := e.stores.Roster.Item(e.Ctx, user, contact)
	if err != nil && !errors.Is(err, roster.ErrNotFound) {
		e.T.Fatal(err)
	}
	ps, err := e.stores.Roster.PendingRequests(e.Ctx, user)
	if err != nil {
		e.T.Fatal(err)
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
	e.T.Helper()
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
		e.T.Fatalf("unknown state %q", name)
	}
	if sub != "" || out {
		if sub == "" {
			sub = "none"
		}
		if _, err := e.stores.Roster.Put(e.Ctx, user, roster.Item{Contact: contact, Subscription: sub, Ask: out}); err != nil {
			e.T.Fatal(err)
		}
	}
	if in {
		req := `<presence xmlns='jabber:client' type='subscribe' from='` + contact + `' to='` + user + `'/>`
		if err := e.stores.Roster.AddPending(e.Ctx, user, roster.Pending{Contact: contact, Stanza: []byte(req)}); err != nil {
			e.T.Fatal(err)
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
