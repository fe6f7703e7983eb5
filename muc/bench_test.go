package muc_test

import (
	"fmt"
	"testing"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/muc"
	"dormouse.im/dormouse/sql/sqltest"
	"mellium.im/xmpp/jid"
)

// BenchmarkFanout routes one groupchat message into a room of n occupants
// (each delivery counted by a Discard target), with the room archive on
// (SQLite) and off. Per op: one message in, n deliveries out.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{10, 200} {
		for _, archive := range []bool{false, true} {
			b.Run(fmt.Sprintf("occupants=%d/archive=%v", n, archive), func(b *testing.B) {
				h := routertest.New(b)
				svc, err := muc.New(muc.Config{Domain: service, Default: muc.RoomConfig{Archiving: archive}}, sqltest.SQLite(b).MUC, h.Router, h.Log)
				if err != nil {
					b.Fatal(err)
				}
				if err := h.Router.AddService(service, "", svc); err != nil {
					b.Fatal(err)
				}
				var d routertest.Discard
				for i := range n {
					full := fmt.Sprintf("u%d@example.org/r", i)
					h.Router.Bind(jid.MustParse(full), &d)
					h.Send(full, fmt.Sprintf(`<presence to='%s/u%d'/>`, room, i))
				}
				m := routertest.Parse(b, `<message type='groupchat' to='`+room+`' id='x'><body>Hello, everybody in this room!</body></message>`)
				m.SetFrom(jid.MustParse("u0@example.org/r"))
				d.Reset()
				b.ReportAllocs()
				for b.Loop() {
					h.Router.Route(h.Ctx, m)
				}
				if got, want := d.Count(), int64(b.N*n); got != want {
					b.Fatalf("%d deliveries, want %d", got, want)
				}
				b.ReportMetric(float64(n), "deliveries/op")
			})
		}
	}
}
