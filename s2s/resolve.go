package s2s

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"
)

// Resolver is the part of *net.Resolver the service uses; tests inject
// their own.
type Resolver interface {
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// endpoint is one place to connect to for a domain.
type endpoint struct {
	Host      string // a host name or an IP address
	Port      uint16
	DirectTLS bool // XEP-0368: TLS from the first byte; else STARTTLS
}

func (e endpoint) String() string {
	s := net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port)))
	if e.DirectTLS {
		return s + " (direct TLS)"
	}
	return s
}

// DefaultPort is the port of server-to-server streams when a domain has no
// SRV records (RFC 6120 §3.2.2).
const DefaultPort = 5269

// errDNS marks resolution failures (for the failure metrics).
var errDNS = errors.New("s2s: DNS resolution failed")

// endpoints lists where to connect for domain, in order (RFC 6120 §3.2.1,
// XEP-0368 §3): a Hosts entry replaces DNS; else the _xmpps-server records
// (direct TLS) and then the _xmpp-server records (STARTTLS), each sorted
// by priority and weight; else the domain itself on port 5269. A record
// with target "." means the service is not offered (RFC 2782).
func endpoints(ctx context.Context, r Resolver, hosts map[string]string, domain string) ([]endpoint, error) {
	if hp, ok := hosts[domain]; ok {
		h, p, err := net.SplitHostPort(hp)
		if err != nil {
			return nil, fmt.Errorf("%w: hosts entry %q for %s: %w", errDNS, hp, domain, err)
		}
		port, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("%w: hosts entry %q for %s: bad port", errDNS, hp, domain)
		}
		return []endpoint{{Host: h, Port: uint16(port)}}, nil
	}
	var out []endpoint
	found := false
	for _, svc := range []struct {
		name   string
		direct bool
	}{{"xmpps-server", true}, {"xmpp-server", false}} {
		_, srvs, err := r.LookupSRV(ctx, svc.name, "tcp", domain)
		if err != nil {
			var de *net.DNSError
			if errors.As(err, &de) && de.IsNotFound {
				continue
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%w: %w", errDNS, ctx.Err())
			}
			continue // a failing lookup of one record type is not fatal
		}
		found = found || len(srvs) > 0
		for _, s := range srvs {
			if s.Target == "." || s.Target == "" {
				continue
			}
			out = append(out, endpoint{Host: trimDot(s.Target), Port: s.Port, DirectTLS: svc.direct})
		}
	}
	if !found {
		out = append(out, endpoint{Host: domain, Port: DefaultPort})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s does not offer server-to-server service (SRV target \".\")", errDNS, domain)
	}
	return out, nil
}

func trimDot(s string) string {
	if len(s) > 1 && s[len(s)-1] == '.' {
		return s[:len(s)-1]
	}
	return s
}

// happyEyeballsDelay is how long an attempt runs before the next address
// is tried in parallel (RFC 8305 §5 recommends 250 ms).
const happyEyeballsDelay = 250 * time.Millisecond

// dialer opens TCP connections; tests may replace it.
type dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// dialEndpoint resolves e's host and connects to one of its addresses,
// starting a new attempt every happyEyeballsDelay (alternating IPv6 and
// IPv4, RFC 8305 §4) until one succeeds; the losers are closed.
func dialEndpoint(ctx context.Context, r Resolver, d dialer, e endpoint) (net.Conn, error) {
	var addrs []net.IP
	if ip := net.ParseIP(e.Host); ip != nil {
		addrs = []net.IP{ip}
	} else {
		ias, err := r.LookupIPAddr(ctx, e.Host)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", errDNS, e.Host, err)
		}
		for _, ia := range ias {
			addrs = append(addrs, ia.IP)
		}
		addrs = interleave(addrs)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%w: %s has no addresses", errDNS, e.Host)
	}
	port := strconv.Itoa(int(e.Port))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		c   net.Conn
		err error
	}
	results := make(chan result, len(addrs))
	next := 0
	start := func() {
		a := net.JoinHostPort(addrs[next].String(), port)
		next++
		go func() {
			c, err := d.DialContext(ctx, "tcp", a)
			results <- result{c, err}
		}()
	}
	start()
	running := 1
	timer := time.NewTimer(happyEyeballsDelay)
	defer timer.Stop()
	var errs []error
	for {
		select {
		case res := <-results:
			running--
			if res.err == nil {
				// Close the connections of attempts still running.
				go func(n int) {
					for range n {
						if r := <-results; r.c != nil {
							r.c.Close()
						}
					}
				}(running)
				return res.c, nil
			}
			errs = append(errs, res.err)
			if next < len(addrs) {
				start()
				running++
				timer.Reset(happyEyeballsDelay)
			} else if running == 0 {
				return nil, errors.Join(errs...)
			}
		case <-timer.C:
			if next < len(addrs) {
				start()
				running++
				timer.Reset(happyEyeballsDelay)
			}
		}
	}
}

// interleave orders addresses IPv6 first, alternating with IPv4 (RFC 8305
// §4), keeping the resolver's order within each family.
func interleave(addrs []net.IP) []net.IP {
	var v6, v4 []net.IP
	for _, a := range addrs {
		if a.To4() != nil {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	out := make([]net.IP, 0, len(addrs))
	for len(v6) > 0 || len(v4) > 0 {
		if len(v6) > 0 {
			out = append(out, v6[0])
			v6 = v6[1:]
		}
		if len(v4) > 0 {
			out = append(out, v4[0])
			v4 = v4[1:]
		}
	}
	return slices.Clip(out)
}
