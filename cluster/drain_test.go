package cluster

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/natstest"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// fakeAdopter adopts sessions by binding them on its node, and refuses
// those of refuse@.
type fakeAdopter struct {
	n    node
	mu   sync.Mutex
	got  []*Handover
	sink stanza.Target
}

func (f *fakeAdopter) Adopt(_ context.Context, ho *Handover) error {
	if ho.JID.Localpart() == "refuse" {
		return errors.New("no thanks")
	}
	f.mu.Lock()
	f.got = append(f.got, ho)
	f.mu.Unlock()
	f.n.bind(ho.JID.String(), 0, f.sink)
	return nil
}

// TestDrainHandTo: a draining node sees its live peers, fewest sessions
// first; it hands a session to one, which gets its whole state with the
// resumption time left; it then sees the session bound there. A refusal
// and a node that is not there are errors (the latter ErrUnreachable).
func TestDrainHandTo(t *testing.T) {
	url := natstest.URL(t)
	pfx := natstest.Prefix()
	a := startNode(t, url, pfx, "a", nil)
	b := startNode(t, url, pfx, "b", nil)
	c := startNode(t, url, pfx, "c", nil)
	adopters := map[string]*fakeAdopter{}
	for _, n := range []node{b, c} {
		f := &fakeAdopter{n: n, sink: &sink{}}
		adopters[n.Node()] = f
		if err := n.ServeAdoptions(f); err != nil {
			t.Fatal(err)
		}
	}
	b.bind("bob@example.org/pc", 0, &sink{})
	xmpptest.WaitFor(t, "a sees b's session", func() bool {
		p := a.DrainPeers()
		return len(p) == 2 && p[0].Node == "c" && p[1].Node == "b" && p[1].Sessions == 1
	})

	ctx := context.Background()
	ho := testHandover(t)
	ho.Left = 42 * time.Second
	if err := a.HandTo(ctx, "c", ho); err != nil {
		t.Fatal(err)
	}
	f := adopters["c"]
	f.mu.Lock()
	got := slices.Clone(f.got)
	f.mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("c adopted %d sessions, want 1", len(got))
	}
	g := got[0]
	if g.ID != ho.ID || !g.JID.Equal(ho.JID) || g.InH != ho.InH || g.Acked != ho.Acked || g.Timeout != ho.Timeout ||
		g.Left != ho.Left || g.Version != ho.Version || len(g.Queue) != len(ho.Queue) || !g.Carbons || !g.Interested {
		t.Errorf("adopted %+v, want %+v", g, ho)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if !a.WaitBound(wctx, ho.JID, "c") {
		t.Error("a never saw the session bound on c")
	}
	short, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	if a.WaitBound(short, ho.JID, "b") {
		t.Error("WaitBound says the session is on b")
	}

	no := testHandover(t)
	no.JID = jid.MustParse("refuse@example.org/phone")
	if err := a.HandTo(ctx, "b", no); err == nil || errors.Is(err, ErrUnreachable) {
		t.Errorf("refused adoption: %v", err)
	}
	if err := a.HandTo(ctx, "zz", ho); !errors.Is(err, ErrUnreachable) {
		t.Errorf("adoption by a node that is not there: %v, want ErrUnreachable", err)
	}
}

// TestDrainLeaveKeepsHandedOver: of the full JIDs a departed node still
// listed, those bound on this node or on a live peer (sessions it handed
// over before leaving) do not go unavailable; the others do.
func TestDrainLeaveKeepsHandedOver(t *testing.T) {
	url := natstest.URL(t)
	pfx := natstest.Prefix()
	var gone []string
	c := startNode(t, url, pfx, "c", func(_ context.Context, full jid.JID) { gone = append(gone, full.String()) })
	d := startNode(t, url, pfx, "d", nil) // after c by name: c announces
	d.bind("z@example.org/r", 0, &sink{})
	xmpptest.WaitFor(t, "c sees d's session", func() bool {
		return len(c.RemoteResources(jid.MustParse("z@example.org"))) == 1
	})
	c.r.set(router.Resource{JID: jid.MustParse("x@example.org/r"), Target: &sink{}, Available: true})
	c.lost([]jid.JID{jid.MustParse("x@example.org/r"), jid.MustParse("y@example.org/r"), jid.MustParse("z@example.org/r")})
	if !slices.Equal(gone, []string{"y@example.org/r"}) {
		t.Errorf("gone %v, want only y (x is bound on c, z on d)", gone)
	}
}
