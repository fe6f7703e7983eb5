package session_test

import (
	"crypto/tls"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/session"
	"dormouse.im/dormouse/tlsutil"
)

// TestServerEndPointAfterReload: tls-server-end-point (RFC 5929) binds to
// the certificate the server presented in the connection's handshake,
// even when the certificate is replaced (a reload) after the handshake
// and before the stream features and SASL; the next connection gets and
// binds to the new certificate.
func TestServerEndPointAfterReload(t *testing.T) {
	var certs [2]*tls.Certificate
	for i := range certs {
		r, err := tlsutil.New("", "", t.TempDir(), []string{"localhost"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		certs[i] = r.Certificate()
	}
	var current atomic.Pointer[tls.Certificate]
	current.Store(certs[0])
	ts := start(t, func(s *session.Server) {
		s.Config.TLS = s.Config.TLS.Clone()
		s.Config.TLS.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return current.Load(), nil }
	})
	ts.users("alice")
	for i, direct := range []bool{false, true, false, true} {
		for _, mech := range []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"} {
			name := fmt.Sprintf("%d/%s/direct=%v", i, mech, direct)
			var presented []byte
			cfg := &tls.Config{InsecureSkipVerify: true, ServerName: "localhost",
				// Called once the server presented its certificate: the
				// reload happens within the handshake, before features.
				VerifyConnection: func(cs tls.ConnectionState) error {
					presented = cs.PeerCertificates[0].Raw
					if i >= 2 {
						return nil // no reload: the new certificate stays
					}
					if current.Load() == certs[0] {
						current.Store(certs[1])
					} else {
						current.Store(certs[0])
					}
					return nil
				}}
			so := &xmpptest.SCRAMOptions{CBType: "tls-server-end-point"}
			c, err := ts.dialErr(xmpptest.Options{User: "alice", Password: "secret-alice", Mechanism: mech, DirectTLS: direct,
				TLS: cfg, SCRAM: so, SASL2: &xmpptest.SASL2Options{Bind: true}})
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if !strings.HasPrefix(c.JID, "alice@localhost/") {
				t.Errorf("%s: bound %q", name, c.JID)
			}
			if now := current.Load().Certificate[0]; i < 2 && string(now) == string(presented) {
				t.Errorf("%s: the certificate was not replaced during the connection", name)
			}
			c.Close()
		}
	}
}
