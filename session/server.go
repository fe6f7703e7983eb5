package session

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/internal/netpoll"
	"dormouse.im/dormouse/internal/shrinkmap"
	"dormouse.im/dormouse/internal/wire"
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
	RequireTLS    bool          // STARTTLS must precede authentication (default in the configuration: true)
	MaxStanzaSize int           // default 256 KiB
	AuthTimeout   time.Duration // unauthenticated streams are closed after this; default 60 s
	IdleTimeout   time.Duration // a bound stream that sends nothing for this long is closed; default 30 min
	WriteTimeout  time.Duration // one batch write; default 30 s
	MaxQueue      int           // outbound queue bound in stanzas; default 1000
	StanzaRate    float64       // stanzas per second per session; default 100
	StanzaBurst   int           // default 200
	MaxConnsPerIP int           // default 50; <0 disables the limit
	MaxAuthTries  int           // SASL failures per connection before it is closed; default 3
	// ParkAfter: an authenticated connection that sends nothing for this
	// long holds no goroutine and no read buffer until it is readable
	// again (see park.go). Default 100 ms; <0 never parks.
	ParkAfter time.Duration
	// PortablePark parks with one small waiting goroutine per connection
	// instead of the epoll poller (always so on systems other than Linux).
	PortablePark bool
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

	// SM configures XEP-0198 stream management; CSI configures XEP-0352.
	// Both are always offered.
	SM  SMConfig
	CSI CSIConfig
	// FAST configures XEP-0484 tokens (offered when Server.Tokens is set).
	FAST FASTConfig
}

// SMConfig configures XEP-0198 stream management and resumption. The zero
// value of each field is replaced by the documented default.
type SMConfig struct {
	// ResumeTimeout is how long a session whose connection was lost stays
	// resumable (hibernated) when the client does not ask for a time in
	// <enable max='…'/>. Default 10 minutes ([stream_management]
	// resume_timeout).
	ResumeTimeout time.Duration
	// MaxResumeTimeout caps the time a client may ask for. Default the
	// larger of ResumeTimeout and 1 hour ([stream_management]
	// max_resume_timeout).
	MaxResumeTimeout time.Duration
	// MaxQueue bounds the stanzas a hibernated session keeps (sent but
	// unacknowledged, plus queued since). Past it, the session ends at once
	// as if its resumption time had run out: its messages are rescued,
	// nothing is lost. Default 500 ([stream_management] max_queue).
	MaxQueue int
	// MaxUnacked bounds the stanzas a live stream-managed session keeps
	// unacknowledged (in flight to a client that reads slowly, or never
	// acknowledges). Past it, the stream is closed with policy-violation
	// and the session's messages are rescued. Default 5000.
	MaxUnacked int
	// AckAfter: the server sends <r/> when this many stanzas are
	// unacknowledged. Default 5.
	AckAfter int
	// AckDelay: the server sends <r/> this long after a stanza if fewer
	// than AckAfter are unacknowledged. Default 2 seconds. At most one
	// <r/> is outstanding.
	AckDelay time.Duration
	// OldSessions is how many ended sessions per account keep their h for
	// a late <resume/> (answered <failed h='…'/>). Default 10.
	OldSessions int
	// OldSessionTTL is how long an ended session keeps its h. Default 1
	// hour.
	OldSessionTTL time.Duration
}

// CSIConfig configures XEP-0352 client state indication.
type CSIConfig struct {
	// MaxHeld bounds the stanzas held back for an inactive client; a full
	// hold queue is flushed. Default 256.
	MaxHeld int
}

// Server accepts client connections. Set the fields, then call Serve for
// each listener.
type Server struct {
	Config   Config
	Router   Router
	Accounts auth.Store // credentials lookup
	// Tokens keeps XEP-0484 FAST tokens; nil: FAST is not offered.
	Tokens auth.TokenStore
	// Carbons, if set, lets Bind 2 enable XEP-0280 carbons inline.
	Carbons  CarbonsEnabler
	Throttle *auth.Throttle // login throttling; nil disables it
	Log      *slog.Logger

	// Rescuer takes the unacknowledged messages of sessions that end
	// without resumption (see Rescuer). Without one they are logged and
	// dropped.
	Rescuer Rescuer
	// Pipeline, if set, tells which chat and normal messages are worth
	// routing while the reader reads on (pipeline.go): those that may wait
	// on their way, for the archive's group commit. The others are routed
	// at once by the reader, without a goroutine of their own. Nil: every
	// chat and normal message is pipelined.
	Pipeline func(el *xml.Element) bool
	// Events are told about hibernation and resumption, each in turn.
	Events []Events
	// Remote, if set, resumes sessions that other nodes of a cluster hold
	// (handover.go); SMIDSuffix ends every SM-ID made here (the cluster
	// names the node holding a session there). Set both before serving.
	Remote     Remote
	SMIDSuffix string
	// Node names this server in a cluster (in SMRecords).
	Node string
	// SMStore, if set, persists the h of hibernated and ended sessions
	// for the other nodes (smstore.go).
	SMStore SMStore
	// Drain, if set, is called by Shutdown once the connections ended,
	// before it ends the hibernated sessions: it hands them to other nodes
	// of a cluster (Hibernated, HandOver), and those it does not are ended
	// and rescued. With Drain set, the resumable sessions whose streams
	// Shutdown closes hibernate instead of ending, so they are handed over
	// too (their clients resume them elsewhere).
	Drain func(ctx context.Context)
	// ResumePolicy, if set, chooses each session's resumption time.
	ResumePolicy ResumePolicy
	// Clock drives the session timers; nil means the system clock.
	Clock Clock
	// Metrics, if set, receives login results and credential lookup
	// timings.
	Metrics Metrics

	events   Events          // Events or NopEvents
	metrics  Metrics         // Metrics or noMetrics
	clock    Clock           // Clock or the system clock
	pollOnce sync.Once       // starts the poller at the first parking (park.go)
	poller   *netpoll.Poller // parked connections (nil: portable parking); set by pollOnce

	wake                 wakeups       // readers of woken connections (wake.go)
	sweepOnce            sync.Once     // starts the idle sweep (park.go)
	sweepStop, sweepDone chan struct{} // set by sweepOnce
	reg                  registry
	hib                  hibTimers // resumption timeouts (sm_hibernate.go)
	stats                stats
	closing              atomic.Bool // Shutdown was called
	connSeq              atomic.Uint64
	tlsCfg               *tls.Config // Config.TLS recording the certificate of each handshake (cb.go); set by init
	hsCerts              sync.Map    // net.Conn → *tls.Certificate it was presented, during its handshake (cb.go)

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     shrinkmap.Map[*Conn, struct{}] // a Go map would keep the peak of connections' table for good
	perIP     wire.PerAddr
	wg        sync.WaitGroup // connection goroutines
	work      int            // background session endings in progress; guarded by mu
	rescues   map[string]int // accounts with a rescue in progress → count; guarded by mu
	workDone  sync.Cond      // signalled when work drops to 0; L is &mu
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
		if c.ParkAfter == 0 {
			c.ParkAfter = defaultParkAfter
		}
		if s.Log == nil {
			s.Log = slog.New(slog.DiscardHandler)
		}
		s.tlsCfg = s.handshakeConfig()
		sm := &c.SM
		if sm.ResumeTimeout <= 0 {
			sm.ResumeTimeout = 10 * time.Minute
		}
		if sm.MaxResumeTimeout <= 0 {
			sm.MaxResumeTimeout = max(sm.ResumeTimeout, time.Hour)
		}
		if sm.MaxQueue <= 0 {
			sm.MaxQueue = 500
		}
		if sm.MaxUnacked <= 0 {
			sm.MaxUnacked = 5000
		}
		if sm.AckAfter <= 0 {
			sm.AckAfter = 5
		}
		if sm.AckDelay <= 0 {
			sm.AckDelay = 2 * time.Second
		}
		if sm.OldSessions == 0 {
			sm.OldSessions = 10
		}
		if sm.OldSessionTTL <= 0 {
			sm.OldSessionTTL = time.Hour
		}
		if c.CSI.MaxHeld <= 0 {
			c.CSI.MaxHeld = 256
		}
		if c.FAST.Expiry <= 0 {
			c.FAST.Expiry = 14 * 24 * time.Hour
		}
		if c.FAST.RotateAfter <= 0 {
			c.FAST.RotateAfter = 24 * time.Hour
		}
		switch len(s.Events) {
		case 0:
			s.events = NopEvents{}
		case 1:
			s.events = s.Events[0]
		default:
			s.events = eventList(slices.Clone(s.Events))
		}
		s.metrics = s.Metrics
		if s.metrics == nil {
			s.metrics = noMetrics{}
		}
		s.clock = s.Clock
		if s.clock == nil {
			s.clock = systemClock{}
		}
		s.reg.init(sm.OldSessions, sm.OldSessionTTL)
		s.hib.clock = s.clock
		if s.wake.limit == 0 { // set by a test
			s.wake.limit, s.wake.stall = wakeLimit(), wakeStall
		}
		s.workDone.L = &s.mu
		s.listeners = map[net.Listener]struct{}{}
	})
}

// Serve accepts connections on l until Shutdown. With directTLS, each
// connection starts with a TLS handshake (XEP-0368); otherwise it offers
// STARTTLS.
func (s *Server) Serve(l net.Listener, directTLS bool) error {
	s.init()
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	a := wire.Acceptor{Listener: l, Closing: s.closing.Load, Log: s.Log}
	for {
		nc, err := a.Accept()
		if errors.Is(err, wire.ErrClosing) {
			return ErrServerClosed
		}
		if err != nil {
			return err
		}
		ip := wire.AddrOf(nc.RemoteAddr())
		s.mu.Lock()
		if s.closing.Load() {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		if !s.perIP.Add(ip, s.Config.MaxConnsPerIP) {
			s.mu.Unlock()
			s.Log.Warn("connection refused: too many connections from this address", "ip", ip.String(), "limit", s.Config.MaxConnsPerIP)
			go refuse(nc, directTLS, s.Config)
			continue
		}
		c := newConn(s, nc, ip, directTLS)
		s.conns.Set(c, struct{}{})
		s.wg.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}

// ErrTooManyConns is returned by ServeConn when the client's address has
// Config.MaxConnsPerIP connections open.
var ErrTooManyConns = errors.New("session: too many connections from this address")

// ServeConn serves one client connection accepted by another listener over
// a transport that is already secure: an XMPP stream carried over a
// WebSocket of the HTTPS listener (RFC 7395), translated into a byte stream
// by package websocket. No STARTTLS is offered and SASL PLAIN is allowed;
// everything else (authentication, limits, stream management, CSI) is as on
// a TCP connection. nc's RemoteAddr names the client; its Read must return
// an error wrapping os.ErrDeadlineExceeded when a deadline set by
// SetReadDeadline passes, without closing the connection. ServeConn returns
// at once: the connection runs on its own goroutine and Shutdown waits for
// it. ErrServerClosed after Shutdown and ErrTooManyConns leave nc open.
func (s *Server) ServeConn(nc net.Conn) error {
	s.init()
	ip := wire.AddrOf(nc.RemoteAddr())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return ErrServerClosed
	}
	if !s.perIP.Add(ip, s.Config.MaxConnsPerIP) {
		s.Log.Warn("connection refused: too many connections from this address", "ip", ip.String(), "limit", s.Config.MaxConnsPerIP)
		return ErrTooManyConns
	}
	c := newConn(s, nc, ip, false)
	c.secure = true
	s.conns.Set(c, struct{}{})
	s.wg.Add(1)
	go c.serve()
	return nil
}

// connDone forgets a connection that finished.
func (s *Server) connDone(c *Conn) {
	s.mu.Lock()
	s.conns.Delete(c)
	s.perIP.Done(c.ip)
	s.mu.Unlock()
	s.wg.Done()
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

// Shutdown stops accepting, ends every stream with a system-shutdown stream
// error (asking stream-managed clients for a last <a/> first), and waits
// for the connections to finish or ctx to end. Then it ends every
// hibernated session. Every session that ends hands its unacknowledged
// messages to the Rescuer before Shutdown returns, even after ctx ended
// (closing the connections early only cuts the wait for clients).
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	s.closing.Store(true)
	for l := range s.listeners {
		l.Close()
	}
	conns := make([]*Conn, 0, s.conns.Len())
	for c := range s.conns.All() {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		if sess := c.sess.Load(); sess != nil {
			sess.requestAckBeforeClose()
		}
		c.CloseWithError(&stream.Error{Condition: stream.SystemShutdown, Text: "the server is shutting down"})
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns.All() {
			c.wake()
			c.nc.Close()
		}
		s.mu.Unlock()
		err = ctx.Err()
		<-done // closed connections end promptly; their sessions are rescued
	}
	if s.Drain != nil {
		s.Drain(ctx)
	}
	// No connection is left to hibernate a session: end the hibernated
	// ones, then wait for endings running in the background.
	for _, sess := range s.reg.sessions() {
		sess.endDetached(endShutdown)
	}
	s.mu.Lock()
	for s.work > 0 {
		s.workDone.Wait()
	}
	s.mu.Unlock()
	s.stopSweep()
	s.hib.close()
	s.pollOnce.Do(func() {}) // no poller may start after this
	if s.poller != nil {
		s.poller.Close()
	}
	return err
}

// startWork and doneWork bracket a session ending that runs outside a
// connection goroutine, so Shutdown can wait for it.
func (s *Server) startWork() {
	s.mu.Lock()
	s.work++
	s.mu.Unlock()
}

func (s *Server) doneWork() {
	s.mu.Lock()
	if s.work--; s.work == 0 {
		s.workDone.Broadcast()
	}
	s.mu.Unlock()
}

// Count returns the number of open connections.
func (s *Server) Count() int {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns.Len()
}

type remoteAddrKey struct{}

// RemoteAddr returns the client address of the connection whose context
// ctx is (the zero Addr if none).
func RemoteAddr(ctx context.Context) netip.Addr {
	a, _ := ctx.Value(remoteAddrKey{}).(netip.Addr)
	return a
}
