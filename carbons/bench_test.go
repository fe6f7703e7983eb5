package carbons_test

import (
	"log/slog"
	"testing"

	"dormouse.im/dormouse/carbons"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// discard is a target that takes everything.
type discard struct{ n int }

func (d *discard) Deliver(*stanza.Stanza) bool { d.n++; return true }

// BenchmarkHook runs the copy hook for a chat message from alice/a to bob's
// bare JID. Each account has a fourth resource; 3 resources with carbons
// enabled get a copy in each case but "none":
//
//	none      nobody enabled carbons
//	sent      alice's 3 other resources enabled carbons: 3 sent copies
//	received  bob's resources all enabled carbons; one of them (priority
//	          5) gets the message directly: 3 received copies
//	both      both at once: 6 copies
func BenchmarkHook(b *testing.B) {
	for _, bc := range []struct {
		name          string
		alice, bob    bool
		copiesPerLoop int
	}{
		{"none", false, false, 0},
		{"sent", true, false, 3},
		{"received", false, true, 3},
		{"both", true, true, 6},
	} {
		b.Run(bc.name, func(b *testing.B) {
			mux := router.NewMux()
			r := router.New([]string{host}, mux, slog.New(slog.DiscardHandler))
			svc := carbons.New(carbons.Config{}, r, nil)
			svc.Register(mux)
			d := &discard{}
			for _, user := range []string{"alice", "bob"} {
				for i, res := range []string{"a", "b", "c", "d"} {
					full := jid.MustParse(user + "@localhost/" + res)
					r.Bind(full, d)
					prio := "1"
					if i == 0 {
						prio = "5"
					}
					r.SetPresence(ctx, full, presence(prio))
					if (user == "alice" && bc.alice) || (user == "bob" && bc.bob) {
						r.Route(ctx, parseStanza(b, "<iq type='set' id='e' from='"+full.String()+"'><enable xmlns='urn:xmpp:carbons:2'/></iq>"))
					}
				}
			}
			msg := parseStanza(b, "<message type='chat' id='m1' from='alice@localhost/a' to='bob@localhost'><body>Neither, fair saint, if either thee dislike.</body><thread>0e3141cd80894871a68e6fe6b1ec56fa</thread><active xmlns='http://jabber.org/protocol/chatstates'/><request xmlns='urn:xmpp:receipts'/></message>")
			hook := svc.Hook().Func
			d.n = 0
			b.ReportAllocs()
			for b.Loop() {
				if err := hook(ctx, &router.Routing{St: msg}); err != nil {
					b.Fatal(err)
				}
			}
			if d.n != bc.copiesPerLoop*b.N {
				b.Fatalf("%d copies in %d loops, want %d each", d.n, b.N, bc.copiesPerLoop)
			}
		})
	}
}
