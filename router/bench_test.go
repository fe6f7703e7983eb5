package router_test

import (
	"testing"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/router"
	"mellium.im/xmpp/jid"
)

// BenchmarkRouteMessage routes a 1:1 chat message to a bare JID with two
// available resources (one of higher priority), the common case.
func BenchmarkRouteMessage(b *testing.B) {
	benchmarkBareMessage(b, routertest.New(b, "localhost"))
}

// benchmarkBareMessage routes a chat message from alice to bob's bare JID
// with two available resources, on h.
func benchmarkBareMessage(b *testing.B, h *routertest.Harness) {
	var d routertest.Discard
	for i, res := range []string{"phone", "laptop"} {
		full := "bob@localhost/" + res
		h.Router.Bind(jid.MustParse(full), &d)
		h.SetPresence(full, []string{`<presence><priority>1</priority></presence>`, `<presence><priority>5</priority></presence>`}[i])
	}
	m := routertest.Parse(b, message("chat", "bob@localhost"))
	b.ReportAllocs()
	for b.Loop() {
		h.Router.Route(h.Ctx, m)
	}
}

// BenchmarkRouteFullJID routes to a bound full JID.
func BenchmarkRouteFullJID(b *testing.B) {
	h := routertest.New(b, "localhost")
	h.Router.Bind(jid.MustParse("bob@localhost/phone"), &routertest.Discard{})
	m := routertest.Parse(b, message("chat", "bob@localhost/phone"))
	b.ReportAllocs()
	for b.Loop() {
		h.Router.Route(h.Ctx, m)
	}
}

// BenchmarkRouteMessagePrivacy is BenchmarkRouteMessage with the stranger
// throttle on ([privacy] max_new_peers): a known peer costs a lookup in
// the sender's window, no allocation.
func BenchmarkRouteMessagePrivacy(b *testing.B) {
	h := routertest.New(b, "localhost")
	h.Router.SetRelations(routertest.Subscriptions{"bob@localhost": {"alice@localhost"}})
	h.Router.SetPrivacy(router.Privacy{MaxNewPeers: 100})
	benchmarkBareMessage(b, h)
}
