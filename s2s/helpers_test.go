package s2s

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/testca"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/stream"
	"dormouse.im/dormouse/xml"
)

// fakeRouter serves a set of domains and records what reaches it.
type fakeRouter struct {
	domains map[string]bool
	routed  chan *stanza.Stanza
	bounced chan bounce
}

type bounce struct {
	st  *stanza.Stanza
	err *stanza.Error
}

func newFakeRouter(domains ...string) *fakeRouter {
	r := &fakeRouter{domains: map[string]bool{}, routed: make(chan *stanza.Stanza, 100), bounced: make(chan bounce, 100)}
	for _, d := range domains {
		r.domains[d] = true
	}
	return r
}

func (r *fakeRouter) Route(_ context.Context, st *stanza.Stanza) { r.routed <- st }
func (r *fakeRouter) Bounce(_ context.Context, st *stanza.Stanza, e *stanza.Error) {
	r.bounced <- bounce{st, e}
}
func (r *fakeRouter) Serves(d string) bool { return r.domains[d] }

func testLog(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// peer is a test server: a Service for domain with a certificate from
// ca, listening on loopback.
type peer struct {
	s    *Service
	r    *fakeRouter
	addr string
	cert tls.Certificate
}

func startPeer(t *testing.T, ca *testca.CA, domain string, mod func(*Config)) *peer {
	t.Helper()
	cert, _, _ := ca.Issue(t, domain)
	r := newFakeRouter(domain)
	cfg := Config{
		TLS:            &tls.Config{Certificates: []tls.Certificate{cert}},
		RootCAs:        ca.Pool(),
		Secret:         []byte("secret of " + domain),
		Hosts:          map[string]string{},
		ConnectTimeout: 3 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	s := New(cfg, r, noDNS{}, testLog(t))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(l, false)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-done
	})
	return &peer{s: s, r: r, addr: l.Addr().String(), cert: cert}
}

// noDNS fails every lookup: tests use Hosts.
type noDNS struct{}

func (noDNS) LookupSRV(context.Context, string, string, string) (string, []*net.SRV, error) {
	return "", nil, &net.DNSError{Err: "no DNS in tests", IsNotFound: true}
}

func (noDNS) LookupIPAddr(_ context.Context, h string) ([]net.IPAddr, error) {
	return nil, &net.DNSError{Err: "no DNS in tests", Name: h, IsNotFound: true}
}

// rawPeer is a hand-driven remote server connected to a Service.
type rawPeer struct {
	t   *testing.T
	nc  net.Conn
	dec *xml.Decoder
	id  string // the Service's stream id
}

// dialRaw connects to addr, opens a stream from 'from' to 'to' and runs
// STARTTLS presenting cert (if any); it returns after the features that
// follow TLS.
func dialRaw(t *testing.T, addr, from, to string, cert *tls.Certificate) (*rawPeer, *xml.Element) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	p := &rawPeer{t: t, nc: nc, dec: xml.NewDecoder(nc, xml.Limits{})}
	p.open(from, to)
	p.send("<starttls xmlns='" + stream.NSTLS + "'/>")
	if el := p.next(); el.Name.Local != "proceed" {
		t.Fatalf("starttls: %s", el)
	}
	cfg := &tls.Config{InsecureSkipVerify: true}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	tc := tls.Client(nc, cfg)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	p.nc = tc
	p.dec.Reset(tc)
	return p, p.open(from, to)
}

// open sends a stream header and returns the features.
func (p *rawPeer) open(from, to string) *xml.Element {
	p.t.Helper()
	p.send(string(appendHeader(nil, from, to, "")))
	h, err := p.dec.Header()
	if err != nil {
		p.t.Fatal(err)
	}
	p.id = h.AttrValue("id")
	return p.next()
}

func (p *rawPeer) send(s string) {
	p.t.Helper()
	if _, err := p.nc.Write([]byte(s)); err != nil {
		p.t.Fatal(err)
	}
}

func (p *rawPeer) next() *xml.Element {
	p.t.Helper()
	el, err := p.dec.Next()
	if err != nil {
		p.t.Fatalf("reading: %v", err)
	}
	return el
}

// streamError reads until a stream error and returns its condition.
func (p *rawPeer) streamError() string {
	p.t.Helper()
	for {
		el, err := p.dec.Next()
		if err != nil {
			p.t.Fatalf("waiting for a stream error: %v", err)
		}
		if el.Name.Space == stream.NS && el.Name.Local == "error" {
			return peerError(el).Condition
		}
	}
}

// msg builds a message stanza.
func msg(t testing.TB, from, to string) *stanza.Stanza {
	el, err := xml.Parse([]byte("<message xmlns='jabber:client' from='"+from+"' to='"+to+"' type='chat'><body>hi</body></message>"), stanza.NSClient)
	if err != nil {
		t.Fatal(err)
	}
	st, err := stanza.New(el)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
