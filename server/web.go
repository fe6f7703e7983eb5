package server

import (
	"context"
	"crypto/tls"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/upload"
	"fmt"
	"net/netip"

	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/web"
	"dormouse.im/dormouse/websocket"
)

// WebSocketPath is where XMPP over WebSocket (RFC 7395) is served.
const WebSocketPath = "/xmpp-websocket"

// newWeb builds the public HTTPS listener: WebSocket, host-meta and upload.
func (s *Server) newWeb(ctx context.Context, cfg config.Config, tlsCfg *tls.Config, secret []byte) error {
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
	if cfg.Upload.Enabled {
		return s.newUpload(ctx, cfg, secret)
	}
	return nil
}

// newUpload builds the XEP-0363 service at its domain, its files on the
// HTTPS listener, and its expiry job.
func (s *Server) newUpload(ctx context.Context, cfg config.Config, secret []byte) error {
	domain, dir := cfg.UploadDomain(), cfg.UploadDir()
	up, err := upload.New(ctx, upload.Config{
		Domain:      domain,
		MaxFileSize: int64(cfg.Upload.MaxFileSize),
		Quota:       int64(cfg.Upload.Quota),
		ExpireAfter: cfg.Upload.ExpireAfter.Duration(),
		Secret:      secret,
		BaseURL:     s.web.URL,
	}, upload.DiskStore{Dir: dir}, s.Router, s.log.With("component", "upload"))
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if err := up.Register(s.Router); err != nil {
		return fmt.Errorf("server: upload domain %s: %w", domain, err)
	}
	s.web.Handle("/upload/", s.web.RequireSecure(up.Handler()))
	if cfg.Upload.ExpireAfter > 0 {
		if s.stopExpiry, err = up.StartExpiry(); err != nil {
			return fmt.Errorf("server: upload expiry: %w", err)
		}
	}
	s.upload = up
	return nil
}

// accountsWithFiles deletes an account's uploaded files with the account.
type accountsWithFiles struct {
	auth.Store
	s *Server
}

func (a accountsWithFiles) DeleteAccount(ctx context.Context, account string) error {
	if err := a.Store.DeleteAccount(ctx, account); err != nil {
		return err
	}
	if a.s.upload != nil {
		if _, err := a.s.upload.DeleteOwner(ctx, account); err != nil {
			a.s.log.Warn("deleting the files of a removed account failed", "account", account, "err", err)
		}
	}
	return nil
}
