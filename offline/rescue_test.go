package offline_test

import (
	"errors"
	"strings"
	"testing"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/offline"
)

// TestRescue: a message of an ended session goes to offline storage for
// the account's bare JID; a full store is an error, not a bounce.
func TestRescue(t *testing.T) {
	e := newEnv(t, offline.Config{MaxMessages: 2})
	st := routertest.Parse(t, "<message type='chat' from='bob@localhost/r' to='alice@localhost/phone' id='1'><body>hi</body></message>")
	if err := e.svc.Rescue(e.Ctx, st); err != nil {
		t.Fatal(err)
	}
	got, err := e.stores.Offline.Messages(e.Ctx, "alice@localhost", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !strings.Contains(string(got[0].Stanza), "to='alice@localhost'") {
		t.Fatalf("stored %v", got)
	}
	if st.To.String() != "alice@localhost/phone" {
		t.Error("the shared stanza was changed")
	}
	// Not worth keeping: dropped quietly.
	hint := routertest.Parse(t, "<message type='chat' from='bob@localhost/r' to='alice@localhost/phone'><body>x</body><no-store xmlns='urn:xmpp:hints'/></message>")
	if err := e.svc.Rescue(e.Ctx, hint); err != nil {
		t.Errorf("no-store: %v", err)
	}
	if n := e.count("alice@localhost"); n != 1 {
		t.Errorf("%d stored, want 1", n)
	}
	e.svc.Rescue(e.Ctx, st)
	if err := e.svc.Rescue(e.Ctx, st); !errors.Is(err, offline.ErrFull) {
		t.Fatalf("full store: %v", err)
	}
}
