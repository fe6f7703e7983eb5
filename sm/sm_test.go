package sm_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/offline"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/session"
	"dormouse.im/dormouse/sm"
	"dormouse.im/dormouse/stanza"
)

// memStore is an in-memory offline.Store.
type memStore struct {
	mu   sync.Mutex
	msgs map[string][]offline.Message
	next int64
	err  error
}

func (m *memStore) Store(_ context.Context, user string, msg offline.Message, limit int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	if m.msgs == nil {
		m.msgs = map[string][]offline.Message{}
	}
	if limit > 0 && len(m.msgs[user]) >= limit {
		return offline.ErrFull
	}
	m.next++
	msg.ID = m.next
	m.msgs[user] = append(m.msgs[user], msg)
	return nil
}

func (m *memStore) Messages(_ context.Context, user string, max int) ([]offline.Message, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.msgs[user]
	if max > 0 && len(out) > max {
		out = out[:max]
	}
	return append([]offline.Message(nil), out...), nil
}

func (m *memStore) Delete(_ context.Context, user string, ids []int64) error { return nil }
func (m *memStore) Count(_ context.Context, user string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.msgs[user]), nil
}

// parse parses a stanza for the tests.
func parse(t *testing.T, s string) *stanza.Stanza { return routertest.Parse(t, s) }

func newRescuer(store *memStore) *sm.Rescuer {
	r := router.New([]string{"x"}, router.NewMux(), nil)
	off := offline.New(store, r, offline.Config{MaxMessages: 2}, nil)
	return sm.NewRescuer(off, offline.ErrSkipped, nil)
}

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
		st := parse(t, s)
		store := &memStore{}
		err := newRescuer(store).Rescue(context.Background(), st)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		stored := len(store.msgs["a@x"]) == 1
		if stored != session.Rescuable(st) {
			t.Errorf("%d: offline stores it: %v, session.Rescuable: %v: %s", i, stored, session.Rescuable(st), s)
		}
	}
}

func TestRescuer(t *testing.T) {
	store := &memStore{}
	r := newRescuer(store)
	st := parse(t, "<message type='chat' from='b@x/r' to='a@x/phone' id='1'><body>hi</body></message>")
	if err := r.Rescue(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	got := store.msgs["a@x"]
	if len(got) != 1 || !strings.Contains(string(got[0].Stanza), "to='a@x'") {
		t.Fatalf("stored %v", got)
	}
	if st.To.String() != "a@x/phone" {
		t.Error("the shared stanza was changed")
	}
	// Full storage is an error (logged by the session), not a bounce.
	r.Rescue(context.Background(), st)
	err := r.Rescue(context.Background(), st)
	if !errors.Is(err, offline.ErrFull) {
		t.Fatalf("full store: %v", err)
	}
}
