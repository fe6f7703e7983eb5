package server

import (
	"crypto/tls"
	"fmt"
	"net/netip"

	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/web"
	"dormouse.im/dormouse/websocket"
)

// WebSocketPath is where XMPP over WebSocket (RFC 7395) is served.
const WebSocketPath = "/xmpp-websocket"

// newWeb builds the public HTTPS listener: WebSocket, host-meta and upload.
func (s *Server) newWeb(cfg config.Config, tlsCfg *tls.Config) error {
	var proxies []netip.Prefix
	for _, p := range cfg.HTTP.TrustedProxies {
		pp, err := netip.ParsePrefix(p)
		if err != nil {
			return fmt.Errorf("server: http.trusted_proxies: %w", err)
		}
		proxies = append(proxies, pp)
	}
	s.web = web.New(web.Config{
		PublicURL:      cfg.HTTP.PublicURL,
		BehindProxy:    cfg.HTTP.BehindProxy,
		TrustedProxies: proxies,
		Domains:        cfg.ServedHosts(),
	}, tlsCfg, s.log.With("component", "http"))
	s.ws = websocket.New(websocket.Config{
		AllowedOrigins: cfg.HTTP.AllowedOrigins,
		MaxMessage:     int64(cfg.C2S.MaxStanzaSize),
	}, s.c2s, s.web.ClientAddr, s.log.With("component", "websocket"))
	s.web.Handle("GET "+WebSocketPath, s.web.RequireSecure(s.ws))
	s.web.HostMeta(func(domain string) []web.Link {
		return []web.Link{{Rel: web.NSWebSocket, Href: s.web.WebSocketURL(domain, WebSocketPath)}}
	})
	return nil
}
