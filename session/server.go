package session

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/stream"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// Router is what a session needs from the router.
type Router interface {
	// BindReplacing registers a resource; it returns the target it
	// replaced, after running the replaced session's end-of-session hooks.
	BindReplacing(ctx context.Context, full jid.JID, t stanza.Target) (replaced stanza.Target)
	// Unbind removes the resource if it is still bound to t.
	Unbind(ctx context.Context, full jid.JID, t stanza.Target) bool
	// Route routes a stanza whose 'from' is stamped.
	Route(ctx context.Context, st *stanza.Stanza)
}

// PreAuthHandler answers IQs on a stream that has not authenticated (XEP-0077
// in-band registration). It returns the reply to send. RemoteAddr(ctx)
// gives the client's address.
type PreAuthHandler func(ctx context.Context, host string, iq *stanza.Stanza) *stanza.Stanza

// Config configures client sessions. The zero value of each field is
// replaced by the documented default.
type Config struct {
	Hosts         []string      // served domains; the first is the default
	TLS           *tls.Config   // required
	RequireTLS    bool          // STARTTLS must precede authentication (default in cmd: true)
	MaxStanzaSize int           // default 256 KiB
	AuthTimeout   time.Duration // unauthenticated streams are closed after this; default 60 s
	IdleTimeout   time.Duration // a bound stream that sends nothing for this long is closed; default 30 min
	WriteTimeout  time.Duration // one batch write; default 30 s
	MaxQueue      int           // outbound queue bound in stanzas; default 1000
	StanzaRate    float64       // stanzas per second per session; default 100
	StanzaBurst   int           // default 200
	MaxConnsPerIP int           // default 50; <0 disables the limit
	MaxAuthTries  int           // SASL failures per connection before it is closed; default 3
	// AuthSecret keys the fake SCRAM salts given for unknown users, so they
	// cannot be told from real ones; a persisted random value.
	AuthSecret []byte

	// Features are extra stream features offered after authentication
	// (for example <sm xmlns='urn:xmpp:sm:3'/>), besides bind and session.
	Features []*xml.Element
	// PreAuthFeatures are extra features offered before authentication
	// (for example <register xmlns='http://jabber.org/features/iq-register'/>).
	PreAuthFeatures []*xml.Element
	// PreAuth, if set, answers IQs before authentication.
	PreAuth PreAuthHandler
}

// Server accepts client connections. Set the fields, then call Serve for
// each listener.
type Server struct {
	Config   Config
	Router   Router
	Accounts auth.Store     // credentials lookup
	Throttle *auth.Throttle // login throttling; nil disables it
	Log      *slog.Logger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*Conn]struct{}
	perIP     map[netip.Addr]int
	closing   bool
	wg        sync.WaitGroup
	once      sync.Once
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("session: server closed")

func (s *Server) init() {
	s.once.Do(func() {
		c := &s.Config
		if c.MaxStanzaSize == 0 {
			c.MaxStanzaSize = 256 << 10
		}
		if c.AuthTimeout == 0 {
			c.AuthTimeout = 60 * time.Second
		}
		if c.IdleTimeout == 0 {
			c.IdleTimeout = 30 * time.Minute
		}
		if c.WriteTimeout == 0 {
			c.WriteTimeout = 30 * time.Second
		}
		if c.MaxQueue == 0 {
			c.MaxQueue = 1000
		}
		if c.StanzaRate == 0 {
			c.StanzaRate = 100
		}
		if c.StanzaBurst == 0 {
			c.StanzaBurst = 200
		}
		if c.MaxConnsPerIP == 0 {
			c.MaxConnsPerIP = 50
		}
		if c.MaxAuthTries == 0 {
			c.MaxAuthTries = 3
		}
		if s.Log == nil {
			s.Log = slog.New(slog.DiscardHandler)
		}
		s.listeners = map[net.Listener]struct{}{}
		s.conns = map[*Conn]struct{}{}
		s.perIP = map[netip.Addr]int{}
	})
}

// Serve accepts connections on l until Shutdown. With directTLS, each
// connection starts with a TLS handshake (XEP-0368); otherwise it offers
// STARTTLS.
func (s *Server) Serve(l net.Listener, directTLS bool) error {
	s.init()
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.Log.Warn("accept failed; retrying", "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		ip := addrOf(nc.RemoteAddr())
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		if s.Config.MaxConnsPerIP > 0 && s.perIP[ip] >= s.Config.MaxConnsPerIP {
			s.mu.Unlock()
			s.Log.Warn("connection refused: too many connections from this address", "ip", ip.String(), "limit", s.Config.MaxConnsPerIP)
			go refuse(nc, directTLS, s.Config)
			continue
		}
		s.perIP[ip]++
		c := newConn(s, nc, ip, directTLS)
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			if s.perIP[ip]--; s.perIP[ip] <= 0 {
				delete(s.perIP, ip)
			}
			s.mu.Unlock()
		}()
	}
}

// refuse tells a client over the limit why it is refused (on a STARTTLS
// listener: a stream header and a policy-violation stream error).
func refuse(nc net.Conn, directTLS bool, cfg Config) {
	defer nc.Close()
	if directTLS {
		return
	}
	_ = nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	h := stream.Header{NS: stanza.NSClient, ID: stream.NewID()}
	if len(cfg.Hosts) > 0 {
		h.From = cfg.Hosts[0]
	}
	b := h.AppendOpen(nil)
	b = (&stream.Error{Condition: stream.PolicyViolation, Text: "too many connections from your address"}).AppendXML(b)
	b = append(b, stream.Close...)
	_, _ = nc.Write(b)
}

func addrOf(a net.Addr) netip.Addr {
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

// Shutdown stops accepting, ends every stream with a system-shutdown stream
// error, and waits for the connections to finish or ctx to end.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.CloseWithError(&stream.Error{Condition: stream.SystemShutdown, Text: "the server is shutting down"})
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

// Count returns the number of open connections.
func (s *Server) Count() int {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

type remoteAddrKey struct{}

// RemoteAddr returns the client address of the connection whose context
// ctx is (the zero Addr if none).
func RemoteAddr(ctx context.Context) netip.Addr {
	a, _ := ctx.Value(remoteAddrKey{}).(netip.Addr)
	return a
}
