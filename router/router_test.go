package router_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// recorder is a Target that records what it is given.
type recorder struct {
	mu  sync.Mutex
	got []*stanza.Stanza
}

func (r *recorder) Deliver(st *stanza.Stanza) bool {
	r.mu.Lock()
	r.got = append(r.got, st)
	r.mu.Unlock()
	return true
}

func (r *recorder) take() []*stanza.Stanza {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.got
	r.got = nil
	return g
}

type accounts map[string]bool

func (a accounts) AccountExists(_ context.Context, j jid.JID) (bool, error) {
	return a[j.Bare().String()], nil
}

func presence(prio string) *stanza.Stanza {
	p := stanza.Build(stanza.KindPresence, "", "", jid.JID{}, jid.JID{})
	if prio != "" {
		p.El.AddChild(xml.NewElement(stanza.NSClient, "priority").AddText(prio))
	}
	return p
}

func message(typ, to string) *stanza.Stanza {
	m := stanza.Build(stanza.KindMessage, typ, "m1", jid.MustParse("alice@localhost/a"), jid.MustParse(to))
	m.El.AddChild(xml.NewElement(stanza.NSClient, "body").AddText("hi"))
	return m
}

// TestMessageDelivery checks RFC 6121 §8.5 message delivery rules.
func TestMessageDelivery(t *testing.T) {
	type res struct {
		name      string
		available bool
		prio      string
	}
	for _, tc := range []struct {
		name      string
		resources []res
		typ, to   string
		want      []string // resources that receive it
		bounce    string   // error condition returned to alice, if any
		offline   bool     // reaches StageUndelivered
	}{
		{name: "chat to bare, highest priority", resources: []res{{"a", true, "1"}, {"b", true, "5"}}, typ: "chat", to: "bob@localhost", want: []string{"b"}},
		{name: "chat to bare, equal priorities", resources: []res{{"a", true, "5"}, {"b", true, "5"}}, typ: "chat", to: "bob@localhost", want: []string{"a", "b"}},
		{name: "headline to bare, all non-negative", resources: []res{{"a", true, "1"}, {"b", true, "5"}, {"c", true, "-1"}}, typ: "headline", to: "bob@localhost", want: []string{"a", "b"}},
		{name: "negative priority only", resources: []res{{"a", true, "-1"}}, typ: "chat", to: "bob@localhost", offline: true, bounce: "service-unavailable"},
		{name: "bound but not available", resources: []res{{"a", false, ""}}, typ: "normal", to: "bob@localhost", offline: true, bounce: "service-unavailable"},
		{name: "full jid bound", resources: []res{{"a", false, ""}}, typ: "chat", to: "bob@localhost/a", want: []string{"a"}},
		{name: "full jid unknown, chat falls back to bare", resources: []res{{"a", true, "0"}}, typ: "chat", to: "bob@localhost/zzz", want: []string{"a"}},
		{name: "full jid unknown, headline ignored", resources: []res{{"a", true, "0"}}, typ: "headline", to: "bob@localhost/zzz"},
		{name: "groupchat to bare bounces", resources: []res{{"a", true, "0"}}, typ: "groupchat", to: "bob@localhost", bounce: "service-unavailable"},
		{name: "no such account", typ: "chat", to: "ghost@localhost", bounce: "service-unavailable"},
		{name: "no such account, headline ignored", typ: "headline", to: "ghost@localhost"},
		{name: "remote domain", typ: "chat", to: "bob@example.net", bounce: "remote-server-not-found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			mux := router.NewMux()
			reachedOffline := false
			mux.Use(router.StageUndelivered, router.Hook{Name: "probe", Func: func(_ context.Context, r *router.Routing) error {
				reachedOffline = true
				return nil
			}})
			r := router.New([]string{"localhost"}, mux, slog.New(slog.DiscardHandler))
			r.SetAccounts(accounts{"bob@localhost": true, "alice@localhost": true})
			alice := &recorder{}
			r.Bind(jid.MustParse("alice@localhost/a"), alice)
			recs := map[string]*recorder{}
			for _, x := range tc.resources {
				rec := &recorder{}
				recs[x.name] = rec
				full := jid.MustParse("bob@localhost/" + x.name)
				r.Bind(full, rec)
				if x.available {
					r.SetPresence(ctx, full, presence(x.prio))
				}
			}
			var predicted []string
			for _, x := range r.Recipients(message(tc.typ, tc.to)) {
				predicted = append(predicted, x.JID.Resourcepart())
			}
			if !slices.Equal(predicted, tc.want) {
				t.Errorf("Recipients: %v, want %v", predicted, tc.want)
			}
			r.Route(ctx, message(tc.typ, tc.to))
			for name, rec := range recs {
				got := len(rec.take())
				want := 0
				for _, w := range tc.want {
					if w == name {
						want = 1
					}
				}
				if got != want {
					t.Errorf("resource %s got %d stanzas, want %d", name, got, want)
				}
			}
			back := alice.take()
			switch {
			case tc.bounce == "" && len(back) > 0:
				t.Errorf("unexpected bounce %s", back[0])
			case tc.bounce != "":
				if len(back) != 1 {
					t.Fatalf("got %d stanzas back, want a %s error", len(back), tc.bounce)
				}
				e := stanza.ParseError(back[0].El)
				if back[0].Type != "error" || e == nil || string(e.Condition) != tc.bounce {
					t.Errorf("bounce %s, want %s", back[0], tc.bounce)
				}
				if back[0].ID != "m1" || back[0].To.String() != "alice@localhost/a" {
					t.Errorf("bounce addressed wrong: %s", back[0])
				}
			}
			if reachedOffline != tc.offline {
				t.Errorf("undelivered stage reached = %v, want %v", reachedOffline, tc.offline)
			}
		})
	}
}

func TestBindReplaces(t *testing.T) {
	r := router.New([]string{"localhost"}, router.NewMux(), slog.New(slog.DiscardHandler))
	a, b := &recorder{}, &recorder{}
	full := jid.MustParse("bob@localhost/x")
	if old := r.Bind(full, a); old != nil {
		t.Fatal("first bind replaced something")
	}
	if old := r.Bind(full, b); old != a {
		t.Fatal("second bind did not return the first target")
	}
	if r.Unbind(context.Background(), full, a) {
		t.Fatal("unbinding the replaced target removed the new one")
	}
	if got := r.Resources(full.Bare()); len(got) != 1 || got[0].Target != b {
		t.Fatalf("resources = %v", got)
	}
}

func TestIQDispatch(t *testing.T) {
	ctx := context.Background()
	mux := router.NewMux()
	mux.HandleIQ(router.ToServer, "urn:test", "q", func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
		return iq.Result(xml.NewElement("urn:test", "server")), nil
	})
	mux.HandleIQ(router.ToAccount, "urn:test", "q", func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
		return iq.Result(xml.NewElement("urn:test", "account")), nil
	})
	mux.HandleIQ(router.ToServer, "urn:test", "fail", func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
		return nil, stanza.NewError(stanza.Forbidden, "no")
	})
	r := router.New([]string{"localhost"}, mux, slog.New(slog.DiscardHandler))
	alice := &recorder{}
	from := jid.MustParse("alice@localhost/a")
	r.Bind(from, alice)
	for _, tc := range []struct {
		name, to, payload, want string
	}{
		{"to server", "localhost", "q", "server"},
		{"to account", "bob@localhost", "q", "account"},
		{"no to", "", "q", "account"},
		{"handler error", "localhost", "fail", "forbidden"},
		{"unknown", "localhost", "other", "service-unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			to := jid.JID{}
			if tc.to != "" {
				to = jid.MustParse(tc.to)
			}
			iq := stanza.Build(stanza.KindIQ, "get", "i1", from, to)
			iq.El.AddChild(xml.NewElement("urn:test", tc.payload))
			r.Route(ctx, iq)
			got := alice.take()
			if len(got) != 1 {
				t.Fatalf("got %d replies", len(got))
			}
			if e := stanza.ParseError(got[0].El); e != nil {
				if string(e.Condition) != tc.want {
					t.Fatalf("error %s, want %s", e.Condition, tc.want)
				}
				return
			}
			if p := got[0].Payload(); p == nil || p.Name.Local != tc.want {
				t.Fatalf("reply %s, want payload %s", got[0], tc.want)
			}
		})
	}
}

// TestRemoteMessageStages checks that messages to remote entities pass the
// archive and copy stages (the sender's archive, sent carbons) before they
// leave, as the hooks left them.
func TestRemoteMessageStages(t *testing.T) {
	ctx := context.Background()
	mux := router.NewMux()
	var ran []string
	for _, s := range []router.Stage{router.StageArchive, router.StageCopy} {
		mux.Use(s, router.Hook{Name: "probe", Func: func(_ context.Context, rt *router.Routing) error {
			ran = append(ran, rt.St.To.String())
			c := rt.St.Copy()
			c.El.AddChild(xml.NewElement("urn:example", "seen"))
			rt.St = c
			return nil
		}})
	}
	r := router.New([]string{"localhost"}, mux, slog.New(slog.DiscardHandler))
	comp := &recorder{}
	if err := r.AddComponent("conference.localhost", comp); err != nil {
		t.Fatal(err)
	}
	r.Route(ctx, message("chat", "room@conference.localhost/nick"))
	if !slices.Equal(ran, []string{"room@conference.localhost/nick", "room@conference.localhost/nick"}) {
		t.Errorf("stages ran for %v", ran)
	}
	got := comp.take()
	if len(got) != 1 || len(got[0].El.ChildrenNamed("urn:example", "seen")) != 2 {
		t.Errorf("component got %v", got)
	}
}
