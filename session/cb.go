package session

import (
	"crypto/tls"
	"crypto/x509"
	"net"

	"dormouse.im/dormouse/auth"
)

// NSSASLCB is the XEP-0440 SASL Channel-Binding Type Capability namespace
// (version 1.0).
const NSSASLCB = "urn:xmpp:sasl-cb:0"

// exporterLabel is the RFC 9266 §2 label of tls-exporter.
const exporterLabel = "EXPORTER-Channel-Binding"

// channelBindings returns the channel-binding data of the TLS connection
// by type, computed at the handshake (setChannelBindings); nil without
// TLS and after authentication.
func (c *Conn) channelBindings() map[string][]byte { return c.cb }

// setChannelBindings computes the channel-binding data of tc once its
// handshake completed: tls-exporter (RFC 9266, only with TLS 1.3, where
// the exporter is bound to the whole handshake) and tls-server-end-point
// (RFC 5929 §4: the hash of the certificate the server presented in this
// handshake, cert, as recorded by the handshake configuration; a
// certificate reloaded since does not change it). cert is nil when the
// handshake presented none (a resumed TLS session) or when Config.TLS has
// no GetCertificate to record it: the certificate the configuration gives
// now is used then.
func (c *Conn) setChannelBindings(tc *tls.Conn, cert *tls.Certificate) {
	cs := tc.ConnectionState()
	cb := map[string][]byte{}
	if cs.Version == tls.VersionTLS13 {
		if k, err := cs.ExportKeyingMaterial(exporterLabel, nil, 32); err == nil {
			cb[auth.CBTLSExporter] = k
		}
	}
	if cert == nil {
		cert = c.srv.currentCertificate(cs.ServerName)
	}
	if h := serverEndPoint(cert); h != nil {
		cb[auth.CBTLSServerEndPoint] = h
	}
	c.cb = cb
}

// serverEndPoint is the RFC 5929 §4.1 hash of cert's leaf (nil without
// one).
func serverEndPoint(cert *tls.Certificate) []byte {
	if cert == nil || len(cert.Certificate) == 0 {
		return nil
	}
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil
		}
	}
	return auth.ServerEndPoint(leaf)
}

// currentCertificate is the certificate Config.TLS presents now for
// serverName.
func (s *Server) currentCertificate(serverName string) *tls.Certificate {
	cfg := s.Config.TLS
	switch {
	case cfg.GetCertificate != nil:
		cert, _ := cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: serverName})
		return cert
	case len(cfg.Certificates) > 0:
		return &cfg.Certificates[0]
	}
	return nil
}

// handshakeConfig returns the configuration of the server's TLS
// handshakes: Config.TLS, with its GetCertificate wrapped to record the
// certificate it returns for each connection until the handshake ends
// (takeHandshakeCert), since the server side of crypto/tls does not
// report the certificate it presented and a reload (tlsutil.Reloader)
// may replace the one GetCertificate returns before authentication.
// Called once, by init.
func (s *Server) handshakeConfig() *tls.Config {
	cfg := s.Config.TLS
	if cfg == nil || cfg.GetCertificate == nil {
		return cfg
	}
	get := cfg.GetCertificate
	cfg = cfg.Clone()
	cfg.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		cert, err := get(hello)
		if err == nil && cert != nil && hello.Conn != nil {
			s.hsCerts.Store(hello.Conn, cert)
		}
		return cert, err
	}
	return cfg
}

// takeHandshakeCert returns and forgets the certificate recorded for nc's
// handshake (nil: none was).
func (s *Server) takeHandshakeCert(nc net.Conn) *tls.Certificate {
	v, ok := s.hsCerts.LoadAndDelete(nc)
	if !ok {
		return nil
	}
	return v.(*tls.Certificate)
}

// cbTypes returns the channel-binding types this connection supports, in
// a stable order (nil: none).
func (c *Conn) cbTypes() []string {
	cb := c.channelBindings()
	var out []string
	for _, t := range []string{auth.CBTLSExporter, auth.CBTLSServerEndPoint} {
		if _, ok := cb[t]; ok {
			out = append(out, t)
		}
	}
	return out
}

// appendSASLCB appends the XEP-0440 feature listing the supported types.
func (c *Conn) appendSASLCB(b []byte) []byte {
	types := c.cbTypes()
	if len(types) == 0 {
		return b
	}
	b = append(b, "<sasl-channel-binding xmlns='"+NSSASLCB+"'>"...)
	for _, t := range types {
		b = append(b, "<channel-binding type='"...)
		b = append(b, t...)
		b = append(b, "'/>"...)
	}
	return append(b, "</sasl-channel-binding>"...)
}
