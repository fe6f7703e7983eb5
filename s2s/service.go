package s2s

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"dormouse.im/dormouse/internal/wire"
	"dormouse.im/dormouse/stanza"
)

// Router is what the service needs from the router.
type Router interface {
	// Route routes a stanza from a remote server, its 'from' checked.
	Route(ctx context.Context, st *stanza.Stanza)
	// Bounce answers st with a stanza error.
	Bounce(ctx context.Context, st *stanza.Stanza, e *stanza.Error)
	// Serves reports whether domain is a served host or a service or
	// component of this process: the domains that federate.
	Serves(domain string) bool
}

// Config configures federation. Zero durations and sizes take the
// defaults below.
type Config struct {
	// TLS is the server's TLS configuration (its certificate, with
	// GetCertificate or Certificates); it is cloned for both directions.
	TLS *tls.Config
	// RootCAs validates peer certificates; nil means the system roots.
	RootCAs *x509.CertPool
	// Secret is the server's persistent secret: dialback keys derive
	// from it (XEP-0185).
	Secret []byte
	// Hosts maps a domain to a host:port STARTTLS endpoint, replacing DNS
	// for that domain.
	Hosts map[string]string
	// InsecureDomains may authenticate with dialback over TLS although
	// their certificate does not validate.
	InsecureDomains []string
	// Allow, if not empty, lists the only domains to federate with; Deny
	// lists domains never federated with.
	Allow, Deny []string
	// IdleTimeout closes an outgoing stream that sent no stanza, and an
	// authenticated incoming stream that carried no element (whitespace
	// keepalives do not count), for this long; default 10m.
	IdleTimeout time.Duration
	// ConnectTimeout bounds setting up an outgoing stream (resolution,
	// connection, TLS, authentication); default 30 s.
	ConnectTimeout time.Duration
	// MaxQueue bounds the stanzas waiting on one outgoing stream; default
	// 1000. Beyond it, Send answers resource-constraint.
	MaxQueue int
	// MaxStanzaSize bounds a stanza from a peer; default 256 KiB.
	MaxStanzaSize int
	// MaxConnectionsPerIP bounds incoming connections from one address;
	// default 20.
	MaxConnectionsPerIP int
	// StanzaRate is the sustained number of stanzas per second one
	// incoming stream may send (it carries many users); default 1000.
	// StanzaBurst is how many it may send at once above it; default 2000.
	StanzaRate, StanzaBurst int
	// RetryAfter is the first back-off after a failed connection; it
	// doubles with each failure up to 5 minutes. Default 5 s.
	RetryAfter time.Duration
}

// Defaults.
const (
	DefaultIdleTimeout         = 10 * time.Minute
	DefaultConnectTimeout      = 30 * time.Second
	DefaultMaxQueue            = 1000
	DefaultMaxStanzaSize       = 256 << 10
	DefaultMaxConnectionsPerIP = 20
	DefaultRetryAfter          = 5 * time.Second
	maxRetryAfter              = 5 * time.Minute
	writeTimeout               = 30 * time.Second
	closeWait                  = 2 * time.Second
)

// Service runs the outgoing and incoming server-to-server streams. It
// implements router.Remote.
type Service struct {
	cfg      Config
	r        Router
	resolver Resolver
	dialer   dialer
	log      *slog.Logger
	insecure map[string]bool
	allow    map[string]bool
	deny     map[string]bool

	mu        sync.Mutex // guards the fields below
	out       map[pair]*outStream
	in        map[*inStream]struct{}
	perIP     wire.PerAddr
	backoff   map[string]retry // by remote domain
	listeners map[net.Listener]struct{}
	closing   bool

	stats Stats
	wg    sync.WaitGroup // every goroutine of the service
}

type pair struct{ local, remote string }

type retry struct {
	until time.Time
	wait  time.Duration
	err   error
}

// New returns a service. resolver may be nil (net.DefaultResolver).
func New(cfg Config, r Router, resolver Resolver, log *slog.Logger) *Service {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = DefaultMaxQueue
	}
	if cfg.MaxStanzaSize <= 0 {
		cfg.MaxStanzaSize = DefaultMaxStanzaSize
	}
	if cfg.MaxConnectionsPerIP <= 0 {
		cfg.MaxConnectionsPerIP = DefaultMaxConnectionsPerIP
	}
	if cfg.StanzaRate <= 0 {
		cfg.StanzaRate = 1000
	}
	if cfg.StanzaBurst <= 0 {
		cfg.StanzaBurst = 2 * cfg.StanzaRate
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = DefaultRetryAfter
	}
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		cfg: cfg, r: r, resolver: resolver, dialer: &net.Dialer{}, log: log,
		insecure: domainSet(cfg.InsecureDomains), allow: domainSet(cfg.Allow), deny: domainSet(cfg.Deny),
		out: map[pair]*outStream{}, in: map[*inStream]struct{}{},
		backoff: map[string]retry{}, listeners: map[net.Listener]struct{}{},
	}
	hosts := make(map[string]string, len(cfg.Hosts))
	for d, hp := range cfg.Hosts {
		if cd, ok := canonicalDomain(d); ok {
			hosts[cd] = hp
		}
	}
	s.cfg.Hosts = hosts
	return s
}

func domainSet(ds []string) map[string]bool {
	m := map[string]bool{}
	for _, d := range ds {
		if cd, ok := canonicalDomain(d); ok {
			m[cd] = true
		}
	}
	return m
}

// allowed reports whether the service federates with domain.
func (s *Service) allowed(domain string) bool {
	if s.deny[domain] {
		return false
	}
	return len(s.allow) == 0 || s.allow[domain]
}

// Send queues st on the outgoing stream of its (from domain, to domain)
// pair (router.Remote). It does not block.
func (s *Service) Send(ctx context.Context, st *stanza.Stanza) error {
	remote, local := st.To.Domainpart(), st.From.Domainpart()
	if !s.allowed(remote) {
		return stanza.NewError(stanza.RemoteServerNotFound, "federation with "+remote+" is not allowed here")
	}
	if local == "" || !s.r.Serves(local) {
		return stanza.NewError(stanza.RemoteServerNotFound, "stanzas to remote domains must come from a domain served here")
	}
	p := pair{local, remote}
	for {
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			return stanza.NewError(stanza.RemoteServerTimeout, "the server is shutting down")
		}
		if b, ok := s.backoff[remote]; ok && time.Now().Before(b.until) {
			s.mu.Unlock()
			return stanza.NewError(bounceCondition(b.err), "recent connection to "+remote+" failed: "+b.err.Error())
		}
		o := s.out[p]
		if o == nil {
			// A new stream starts with st queued, so that a connection
			// that fails at once bounces it like the stanzas queued later.
			o = newOutStream(s, p)
			o.queue = append(o.queue, st)
			s.out[p] = o
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				o.run()
			}()
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
		switch err := o.push(st); {
		case errors.Is(err, errStreamClosed):
			s.removeOut(o) // it ended meanwhile: start another
			continue
		case err != nil:
			return err
		}
		return nil
	}
}

// failed records a failed connection to remote for the back-off.
func (s *Service) failed(remote string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.backoff[remote]
	if b.wait == 0 {
		b.wait = s.cfg.RetryAfter
	} else {
		b.wait = min(2*b.wait, maxRetryAfter)
	}
	b.until, b.err = time.Now().Add(b.wait), err
	s.backoff[remote] = b
}

// succeeded clears remote's back-off.
func (s *Service) succeeded(remote string) {
	s.mu.Lock()
	delete(s.backoff, remote)
	s.mu.Unlock()
}

func (s *Service) removeOut(o *outStream) {
	s.mu.Lock()
	if s.out[o.p] == o {
		delete(s.out, o.p)
	}
	s.mu.Unlock()
}

// clientTLS is the TLS configuration of an outgoing connection from local
// to remote: the server's certificate for local as client certificate,
// verification done by verifyPeer afterwards (so that InsecureDomains can
// fall back to dialback).
func (s *Service) clientTLS(local, remote string, direct bool) *tls.Config {
	base := s.cfg.TLS
	cfg := &tls.Config{
		ServerName:         remote,
		InsecureSkipVerify: true, // verified by verifyPeer, with the XMPP domain
		MinVersion:         tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return s.certificate(base, local)
		},
	}
	if direct {
		cfg.NextProtos = []string{ALPN}
	}
	return cfg
}

func (s *Service) certificate(base *tls.Config, local string) (*tls.Certificate, error) {
	if base == nil {
		return &tls.Certificate{}, nil
	}
	if base.GetCertificate != nil {
		c, err := base.GetCertificate(&tls.ClientHelloInfo{ServerName: local})
		if err != nil || c == nil {
			return &tls.Certificate{}, nil // no client certificate: dialback only
		}
		return c, nil
	}
	if len(base.Certificates) > 0 {
		return &base.Certificates[0], nil
	}
	return &tls.Certificate{}, nil
}

// serverTLS is the TLS configuration of incoming connections: the
// server's certificate, and a request (not a requirement) for the peer's.
func (s *Service) serverTLS(direct bool) *tls.Config {
	var cfg *tls.Config
	if s.cfg.TLS != nil {
		cfg = s.cfg.TLS.Clone()
	} else {
		cfg = &tls.Config{}
	}
	cfg.ClientAuth = tls.RequestClientCert
	cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS12)
	if direct {
		cfg.NextProtos = []string{ALPN}
	} else {
		cfg.NextProtos = nil
	}
	return cfg
}

// Shutdown closes the listeners, ends every stream (bouncing what is
// still queued) and waits for the goroutines, bounded by ctx.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
	outs, ins := s.streams()
	for _, o := range outs {
		o.stop()
	}
	for _, i := range ins {
		i.stop()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		// Out of time: cut the connections still open.
		outs, ins := s.streams()
		for _, o := range outs {
			o.mu.Lock()
			if o.c != nil {
				o.c.nc.Close()
			}
			o.mu.Unlock()
		}
		for _, i := range ins {
			i.c.nc.Close()
		}
		return ctx.Err()
	}
}

// streams returns the current streams.
func (s *Service) streams() ([]*outStream, []*inStream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	outs := make([]*outStream, 0, len(s.out))
	for _, o := range s.out {
		outs = append(outs, o)
	}
	ins := make([]*inStream, 0, len(s.in))
	for i := range s.in {
		ins = append(ins, i)
	}
	return outs, ins
}

// StreamInfo describes one stream for status output.
type StreamInfo struct {
	Direction string // "out" or "in"
	Local     string
	Remote    string // the authenticated remote domains, comma-separated for incoming
	Auth      string // "sasl-external", "dialback", or "" while negotiating
	TLS       string // TLS version
	DirectTLS bool   // outgoing: connected with XEP-0368 direct TLS
	Since     time.Time
	Addr      string // peer address
}

// Streams lists the current streams, outgoing first, by domain.
func (s *Service) Streams() []StreamInfo {
	outs, ins := s.streams()
	var out []StreamInfo
	for _, o := range outs {
		out = append(out, o.info())
	}
	for _, i := range ins {
		out = append(out, i.info())
	}
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].Direction != out[b].Direction {
			return out[a].Direction == "out"
		}
		return out[a].Remote < out[b].Remote
	})
	return out
}

// Stats counts federation traffic (read with Snapshot).
type Stats struct {
	stanzasIn, stanzasOut atomic.Uint64
	failures              [numReasons]atomic.Uint64
}

// Failure reasons of outgoing streams and incoming authentication.
const (
	ReasonDNS = iota
	ReasonTCP
	ReasonTLS
	ReasonCertificate
	ReasonAuth
	ReasonTimeout
	ReasonOther
	numReasons
)

// ReasonNames are the label values of the failure reasons.
var ReasonNames = [numReasons]string{"dns", "tcp", "tls", "certificate", "auth", "timeout", "other"}

// Snapshot is a copy of the counters.
type Snapshot struct {
	StanzasIn, StanzasOut uint64
	Failures              [numReasons]uint64
	// Streams by direction ("in", "out") and auth method.
	Streams map[[2]string]int
}

// Snapshot returns the current counters and stream counts.
func (s *Service) Snapshot() Snapshot {
	sn := Snapshot{StanzasIn: s.stats.stanzasIn.Load(), StanzasOut: s.stats.stanzasOut.Load(), Streams: map[[2]string]int{}}
	for i := range sn.Failures {
		sn.Failures[i] = s.stats.failures[i].Load()
	}
	for _, st := range s.Streams() {
		auth := st.Auth
		if auth == "" {
			auth = "none"
		}
		sn.Streams[[2]string{st.Direction, auth}]++
	}
	return sn
}

// reason classifies a failure.
func reason(err error) int {
	var ne net.Error
	var pe *peerStreamError
	switch {
	case errors.Is(err, errDNS):
		return ReasonDNS
	case errors.Is(err, errCert):
		return ReasonCertificate
	case errors.Is(err, errTLS):
		return ReasonTLS
	case errors.Is(err, errAuth), errors.As(err, &pe):
		return ReasonAuth
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return ReasonTimeout
	case errors.Is(err, errTCP):
		return ReasonTCP
	}
	return ReasonOther
}

var errTCP = errors.New("s2s: connection failed")

// bounceCondition is the stanza error for stanzas that could not leave
// because of err (RFC 6120 §8.3.3.16, §8.3.3.17).
func bounceCondition(err error) stanza.Condition {
	if reason(err) == ReasonTimeout {
		return stanza.RemoteServerTimeout
	}
	return stanza.RemoteServerNotFound
}

// isInsecure reports whether domain may use dialback without a valid
// certificate.
func (s *Service) isInsecure(domain string) bool { return s.insecure[domain] }
