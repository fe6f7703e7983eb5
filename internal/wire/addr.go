package wire

import (
	"net"
	"net/netip"

	"dormouse.im/dormouse/internal/shrinkmap"
)

// AddrOf is the IP address of a connection's remote end, IPv4-mapped IPv6
// unmapped, for per-address connection limits; the zero Addr when a names
// no IP address.
func AddrOf(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(t.IP); ok {
			return ip.Unmap()
		}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// PerAddr counts open connections by remote address. It is not safe for
// concurrent use: the owner guards it with its own lock. The zero PerAddr
// counts nothing and is ready to use.
type PerAddr struct {
	m shrinkmap.Map[netip.Addr, int]
}

// Add counts one more connection from ip, unless max > 0 and ip already has
// max open; it reports whether it counted.
func (p *PerAddr) Add(ip netip.Addr, max int) bool {
	n, _ := p.m.Get(ip)
	if max > 0 && n >= max {
		return false
	}
	p.m.Set(ip, n+1)
	return true
}

// Done forgets one connection from ip.
func (p *PerAddr) Done(ip netip.Addr) {
	if n, _ := p.m.Get(ip); n > 1 {
		p.m.Set(ip, n-1)
	} else {
		p.m.Delete(ip)
	}
}

// Len returns the number of addresses with connections open.
func (p *PerAddr) Len() int { return p.m.Len() }
