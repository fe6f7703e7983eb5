package pep_test

import (
	"context"
	"crypto/sha1" // #nosec G505 -- XEP-0115 §5.1 mandates SHA-1.
	"encoding/base64"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/pep"
	"dormouse.im/dormouse/sql/sqltest"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// fakeRoster holds presence subscriptions: subs[user] are the contacts
// subscribed to user's presence.
type fakeRoster struct {
	mu   sync.Mutex
	subs map[string][]string
}

func (f *fakeRoster) subscribe(contact, user string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs[user] = append(f.subs[user], contact)
}

func (f *fakeRoster) Subscribers(_ context.Context, user jid.JID) ([]jid.JID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []jid.JID
	for _, c := range f.subs[user.String()] {
		out = append(out, jid.MustParse(c))
	}
	return out, nil
}

func (f *fakeRoster) Subscriptions(_ context.Context, user jid.JID) ([]jid.JID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []jid.JID
	for owner, cs := range f.subs {
		if slices.Contains(cs, user.String()) {
			out = append(out, jid.MustParse(owner))
		}
	}
	return out, nil
}

// Subscribed makes fakeRoster the router's Relations too.
func (f *fakeRoster) Subscribed(_ context.Context, account, requester jid.JID) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.subs[account.Bare().String()], requester.Bare().String()), nil
}

// env is a router with the service on SQLite and the accounts alice, bob,
// carol and dave@example.org. bob and dave are subscribed to alice's
// presence; carol is a stranger.
type env struct {
	*routertest.Harness
	svc    *pep.Service
	roster *fakeRoster
	store  pep.Store
}

func newEnv(t testing.TB, cfg pep.Config) *env {
	t.Helper()
	h := routertest.New(t)
	st := sqltest.SQLite(t)
	creds, err := auth.NewCredentials("secret", 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"alice", "bob", "carol", "dave"} {
		if err := st.Accounts.CreateAccount(t.Context(), a+"@example.org", creds); err != nil {
			t.Fatal(err)
		}
	}
	ro := &fakeRoster{subs: map[string][]string{}}
	ro.subscribe("bob@example.org", "alice@example.org")
	ro.subscribe("dave@example.org", "alice@example.org")
	h.Router.SetRelations(ro)
	h.Router.SetAccounts(routertest.Accounts{"alice@example.org": true, "bob@example.org": true, "carol@example.org": true, "dave@example.org": true})
	if cfg.CapsVer == nil {
		cfg.CapsVer = capsVer
	}
	svc := pep.New(cfg, st.PEP, ro, h.Router, h.Log)
	svc.Register(h.Mux)
	t.Cleanup(svc.Close)
	return &env{Harness: h, svc: svc, roster: ro, store: st.PEP}
}

// wantError fails unless st is an error with the condition and, if app is
// set, the pubsub#errors (or other) application condition named app.
func wantError(t testing.TB, st *stanza.Stanza, cond stanza.Condition, app string) {
	t.Helper()
	e := stanza.ParseError(st.El)
	if st.Type != stanza.TypeError || e == nil {
		t.Fatalf("got %s, want an error %s", st, cond)
	}
	if e.Condition != cond {
		t.Errorf("condition %s, want %s: %s", e.Condition, cond, st)
	}
	if app == "" {
		return
	}
	var got string
	if el := st.El.Child(stanza.NSClient, "error"); el != nil {
		for _, c := range el.Elements() {
			if c.Name.Space == pep.NSErrors {
				got = c.Name.Local
				if f := c.AttrValue("feature"); f != "" {
					got += " " + f
				}
			}
		}
	}
	if got != app {
		t.Errorf("application condition %q, want %q: %s", got, app, st)
	}
}

// capsVer is the XEP-0115 §5.1 verification string of a disco#info query
// with identities (category/type//name, no xml:lang) and features, no
// forms: what the test clients send. The server uses disco.CapsVer,
// which handles everything; features do not import each other.
func capsVer(q *xml.Element) string {
	var ids, feats []string
	for _, c := range q.Elements() {
		switch c.Name.Local {
		case "identity":
			ids = append(ids, c.AttrValue("category")+"/"+c.AttrValue("type")+"//"+c.AttrValue("name"))
		case "feature":
			feats = append(feats, c.AttrValue("var"))
		}
	}
	slices.Sort(ids)
	slices.Sort(feats)
	var b strings.Builder
	for _, s := range append(ids, feats...) {
		b.WriteString(s)
		b.WriteByte('<')
	}
	sum := sha1.Sum([]byte(b.String())) // #nosec G401 -- see the import.
	return base64.StdEncoding.EncodeToString(sum[:])
}

// capsQuery returns a client's disco#info <query/> with the features.
func capsQuery(features ...string) *xml.Element {
	q := xml.NewElement(pep.NSInfo, "query")
	q.AddChild(xml.NewElement(pep.NSInfo, "identity", "category", "client", "type", "phone", "name", "Test"))
	for _, f := range features {
		q.AddChild(xml.NewElement(pep.NSInfo, "feature", "var", f))
	}
	return q
}

// capsPresence returns an initial presence with XEP-0115 caps for q.
func capsPresence(q *xml.Element) string {
	return `<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://test.example' ver='` +
		capsVer(q) + `'/></presence>`
}

// wait takes stanzas from rec until it has n, failing after 5 s. The
// service learns capabilities and sends last items on goroutines of its own.
func wait(t testing.TB, rec *routertest.Recorder, n int) []*stanza.Stanza {
	t.Helper()
	var got []*stanza.Stanza
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s got %d stanzas, want %d: %v", rec.JID, len(got), n, got)
		}
		got = append(got, rec.Take()...)
		if len(got) < n {
			time.Sleep(2 * time.Millisecond)
		}
	}
	if len(got) > n {
		t.Fatalf("%s got %d stanzas, want %d: %v", rec.JID, len(got), n, got)
	}
	return got
}

// online binds full with caps for features (and one naming full), answers the service's caps
// query, and returns the recorder once that is done (it may have received
// last published items: lastItems says how many to wait for and returns).
func (e *env) online(t testing.TB, full string, lastItems int, features ...string) (*routertest.Recorder, []*stanza.Stanza) {
	t.Helper()
	rec := e.Bind(full)
	// A feature of its own, so that the service has to ask.
	q := capsQuery(append(features, "urn:test:"+full)...)
	e.SetPresence(full, capsPresence(q))
	iq := wait(t, rec, 1)[0]
	if iq.Kind != stanza.KindIQ || iq.Type != stanza.TypeGet || iq.Payload().Name.Space != pep.NSInfo {
		t.Fatalf("%s got %s, want a disco#info query", full, iq)
	}
	if want := "https://test.example#" + capsVer(q); iq.Payload().AttrValue("node") != want {
		t.Errorf("caps query node %q, want %q", iq.Payload().AttrValue("node"), want)
	}
	reply := stanza.Build(stanza.KindIQ, stanza.TypeResult, iq.ID, jid.MustParse(full), iq.From)
	a := q.Copy()
	a.SetAttr("node", iq.Payload().AttrValue("node"))
	reply.El.AddChild(a)
	e.Router.Route(e.Ctx, reply)
	var last []*stanza.Stanza
	if lastItems > 0 {
		last = wait(t, rec, lastItems)
	}
	if !e.svc.Quiesce(5 * time.Second) {
		t.Fatal("the service's background work did not end")
	}
	if got := rec.Take(); len(got) != 0 {
		t.Fatalf("%s got %v besides %d last items", full, got, lastItems)
	}
	return rec, last
}

// the XML of the items in a stanza, for short comparisons.
func short(st *stanza.Stanza) string {
	return strings.ReplaceAll(st.String(), `"`, `'`)
}
