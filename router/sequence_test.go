package router_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/internal/sequence"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// events is a log of what routing one message did, in order.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	e.log = append(e.log, s)
	e.mu.Unlock()
}

// Release and Turn make events a sequence.Sequencer.
func (e *events) Release() {}
func (e *events) Turn()    { e.add("turn") }

// logTarget logs what it is delivered, by its name.
type logTarget struct {
	name string
	ev   *events
}

func (t *logTarget) Deliver(*stanza.Stanza) bool { t.ev.add("deliver " + t.name); return true }

// TestSequencerTurn: the router waits for a pipelining sender's turn
// after the archive stage and before any effect on others: delivery,
// carbons, offline storage, a bounce.
func TestSequencerTurn(t *testing.T) {
	for _, c := range []struct {
		name   string
		to     string
		policy error // the StagePolicy hook's answer
		want   []string
	}{
		{"local", "bob@localhost/b", nil, []string{"archive", "turn", "copy", "deliver bob"}},
		{"component", "svc.localhost", nil, []string{"archive", "turn", "copy", "deliver svc"}},
		{"bounced by policy", "bob@localhost/b", stanza.NewError(stanza.Forbidden, ""), []string{"turn", "deliver alice"}},
		{"to the server", "localhost", nil, []string{"turn", "deliver alice"}},
		{"offline", "carol@localhost", nil, []string{"archive", "turn", "copy", "offline"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := routertest.New(t, "localhost")
			ev := &events{}
			h.Mux.Use(router.StagePolicy, router.Hook{Name: "policy", Func: func(context.Context, *router.Routing) error { return c.policy }})
			h.Mux.Use(router.StageArchive, router.Hook{Name: "archive", Func: func(context.Context, *router.Routing) error { ev.add("archive"); return nil }})
			h.Mux.Use(router.StageCopy, router.Hook{Name: "copy", Func: func(context.Context, *router.Routing) error { ev.add("copy"); return nil }})
			h.Mux.Use(router.StageUndelivered, router.Hook{Name: "offline", Func: func(_ context.Context, rt *router.Routing) error {
				ev.add("offline")
				rt.Handled = true
				return nil
			}})
			h.Router.Bind(jid.MustParse("alice@localhost/a"), &logTarget{"alice", ev})
			h.Router.Bind(jid.MustParse("bob@localhost/b"), &logTarget{"bob", ev})
			if err := h.Router.AddComponent("svc.localhost", &logTarget{"svc", ev}); err != nil {
				t.Fatal(err)
			}
			st := routertest.Parse(t, message("chat", c.to))
			h.Router.Route(sequence.With(h.Ctx, ev), st)
			if !slices.Equal(ev.log, c.want) {
				t.Errorf("routing did %q, want %q", ev.log, c.want)
			}
		})
	}
}
