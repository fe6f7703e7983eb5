//go:build unix

package session

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// TestPending: pending sees data and the end of the stream without
// consuming anything, and says no on an empty socket.
func TestPending(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	rc, err := server.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	check := func(want bool, what string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			var got bool
			if err := rc.Control(func(fd uintptr) { got = pending(fd) }); err != nil {
				t.Fatal(err)
			}
			if got == want || !want || time.Now().After(deadline) {
				if got != want {
					t.Fatalf("%s: pending = %v", what, got)
				}
				return
			}
			time.Sleep(time.Millisecond) // the bytes are on their way
		}
	}
	check(false, "empty socket")
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	check(true, "a byte sent")
	check(true, "looked again") // nothing was consumed
	b := make([]byte, 1)
	if _, err := server.Read(b); err != nil || b[0] != 'x' {
		t.Fatalf("read %q, %v", b, err)
	}
	check(false, "read")
	client.(*net.TCPConn).CloseWrite()
	check(true, "FIN")
}
