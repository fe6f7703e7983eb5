package router_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// fakeCluster holds resources "on other nodes", each a Recorder (or a
// refusing target: the node is unreachable).
type fakeCluster struct {
	mu      sync.Mutex
	remote  []*router.Resource
	changed []string
}

func (c *fakeCluster) RemoteResources(bare jid.JID) []*router.Resource {
	var out []*router.Resource
	for _, x := range c.remote {
		if x.JID.Bare().Equal(bare) {
			out = append(out, x)
		}
	}
	return out
}

func (c *fakeCluster) RemoteResource(full jid.JID) (*router.Resource, bool) {
	for _, x := range c.remote {
		if x.JID.Equal(full) {
			return x, true
		}
	}
	return nil, false
}

func (c *fakeCluster) LocalChanged(full jid.JID) {
	c.mu.Lock()
	c.changed = append(c.changed, full.String())
	c.mu.Unlock()
}

type refuse struct{ n int }

func (r *refuse) Deliver(*stanza.Stanza) bool { r.n++; return false }

// TestClusterRoute: RFC 6121 §8.5 delivery over local resources and
// resources on other nodes, and the fall-back when a node cannot take a
// stanza.
func TestClusterRoute(t *testing.T) {
	type res struct {
		name   string
		remote bool
		prio   int8
		down   bool // on an unreachable node
	}
	for _, tc := range []struct {
		name      string
		resources []res
		typ, to   string
		want      []string
		offline   bool
	}{
		{name: "full jid on another node", resources: []res{{"a", false, 0, false}, {"r", true, 0, false}}, typ: "chat", to: "bob@localhost/r", want: []string{"r"}},
		{name: "bare, remote has the highest priority", resources: []res{{"a", false, 1, false}, {"r", true, 5, false}}, typ: "chat", to: "bob@localhost", want: []string{"r"}},
		{name: "bare, equal priorities on both nodes", resources: []res{{"a", false, 5, false}, {"r", true, 5, false}}, typ: "chat", to: "bob@localhost", want: []string{"a", "r"}},
		{name: "unreachable node, chat falls back to the local resource", resources: []res{{"a", false, 0, false}, {"r", true, 0, true}}, typ: "chat", to: "bob@localhost/r", want: []string{"a"}},
		{name: "unreachable node only: offline storage", resources: []res{{"r", true, 0, true}}, typ: "chat", to: "bob@localhost", offline: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := routertest.New(t, "localhost")
			c := &fakeCluster{}
			h.Router.SetCluster(c)
			reachedOffline := false
			h.Mux.Use(router.StageUndelivered, router.Hook{Name: "probe", Func: func(_ context.Context, r *router.Routing) error {
				reachedOffline = true
				r.Handled = true
				return nil
			}})
			h.Router.SetAccounts(routertest.Accounts{"bob@localhost": true, "alice@localhost": true})
			h.Bind("alice@localhost/a")
			recs := map[string]*routertest.Recorder{}
			for _, x := range tc.resources {
				full := "bob@localhost/" + x.name
				if !x.remote {
					recs[x.name] = h.Online(full, int(x.prio))
					continue
				}
				var tg router.Target = &refuse{}
				if !x.down {
					rec := &routertest.Recorder{}
					recs[x.name] = rec
					tg = rec
				}
				c.remote = append(c.remote, &router.Resource{JID: jid.MustParse(full), Target: tg, Available: true, Priority: x.prio})
			}
			if got := len(h.Router.Resources(jid.MustParse("bob@localhost"))); got != len(tc.resources) {
				t.Errorf("Resources: %d, want %d", got, len(tc.resources))
			}
			h.Route(message(tc.typ, tc.to))
			var got []string
			for name, rec := range recs {
				if len(rec.Take()) > 0 {
					got = append(got, name)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("delivered to %v, want %v", got, tc.want)
			}
			if reachedOffline != tc.offline {
				t.Errorf("undelivered stage reached = %v, want %v", reachedOffline, tc.offline)
			}
			if !slices.Contains(c.changed, "bob@localhost/a") && !slices.Contains(c.changed, "alice@localhost/a") {
				t.Errorf("the cluster heard of no local change: %v", c.changed)
			}
		})
	}
}
