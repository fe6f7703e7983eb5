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
	h.track(1)
	defer h.track(-1)
	if err := h.sessions.ServeConn(nc); err != nil {
		h.log.Info("websocket refused", "err", err)
		_ = c.Close(ws.StatusTryAgainLater, err.Error())
		return
	}
	h.run(c, nc)
}

// run pings the browser and closes the WebSocket when the session closes
// its connection; the pump reads meanwhile.
func (h *Handler) run(c *ws.Conn, nc *conn) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		nc.pump(ctx)
	}()
	var tick <-chan time.Time
	if h.cfg.PingInterval > 0 {
		t := time.NewTicker(h.cfg.PingInterval)
		defer t.Stop()
		tick = t.C
	}
	for done := false; !done; {
		select {
		case <-nc.closed:
			done = true
		case <-tick:
			pctx, pcancel := context.WithTimeout(ctx, h.cfg.PingInterval)
			if err := c.Ping(pctx); err != nil && !errors.Is(err, net.ErrClosed) {
				h.log.Debug("websocket ping unanswered; closing", "err", err)
				_ = c.CloseNow() // the session sees a lost connection
			}
			pcancel()
		}
	}
	_ = c.Close(ws.StatusNormalClosure, "")
	cancel()
	<-pumped
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
