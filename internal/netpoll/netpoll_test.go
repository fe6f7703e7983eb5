//go:build linux

package netpoll_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/netpoll"
)

// pair returns both ends of a loopback TCP connection.
func pair(t *testing.T) (server, client *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); c.Close() })
	return s.(*net.TCPConn), c.(*net.TCPConn)
}

func newPoller(t *testing.T) *netpoll.Poller {
	t.Helper()
	p, err := netpoll.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func handle(t *testing.T, p *netpoll.Poller, c *net.TCPConn) (*netpoll.Handle, chan struct{}) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fired := make(chan struct{}, 4)
	return p.NewHandle(rc, func() { fired <- struct{}{} }), fired
}

func arm(t *testing.T, h *netpoll.Handle) {
	t.Helper()
	if ok, err := h.Arm(); !ok || err != nil {
		t.Fatalf("Arm = %v, %v", ok, err)
	}
}

func expect(t *testing.T, fired chan struct{}, want bool) {
	t.Helper()
	select {
	case <-fired:
		if !want {
			t.Fatal("called, want not called")
		}
	case <-time.After(100 * time.Millisecond):
		if want {
			t.Fatal("not called")
		}
	}
}

// TestReadiness: an armed handle is called once per arming when its
// connection is readable or hung up, not before, and not after Disarm.
func TestReadiness(t *testing.T) {
	for i, tc := range []struct {
		name  string
		event func(t *testing.T, client *net.TCPConn)
	}{
		0: {"data", func(t *testing.T, c *net.TCPConn) {
			if _, err := c.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
		}},
		1: {"FIN", func(t *testing.T, c *net.TCPConn) { _ = c.CloseWrite() }},
		2: {"RST", func(t *testing.T, c *net.TCPConn) { _ = c.SetLinger(0); _ = c.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPoller(t)
			s, c := pair(t)
			h, fired := handle(t, p, s)
			arm(t, h)
			expect(t, fired, false)
			tc.event(t, c)
			expect(t, fired, true)
			if p.Len() != 0 || h.Disarm() {
				t.Fatalf("%d: still armed after the call", i)
			}
			// Re-armed while still readable: called again at once.
			arm(t, h)
			expect(t, fired, true)
			if err := h.Remove(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDisarm: a disarmed handle is not called; the one who disarmed owns
// the wake-up, so a second Disarm reports false.
func TestDisarm(t *testing.T) {
	p := newPoller(t)
	s, c := pair(t)
	h, fired := handle(t, p, s)
	arm(t, h)
	if !h.Disarm() {
		t.Fatal("Disarm of an armed handle = false")
	}
	if h.Disarm() {
		t.Fatal("second Disarm = true")
	}
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	expect(t, fired, false)
}

// TestDescriptorReuse: a connection closed while armed (its descriptor
// leaves the epoll set) and a new connection that gets the same
// descriptor number are not confused.
func TestDescriptorReuse(t *testing.T) {
	p := newPoller(t)
	s1, c1 := pair(t)
	h1, fired1 := handle(t, p, s1)
	arm(t, h1)
	fd := func(c *net.TCPConn) (n uintptr) {
		rc, _ := c.SyscallConn()
		_ = rc.Control(func(f uintptr) { n = f })
		return n
	}
	fd1 := fd(s1)
	s1.Close()
	c1.Close()
	s2, c2 := pair(t)
	if fd(s2) != fd1 && fd(c2) != fd1 {
		t.Logf("descriptor %d not reused (got %d, %d)", fd1, fd(s2), fd(c2))
	}
	h2, fired2 := handle(t, p, s2)
	arm(t, h2)
	if _, err := c2.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	expect(t, fired2, true)
	expect(t, fired1, false)
	if !h1.Disarm() {
		t.Fatal("the closed connection's arming was taken by another")
	}
}

// TestClose: after Close, Arm fails; arming a closed connection fails and
// leaves nothing armed.
func TestClose(t *testing.T) {
	p := newPoller(t)
	s, _ := pair(t)
	h, _ := handle(t, p, s)
	s.Close()
	if ok, err := h.Arm(); ok || err == nil {
		t.Fatalf("Arm on a closed connection = %v, %v", ok, err)
	}
	if p.Len() != 0 {
		t.Fatal("a failed Arm left the handle armed")
	}
	s2, _ := pair(t)
	h2, _ := handle(t, p, s2)
	p.Close()
	if _, err := h2.Arm(); !errors.Is(err, netpoll.ErrClosed) {
		t.Fatalf("Arm after Close: %v", err)
	}
}

// TestShrink: once the armed handles fall to an eighth of their peak, the
// poller's table of them is made again at their size (a Go map keeps its
// peak's table otherwise), and what is still armed stays armed.
func TestShrink(t *testing.T) {
	p := newPoller(t)
	s, c := pair(t)
	rc, err := s.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	// One connection armed by many handles: the last arming holds the
	// descriptor's registration, each handle an entry in the table.
	const n = 2048
	hs := make([]*netpoll.Handle, n)
	for i := range hs {
		hs[i] = p.NewHandle(rc, func() {})
		arm(t, hs[i])
	}
	last, fired := handle(t, p, s)
	arm(t, last)
	if got := p.Peak(); got != n+1 {
		t.Fatalf("peak %d, want %d", got, n+1)
	}
	for _, h := range hs {
		if !h.Disarm() {
			t.Fatal("Disarm of an armed handle = false")
		}
	}
	if got := p.Peak(); got > n/8 {
		t.Errorf("peak %d after all but one were disarmed: the table was not made again", got)
	}
	if p.Len() != 1 {
		t.Fatalf("Len = %d, want 1", p.Len())
	}
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	expect(t, fired, true)
}
