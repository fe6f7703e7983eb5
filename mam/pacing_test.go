package mam_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/stanza"
)

// gateStore blocks alice's queries until release is closed, and records
// the largest page asked for.
type gateStore struct {
	mam.Store
	entered chan struct{}
	release chan struct{}
	maxPage atomic.Int64
	gated   atomic.Bool
}

func (s *gateStore) Query(ctx context.Context, q mam.Query) (mam.Page, error) {
	if int64(q.Max) > s.maxPage.Load() {
		s.maxPage.Store(int64(q.Max))
	}
	if q.Owner == "alice@localhost" && s.gated.Load() {
		s.entered <- struct{}{}
		<-s.release
	}
	return s.Store.Query(ctx, q)
}

func TestQueryPacing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem, _ := newStore(t, memBackend)
		gs := &gateStore{Store: mem, entered: make(chan struct{}, 10), release: make(chan struct{})}
		e := newEnvStore(t, memBackend, gs, nil, mam.Config{MaxConcurrentQueries: 1, QueryWait: 3 * time.Second, MaxPage: 7})
		conversation(e)
		gs.gated.Store(true)
		gs.maxPage.Store(0)
		desk, phone, tablet := e.online(aliceDesk), e.online("alice@localhost/phone"), e.online("alice@localhost/tablet")
		bob := e.online("bob@localhost/phone")
		q := `<iq type='set' id='q'><query xmlns='urn:xmpp:mam:2'/></iq>`

		// First query: holds alice's only slot.
		var wg sync.WaitGroup
		wg.Go(func() { e.send(aliceDesk, q) })
		<-gs.entered

		// Second: waits QueryWait (virtual time), then resource-constraint.
		start := time.Now()
		e.send("alice@localhost/phone", q)
		if waited := time.Since(start); waited != 3*time.Second {
			t.Errorf("waited %s for a slot, want 3s", waited)
		}
		got := phone.Take()
		if len(got) != 1 || got[0].Type != stanza.TypeError || stanza.ParseError(got[0].El).Condition != stanza.ResourceConstraint {
			t.Errorf("second query: %v, want resource-constraint", got)
		}

		// Another user is not held up.
		e.send("bob@localhost/phone", q)
		if f := e.parseAnswer(bob.Take()); f.errCond != "" || len(f.results) != 7 {
			t.Errorf("bob's query: error %q, %d results", f.errCond, len(f.results))
		}

		// A third query waits, and runs when the first ends.
		wg.Go(func() { e.send("alice@localhost/tablet", q) })
		synctest.Wait()
		if got := tablet.Take(); len(got) != 0 {
			t.Errorf("third query answered while the slot is taken: %v", got)
		}
		close(gs.release)
		wg.Wait()
		for name, tg := range map[string]*routertest.Recorder{"first": desk, "third": tablet} {
			f := e.parseAnswer(tg.Take())
			if f.errCond != "" || len(f.results) != 7 || f.complete != "false" {
				t.Errorf("%s query: error %q, %d results, complete %s", name, f.errCond, len(f.results), f.complete)
			}
		}
		if m := gs.maxPage.Load(); m > 7 {
			t.Errorf("the store was asked for %d messages at once, more than MaxPage", m)
		}
	})
}
