package session_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/session"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// TestWakeBurst: parked connections woken at once, far more than the
// goroutines allowed to read woken connections, are all served by those
// goroutines (the stall check is off: no other goroutine can start).
func TestWakeBurst(t *testing.T) {
	const n = 24
	ts := start(t, func(s *session.Server) {
		s.Config.ParkAfter = parkAfter
		s.SetWakeLimit(2, time.Hour)
	})
	ts.users("alice")
	clients := make([]*xmpptest.Client, n)
	for i := range clients {
		clients[i] = ts.dial("alice", fmt.Sprintf("r%d", i))
	}
	waitFor(t, "every connection to park", func() bool { return ts.Stats().Parked == n })
	for round := range 3 {
		for i, c := range clients {
			if err := c.SendStanza(pingIQ(fmt.Sprintf("p%d-%d", round, i))); err != nil {
				t.Fatal(err)
			}
		}
		for i, c := range clients {
			expectResult(t, c, fmt.Sprintf("p%d-%d", round, i))
		}
	}
	waitFor(t, "every connection to park again", func() bool { return ts.Stats().Parked == n })
}

// TestWakeStall: a woken connection whose reader is busy (here, in a
// handler that does not return) does not keep the queued ones waiting for
// longer than the stall check allows.
func TestWakeStall(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	ts := start(t, func(s *session.Server) {
		s.Config.ParkAfter = parkAfter
		s.SetWakeLimit(1, 20*time.Millisecond)
		s.Router.(*router.Router).Mux().HandleIQ(router.ToServer, "urn:test:block", "block", func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
			<-release
			return iq.Result(nil), nil
		})
	})
	t.Cleanup(func() { once.Do(func() { close(release) }) }) // before the server's shutdown
	ts.users("alice")
	busy, other := ts.dial("alice", "busy"), ts.dial("alice", "other")
	waitFor(t, "both connections to park", func() bool { return ts.Stats().Parked == 2 })
	if err := busy.SendStanza("<iq type='get' id='b1' to='localhost'><block xmlns='urn:test:block'/></iq>"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the busy connection to be woken", func() bool { return ts.Stats().Parked == 1 })
	if err := other.SendStanza(pingIQ("o1")); err != nil {
		t.Fatal(err)
	}
	expectResult(t, other, "o1")
	once.Do(func() { close(release) })
	expectResult(t, busy, "b1")
}

// expectResult waits for the IQ result with id.
func expectResult(t *testing.T, c *xmpptest.Client, id string) {
	t.Helper()
	_ = c.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err := c.Expect(func(el *xml.Element) bool {
		return el.Name.Local == "iq" && el.AttrValue("id") == id && el.AttrValue("type") == "result"
	})
	if err != nil {
		t.Fatalf("waiting for the result of %s: %v", id, err)
	}
}
