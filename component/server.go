package component

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"dormouse.im/dormouse/internal/wire"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/stream"
	"mellium.im/xmpp/jid"
)

// Router is what a component connection needs from the router.
type Router interface {
	// AddComponent routes domain to t; it fails if the domain is already
	// connected.
	AddComponent(domain string, t stanza.Target) error
	// RemoveComponent removes the route if it still leads to t.
	RemoveComponent(domain string, t stanza.Target)
	// Route routes a stanza whose 'from' has been checked.
	Route(ctx context.Context, st *stanza.Stanza)
	// IsLocal reports whether domain is a host the server serves: such a
	// domain is never handed to a component.
	IsLocal(domain string) bool
}

// Defaults for the zero values of the Server fields.
const (
	DefaultMaxStanzaSize    = 256 << 10
	DefaultHandshakeTimeout = 30 * time.Second
	DefaultWriteTimeout     = 30 * time.Second
	DefaultMaxQueue         = 10000
)

// Server accepts component connections. Set the fields, then call Serve for
// each listener; do not change them afterwards.
type Server struct {
	Router Router
	// Secrets maps a component domain to its shared secret. A component
	// may connect only for a domain listed here that is not a served host.
	Secrets map[string]string
	// MaxStanzaSize bounds one stanza from a component; default 256 KiB.
	MaxStanzaSize int
	// HandshakeTimeout bounds the time from accept to a successful
	// handshake; default 30 s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds one batch write; default 30 s.
	WriteTimeout time.Duration
	// MaxQueue bounds the outbound queue in stanzas; default 10000 (one
	// component carries the traffic of many users). When it is full,
	// Deliver returns false and the router bounces the stanza.
	MaxQueue int
	Log      *slog.Logger

	once    sync.Once
	log     *slog.Logger      // Log, scoped; set by init
	secrets map[string]string // Secrets with canonical domains; read-only after init

	mu        sync.Mutex // guards the fields below
	listeners map[net.Listener]struct{}
	conns     map[*Conn]struct{}
	closing   bool

	wg sync.WaitGroup // connection and writer goroutines
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("component: server closed")

func (s *Server) init() {
	s.once.Do(func() {
		if s.MaxStanzaSize <= 0 {
			s.MaxStanzaSize = DefaultMaxStanzaSize
		}
		if s.HandshakeTimeout <= 0 {
			s.HandshakeTimeout = DefaultHandshakeTimeout
		}
		if s.WriteTimeout <= 0 {
			s.WriteTimeout = DefaultWriteTimeout
		}
		if s.MaxQueue <= 0 {
			s.MaxQueue = DefaultMaxQueue
		}
		s.log = s.Log
		if s.log == nil {
			s.log = slog.New(slog.DiscardHandler)
		}
		s.log = s.log.With("xep", "0114")
		s.secrets = make(map[string]string, len(s.Secrets))
		for d, secret := range s.Secrets {
			cd, ok := canonicalDomain(d)
			if !ok {
				s.log.Error("ignoring the secret of an invalid component domain", "domain", d)
				continue
			}
			s.secrets[cd] = secret
		}
		s.listeners = map[net.Listener]struct{}{}
		s.conns = map[*Conn]struct{}{}
	})
}

// canonicalDomain returns the canonical form of a bare domain JID.
func canonicalDomain(s string) (string, bool) {
	j, err := jid.Parse(s)
	if err != nil || j.Localpart() != "" || j.Resourcepart() != "" {
		return "", false
	}
	return j.Domainpart(), true
}

// Serve accepts connections on l until Shutdown, which makes it return
// ErrServerClosed.
func (s *Server) Serve(l net.Listener) error {
	s.init()
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	a := wire.Acceptor{Listener: l, Closing: s.isClosing, Log: s.log}
	for {
		nc, err := a.Accept()
		if errors.Is(err, wire.ErrClosing) {
			return ErrServerClosed
		}
		if err != nil {
			return err
		}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		c := newConn(s, nc)
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Shutdown stops accepting, ends every stream with a system-shutdown stream
// error, and waits for the connections to finish or ctx to end (then it
// closes them and returns ctx's error).
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
