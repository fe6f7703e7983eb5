package session_test

import (
	"fmt"
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/session"
	"dormouse.im/dormouse/xml"
)

const clientHeader = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"

// streamError reads until a stream error and returns its condition.
func streamError(t *testing.T, dec *xml.Decoder) string {
	t.Helper()
	if _, err := dec.Header(); err != nil {
		t.Fatalf("header: %v", err)
	}
	for {
		el, err := dec.Next()
		if err != nil {
			t.Fatalf("waiting for a stream error: %v", err)
		}
		if c := xmpptest.StreamErrorCondition(el); c != "" {
			return c
		}
	}
}

func TestConnectionsPerIP(t *testing.T) {
	ts := start(t, func(s *session.Server) { s.Config.MaxConnsPerIP = 2 })
	ts.users("alice")
	ts.dial("alice", "one")
	ts.dial("alice", "two")
	nc, dec := ts.rawConn()
	fmt.Fprint(nc, clientHeader)
	if c := streamError(t, dec); c != "policy-violation" {
		t.Fatalf("third connection: %s", c)
	}
}

func TestAuthTimeout(t *testing.T) {
	ts := start(t, func(s *session.Server) { s.Config.AuthTimeout = 300 * time.Millisecond })
	nc, dec := ts.rawConn()
	fmt.Fprint(nc, clientHeader)
	if c := streamError(t, dec); c != "connection-timeout" {
		t.Fatalf("unauthenticated stream: %s", c)
	}
}

// TestIdlePing: a bound stream that stays silent is pinged (XEP-0199).
func TestIdlePing(t *testing.T) {
	ts := start(t, func(s *session.Server) { s.Config.IdleTimeout = 200 * time.Millisecond })
	ts.users("alice")
	a := ts.dial("alice", "phone")
	el := expectStanza(t, a, "iq", func(e *xml.Element) bool { return e.Child("urn:xmpp:ping", "ping") != nil })
	if el.AttrValue("type") != "get" || el.AttrValue("from") != "localhost" {
		t.Fatalf("ping %s", el)
	}
	// Answering keeps the stream open.
	a.Sendf("<iq type='result' id='%s' to='localhost'/>", el.AttrValue("id"))
	r, err := a.IQ("p", "<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	if err != nil || r.AttrValue("type") != "result" {
		t.Fatalf("after answering the ping: %v %v", r, err)
	}
}

// TestLoginThrottle: after the burst of failures, attempts from the same
// client slow down, but a correct password still gets in (after the delay).
// Other client addresses are unaffected (auth/throttle_test.go covers that:
// all test connections come from 127.0.0.1).
func TestLoginThrottle(t *testing.T) {
	ts := start(t, func(s *session.Server) {
		s.Throttle = auth.NewThrottle(auth.ThrottleConfig{Burst: 2, HalfLife: time.Minute}, time.Now)
	})
	ts.users("alice", "bob")
	for i := 0; i < 3; i++ {
		if _, err := ts.dialErr(xmpptest.Options{User: "alice", Password: "wrong"}); err == nil {
			t.Fatal("wrong password accepted")
		}
	}
	t0 := time.Now()
	if _, err := ts.dialErr(xmpptest.Options{User: "alice", Password: "wrong"}); err == nil {
		t.Fatal("wrong password accepted")
	}
	if d := time.Since(t0); d < 500*time.Millisecond {
		t.Errorf("4th failure took %v: not throttled", d)
	}
	ts.dial("bob", "x")
}
