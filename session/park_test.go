package session_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/session"
	"dormouse.im/dormouse/xml"
)

// heldConn is a client TCP connection whose writes can be held back, so a
// test sends the TLS records the client produced in pieces of its choice.
type heldConn struct {
	net.Conn
	mu   sync.Mutex
	hold bool
	buf  []byte
}

func (h *heldConn) Write(p []byte) (int, error) {
	h.mu.Lock()
	if h.hold {
		h.buf = append(h.buf, p...)
		h.mu.Unlock()
		return len(p), nil
	}
	h.mu.Unlock()
	return h.Conn.Write(p)
}

// capture returns what the client wrote while f ran.
func (h *heldConn) capture(t *testing.T, f func() error) []byte {
	t.Helper()
	h.mu.Lock()
	h.hold = true
	h.mu.Unlock()
	err := f()
	h.mu.Lock()
	b := h.buf
	h.hold, h.buf = false, nil
	h.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const parkAfter = 3 * time.Millisecond

// startPark starts a server whose idle connections park after parkAfter,
// in the epoll poller or (portable) with a waiting goroutine each.
func startPark(t *testing.T, portable bool, idle time.Duration) *testServer {
	ts := start(t, func(s *session.Server) {
		s.Config.ParkAfter = parkAfter
		s.Config.PortablePark = portable
		if idle > 0 {
			s.Config.IdleTimeout = idle
		}
	})
	ts.users("alice")
	return ts
}

// dialHeld logs alice in over a heldConn.
func (ts *testServer) dialHeld(direct, sm bool, tcfg *tls.Config) (*xmpptest.Client, *heldConn) {
	ts.t.Helper()
	var hc *heldConn
	c, err := ts.dialErr(xmpptest.Options{
		User: "alice", Password: "secret-alice", Resource: "phone", SM: sm, DirectTLS: direct, TLS: tcfg,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			nc, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			hc = &heldConn{Conn: nc}
			return hc, nil
		},
	})
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { c.Conn.Close() })
	return c, hc
}

// waitParked waits until the connection parked (again).
func (ts *testServer) waitParked(after uint64) uint64 {
	ts.t.Helper()
	ss := ts.Server
	waitFor(ts.t, "the connection to park", func() bool {
		st := ss.Stats()
		return st.Parked == 1 && st.Parks > after
	})
	return ss.Stats().Parks
}

func pingIQ(id string) string {
	return "<iq type='get' id='" + id + "' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
}

// TestParkedTLSInput: input reaching a parked connection in any split of
// its TLS records is read completely, over STARTTLS and direct TLS, with
// the epoll poller and the portable waiting goroutine.
func TestParkedTLSInput(t *testing.T) {
	type send func(t *testing.T, ts *testServer, c *xmpptest.Client, hc *heldConn) (want []string)
	pings := func(ids ...string) func(c *xmpptest.Client) error {
		return func(c *xmpptest.Client) error {
			for _, id := range ids {
				if err := c.SendStanza(pingIQ(id)); err != nil {
					return err
				}
			}
			return nil
		}
	}
	cases := []struct {
		name string
		tls  *tls.Config
		send send
	}{
		{"one record, every byte apart", nil, func(t *testing.T, ts *testServer, c *xmpptest.Client, hc *heldConn) []string {
			b := hc.capture(t, func() error { return pings("b1")(c) })
			parks := ts.Server.Stats().Parks
			for i := range b {
				if _, err := hc.Conn.Write(b[i : i+1]); err != nil {
					t.Fatal(err)
				}
				time.Sleep(2 * parkAfter)
			}
			// The connection parked with part of a record read.
			if n := ts.Server.Stats().Parks - parks; n < 2 {
				t.Errorf("parked %d times while a record came byte by byte", n)
			}
			return []string{"b1"}
		}},
		{"several records in one segment", nil, func(t *testing.T, ts *testServer, c *xmpptest.Client, hc *heldConn) []string {
			b := hc.capture(t, func() error { return pings("s1", "s2", "s3")(c) })
			if _, err := hc.Conn.Write(b); err != nil {
				t.Fatal(err)
			}
			return []string{"s1", "s2", "s3"}
		}},
		{"records split across segments", nil, func(t *testing.T, ts *testServer, c *xmpptest.Client, hc *heldConn) []string {
			b := hc.capture(t, func() error { return pings("x1", "x2")(c) })
			for _, p := range [][]byte{b[:3], b[3 : len(b)/2+2], b[len(b)/2+2:]} {
				if _, err := hc.Conn.Write(p); err != nil {
					t.Fatal(err)
				}
				time.Sleep(2 * parkAfter)
			}
			return []string{"x1", "x2"}
		}},
		{"a stanza spanning records", nil, func(t *testing.T, ts *testServer, c *xmpptest.Client, hc *heldConn) []string {
			s := pingIQ("span")
			var recs [][]byte
			for _, part := range []string{s[:1], s[1:20], s[20:]} {
				recs = append(recs, hc.capture(t, func() error { return c.SendRaw(part) }))
			}
			for _, r := range recs {
				if _, err := hc.Conn.Write(r); err != nil {
					t.Fatal(err)
				}
				time.Sleep(2 * parkAfter)
			}
			return []string{"span"}
		}},
		{"16 KiB records", &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", DynamicRecordSizingDisabled: true}, func(t *testing.T, ts *testServer, c *xmpptest.Client, hc *heldConn) []string {
			body := strings.Repeat("0123456789abcdef", 3<<10) // 48 KiB: three full records
			b := hc.capture(t, func() error {
				return c.SendStanza(fmt.Sprintf("<message type='chat' id='big' to='%s'><body>%s</body></message>", c.JID, body))
			})
			for len(b) > 0 {
				n := min(len(b), 7000)
				if _, err := hc.Conn.Write(b[:n]); err != nil {
					t.Fatal(err)
				}
				b = b[n:]
				time.Sleep(2 * parkAfter)
			}
			el := expectStanza(t, c, "message", func(e *xml.Element) bool { return e.AttrValue("id") == "big" })
			if got := el.Child("jabber:client", "body"); got == nil || got.Text() != body {
				t.Fatalf("the 48 KiB message came back altered")
			}
			return []string{"after"}
		}},
	}
	for _, portable := range []bool{false, true} {
		for _, direct := range []bool{false, true} {
			for _, tc := range cases {
				name := fmt.Sprintf("portable=%v/direct=%v/%s", portable, direct, tc.name)
				t.Run(name, func(t *testing.T) {
					ts := startPark(t, portable, 0)
					c, hc := ts.dialHeld(direct, true, tc.tls)
					p0 := ts.waitParked(0)
					want := tc.send(t, ts, c, hc)
					if want[0] == "after" {
						want = nil
						if err := c.SendStanza(pingIQ("after")); err != nil {
							t.Fatal(err)
						}
						want = append(want, "after")
					}
					for _, id := range want {
						el := expectStanza(t, c, "iq", func(e *xml.Element) bool { return e.AttrValue("id") == id })
						if el.AttrValue("type") != "result" {
							t.Fatalf("ping %s: %s", id, el)
						}
					}
					// And it parks again.
					ts.waitParked(p0)
				})
			}
		}
	}
}

// TestParkedConnectionEnds: a parked connection that the client closes
// (TLS close_notify, TCP FIN without it, or a reset) ends at once: a
// stream-managed session hibernates, another one ends; and a server
// shutdown ends parked connections.
func TestParkedConnectionEnds(t *testing.T) {
	cases := []struct {
		name string
		end  func(c *xmpptest.Client, hc *heldConn)
	}{
		{"close_notify", func(c *xmpptest.Client, hc *heldConn) {
			_ = c.Conn.(*tls.Conn).CloseWrite()
		}},
		{"FIN", func(c *xmpptest.Client, hc *heldConn) {
			_ = hc.Conn.(*net.TCPConn).CloseWrite()
		}},
		{"RST", func(c *xmpptest.Client, hc *heldConn) {
			_ = hc.Conn.(*net.TCPConn).SetLinger(0)
			_ = hc.Conn.Close()
		}},
	}
	for _, portable := range []bool{false, true} {
		for _, sm := range []bool{false, true} {
			for _, tc := range cases {
				t.Run(fmt.Sprintf("portable=%v/sm=%v/%s", portable, sm, tc.name), func(t *testing.T) {
					ts := startPark(t, portable, 0)
					c, hc := ts.dialHeld(false, sm, nil)
					ts.waitParked(0)
					tc.end(c, hc)
					ss := ts.Server
					waitFor(t, "the connection to end", func() bool { return ss.Count() == 0 })
					if st := ss.Stats(); st.Parked != 0 || (sm && st.Hibernated != 1) || (!sm && st.Hibernated != 0) {
						t.Fatalf("after the end: %+v", st)
					}
				})
			}
		}
		t.Run(fmt.Sprintf("portable=%v/shutdown", portable), func(t *testing.T) {
			ts := startPark(t, portable, 0)
			c, _ := ts.dialHeld(true, true, nil)
			ts.waitParked(0)
			done := make(chan struct{})
			go func() { ts.stop(); close(done) }()
			// The client is asked for a last <a/>, then sees the stream
			// error; it answers nothing more.
			var got bytes.Buffer
			for {
				el, err := c.Next()
				if err != nil {
					break
				}
				got.WriteString(el.String())
			}
			<-done
			if !strings.Contains(got.String(), "system-shutdown") {
				t.Fatalf("no system-shutdown stream error: %s", got.String())
			}
		})
	}
}

// TestParkedIdlePing: a parked connection silent for the idle timeout is
// pinged, and closed (or hibernated) if it does not answer.
func TestParkedIdlePing(t *testing.T) {
	for _, portable := range []bool{false, true} {
		t.Run(fmt.Sprintf("portable=%v", portable), func(t *testing.T) {
			ts := startPark(t, portable, 150*time.Millisecond)
			c, _ := ts.dialHeld(false, true, nil)
			ts.waitParked(0)
			el := expectStanza(t, c, "iq", func(e *xml.Element) bool { return e.Child("urn:xmpp:ping", "ping") != nil })
			c.Sendf("<iq type='result' id='%s' to='localhost'/>", el.AttrValue("id"))
			r, err := c.IQ("p", pingIQ("p"))
			if err != nil || r.AttrValue("type") != "result" {
				t.Fatalf("after answering the ping: %v %v", r, err)
			}
			// Pinged again after the next idle period: still alive.
			expectStanza(t, c, "iq", func(e *xml.Element) bool { return e.Child("urn:xmpp:ping", "ping") != nil })
		})
	}
}
