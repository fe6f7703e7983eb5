package router_test

import (
	"context"
	"slices"
	"testing"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// message returns a message of type typ from alice@localhost/a to to,
// with id m1 and a body.
func message(typ, to string) string {
	return `<message type='` + typ + `' id='m1' from='alice@localhost/a' to='` + to + `'><body>hi</body></message>`
}

// TestMessageDelivery checks RFC 6121 §8.5 message delivery rules.
func TestMessageDelivery(t *testing.T) {
	type res struct {
		name      string
		available bool
		prio      int
	}
	for _, tc := range []struct {
		name      string
		resources []res
		typ, to   string
		want      []string // resources that receive it
		bounce    string   // error condition returned to alice, if any
		offline   bool     // reaches StageUndelivered
	}{
		{name: "chat to bare, highest priority", resources: []res{{"a", true, 1}, {"b", true, 5}}, typ: "chat", to: "bob@localhost", want: []string{"b"}},
		{name: "chat to bare, equal priorities", resources: []res{{"a", true, 5}, {"b", true, 5}}, typ: "chat", to: "bob@localhost", want: []string{"a", "b"}},
		{name: "headline to bare, all non-negative", resources: []res{{"a", true, 1}, {"b", true, 5}, {"c", true, -1}}, typ: "headline", to: "bob@localhost", want: []string{"a", "b"}},
		{name: "negative priority only", resources: []res{{"a", true, -1}}, typ: "chat", to: "bob@localhost", offline: true, bounce: "service-unavailable"},
		{name: "bound but not available", resources: []res{{"a", false, 0}}, typ: "normal", to: "bob@localhost", offline: true, bounce: "service-unavailable"},
		{name: "full jid bound", resources: []res{{"a", false, 0}}, typ: "chat", to: "bob@localhost/a", want: []string{"a"}},
		{name: "full jid unknown, chat falls back to bare", resources: []res{{"a", true, 0}}, typ: "chat", to: "bob@localhost/zzz", want: []string{"a"}},
		{name: "full jid unknown, headline ignored", resources: []res{{"a", true, 0}}, typ: "headline", to: "bob@localhost/zzz"},
		{name: "groupchat to bare bounces", resources: []res{{"a", true, 0}}, typ: "groupchat", to: "bob@localhost", bounce: "service-unavailable"},
		{name: "no such account", typ: "chat", to: "ghost@localhost", bounce: "service-unavailable"},
		{name: "no such account, headline ignored", typ: "headline", to: "ghost@localhost"},
		{name: "remote domain", typ: "chat", to: "bob@example.net", bounce: "remote-server-not-found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := routertest.New(t, "localhost")
			reachedOffline := false
			h.Mux.Use(router.StageUndelivered, router.Hook{Name: "probe", Func: func(_ context.Context, r *router.Routing) error {
				reachedOffline = true
				return nil
			}})
			h.Router.SetAccounts(routertest.Accounts{"bob@localhost": true, "alice@localhost": true})
			alice := h.Bind("alice@localhost/a")
			recs := map[string]*routertest.Recorder{}
			for _, x := range tc.resources {
				full := "bob@localhost/" + x.name
				if x.available {
					recs[x.name] = h.Online(full, x.prio)
				} else {
					recs[x.name] = h.Bind(full)
				}
			}
			var predicted []string
			for _, x := range h.Router.Recipients(routertest.Parse(t, message(tc.typ, tc.to))) {
				predicted = append(predicted, x.JID.Resourcepart())
			}
			if !slices.Equal(predicted, tc.want) {
				t.Errorf("Recipients: %v, want %v", predicted, tc.want)
			}
			h.Route(message(tc.typ, tc.to))
			for name, rec := range recs {
				got := len(rec.Take())
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
			back := alice.Take()
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
	h := routertest.New(t, "localhost")
	r := h.Router
	a, b := &routertest.Recorder{}, &routertest.Recorder{}
	full := jid.MustParse("bob@localhost/x")
	if old := r.Bind(full, a); old != nil {
		t.Fatal("first bind replaced something")
	}
	if old := r.Bind(full, b); old != a {
		t.Fatal("second bind did not return the first target")
	}
	if r.Unbind(h.Ctx, full, a) {
		t.Fatal("unbinding the replaced target removed the new one")
	}
	if got := r.Resources(full.Bare()); len(got) != 1 || got[0].Target != b {
		t.Fatalf("resources = %v", got)
	}
}

func TestIQDispatch(t *testing.T) {
	h := routertest.New(t, "localhost")
	h.Mux.HandleIQ(router.ToServer, "urn:test", "q", func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
		return iq.Result(xml.NewElement("urn:test", "server")), nil
	})
	h.Mux.HandleIQ(router.ToAccount, "urn:test", "q", func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
		return iq.Result(xml.NewElement("urn:test", "account")), nil
	})
	h.Mux.HandleIQ(router.ToServer, "urn:test", "fail", func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
		return nil, stanza.NewError(stanza.Forbidden, "no")
	})
	const alice = "alice@localhost/a"
	h.Bind(alice)
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
			to := ""
			if tc.to != "" {
				to = " to='" + tc.to + "'"
			}
			// IQ fails unless alice gets exactly one reply.
			got := h.In(t).IQ(alice, `<iq type='get' id='i1'`+to+`><`+tc.payload+` xmlns='urn:test'/></iq>`)
			if e := stanza.ParseError(got.El); e != nil {
				if string(e.Condition) != tc.want {
					t.Fatalf("error %s, want %s", e.Condition, tc.want)
				}
				return
			}
			if p := got.Payload(); p == nil || p.Name.Local != tc.want {
				t.Fatalf("reply %s, want payload %s", got, tc.want)
			}
		})
	}
}

// TestRemoteMessageStages checks that messages to remote entities pass the
// archive and copy stages (the sender's archive, sent carbons) before they
// leave, as the hooks left them.
func TestRemoteMessageStages(t *testing.T) {
	h := routertest.New(t, "localhost")
	var ran []string
	for _, s := range []router.Stage{router.StageArchive, router.StageCopy} {
		h.Mux.Use(s, router.Hook{Name: "probe", Func: func(_ context.Context, rt *router.Routing) error {
			ran = append(ran, rt.St.To.String())
			c := rt.St.Copy()
			c.El.AddChild(xml.NewElement("urn:example", "seen"))
			rt.St = c
			return nil
		}})
	}
	comp := h.Component("conference.localhost")
	h.Route(message("chat", "room@conference.localhost/nick"))
	if !slices.Equal(ran, []string{"room@conference.localhost/nick", "room@conference.localhost/nick"}) {
		t.Errorf("stages ran for %v", ran)
	}
	got := comp.Take()
	if len(got) != 1 || len(got[0].El.ChildrenNamed("urn:example", "seen")) != 2 {
		t.Errorf("component got %v", got)
	}
}
