package blocking_test

import (
	"testing"

	"dormouse.im/dormouse/blocking"
	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// discard is a target that takes everything.
type discard struct{}

func (discard) Deliver(*stanza.Stanza) bool { return true }

// BenchmarkRoute routes a message between two users, with and without the
// blocking hook, the recipient's list empty or holding 100 JIDs.
func BenchmarkRoute(b *testing.B) {
	var many []string
	for i := range 100 {
		many = append(many, "user"+string(rune('a'+i%26))+string(rune('a'+i/26))+"@montague.net")
	}
	for _, bc := range []struct {
		name  string
		hook  bool
		items []string
	}{
		{"nohook", false, nil},
		{"empty", true, nil},
		{"100items", true, many},
	} {
		b.Run(bc.name, func(b *testing.B) {
			store := newMemStore()
			store.Block(ctx, "alice@example.org", bc.items)
			h := routertest.New(b)
			r := h.Router
			if bc.hook {
				blocking.New(blocking.Config{}, store, r, nil).Register(h.Mux)
			}
			alice := jid.MustParse("alice@example.org/phone")
			r.Bind(alice, discard{})
			r.SetPresence(ctx, alice, stanza.Build(stanza.KindPresence, "", "", alice, jid.JID{}))
			msg := stanza.Build(stanza.KindMessage, stanza.TypeChat, "m", jid.MustParse("bob@example.org/pc"), alice)
			b.ReportAllocs()
			for b.Loop() {
				r.Route(ctx, msg)
			}
		})
	}
}
