package mam_test

import (
	"context"
	"fmt"
	"log/slog"

	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/mam/mamtest"
	"dormouse.im/dormouse/router"
	"mellium.im/xmpp/jid"
)

// rosterStub stands for the server's adapter of roster.Store to mam.Roster.
type rosterStub struct{}

func (rosterStub) InRoster(context.Context, jid.JID, jid.JID) (bool, error) { return false, nil }

// Wiring the archive, as package server does: the configuration, a store
// (sql.Stores.MAM in the server), the router, then Register (and the
// retention job: see Service.StartRetention).
func Example() {
	mux := router.NewMux()
	r := router.New([]string{"example.org"}, mux, slog.New(slog.DiscardHandler))
	svc := mam.New(mam.Config{
		Default: mam.PrefAlways, // mam.default
		MaxPage: 50,             // mam.max_page
		Roster:  rosterStub{},
	}, mamtest.New(), r, nil)
	svc.Register(mux)
	fmt.Println(mux.Features(router.ToAccount))
	// Output: [urn:xmpp:mam:2 urn:xmpp:mam:2#extended urn:xmpp:sid:0]
}
