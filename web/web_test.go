package web

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestURL(t *testing.T) {
	s := New(Config{}, nil, slog.New(slog.DiscardHandler))
	s.addr = &net.TCPAddr{IP: net.IPv4zero, Port: 5443}
	if got := s.URL("example.org"); got != "https://example.org:5443" {
		t.Errorf("URL %s", got)
	}
	if got := s.WebSocketURL("example.org", "/xmpp-websocket"); got != "wss://example.org:5443/xmpp-websocket" {
		t.Errorf("WebSocketURL %s", got)
	}
	s.addr = &net.TCPAddr{IP: net.IPv4zero, Port: 443}
	if got := s.URL("example.org"); got != "https://example.org" {
		t.Errorf("URL on 443: %s", got)
	}
	p := New(Config{PublicURL: "https://xmpp.example.org/"}, nil, slog.New(slog.DiscardHandler))
	if got := p.WebSocketURL("example.org", "/xmpp-websocket"); got != "wss://xmpp.example.org/xmpp-websocket" {
		t.Errorf("public WebSocketURL %s", got)
	}
}

// TestProxyHeaders: X-Forwarded-For and -Proto count only behind a proxy
// and only from a trusted address.
func TestProxyHeaders(t *testing.T) {
	tests := []struct {
		name   string
		behind bool
		peer   string
		xff    string
		proto  string
		client string
		secure bool
	}{
		{"direct ignores headers", false, "127.0.0.1:1000", "203.0.113.9", "https", "127.0.0.1", false},
		{"trusted proxy", true, "127.0.0.1:1000", "198.51.100.1, 203.0.113.9", "https", "203.0.113.9", true},
		{"trusted proxy over http", true, "[::1]:1000", "203.0.113.9", "http", "203.0.113.9", false},
		{"untrusted peer", true, "192.0.2.7:1000", "203.0.113.9", "https", "192.0.2.7", false},
		{"trusted, no header", true, "127.0.0.1:1000", "", "", "127.0.0.1", false},
		// Some proxies append the client's port, or bracket IPv6.
		{"address with port", true, "127.0.0.1:1000", "203.0.113.9:51000", "https", "203.0.113.9", true},
		{"bracketed IPv6", true, "127.0.0.1:1000", "[2001:db8::7]", "https", "2001:db8::7", true},
		{"bracketed IPv6 with port", true, "127.0.0.1:1000", "[2001:db8::7]:51000", "https", "2001:db8::7", true},
		{"garbage", true, "127.0.0.1:1000", "unknown", "https", "127.0.0.1", true},
	}
	for _, tt := range tests {
		s := New(Config{BehindProxy: tt.behind}, nil, slog.New(slog.DiscardHandler))
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tt.peer
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if tt.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tt.proto)
		}
		if got := s.ClientAddr(r).Addr(); got != netip.MustParseAddr(tt.client) {
			t.Errorf("%s: client %s", tt.name, got)
		}
		if got := s.Secure(r); got != tt.secure {
			t.Errorf("%s: secure %v", tt.name, got)
		}
	}
}

func TestHostMetaDomains(t *testing.T) {
	s := New(Config{Domains: []string{"example.org", "other.example"}, PublicURL: "https://xmpp.example.org"}, nil, slog.New(slog.DiscardHandler))
	s.HostMeta(func(d string) []Link { return []Link{{Rel: NSWebSocket, Href: "wss://" + d + "/ws?a=1&b='2'"}} })
	for host, want := range map[string]string{
		"other.example:5443": `{"links":[{"rel":"urn:xmpp:alt-connections:websocket","href":"wss://other.example/ws?a=1\u0026b='2'"}]}`,
		"unknown.example":    `{"links":[{"rel":"urn:xmpp:alt-connections:websocket","href":"wss://example.org/ws?a=1\u0026b='2'"}]}`,
	} {
		r := httptest.NewRequest(http.MethodGet, "/.well-known/host-meta.json", nil)
		r.Host = host
		w := httptest.NewRecorder()
		s.mux.ServeHTTP(w, r)
		if b, _ := io.ReadAll(w.Body); string(b) != want {
			t.Errorf("%s: %s", host, b)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/.well-known/host-meta", nil)
	w := httptest.NewRecorder()
	s.mux.ServeHTTP(w, r)
	want := "<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n  <Link rel='urn:xmpp:alt-connections:websocket' href='wss://example.org/ws?a=1&amp;b=&apos;2&apos;'/>\n</XRD>\n"
	if b, _ := io.ReadAll(w.Body); string(b) != want || w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("XRD %s %v", b, w.Header())
	}
}
