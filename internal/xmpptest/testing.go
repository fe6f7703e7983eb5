package xmpptest

import (
	"cmp"
	"context"
	"log/slog"
	"strings"
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

// Server names the client listeners of a server under test.
type Server struct {
	Addr    string // STARTTLS listener
	TLSAddr string // direct TLS listener (XEP-0368)
	Domain  string // default "localhost"
}

// Dial connects with o, defaulting the address (TLSAddr if o.DirectTLS),
// the domain and a 5 s timeout.
func (s Server) Dial(o Options) (*Client, error) {
	if o.Addr == "" {
		o.Addr = s.Addr
		if o.DirectTLS {
			o.Addr = s.TLSAddr
		}
	}
	if o.Domain == "" {
		o.Domain = cmp.Or(s.Domain, "localhost")
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return Dial(ctx, o)
}

// DialSM logs user in with password "secret-<user>", binds resource and
// enables XEP-0198 with resumption, failing t otherwise. The connection
// is closed when t ends.
func (s Server) DialSM(t testing.TB, user, resource string) *Client {
	t.Helper()
	c, err := s.Dial(Options{User: user, Password: "secret-" + user, Resource: resource, SM: true})
	if err != nil {
		t.Fatalf("dial %s/%s with SM: %v", user, resource, err)
	}
	t.Cleanup(func() { c.Conn.Close() })
	if c.SM.ID == "" {
		t.Fatalf("%s: <enabled/> without an id", user)
	}
	return c
}

// Resume resumes st for user (password "secret-<user>") on a new
// connection, closed when t ends.
func (s Server) Resume(t testing.TB, user string, st *SMState, direct bool) (*Client, error) {
	c, err := s.Dial(Options{User: user, Password: "secret-" + user, Resume: st, DirectTLS: direct})
	if c != nil {
		t.Cleanup(func() { c.Conn.Close() })
	}
	return c, err
}

// DialUser logs user in with password "secret-<user>" and binds resource,
// failing t otherwise. The connection is closed when t ends.
func (s Server) DialUser(t testing.TB, user, resource string) *Client {
	t.Helper()
	c, err := s.Dial(Options{User: user, Password: "secret-" + user, Resource: resource})
	if err != nil {
		t.Fatalf("dial %s/%s: %v", user, resource, err)
	}
	t.Cleanup(func() { c.Conn.Close() })
	return c
}

// Logger returns a logger writing to t's log: warnings and errors, and
// everything with go test -v.
func Logger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: level}))
}

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
