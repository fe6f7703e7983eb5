package session

import (
	"crypto/tls"
	"crypto/x509"

	"dormouse.im/dormouse/auth"
)

// NSSASLCB is the XEP-0440 SASL Channel-Binding Type Capability namespace
// (version 1.0).
const NSSASLCB = "urn:xmpp:sasl-cb:0"

// exporterLabel is the RFC 9266 §2 label of tls-exporter.
const exporterLabel = "EXPORTER-Channel-Binding"

// channelBindings returns the channel-binding data of the TLS connection
// by type: tls-exporter (RFC 9266, only with TLS 1.3, where the exporter
// is bound to the whole handshake) and tls-server-end-point (RFC 5929 §4:
// the hash of the server's certificate). Computed once per connection,
// before authentication; nil without TLS.
func (c *Conn) channelBindings() map[string][]byte {
	if c.cb != nil || !c.secure {
		return c.cb
	}
	tc, ok := c.conn.(*tls.Conn)
	if !ok {
		return nil
	}
	cs := tc.ConnectionState()
	cb := map[string][]byte{}
	if cs.Version == tls.VersionTLS13 {
		if k, err := cs.ExportKeyingMaterial(exporterLabel, nil, 32); err == nil {
			cb[auth.CBTLSExporter] = k
		}
	}
	if h := c.serverEndPoint(cs.ServerName); h != nil {
		cb[auth.CBTLSServerEndPoint] = h
	}
	c.cb = cb
	return cb
}

// serverEndPoint is the RFC 5929 §4.1 hash of the certificate the server
// presents for serverName.
func (c *Conn) serverEndPoint(serverName string) []byte {
	cfg := c.srv.Config.TLS
	var cert *tls.Certificate
	switch {
	case cfg.GetCertificate != nil:
		cert, _ = cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: serverName})
	case len(cfg.Certificates) > 0:
		cert = &cfg.Certificates[0]
	}
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
