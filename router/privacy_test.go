package router_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// privacyHarness serves localhost with the accounts alice, bob (who shares
// his presence with alice), carol and dave (strangers to alice); ghost has
// no account. A public handler answers {urn:test:public}q (a result for
// carol, who published something, and for non-strangers; item-not-found
// otherwise) and an account handler answers
// {urn:test:account}q.
func privacyHarness(t *testing.T) *routertest.Harness {
	h := routertest.New(t, "localhost")
	h.Router.SetAccounts(routertest.Accounts{"alice@localhost": true, "bob@localhost": true, "carol@localhost": true, "dave@localhost": true})
	h.Router.SetRelations(routertest.Subscriptions{"bob@localhost": {"alice@localhost"}})
	h.Mux.HandlePublicIQ("urn:test:public", "q", func(_ context.Context, iq *stanza.Stanza, rel router.Relation) (*stanza.Stanza, error) {
		owner := iq.To.Bare()
		if owner.Domainpart() == "" {
			owner = iq.From.Bare()
		}
		if owner.String() == "carol@localhost" || rel != router.Stranger {
			return iq.Result(xml.NewElement("urn:test:public", "q", "rel", rel.String())), nil
		}
		return nil, stanza.NewError(stanza.ItemNotFound, "")
	})
	h.Mux.HandleIQ(router.ToAccount, "urn:test:account", "q", func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
		return iq.Result(nil), nil
	})
	h.Mux.HandleIQ(router.ToServer, "urn:test:server", "q", func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
		return iq.Result(nil), nil
	})
	return h
}

// answer returns the reply to an IQ get from alice to 'to' with payload
// {ns}q, without its addresses and id: what must not differ between a
// stranger's existing and missing accounts.
func answer(t *testing.T, h *routertest.Harness, to, ns string) string {
	t.Helper()
	toAttr := ""
	if to != "" {
		toAttr = " to='" + to + "'"
	}
	r := h.IQ("alice@localhost/a", "<iq type='get' id='x'"+toAttr+"><q xmlns='"+ns+"'/></iq>")
	el := r.El.Copy()
	el.SetAttr("from", "")
	el.SetAttr("to", "")
	el.SetAttr("id", "")
	return el.String()
}

func TestAccountIQPrivacy(t *testing.T) {
	h := privacyHarness(t)
	h.Bind("alice@localhost/a")
	for _, tc := range []struct {
		ns                      string
		self, contact, stranger string // the answer: "result" (with rel) or an error condition
	}{
		{"urn:test:public", "self", "contact", "item-not-found"},
		{"urn:test:account", "result", "result", "service-unavailable"},
		{"urn:test:unknown", "service-unavailable", "service-unavailable", "service-unavailable"},
		{"urn:test:server", "service-unavailable", "service-unavailable", "service-unavailable"},
	} {
		t.Run(tc.ns, func(t *testing.T) {
			h := h.In(t)
			check := func(to, want string) {
				t.Helper()
				got := answer(t, h, to, tc.ns)
				if !strings.Contains(got, want) {
					t.Errorf("answer to %s: %s, want %s", to, got, want)
				}
			}
			check("alice@localhost", tc.self)
			check("bob@localhost", tc.contact)
			check("carol@localhost", map[bool]string{true: "rel='stranger'", false: tc.stranger}[tc.ns == "urn:test:public"])
			// The point: a stranger cannot tell an account that published
			// nothing from no account.
			if b, a := answer(t, h, "ghost@localhost", tc.ns), answer(t, h, "dave@localhost", tc.ns); a != b || !strings.Contains(a, tc.stranger) {
				t.Errorf("missing account: %s; existing account: %s; want both %s", a, b, tc.stranger)
			}
		})
	}
	// Without 'to', the server's handlers answer what the account's do not.
	if got := answer(t, h, "", "urn:test:server"); !strings.Contains(got, "result") {
		t.Errorf("server handler without 'to': %s", got)
	}
	if got := answer(t, h, "", "urn:test:public"); !strings.Contains(got, `rel='self'`) {
		t.Errorf("public handler without 'to': %s", got)
	}
}

// TestAccountIQStrangerWork checks that a stranger's IQ costs the same
// lookups for an existing and a missing account.
func TestAccountIQStrangerWork(t *testing.T) {
	h := privacyHarness(t)
	rel := &countingRelations{Subscriptions: routertest.Subscriptions{}}
	acc := &countingAccounts{Accounts: routertest.Accounts{"carol@localhost": true}}
	h.Router.SetRelations(rel)
	h.Router.SetAccounts(acc)
	h.Bind("alice@localhost/a")
	for _, to := range []string{"carol@localhost", "ghost@localhost"} {
		rel.n, acc.n = 0, 0
		answer(t, h, to, "urn:test:account")
		if rel.n != 1 || acc.n != 0 {
			t.Errorf("IQ to %s: %d relation and %d account lookups, want 1 and 0", to, rel.n, acc.n)
		}
	}
}

type countingRelations struct {
	routertest.Subscriptions
	n int
}

func (c *countingRelations) Subscribed(ctx context.Context, account, requester jid.JID) (bool, error) {
	c.n++
	return c.Subscriptions.Subscribed(ctx, account, requester)
}

type countingAccounts struct {
	routertest.Accounts
	n int
}

func (c *countingAccounts) AccountExists(ctx context.Context, j jid.JID) (bool, error) {
	c.n++
	return c.Accounts.AccountExists(ctx, j)
}

// TestHideAccounts checks messages to a missing account with and without
// Privacy.HideAccounts, against those to an existing account without
// resources, with an offline-storage-like hook that keeps messages with a
// body and honours Routing.Hidden.
func TestHideAccounts(t *testing.T) {
	for _, hide := range []bool{false, true} {
		h := routertest.New(t, "localhost")
		h.Router.SetAccounts(routertest.Accounts{"alice@localhost": true, "carol@localhost": true})
		h.Router.SetPrivacy(router.Privacy{HideAccounts: hide})
		var kept []string
		h.Mux.Use(router.StageUndelivered, router.Hook{Name: "offline", Func: func(_ context.Context, rt *router.Routing) error {
			if rt.St.El.Child(stanza.NSClient, "body") == nil {
				return nil
			}
			if !rt.Hidden {
				kept = append(kept, rt.St.To.String())
			}
			rt.Handled = true
			return nil
		}})
		rec := h.Bind("alice@localhost/a")
		for _, m := range []struct {
			name, msg string
			bounce    bool // for an existing account without resources
		}{
			{"chat", `<message type='chat' to='%s'><body>hi</body></message>`, false},
			{"normal without body", `<message to='%s'><x xmlns='urn:test'/></message>`, true},
			{"groupchat", `<message type='groupchat' to='%s'><body>hi</body></message>`, true},
			{"headline", `<message type='headline' to='%s'><body>hi</body></message>`, false},
			{"error", `<message type='error' to='%s'><body>hi</body></message>`, false},
		} {
			got := func(to string) string {
				h.Send("alice@localhost/a", strings.Replace(m.msg, "%s", to, 1))
				var out []string
				for _, st := range rec.Take() {
					out = append(out, routertest.ErrorCondition(st))
				}
				return strings.Join(out, ",")
			}
			existing, missing := got("carol@localhost"), got("ghost@localhost")
			if want := map[bool]string{true: "service-unavailable", false: ""}[m.bounce]; existing != want {
				t.Errorf("hide=%v %s to an account without resources: %q, want %q", hide, m.name, existing, want)
			}
			wantMissing := existing
			if !hide && m.name != "headline" && m.name != "error" {
				wantMissing = "service-unavailable" // RFC 6121 §8.5.1
			}
			if missing != wantMissing {
				t.Errorf("hide=%v %s to a missing account: %q, want %q", hide, m.name, missing, wantMissing)
			}
		}
		if len(kept) != 1 || kept[0] != "carol@localhost" {
			t.Errorf("hide=%v: kept messages for %v, want carol's only", hide, kept)
		}
	}
}

// syncBuffer is a log sink safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPeerThrottle checks Privacy.MaxNewPeers on a fake clock.
func TestPeerThrottle(t *testing.T) {
	var logs syncBuffer
	mux := router.NewMux()
	r := router.New([]string{"localhost"}, mux, slog.New(slog.NewTextHandler(&logs, nil)))
	clock := xmpptest.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r.SetRelations(routertest.Subscriptions{"bob@localhost": {"alice@localhost"}})
	r.SetPrivacy(router.Privacy{MaxNewPeers: 3, Clock: clock})
	mux.HandleIQ(router.ToAccount, "urn:test", "q", func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
		return iq.Result(nil), nil
	})
	ctx := t.Context()
	send := func(s string) <-chan struct{} {
		st := routertest.Parse(t, s)
		done := make(chan struct{})
		go func() {
			defer close(done)
			r.Route(ctx, st)
		}()
		return done
	}
	msg := func(to string) string {
		return `<message type='chat' from='alice@localhost/a' to='` + to + `'><body>hi</body></message>`
	}
	prompt := func(what string, done <-chan struct{}) {
		t.Helper()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s was delayed", what)
		}
	}
	// delayed checks that done waits for a timer of d on the clock.
	delayed := func(what string, done <-chan struct{}, d time.Duration) {
		t.Helper()
		for clock.Pending() == 0 {
			select {
			case <-done:
				t.Fatalf("%s was not delayed", what)
			case <-time.After(time.Millisecond):
			}
		}
		clock.Advance(d - time.Millisecond)
		select {
		case <-done:
			t.Fatalf("%s was delayed less than %v", what, d)
		case <-time.After(10 * time.Millisecond):
		}
		clock.Advance(time.Millisecond)
		prompt(what+" after its delay", done)
	}

	// Three strangers, as IQ, message and subscription request: no delay.
	prompt("IQ to stranger 1", send(`<iq type='get' id='1' from='alice@localhost/a' to='s1@localhost'><q xmlns='urn:test'/></iq>`))
	prompt("message to stranger 2", send(msg("s2@localhost")))
	prompt("subscription request to stranger 3", send(`<presence type='subscribe' from='alice@localhost/a' to='s3@localhost'/>`))
	// Known peers, a contact, the server, herself and a remote JID: none
	// counts.
	for _, to := range []string{"s1@localhost", "s2@localhost/x", "bob@localhost", "alice@localhost", "localhost", "x@remote.example"} {
		prompt("message to "+to, send(msg(to)))
	}
	if strings.Contains(logs.String(), "strangers") {
		t.Errorf("logged before the limit: %s", logs.String())
	}
	// A fourth stranger waits 1 s, a fifth 2 s; logged once.
	delayed("message to stranger 4", send(msg("s4@localhost")), time.Second)
	delayed("IQ to stranger 5", send(`<iq type='get' id='5' from='alice@localhost/a' to='s5@localhost'><q xmlns='urn:test'/></iq>`), 2*time.Second)
	if n := strings.Count(logs.String(), "strangers="); n != 1 {
		t.Errorf("logged %d times, want once: %s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "user=alice@localhost") {
		t.Errorf("log does not name the sender: %s", logs.String())
	}
	// Other senders are not affected.
	prompt("bob's message to a stranger", send(`<message type='chat' from='bob@localhost/b' to='s9@localhost'><body>hi</body></message>`))
	// A waiting stanza is dropped when its session ends.
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Route(cctx, routertest.Parse(t, msg("s6@localhost")))
	}()
	for clock.Pending() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	prompt("a message of a closed session", done)
	if clock.Pending() != 0 {
		t.Errorf("%d timers left", clock.Pending())
	}
	// A new window: the budget is back.
	clock.Advance(time.Hour)
	for i, to := range []string{"s4@localhost", "s5@localhost", "s6@localhost"} {
		prompt("message in the next window "+string(rune('1'+i)), send(msg(to)))
	}
	delayed("the fourth in the next window", send(msg("s7@localhost")), time.Second)
	if n := strings.Count(logs.String(), "strangers="); n != 2 {
		t.Errorf("logged %d times over two windows, want twice", n)
	}
}

func TestPeerThrottleStorageError(t *testing.T) {
	h := routertest.New(t, "localhost")
	h.Router.SetRelations(failingRelations{})
	h.Router.SetPrivacy(router.Privacy{MaxNewPeers: 1, Clock: xmpptest.NewFakeClock(time.Now())})
	rec := h.Bind("alice@localhost/a")
	for _, to := range []string{"s1@localhost", "s2@localhost", "s3@localhost"} {
		h.Send("alice@localhost/a", `<message type='chat' to='`+to+`'><body>hi</body></message>`)
	}
	// Not delayed (the test would hang): bounced, as without resources
	// and offline storage. The IQ path reports the failure.
	if got := rec.Take(); len(got) != 3 {
		t.Errorf("got %v, want 3 bounces", got)
	}
	r := h.IQ("alice@localhost/a", `<iq type='get' id='1' to='s1@localhost'><q xmlns='urn:test'/></iq>`)
	if c := routertest.ErrorCondition(r); c != "internal-server-error" {
		t.Errorf("IQ with a failing relation lookup: %s", c)
	}
}

type failingRelations struct{}

func (failingRelations) Subscribed(context.Context, jid.JID, jid.JID) (bool, error) {
	return false, errors.New("storage down")
}
