package s2s

import (
	"context"
	"errors"
	"net"
	"reflect"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

type srvDNS struct {
	srv  map[string][]*net.SRV // by "service name"
	err  error
	addr map[string][]net.IPAddr
}

func (d srvDNS) LookupSRV(_ context.Context, service, _, name string) (string, []*net.SRV, error) {
	if d.err != nil {
		return "", nil, d.err
	}
	if s, ok := d.srv[service+" "+name]; ok {
		return "", s, nil
	}
	return "", nil, &net.DNSError{Err: "no such host", IsNotFound: true}
}

func (d srvDNS) LookupIPAddr(_ context.Context, h string) ([]net.IPAddr, error) {
	if a, ok := d.addr[h]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: h, IsNotFound: true}
}

func TestEndpoints(t *testing.T) {
	dns := srvDNS{srv: map[string][]*net.SRV{
		"xmpps-server both.example": {{Target: "tls.both.example.", Port: 5270}},
		"xmpp-server both.example":  {{Target: "plain.both.example.", Port: 5269}, {Target: "backup.both.example.", Port: 5299}},
		"xmpp-server plain.example": {{Target: "xmpp.plain.example.", Port: 5269}},
		"xmpp-server none.example":  {{Target: ".", Port: 0}},
	}}
	for _, tc := range []struct {
		domain string
		want   []endpoint
		err    bool
	}{
		{"both.example", []endpoint{{"tls.both.example", 5270, true}, {"plain.both.example", 5269, false}, {"backup.both.example", 5299, false}}, false},
		{"plain.example", []endpoint{{"xmpp.plain.example", 5269, false}}, false},
		{"nosrv.example", []endpoint{{"nosrv.example", 5269, false}}, false},
		{"none.example", nil, true},
		{"hosted.example", []endpoint{{"127.0.0.1", 4000, false}}, false},
	} {
		got, err := endpoints(context.Background(), dns, map[string]string{"hosted.example": "127.0.0.1:4000"}, tc.domain)
		if (err != nil) != tc.err || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v %v, want %v", tc.domain, got, err, tc.want)
		}
		if err != nil && !errors.Is(err, errDNS) {
			t.Errorf("%s: error %v is not a DNS failure", tc.domain, err)
		}
	}
}

func TestInterleave(t *testing.T) {
	in := []net.IP{net.ParseIP("10.0.0.1"), net.ParseIP("10.0.0.2"), net.ParseIP("::1"), net.ParseIP("::2")}
	got := interleave(in)
	want := []net.IP{net.ParseIP("::1"), net.ParseIP("10.0.0.1"), net.ParseIP("::2"), net.ParseIP("10.0.0.2")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("interleave: %v", got)
	}
}

// stallDialer never connects to the stalled address (until cancelled).
type stallDialer struct {
	stalled  string
	attempts atomic.Int32
}

func (d *stallDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.attempts.Add(1)
	if addr == d.stalled {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

// An address that does not answer does not hold up the next one for more
// than the happy-eyeballs delay (RFC 8305).
func TestHappyEyeballs(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	dns := srvDNS{addr: map[string][]net.IPAddr{"xmpp.example": {{IP: net.ParseIP("2001:db8::1")}, {IP: net.ParseIP("127.0.0.1")}}}}
	d := &stallDialer{stalled: net.JoinHostPort("2001:db8::1", strconv.Itoa(port))}
	start := time.Now()
	c, err := dialEndpoint(context.Background(), dns, d, endpoint{Host: "xmpp.example", Port: uint16(port)})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if el := time.Since(start); el < happyEyeballsDelay || el > happyEyeballsDelay+2*time.Second {
		t.Errorf("connected after %v", el)
	}
	if d.attempts.Load() != 2 {
		t.Errorf("%d attempts, want 2", d.attempts.Load())
	}
	// A refused address moves on at once.
	d = &stallDialer{}
	dns.addr["xmpp.example"] = []net.IPAddr{{IP: net.ParseIP("127.0.0.2")}, {IP: net.ParseIP("127.0.0.1")}}
	// Nothing listens on 127.0.0.2 (the listener has 127.0.0.1): refused.
	start = time.Now()
	c, err = dialEndpoint(context.Background(), dns, d, endpoint{Host: "xmpp.example", Port: uint16(port)})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if el := time.Since(start); el > happyEyeballsDelay {
		t.Errorf("a refused address delayed the next by %v", el)
	}
}
