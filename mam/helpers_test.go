package mam_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/mam/mamtest"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/sql"
	"dormouse.im/dormouse/sql/sqltest"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// clock is a fake clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *clock) advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

var epoch = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// accounts is the account checker of the test router.
type accounts map[string]bool

func (a accounts) AccountExists(_ context.Context, j jid.JID) (bool, error) {
	return a[j.Bare().String()], nil
}

// fakeRoster says contact is in user's roster if "user contact" is set.
type fakeRoster struct {
	mu sync.Mutex
	in map[string]bool
}

func (r *fakeRoster) InRoster(_ context.Context, user, contact jid.JID) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.in[user.Bare().String()+" "+contact.Bare().String()], nil
}

func (r *fakeRoster) add(user, contact string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.in == nil {
		r.in = map[string]bool{}
	}
	r.in[user+" "+contact] = true
}

var users = []string{"alice@localhost", "bob@localhost", "carol@localhost"}

type env struct {
	t       testing.TB
	ctx     context.Context
	backend string
	store   mam.Store
	mem     *mamtest.MemStore // nil on SQLite
	h       *routertest.Harness
	mux     *router.Mux
	r       *router.Router
	svc     *mam.Service
	clock   *clock
	roster  *fakeRoster
	targets map[string]*routertest.Recorder
}

// Backends the handler tests run on.
const (
	memBackend      = "mem"
	sqliteBackend   = "sqlite"
	postgresBackend = "postgres" // skipped unless DORMOUSE_TEST_POSTGRES is set
)

// backends runs f as a subtest on each backend.
func backends(t *testing.T, f func(t *testing.T, backend string)) {
	for _, b := range []string{memBackend, sqliteBackend, postgresBackend} {
		t.Run(b, func(t *testing.T) {
			if b == postgresBackend {
				sqltest.SkipWithoutPostgres(t)
			}
			f(t, b)
		})
	}
}

func newStore(t testing.TB, backend string) (mam.Store, *mamtest.MemStore) {
	t.Helper()
	switch backend {
	case memBackend:
		m := mamtest.New()
		return m, m
	case sqliteBackend, postgresBackend:
		stores := sqltest.SQLite
		if backend == postgresBackend {
			stores = sqltest.Postgres
		}
		return accountsIn(t, stores(t)), nil
	}
	t.Fatalf("unknown backend %q", backend)
	return nil, nil
}

// accountsIn creates the test users in stores and returns its archive.
func accountsIn(t testing.TB, stores *sql.Stores) mam.Store {
	t.Helper()
	for _, u := range users {
		if err := stores.Accounts.CreateAccount(t.Context(), u, auth.Credentials{}); err != nil {
			t.Fatal(err)
		}
	}
	return stores.MAM
}

// newEnv returns a router with the archive registered on backend.
func newEnv(t testing.TB, backend string, cfg mam.Config) *env {
	t.Helper()
	store, mem := newStore(t, backend)
	return newEnvStore(t, backend, store, mem, cfg)
}

func newEnvStore(t testing.TB, backend string, store mam.Store, mem *mamtest.MemStore, cfg mam.Config) *env {
	t.Helper()
	h := routertest.New(t, "localhost")
	e := &env{
		t: t, ctx: h.Ctx, backend: backend, store: store, mem: mem, h: h, mux: h.Mux, r: h.Router,
		clock: &clock{t: epoch}, roster: &fakeRoster{}, targets: map[string]*routertest.Recorder{},
	}
	if cfg.Now == nil {
		cfg.Now = e.clock.Now
	}
	if cfg.Roster == nil {
		cfg.Roster = e.roster
	}
	acc := accounts{}
	for _, u := range users {
		acc[u] = true
	}
	e.r.SetAccounts(acc)
	e.svc = mam.New(cfg, store, e.r, h.Log)
	e.svc.Register(e.mux)
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
	return routertest.Parse(t, s)
}

// online binds full, available with priority 0, and returns its recorder
// (the same one on later calls).
func (e *env) online(full string) *routertest.Recorder {
	e.t.Helper()
	if tg := e.targets[full]; tg != nil {
		return tg
	}
	tg := e.h.Online(full, 0)
	tg.Take()
	e.targets[full] = tg
	return tg
}

// send routes s as if from (a full JID) had sent it.
func (e *env) send(from, s string) {
	e.t.Helper()
	e.h.Send(from, s)
}

// chat sends a chat message with body from → to, one second after the
// previous clock reading, and returns what to's target received (if
// online).
func (e *env) chat(from, to, body string) {
	e.t.Helper()
	e.clock.advance(time.Second)
	e.send(from, `<message type='chat' to='`+to+`' id='m`+body+`'><body>`+body+`</body></message>`)
}

// result is one parsed query result.
type result struct {
	queryID, id, stamp string
	from, to           string // of the result message
	msg                *xml.Element
}

// fin is a parsed query answer.
type fin struct {
	results     []result
	complete    string
	stable      string
	first       string
	firstIndex  string
	last        string
	count       string
	hasSet      bool
	errCond     string // error condition of the IQ, "" on success
	errType     string
	iq          *stanza.Stanza
	nonResults  []*stanza.Stanza // other stanzas delivered meanwhile
	resultOrder []string
}

// iq sends an IQ from full and returns every stanza full received.
func (e *env) iq(full, s string) []*stanza.Stanza {
	e.t.Helper()
	tg := e.online(full)
	tg.Take()
	e.send(full, s)
	return tg.Take()
}

// query sends a MAM query (the inner XML of <query/>, and attributes of
// the iq) from full and parses the answer.
func (e *env) query(full, iqAttrs, inner string) fin {
	e.t.Helper()
	return e.parseAnswer(e.iq(full, `<iq type='set' id='q1' `+iqAttrs+`><query xmlns='urn:xmpp:mam:2' queryid='qid'>`+inner+`</query></iq>`))
}

func (e *env) parseAnswer(got []*stanza.Stanza) fin {
	e.t.Helper()
	var f fin
	for _, st := range got {
		switch {
		case st.Kind == stanza.KindIQ:
			if f.iq != nil {
				e.t.Fatalf("two IQ answers: %s and %s", f.iq, st)
			}
			f.iq = st
		case st.Kind == stanza.KindMessage && st.El.Child(mam.NS, "result") != nil:
			if f.iq != nil {
				e.t.Fatalf("result after the IQ answer: %s", st)
			}
			r := st.El.Child(mam.NS, "result")
			fw := r.Child(stanza.NSForward, "forwarded")
			res := result{
				queryID: r.AttrValue("queryid"), id: r.AttrValue("id"),
				stamp: fw.Child(stanza.NSDelay, "delay").AttrValue("stamp"),
				from:  st.From.String(), to: st.To.String(),
				msg: fw.Child(stanza.NSClient, "message"),
			}
			f.results = append(f.results, res)
			f.resultOrder = append(f.resultOrder, res.id)
		default:
			f.nonResults = append(f.nonResults, st)
		}
	}
	if f.iq == nil {
		e.t.Fatalf("no IQ answer among %d stanzas", len(got))
	}
	if f.iq.Type == stanza.TypeError {
		se := stanza.ParseError(f.iq.El)
		f.errCond, f.errType = string(se.Condition), string(se.Type)
		return f
	}
	fe := f.iq.El.Child(mam.NS, "fin")
	if fe == nil {
		e.t.Fatalf("IQ result without <fin/>: %s", f.iq)
	}
	f.complete, f.stable = fe.AttrValue("complete"), fe.AttrValue("stable")
	if set := fe.Child(mam.NSRSM, "set"); set != nil {
		f.hasSet = true
		f.first = set.ChildText(mam.NSRSM, "first")
		f.firstIndex = set.Child(mam.NSRSM, "first").AttrValue("index")
		f.last = set.ChildText(mam.NSRSM, "last")
		f.count = set.ChildText(mam.NSRSM, "count")
	}
	return f
}

// bodies returns the bodies of the results, in order.
func (f fin) bodies() []string {
	var out []string
	for _, r := range f.results {
		out = append(out, r.msg.ChildText(stanza.NSClient, "body"))
	}
	return out
}

// form builds a MAM data form with the given var/value pairs (a var may
// repeat for several values of a multi field: use fieldMulti instead).
func form(pairs ...string) string {
	var b strings.Builder
	b.WriteString(`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>`)
	for i := 0; i+1 < len(pairs); i += 2 {
		b.WriteString(`<field var='` + pairs[i] + `'><value>` + pairs[i+1] + `</value></field>`)
	}
	b.WriteString(`</x>`)
	return b.String()
}

// rsm builds an RSM set from inner XML.
func rsm(inner string) string {
	return `<set xmlns='http://jabber.org/protocol/rsm'>` + inner + `</set>`
}

// archive returns owner's whole archive through the store.
func (e *env) archive(owner string) []mam.Message {
	e.t.Helper()
	var out []mam.Message
	var after int64
	for {
		p, err := e.store.Query(e.ctx, mam.Query{Owner: owner, AfterID: after, Max: 100})
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, p.Messages...)
		if p.Complete {
			return out
		}
		after = p.Messages[len(p.Messages)-1].ID
	}
}

// ids formats the ids of msgs.
func ids(msgs []mam.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, mam.FormatID(m.ID))
	}
	return out
}
