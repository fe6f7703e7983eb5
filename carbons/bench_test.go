package carbons_test

import (
	"strconv"
	"testing"

	"dormouse.im/dormouse/carbons"
	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/router"
	"mellium.im/xmpp/jid"
)

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
			h := routertest.New(b, host)
			svc := carbons.New(carbons.Config{}, h.Router, h.Log)
			svc.Register(h.Mux)
			d := &routertest.Discard{}
			for _, user := range []string{"alice", "bob"} {
				for i, res := range []string{"a", "b", "c", "d"} {
					full := user + "@localhost/" + res
					h.Router.Bind(jid.MustParse(full), d)
					prio := 1
					if i == 0 {
						prio = 5
					}
					h.SetPresence(full, "<presence><priority>"+strconv.Itoa(prio)+"</priority></presence>")
					if (user == "alice" && bc.alice) || (user == "bob" && bc.bob) {
						h.Send(full, "<iq type='set' id='e'><enable xmlns='urn:xmpp:carbons:2'/></iq>")
					}
				}
			}
			msg := routertest.Parse(b, "<message type='chat' id='m1' from='alice@localhost/a' to='bob@localhost'><body>Neither, fair saint, if either thee dislike.</body><thread>0e3141cd80894871a68e6fe6b1ec56fa</thread><active xmlns='http://jabber.org/protocol/chatstates'/><request xmlns='urn:xmpp:receipts'/></message>")
			hook := svc.Hook().Func
			d.Reset()
			b.ReportAllocs()
			for b.Loop() {
				if err := hook(h.Ctx, &router.Routing{St: msg}); err != nil {
					b.Fatal(err)
				}
			}
			if n := d.Count(); n != int64(bc.copiesPerLoop*b.N) {
				b.Fatalf("%d copies in %d loops, want %d each", n, b.N, bc.copiesPerLoop)
			}
		})
	}
}
