package websocket

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	ws "github.com/coder/websocket"
)

// Sessions serves the translated streams (session.Server).
type Sessions interface {
	ServeConn(nc net.Conn) error
}

// Config configures the Handler. Zero values take the defaults.
type Config struct {
	// AllowedOrigins lists the browser origins ("https://app.example.org")
	// that may open a WebSocket; "*" allows all. Requests without an Origin
	// header (native clients) and same-origin requests are always allowed.
	AllowedOrigins []string
	// MaxMessage is the largest message accepted, in bytes (the session's
	// largest stanza). Default 262144.
	MaxMessage int64
	// PingInterval is how often the browser is pinged; a pong must come
	// within the same time. Default 30s; negative disables.
	PingInterval time.Duration
}

// Handler answers GET /xmpp-websocket.
type Handler struct {
	cfg      Config
	sessions Sessions
	// ClientAddr names the client of a request (the proxy-aware address of
	// the HTTPS listener); nil: r.RemoteAddr.
	clientAddr func(*http.Request) netip.AddrPort
	log        *slog.Logger

	mu     sync.Mutex
	open   int           // WebSockets still open
	closed chan struct{} // closed when open drops to 0
}

// New returns a Handler serving sessions; clientAddr may be nil.
func New(cfg Config, sessions Sessions, clientAddr func(*http.Request) netip.AddrPort, log *slog.Logger) *Handler {
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = 262144
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = 30 * time.Second
	}
	if clientAddr == nil {
		clientAddr = func(r *http.Request) netip.AddrPort {
			ap, _ := netip.ParseAddrPort(r.RemoteAddr)
			return ap
		}
	}
	return &Handler{cfg: cfg, sessions: sessions, clientAddr: clientAddr, log: log}
}

// originAllowed reports whether a browser at origin may connect to host.
func (h *Handler) originAllowed(origin, host string) bool {
	if origin == "" || slices.Contains(h.cfg.AllowedOrigins, "*") {
		return true
	}
	if slices.Contains(h.cfg.AllowedOrigins, origin) {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, host)
}

func offersXMPP(r *http.Request) bool {
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			if strings.TrimSpace(p) == Protocol {
				return true
			}
		}
	}
	return false
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.originAllowed(r.Header.Get("Origin"), r.Host) {
		h.log.Info("websocket refused: origin not allowed", "origin", r.Header.Get("Origin"))
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	if !offersXMPP(r) {
		http.Error(w, "the WebSocket subprotocol \"xmpp\" is required (RFC 7395 §3.1)", http.StatusBadRequest)
		return
	}
	c, err := ws.Accept(w, r, &ws.AcceptOptions{
		Subprotocols:       []string{Protocol},
		InsecureSkipVerify: true, // the origin was checked above
	})
	if err != nil {
		h.log.Debug("websocket upgrade failed", "err", err)
		return // Accept answered
	}
	c.SetReadLimit(h.cfg.MaxMessage)
	remote := net.TCPAddrFromAddrPort(h.clientAddr(r))
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	nc := newConn(c, local, remote)
	l := &life{h: h, c: c, nc: nc, closing: make(chan struct{})}
	nc.onClose = l.close
	h.track(1)
	if err := h.sessions.ServeConn(nc); err != nil {
		h.track(-1)
		h.log.Info("websocket refused", "err", err)
		_ = c.Close(ws.StatusTryAgainLater, err.Error())
		return
	}
	// One goroutine of its own for the WebSocket's life: this one (net/http's,
	// with the deep stack of the TLS handshake) ends here.
	go l.run()
}

// life is one WebSocket after the upgrade: run reads it for the session
// (conn.pump), a timer pings the browser, and when the session closes its
// connection, a short-lived goroutine closes the WebSocket with a closing
// handshake. run waits for both before it returns.
type life struct {
	h       *Handler
	c       *ws.Conn
	nc      *conn
	closing chan struct{} // closed when the closing handshake is over

	mu     sync.Mutex
	ended  bool           // run is returning: start nothing more
	pinger *time.Timer    // nil: pings off or over
	bg     sync.WaitGroup // the ping and the closing handshake in flight
}

// begin counts a background task unless run is returning.
func (l *life) begin() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return false
	}
	l.bg.Add(1)
	return true
}

// close is conn.Close's hook: the session closed its connection.
func (l *life) close() {
	if !l.begin() {
		return // the WebSocket failed and is closed already
	}
	go func() {
		defer l.bg.Done()
		_ = l.c.Close(ws.StatusNormalClosure, "")
		close(l.closing)
	}()
}

// ping pings the browser; no pong within the interval cuts the WebSocket
// (the session then sees a lost connection and may hibernate). While the
// session has not taken the last message, nothing is read from the
// WebSocket, so no pong can arrive: the browser is not blamed then (the
// session's own deadlines apply).
func (l *life) ping() {
	if !l.begin() {
		return
	}
	defer l.bg.Done()
	d := l.h.cfg.PingInterval
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var err error
	if !l.nc.handing.Load() {
		err = l.c.Ping(ctx)
	}
	if err != nil && !errors.Is(err, net.ErrClosed) && l.nc.handing.Load() {
		err = nil // unanswerable: try again next interval
	}
	if err != nil {
		if !errors.Is(err, net.ErrClosed) {
			l.h.log.Debug("websocket ping unanswered; closing", "err", err)
		}
		_ = l.c.CloseNow()
		return
	}
	l.mu.Lock()
	if l.pinger != nil {
		l.pinger.Reset(d)
	}
	l.mu.Unlock()
}

func (l *life) run() {
	defer l.h.track(-1)
	if d := l.h.cfg.PingInterval; d > 0 {
		l.mu.Lock()
		l.pinger = time.AfterFunc(d, l.ping)
		l.mu.Unlock()
	}
	l.nc.pump(context.Background()) // until the WebSocket fails or closes
	select {
	case <-l.nc.closed:
		<-l.closing
	default:
		// The WebSocket failed; the session closes its connection after
		// reading the error, and no handshake is possible any more.
		_ = l.c.CloseNow()
	}
	l.mu.Lock()
	l.ended = true
	if l.pinger != nil {
		l.pinger.Stop()
		l.pinger = nil
	}
	l.mu.Unlock()
	l.bg.Wait()
}

// track counts open WebSockets for Wait.
func (h *Handler) track(d int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.open == 0 {
		h.closed = make(chan struct{})
	}
	if h.open += d; h.open == 0 {
		close(h.closed)
	}
}

// Wait waits for the open WebSockets to close (after the session server's
// Shutdown ended their streams), or for ctx to end.
func (h *Handler) Wait(ctx context.Context) error {
	h.mu.Lock()
	if h.open == 0 {
		h.mu.Unlock()
		return nil
	}
	closed := h.closed
	h.mu.Unlock()
	select {
	case <-closed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
