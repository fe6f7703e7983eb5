package websocket

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/stream"
	ws "github.com/coder/websocket"
)

// sessions hands the served connections to the test.
type sessions chan net.Conn

func (s sessions) ServeConn(nc net.Conn) error { s <- nc; return nil }

func serve(t *testing.T, cfg Config) (string, sessions) {
	t.Helper()
	ss := make(sessions, 1)
	h := New(cfg, ss, nil, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.Wait(ctx); err != nil {
			t.Errorf("websockets still open: %v", err)
		}
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http"), ss
}

func dialRaw(t *testing.T, url string) *ws.Conn {
	t.Helper()
	c, _, err := ws.Dial(context.Background(), url, &ws.DialOptions{Subprotocols: []string{"xmpp"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func accept(t *testing.T, ss sessions) net.Conn {
	t.Helper()
	select {
	case nc := <-ss:
		t.Cleanup(func() { nc.Close() })
		return nc
	case <-time.After(5 * time.Second):
		t.Fatal("no connection")
		return nil
	}
}

// TestReadDeadline: a passed deadline is os.ErrDeadlineExceeded and leaves
// the WebSocket usable (the session's idle and park logic relies on it);
// a deadline set from another goroutine wakes a blocked Read.
func TestReadDeadline(t *testing.T) {
	url, ss := serve(t, Config{PingInterval: -1})
	c := dialRaw(t, url)
	nc := accept(t, ss)
	_ = nc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	buf := make([]byte, 100)
	if _, err := nc.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v", err)
	}
	_ = nc.SetReadDeadline(time.Time{})
	go func() {
		time.Sleep(20 * time.Millisecond)
		_ = nc.SetReadDeadline(time.Now())
	}()
	if _, err := nc.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("interrupted read: %v", err)
	}
	_ = nc.SetReadDeadline(time.Time{})
	if err := c.Write(context.Background(), ws.MessageText, []byte("<r xmlns='urn:xmpp:sm:3'/>")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 0, 64)
	for len(got) < len("<r xmlns='urn:xmpp:sm:3'/>") {
		n, err := nc.Read(buf[:7]) // small reads: the rest waits
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != "<r xmlns='urn:xmpp:sm:3'/>" {
		t.Fatalf("got %q", got)
	}
	// Writes: each element its own message.
	if _, err := nc.Write([]byte("<a xmlns='urn:xmpp:sm:3' h='1'/><message><body/></message>")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<a xmlns='urn:xmpp:sm:3' h='1'/>", "<message xmlns='jabber:client'><body/></message>"} {
		_, b, err := c.Read(context.Background())
		if err != nil || string(b) != want {
			t.Fatalf("message %q %v, want %q", b, err, want)
		}
	}
}

// TestEnds: the browser's close frame is io.EOF (a lost connection to the
// session); a binary message is a stream error.
func TestEnds(t *testing.T) {
	url, ss := serve(t, Config{PingInterval: -1})
	c := dialRaw(t, url)
	nc := accept(t, ss)
	go c.Close(ws.StatusGoingAway, "tab closed")
	if _, err := io.ReadAll(nc); err != nil {
		t.Fatalf("after a close frame: %v", err)
	}
	nc.Close()

	c = dialRaw(t, url)
	nc = accept(t, ss)
	_ = c.Write(context.Background(), ws.MessageBinary, []byte("<iq/>"))
	var se *stream.Error
	if _, err := nc.Read(make([]byte, 10)); !errors.As(err, &se) {
		t.Fatalf("binary: %v", err)
	}
}

// TestMessageTooBig: a message over MaxMessage is the policy-violation
// stream error a too large stanza is over TCP (RFC 6120 §4.9.3.12), not a
// lost connection: the session must end, not hibernate for a resumption
// that would resend the same message.
func TestMessageTooBig(t *testing.T) {
	url, ss := serve(t, Config{PingInterval: -1, MaxMessage: 1000})
	c := dialRaw(t, url)
	nc := accept(t, ss)
	_ = c.Write(context.Background(), ws.MessageText, []byte("<message><body>"+strings.Repeat("x", 2000)+"</body></message>"))
	var se *stream.Error
	if _, err := nc.Read(make([]byte, 10)); !errors.As(err, &se) || se.Condition != stream.PolicyViolation {
		t.Fatalf("too big: %v, want a policy-violation stream error", err)
	}
}

// TestPingTimeout: a browser that does not answer pings (a frozen tab) is
// cut off after one interval; the session reads io.EOF and can hibernate.
func TestPingTimeout(t *testing.T) {
	url, ss := serve(t, Config{PingInterval: 50 * time.Millisecond})
	dialRaw(t, url) // never reads, so never answers a ping
	nc := accept(t, ss)
	start := time.Now()
	if _, err := nc.Read(make([]byte, 10)); !errors.Is(err, io.EOF) {
		t.Fatalf("read: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cut after %s", d)
	}
}

// TestPingAnswered: a live browser keeps its WebSocket across pings.
func TestPingAnswered(t *testing.T) {
	url, ss := serve(t, Config{PingInterval: 20 * time.Millisecond})
	c := dialRaw(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _, _, _ = c.Read(ctx) }() // answers pings
	nc := accept(t, ss)
	_ = nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := nc.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v", err)
	}
}

// TestPingWhileSessionBusy: while the session has not taken the last
// message (back-pressure: nothing more is read, pongs included), a
// browser answering pings is not cut off as a frozen tab.
func TestPingWhileSessionBusy(t *testing.T) {
	url, ss := serve(t, Config{PingInterval: 20 * time.Millisecond})
	c := dialRaw(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _, _, _ = c.Read(ctx) }() // answers pings
	nc := accept(t, ss)
	if err := c.Write(ctx, ws.MessageText, []byte("<r xmlns='urn:xmpp:sm:3'/>")); err != nil {
		t.Fatal(err)
	}
	// The session is busy for many ping intervals (a slow storage call)
	// and reads nothing meanwhile.
	time.Sleep(300 * time.Millisecond)
	buf := make([]byte, 100)
	if n, err := nc.Read(buf); err != nil || string(buf[:n]) != "<r xmlns='urn:xmpp:sm:3'/>" {
		t.Fatalf("first message: %q %v", buf[:n], err)
	}
	if err := c.Write(ctx, ws.MessageText, []byte("<a xmlns='urn:xmpp:sm:3' h='0'/>")); err != nil {
		t.Fatalf("the WebSocket was cut while the session was busy: %v", err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := nc.Read(buf); err != nil || string(buf[:n]) != "<a xmlns='urn:xmpp:sm:3' h='0'/>" {
		t.Fatalf("the WebSocket was cut while the session was busy: %q %v", buf[:n], err)
	}
}

func TestOrigins(t *testing.T) {
	h := New(Config{AllowedOrigins: []string{"https://app.example.net"}}, nil, nil, slog.New(slog.DiscardHandler))
	tests := []struct {
		origin, host string
		ok           bool
	}{
		{"", "example.org", true},
		{"https://example.org", "example.org", true},
		{"https://EXAMPLE.org:5443", "example.org:5443", true},
		{"https://app.example.net", "example.org", true},
		{"https://evil.example", "example.org", false},
		{"null", "example.org", false},
	}
	for _, tt := range tests {
		if got := h.originAllowed(tt.origin, tt.host); got != tt.ok {
			t.Errorf("%q at %q: %v", tt.origin, tt.host, got)
		}
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Sec-WebSocket-Protocol", "foo, xmpp")
	if !offersXMPP(req) {
		t.Error("xmpp among several protocols not found")
	}
}
