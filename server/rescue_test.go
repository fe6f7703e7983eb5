package server_test

import (
	"context"
	"testing"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/offline"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/session"
	"dormouse.im/dormouse/sql/sqltest"
)

// TestRescuableMatchesOffline: session.Rescuable and offline storage keep
// the same messages.
func TestRescuableMatchesOffline(t *testing.T) {
	const to = " from='b@x/r' to='a@x/phone'"
	for i, s := range []string{
		"<message type='chat'" + to + "><body>hi</body></message>",
		"<message type='chat'" + to + "><composing xmlns='http://jabber.org/protocol/chatstates'/></message>",
		"<message" + to + "><encrypted xmlns='eu.siacs.conversations.axolotl'/></message>",
		"<message" + to + "><encrypted xmlns='urn:xmpp:omemo:2'/></message>",
		"<message" + to + "><openpgp xmlns='urn:xmpp:openpgp:0'>x</openpgp></message>",
		"<message" + to + "><x xmlns='jabber:x:encrypted'>x</x></message>",
		"<message" + to + "><propose xmlns='urn:xmpp:jingle-message:0' id='c'/></message>",
		"<message" + to + "><received xmlns='urn:xmpp:receipts' id='1'/></message>",
		"<message" + to + "><request xmlns='urn:xmpp:receipts'/></message>",
		"<message" + to + "><displayed xmlns='urn:xmpp:chat-markers:0' id='1'/></message>",
		"<message" + to + "><markable xmlns='urn:xmpp:chat-markers:0'/></message>",
		"<message type='groupchat'" + to + "><body>x</body></message>",
		"<message type='headline'" + to + "><body>x</body></message>",
		"<message type='error'" + to + "><body>x</body></message>",
		"<message type='chat'" + to + "><body>x</body><no-store xmlns='urn:xmpp:hints'/></message>",
		"<message" + to + "><store xmlns='urn:xmpp:hints'/></message>",
		"<message" + to + "><x xmlns='jabber:x:conference' jid='r@c'/></message>",
		"<message" + to + "><x xmlns='http://jabber.org/protocol/muc#user'><invite from='c@x'/></x></message>",
		"<message" + to + "><x xmlns='http://jabber.org/protocol/muc#user'/></message>",
		"<message type='chat'" + to + "><body/></message>",
	} {
		st := routertest.Parse(t, s)
		stores := sqltest.SQLite(t)
		if err := stores.Accounts.CreateAccount(context.Background(), "a@x", auth.Credentials{}); err != nil {
			t.Fatal(err)
		}
		off := offline.New(offline.Config{}, stores.Offline, router.New([]string{"x"}, router.NewMux(), nil), nil)
		if err := off.Rescue(context.Background(), st); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		n, err := stores.Offline.Count(context.Background(), "a@x")
		if err != nil {
			t.Fatal(err)
		}
		stored := n == 1
		if stored != session.Rescuable(st) {
			t.Errorf("%d: offline stores it: %v, session.Rescuable: %v: %s", i, stored, session.Rescuable(st), s)
		}
	}
}
