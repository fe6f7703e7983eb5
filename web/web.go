package web

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config configures the listener.
type Config struct {
	// PublicURL is the base URL clients reach the listener at
	// ("https://xmpp.example.org"), when a reverse proxy is in front.
	// Empty: https://DOMAIN:PORT with the listener's port.
	PublicURL string
	// BehindProxy serves plain HTTP for a reverse proxy that terminates
	// TLS.
	BehindProxy bool
	// TrustedProxies are the addresses whose X-Forwarded-For and
	// X-Forwarded-Proto headers are believed. Default loopback.
	TrustedProxies []netip.Prefix
	// Domains are the served XMPP domains (the first is the main one).
	Domains []string
}

// Server is the HTTPS listener.
type Server struct {
	cfg  Config
	tls  *tls.Config
	log  *slog.Logger
	mux  *http.ServeMux
	http *http.Server

	mu   sync.Mutex
	addr net.Addr // the listener's, once serving
}

// New returns a Server; tlsCfg is the server certificate (nil only with
// BehindProxy).
func New(cfg Config, tlsCfg *tls.Config, log *slog.Logger) *Server {
	if len(cfg.TrustedProxies) == 0 {
		cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	s := &Server{cfg: cfg, log: log, mux: http.NewServeMux()}
	if tlsCfg != nil {
		s.tls = tlsCfg.Clone()
		s.tls.NextProtos = []string{"h2", "http/1.1"}
	}
	s.http = &http.Server{
		Handler:           s.mux,
		TLSConfig:         s.tls,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return s
}

// Handle registers h for pattern (http.ServeMux syntax).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Serve serves on l until Shutdown (http.ErrServerClosed then).
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	s.addr = l.Addr()
	s.mu.Unlock()
	if s.cfg.BehindProxy {
		return s.http.Serve(l)
	}
	if s.tls == nil {
		return errors.New("web: TLS configuration missing")
	}
	return s.http.ServeTLS(l, "", "")
}

// Shutdown stops the listener and waits for the requests in flight (not
// for hijacked WebSockets: their streams end with the session server's).
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

// URL returns the public base URL for domain (no trailing slash): PublicURL
// when set, else https://domain:port with the listener's real port.
func (s *Server) URL(domain string) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimRight(s.cfg.PublicURL, "/")
	}
	port := ""
	s.mu.Lock()
	if s.addr != nil {
		if ap, err := netip.ParseAddrPort(s.addr.String()); err == nil {
			port = strconv.Itoa(int(ap.Port()))
		}
	}
	s.mu.Unlock()
	u := url.URL{Scheme: "https", Host: domain}
	if port != "" && port != "443" {
		u.Host = net.JoinHostPort(domain, port)
	}
	return u.String()
}

// WebSocketURL is the wss:// URL of path for domain.
func (s *Server) WebSocketURL(domain, path string) string {
	u := s.URL(domain)
	switch {
	case strings.HasPrefix(u, "https://"):
		u = "wss://" + strings.TrimPrefix(u, "https://")
	case strings.HasPrefix(u, "http://"):
		u = "ws://" + strings.TrimPrefix(u, "http://")
	}
	return u + path
}

// trusted reports whether r comes from a trusted proxy.
func (s *Server) trusted(r *http.Request) (netip.AddrPort, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return ap, false
	}
	ip := ap.Addr().Unmap()
	return ap, s.cfg.BehindProxy && slices.ContainsFunc(s.cfg.TrustedProxies, func(p netip.Prefix) bool { return p.Contains(ip) })
}

// ClientAddr returns the client's address: the last address a trusted proxy
// appended to X-Forwarded-For, else the peer's.
func (s *Server) ClientAddr(r *http.Request) netip.AddrPort {
	ap, ok := s.trusted(r)
	if !ok {
		return ap
	}
	xff := r.Header.Values("X-Forwarded-For")
	if len(xff) == 0 {
		return ap
	}
	parts := strings.Split(xff[len(xff)-1], ",")
	if ip, ok := forwardedAddr(strings.TrimSpace(parts[len(parts)-1])); ok {
		return netip.AddrPortFrom(ip.Unmap(), 0)
	}
	return ap
}

// forwardedAddr parses an X-Forwarded-For entry: an address, which some
// proxies bracket (IPv6) or follow with the client's port.
func forwardedAddr(s string) (netip.Addr, bool) {
	if ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return ip, true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), true
	}
	return netip.Addr{}, false
}

// Secure reports whether the client reached the server over TLS: the
// listener's own, or a trusted proxy's (X-Forwarded-Proto: https).
func (s *Server) Secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	_, ok := s.trusted(r)
	return ok && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// RequireSecure refuses requests that did not come over TLS.
func (s *Server) RequireSecure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.Secure(r) {
			http.Error(w, "HTTPS required", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// NSWebSocket is the XEP-0156 link relation of the WebSocket endpoint.
const NSWebSocket = "urn:xmpp:alt-connections:websocket"

// Link is one XEP-0156 connection method.
type Link struct {
	Rel  string `json:"rel"`
	Href string `json:"href"`
}

// HostMeta serves /.well-known/host-meta (XRD) and host-meta.json (JRD)
// listing links(domain) for the domain the request names (Host, when it is
// served; else the main domain), with CORS open to every origin
// (XEP-0156 §3.1).
func (s *Server) HostMeta(links func(domain string) []Link) {
	domain := func(r *http.Request) string {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.ToLower(host)
		if slices.Contains(s.cfg.Domains, host) {
			return host
		}
		if len(s.cfg.Domains) > 0 {
			return s.cfg.Domains[0]
		}
		return host
	}
	s.mux.HandleFunc("GET /.well-known/host-meta", func(w http.ResponseWriter, r *http.Request) {
		b := []byte("<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n")
		for _, l := range links(domain(r)) {
			b = fmt.Appendf(b, "  <Link rel='%s' href='%s'/>\n", xmlEscape(l.Rel), xmlEscape(l.Href))
		}
		b = append(b, "</XRD>\n"...)
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Content-Type", "application/xrd+xml; charset=utf-8")
		_, _ = w.Write(b)
	})
	s.mux.HandleFunc("GET /.well-known/host-meta.json", func(w http.ResponseWriter, r *http.Request) {
		b, _ := json.Marshal(struct {
			Links []Link `json:"links"`
		}{links(domain(r))})
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&apos;", `"`, "&quot;").Replace(s)
}
