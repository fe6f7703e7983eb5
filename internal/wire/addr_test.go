package wire

import (
	"net"
	"net/netip"
	"testing"
)

func TestAddrOf(t *testing.T) {
	want := netip.MustParseAddr("192.0.2.1")
	for _, a := range []net.Addr{
		&net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 5269},
		&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 5269},
	} {
		if got := AddrOf(a); got != want {
			t.Errorf("AddrOf(%v) = %v, want %v", a, got, want)
		}
	}
	if got := AddrOf(&net.UnixAddr{Name: "pipe"}); got.IsValid() {
		t.Errorf("AddrOf(unix) = %v, want the zero Addr", got)
	}
}

func TestPerAddr(t *testing.T) {
	var p PerAddr
	ip := netip.MustParseAddr("192.0.2.1")
	if !p.Add(ip, 2) || !p.Add(ip, 2) {
		t.Fatal("Add refused below the limit")
	}
	if p.Add(ip, 2) {
		t.Fatal("Add counted past the limit")
	}
	p.Done(ip)
	if !p.Add(ip, 2) {
		t.Fatal("Add refused after Done")
	}
	p.Done(ip)
	p.Done(ip)
	if p.Len() != 0 {
		t.Fatalf("PerAddr not empty after every Done: %d addresses", p.Len())
	}
	for range 5 {
		if !p.Add(ip, 0) {
			t.Fatal("Add with max 0 refused")
		}
	}
}
