package offline_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/offline"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/sql"
	"dormouse.im/dormouse/sql/sqltest"
	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// clock is a fake clock: each reading is 1.5 seconds after the previous.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.t
	c.t = c.t.Add(1500 * time.Millisecond)
	return now
}

var start = time.Date(2025, 3, 4, 5, 6, 7, 891_000_000, time.FixedZone("X", 3600))

type events struct {
	mu     sync.Mutex
	stored []string
}

func (ev *events) MessageStored(_ context.Context, user jid.JID, st *stanza.Stanza) {
	ev.mu.Lock()
	ev.stored = append(ev.stored, user.String()+" "+st.ID)
	ev.mu.Unlock()
}

type env struct {
	*routertest.Harness
	stores *sql.Stores
	svc    *offline.Service
	events *events
}

type accountChecker struct{ s auth.Store }

func (a accountChecker) AccountExists(ctx context.Context, bare jid.JID) (bool, error) {
	_, err := a.s.Credentials(ctx, bare.String())
	if errors.Is(err, auth.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func newEnv(t *testing.T, cfg offline.Config) *env {
	t.Helper()
	e := &env{Harness: routertest.New(t, "localhost"), stores: sqltest.SQLite(t), events: &events{}}
	for _, a := range []string{"alice@localhost", "bob@localhost"} {
		if err := e.stores.Accounts.CreateAccount(e.Ctx, a, auth.Credentials{}); err != nil {
			t.Fatal(err)
		}
	}
	if cfg.Now == nil {
		cfg.Now = (&clock{t: start}).Now
	}
	cfg.Events = e.events
	e.Router.SetAccounts(accountChecker{e.stores.Accounts})
	e.svc = offline.New(cfg, e.stores.Offline, e.Router, e.Log)
	e.svc.Register(e.Mux)
	return e
}

func (e *env) count(user string) int {
	e.T.Helper()
	n, err := e.stores.Offline.Count(e.Ctx, user)
	if err != nil {
		e.T.Fatal(err)
	}
	return n
}

func ids(sts []*stanza.Stanza) []string {
	var out []string
	for _, st := range sts {
		out = append(out, st.ID)
	}
	return out
}

func TestStoreAndDeliver(t *testing.T) {
	e := newEnv(t, offline.Config{})
	alice := e.Online("alice@localhost/phone", 0)
	for i := range 3 {
		e.Send("alice@localhost/phone", fmt.Sprintf(`<message type='chat' to='bob@localhost' id='m%d'><body>hello %d</body></message>`, i, i))
	}
	// A message with a delay of the server's own is not stamped twice.
	e.Send("alice@localhost/phone", `<message to='bob@localhost/gone' id='m3'><body>old</body><delay xmlns='urn:xmpp:delay' from='localhost' stamp='2020-01-01T00:00:00Z'/></message>`)
	if got := alice.Take(); len(got) != 0 {
		t.Fatalf("sender got %v, want nothing (stored)", got)
	}
	if n := e.count("bob@localhost"); n != 4 {
		t.Fatalf("stored %d, want 4", n)
	}
	if !slices.Equal(e.events.stored, []string{"bob@localhost m0", "bob@localhost m1", "bob@localhost m2", "bob@localhost m3"}) {
		t.Errorf("events %v", e.events.stored)
	}

	// A bound resource that has not sent presence gets nothing yet.
	tg := e.Bind("bob@localhost/desk")
	if got := tg.Take(); len(got) != 0 {
		t.Fatalf("got %v before initial presence", got)
	}
	e.SetPresence("bob@localhost/desk", `<presence/>`)
	got := tg.Take()
	if !slices.Equal(ids(got), []string{"m0", "m1", "m2", "m3"}) {
		t.Fatalf("delivered %v, want m0..m3 in order", ids(got))
	}
	for i, st := range got[:3] {
		d := st.El.ChildrenNamed(stanza.NSDelay, "delay")
		if len(d) != 1 {
			t.Fatalf("%s: %d delays", st.ID, len(d))
		}
		want := start.Add(time.Duration(i) * 1500 * time.Millisecond).UTC().Format("2006-01-02T15:04:05.000Z")
		if d[0].AttrValue("stamp") != want || d[0].AttrValue("from") != "localhost" {
			t.Errorf("%s: delay %v, want stamp %s from localhost", st.ID, d[0], want)
		}
		if st.To.String() != "bob@localhost" || st.From.String() != "alice@localhost/phone" || st.Type != "chat" {
			t.Errorf("%s: addresses changed: %v", st.ID, st)
		}
	}
	if d := got[3].El.ChildrenNamed(stanza.NSDelay, "delay"); len(d) != 1 || d[0].AttrValue("stamp") != "2020-01-01T00:00:00Z" {
		t.Errorf("m3 delays = %v, want only the original", d)
	}
	if got[3].To.String() != "bob@localhost/gone" {
		t.Errorf("m3 to = %s, want the original full JID", got[3].To.String())
	}
	if n := e.count("bob@localhost"); n != 0 {
		t.Errorf("%d left after delivery", n)
	}
	// Now that bob is online, messages go straight to him.
	e.Send("alice@localhost/phone", `<message type='chat' to='bob@localhost' id='live'><body>hi</body></message>`)
	if got := tg.Take(); !slices.Equal(ids(got), []string{"live"}) || len(got[0].El.ChildrenNamed(stanza.NSDelay, "delay")) != 0 {
		t.Errorf("live message: %v", got)
	}
}

func TestFormatStamp(t *testing.T) {
	for tm, want := range map[time.Time]string{
		start: "2025-03-04T04:06:07.891Z",
		time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC):           "2025-01-02T03:04:05.000Z",
		time.Date(2025, 1, 2, 3, 4, 5, 999_999_999, time.UTC): "2025-01-02T03:04:05.999Z",
	} {
		if got := offline.FormatStamp(tm); got != want {
			t.Errorf("FormatStamp(%v) = %q, want %q", tm, got, want)
		}
	}
}

func TestWhatIsKept(t *testing.T) {
	e := newEnv(t, offline.Config{})
	alice := e.Online("alice@localhost/phone", 0)
	const (
		stored  = "stored"
		dropped = "dropped"
		bounced = "bounced"
	)
	for i, tc := range []struct {
		msg  string
		want string
	}{
		0:  {`<message type='chat'><body>hi</body></message>`, stored},
		1:  {`<message type='normal'><body>hi</body></message>`, stored},
		2:  {`<message><body>hi</body></message>`, stored},
		3:  {`<message><encrypted xmlns='eu.siacs.conversations.axolotl'/></message>`, stored},
		4:  {`<message><encrypted xmlns='urn:xmpp:omemo:2'/></message>`, stored},
		5:  {`<message><x xmlns='jabber:x:encrypted'>...</x></message>`, stored},
		6:  {`<message><openpgp xmlns='urn:xmpp:openpgp:0'>...</openpgp></message>`, stored},
		7:  {`<message><store xmlns='urn:xmpp:hints'/><x xmlns='urn:example'/></message>`, stored},
		8:  {`<message><received xmlns='urn:xmpp:receipts' id='a'/></message>`, stored},
		9:  {`<message><displayed xmlns='urn:xmpp:chat-markers:0' id='a'/></message>`, stored},
		10: {`<message><propose xmlns='urn:xmpp:jingle-message:0' id='a'/></message>`, stored},
		11: {`<message><retract xmlns='urn:xmpp:jingle-message:0' id='a'/></message>`, stored},
		12: {`<message><x xmlns='jabber:x:conference' jid='room@conference.localhost'/></message>`, stored},
		13: {`<message><x xmlns='http://jabber.org/protocol/muc#user'><invite from='a@localhost'/></x></message>`, stored},
		// XEP-0334: no-permanent-store keeps a message out of archives
		// only; no-store forbids offline storage too.
		14: {`<message><body>hi</body><no-permanent-store xmlns='urn:xmpp:hints'/></message>`, stored},
		15: {`<message><body>hi</body><no-store xmlns='urn:xmpp:hints'/></message>`, dropped},
		16: {`<message><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`, dropped},
		17: {`<message type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/><thread>t</thread></message>`, dropped},
		18: {`<message><body>hi</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`, stored},
		19: {`<message><body></body></message>`, bounced},
		20: {`<message><request xmlns='urn:xmpp:receipts'/></message>`, bounced},
		21: {`<message><x xmlns='http://jabber.org/protocol/muc#user'/></message>`, bounced},
		22: {`<message><markable xmlns='urn:xmpp:chat-markers:0'/></message>`, bounced},
		// Headline messages to an offline user are dropped by the router.
		23: {`<message type='headline'><body>news</body></message>`, dropped},
	} {
		before := e.count("bob@localhost")
		st := routertest.Parse(t, tc.msg)
		st.SetFrom(jid.MustParse("alice@localhost/phone"))
		st.SetTo(jid.MustParse("bob@localhost"))
		st.SetID(fmt.Sprint("k", i))
		e.Router.Route(e.Ctx, st)
		got := alice.Take()
		n := e.count("bob@localhost") - before
		var what string
		switch {
		case n == 1 && len(got) == 0:
			what = stored
		case n == 0 && len(got) == 0:
			what = dropped
		case n == 0 && len(got) == 1 && got[0].Type == stanza.TypeError &&
			stanza.ParseError(got[0].El).Condition == stanza.ServiceUnavailable:
			what = bounced
		default:
			what = fmt.Sprintf("stored %d, sender got %v", n, got)
		}
		if what != tc.want {
			t.Errorf("%d %s: %s, want %s", i, tc.msg, what, tc.want)
		}
	}
}

func TestLimit(t *testing.T) {
	e := newEnv(t, offline.Config{MaxMessages: 2})
	alice := e.Online("alice@localhost/phone", 0)
	for i := range 3 {
		e.Send("alice@localhost/phone", fmt.Sprintf(`<message to='bob@localhost' id='l%d'><body>%d</body></message>`, i, i))
	}
	got := alice.Take()
	if len(got) != 1 || got[0].ID != "l2" || got[0].Type != stanza.TypeError {
		t.Fatalf("sender got %v, want an error for l2", got)
	}
	se := stanza.ParseError(got[0].El)
	if se.Condition != stanza.ServiceUnavailable || se.Type != stanza.Cancel || se.Text != "the recipient's offline storage is full" {
		t.Errorf("error = %+v", se)
	}
	if got[0].From.String() != "bob@localhost" || got[0].To.String() != "alice@localhost/phone" {
		t.Errorf("error addressed from %s to %s", got[0].From.String(), got[0].To.String())
	}
	if n := e.count("bob@localhost"); n != 2 {
		t.Errorf("stored %d, want 2", n)
	}
	if err := e.svc.StoreMessage(e.Ctx, routertest.Parse(t, `<message to='bob@localhost'><body>x</body></message>`)); !errors.Is(err, offline.ErrFull) {
		t.Errorf("StoreMessage on a full store: %v, want ErrFull", err)
	}
}

func TestStoreMessage(t *testing.T) {
	e := newEnv(t, offline.Config{})
	if err := e.svc.StoreMessage(e.Ctx, routertest.Parse(t, `<message from='alice@localhost/a' to='bob@localhost' id='s'><body>x</body></message>`)); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{
		`<message from='alice@localhost/a' to='bob@localhost'><gone xmlns='http://jabber.org/protocol/chatstates'/></message>`,
		`<message from='alice@localhost/a' to='bob@localhost' type='groupchat'><body>x</body></message>`,
		`<message from='alice@localhost/a' to='localhost'><body>x</body></message>`,
		`<presence from='alice@localhost/a' to='bob@localhost'/>`,
	} {
		if err := e.svc.StoreMessage(e.Ctx, routertest.Parse(t, m)); !errors.Is(err, offline.ErrSkipped) {
			t.Errorf("StoreMessage(%s) = %v, want ErrSkipped", m, err)
		}
	}
	if n := e.count("bob@localhost"); n != 1 {
		t.Errorf("stored %d, want 1", n)
	}
	// With the recipient online, a message handed over is delivered at
	// once rather than left until the next login.
	bob := e.Online("bob@localhost/desk", 1)
	if got := bob.Take(); !slices.Equal(ids(got), []string{"s"}) {
		t.Fatalf("at login: %v", ids(got))
	}
	if err := e.svc.StoreMessage(e.Ctx, routertest.Parse(t, `<message from='alice@localhost/a' to='bob@localhost' id='late'><body>x</body></message>`)); err != nil {
		t.Fatal(err)
	}
	if got := bob.Take(); !slices.Equal(ids(got), []string{"late"}) {
		t.Errorf("late message: %v", ids(got))
	}
	if n := e.count("bob@localhost"); n != 0 {
		t.Errorf("stored %d, want 0", n)
	}
}

func TestPartialDeliveryAndPriority(t *testing.T) {
	e := newEnv(t, offline.Config{})
	for i := range 5 {
		e.Send("alice@localhost/phone", fmt.Sprintf(`<message to='bob@localhost' id='p%d'><body>%d</body></message>`, i, i))
	}
	// A negative-priority resource gets no messages.
	neg := e.Online("bob@localhost/bot", -1)
	if got := neg.Take(); len(got) != 0 {
		t.Errorf("negative priority got %v", ids(got))
	}
	// A session that can take only two: the rest stay, in order.
	small := e.Bind("bob@localhost/small")
	small.Limit(2)
	e.SetPresence("bob@localhost/small", `<presence><priority>0</priority></presence>`)
	if got := small.Take(); !slices.Equal(ids(got), []string{"p0", "p1"}) {
		t.Fatalf("first session got %v", ids(got))
	}
	if n := e.count("bob@localhost"); n != 3 {
		t.Fatalf("%d left, want 3", n)
	}
	big := e.Online("bob@localhost/big", 0)
	if got := big.Take(); !slices.Equal(ids(got), []string{"p2", "p3", "p4"}) {
		t.Errorf("second session got %v", ids(got))
	}
}

// TestExactlyOnce: two resources coming online together, with more
// messages than one page: every message is delivered once, in order.
func TestExactlyOnce(t *testing.T) {
	e := newEnv(t, offline.Config{MaxMessages: -1})
	const n = 250
	var want []string
	for i := range n {
		id := fmt.Sprint("x", i)
		want = append(want, id)
		if err := e.svc.StoreMessage(e.Ctx, routertest.Parse(t, `<message from='alice@localhost/a' to='bob@localhost' id='`+id+`'><body>x</body></message>`)); err != nil {
			t.Fatal(err)
		}
	}
	var (
		targets = []*routertest.Recorder{e.Bind("bob@localhost/one"), e.Bind("bob@localhost/two")}
		fulls   = []jid.JID{targets[0].JID, targets[1].JID}
		wg      sync.WaitGroup
	)
	for i := range targets {
		wg.Go(func() { e.Router.SetPresence(e.Ctx, fulls[i], routertest.Parse(t, `<presence/>`)) })
	}
	wg.Wait()
	var all []string
	for _, tg := range targets {
		got := ids(tg.Take())
		// Each resource's share is in order.
		if !slices.IsSortedFunc(got, func(a, b string) int { return index(want, a) - index(want, b) }) {
			t.Errorf("out of order: %v", got)
		}
		all = append(all, got...)
	}
	slices.SortFunc(all, func(a, b string) int { return index(want, a) - index(want, b) })
	if !slices.Equal(all, want) {
		t.Errorf("delivered %d messages (%v...), want each of %d once", len(all), all[:min(5, len(all))], n)
	}
	if c := e.count("bob@localhost"); c != 0 {
		t.Errorf("%d left", c)
	}
}

func index(s []string, v string) int { return slices.Index(s, v) }

func TestFeature(t *testing.T) {
	e := newEnv(t, offline.Config{})
	if f := e.Mux.Features(router.ToServer); !slices.Contains(f, offline.Feature) || offline.Feature != "msgoffline" {
		t.Errorf("server features %v, want msgoffline", f)
	}
	if f := e.Mux.Features(router.ToAccount); len(f) != 0 {
		t.Errorf("account features %v", f)
	}
}

// slowStore lets a test act inside the first Messages call, while the
// first delivery holds the user's lock, and reports the second call.
type slowStore struct {
	inner  offline.Store
	calls  atomic.Int32
	first  func()        // run inside the first Messages call
	second chan struct{} // closed at the second Messages call
}

func (s *slowStore) Store(ctx context.Context, user string, m offline.Message, limit int) error {
	return s.inner.Store(ctx, user, m, limit)
}

func (s *slowStore) Messages(ctx context.Context, user string, max int) ([]offline.Message, error) {
	switch s.calls.Add(1) {
	case 1:
		s.first()
	case 2:
		close(s.second)
	}
	return s.inner.Messages(ctx, user, max)
}

func (s *slowStore) Delete(ctx context.Context, user string, ids []int64) error {
	return s.inner.Delete(ctx, user, ids)
}

func (s *slowStore) Count(ctx context.Context, user string) (int, error) {
	return s.inner.Count(ctx, user)
}

// TestDeliverySerialized starts the second resource's delivery while the
// first is between loading and deleting: the second must wait for the
// first, then find nothing.
func TestDeliverySerialized(t *testing.T) {
	stores := sqltest.SQLite(t)
	ctx := t.Context()
	if err := stores.Accounts.CreateAccount(ctx, "bob@localhost", auth.Credentials{}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		m := offline.Message{Stamp: start, Stanza: []byte(fmt.Sprintf(`<message xmlns='jabber:client' to='bob@localhost' id='d%d'><body>x</body></message>`, i))}
		if err := stores.Offline.Store(ctx, "bob@localhost", m, 0); err != nil {
			t.Fatal(err)
		}
	}
	store := &slowStore{inner: stores.Offline, second: make(chan struct{})}
	h := routertest.New(t, "localhost")
	r := h.Router
	offline.New(offline.Config{}, store, r, h.Log).Register(h.Mux)
	one, two := h.Bind("bob@localhost/one"), h.Bind("bob@localhost/two")
	done := make(chan struct{})
	store.first = func() {
		go func() {
			defer close(done)
			r.SetPresence(ctx, jid.MustParse("bob@localhost/two"), routertest.Parse(t, `<presence/>`))
		}()
		// The second delivery must not load messages while the first is
		// running. (Without the lock it would get there at once; the
		// wait only bounds how long this test looks for the bug.)
		select {
		case <-store.second:
			t.Error("two deliveries ran at once")
		case <-time.After(50 * time.Millisecond):
		}
	}
	r.SetPresence(ctx, jid.MustParse("bob@localhost/one"), routertest.Parse(t, `<presence/>`))
	<-done
	if got := ids(one.Take()); !slices.Equal(got, []string{"d0", "d1", "d2"}) {
		t.Errorf("first resource got %v", got)
	}
	if got := ids(two.Take()); len(got) != 0 {
		t.Errorf("second resource got %v, want nothing", got)
	}
}
