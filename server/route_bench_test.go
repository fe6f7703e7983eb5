package server_test

import (
	"context"
	"testing"

	"dormouse.im/dormouse/internal/routertest"
	"mellium.im/xmpp/jid"
)

// BenchmarkRouteAssembled routes a 1:1 chat message between two bound
// resources through the router as the server assembles it: every hook the
// features register (blocking policy, archive, carbons, offline) runs, as
// for a message a client sends. The message carries <no-store/>, so it is
// the un-archived hot path, which must not allocate.
func BenchmarkRouteAssembled(b *testing.B) {
	srv := benchServer(b, "alice", "bob")
	ctx := context.Background()
	var alice, bob routertest.Discard
	srv.Router.Bind(jid.MustParse("alice@localhost/phone"), &alice)
	srv.Router.Bind(jid.MustParse("bob@localhost/phone"), &bob)
	m := routertest.Parse(b, `<message from='alice@localhost/phone' to='bob@localhost/phone' type='chat' id='m1'>`+
		`<body>The quick brown fox jumps over the lazy dog; 64 bytes of text.</body>`+
		`<active xmlns='http://jabber.org/protocol/chatstates'/><no-store xmlns='urn:xmpp:hints'/></message>`)
	srv.Router.Route(ctx, m) // warm the caches (block lists)
	if bob.Count() != 1 {
		b.Fatalf("bob got %d messages, want 1", bob.Count())
	}
	b.ReportAllocs()
	for b.Loop() {
		srv.Router.Route(ctx, m)
	}
	if got := bob.Count(); got < 2 {
		b.Fatalf("bob got %d messages", got)
	}
}
