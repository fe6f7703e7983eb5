package router_test

import (
	"context"
	"log/slog"
	"testing"

	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

type discard struct{}

func (discard) Deliver(*stanza.Stanza) bool { return true }

// BenchmarkRouteMessage routes a 1:1 chat message to a bare JID with two
// available resources (one of higher priority), the common case.
func BenchmarkRouteMessage(b *testing.B) {
	ctx := context.Background()
	r := router.New([]string{"localhost"}, router.NewMux(), slog.New(slog.DiscardHandler))
	for i, res := range []string{"phone", "laptop"} {
		full := jid.MustParse("bob@localhost/" + res)
		r.Bind(full, discard{})
		r.SetPresence(ctx, full, presence([]string{"1", "5"}[i]))
	}
	m := message("chat", "bob@localhost")
	b.ReportAllocs()
	for b.Loop() {
		r.Route(ctx, m)
	}
}

// BenchmarkRouteFullJID routes to a bound full JID.
func BenchmarkRouteFullJID(b *testing.B) {
	ctx := context.Background()
	r := router.New([]string{"localhost"}, router.NewMux(), slog.New(slog.DiscardHandler))
	full := jid.MustParse("bob@localhost/phone")
	r.Bind(full, discard{})
	m := message("chat", "bob@localhost/phone")
	b.ReportAllocs()
	for b.Loop() {
		r.Route(ctx, m)
	}
}
