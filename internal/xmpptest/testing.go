package xmpptest

import (
	"testing"
	"time"

	"dormouse.im/dormouse/xml"
)

// ExpectStanza reads until a top-level element named local (and matching
// pred, if not nil) arrives, failing t on an error or timeout.
func ExpectStanza(t testing.TB, c *Client, local string, pred func(*xml.Element) bool) *xml.Element {
	t.Helper()
	el, _, err := c.Expect(func(e *xml.Element) bool {
		return e.Name.Local == local && (pred == nil || pred(e))
	})
	if err != nil {
		t.Fatalf("waiting for <%s>: %v", local, err)
	}
	return el
}

// WaitFor polls cond (real time, for server-side effects of socket
// events, never for timers) for up to 5 s, failing t after that.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
