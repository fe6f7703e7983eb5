package s2s

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// ALPN is the ALPN protocol of server-to-server XMPP over direct TLS
// (XEP-0368 §4).
const ALPN = "xmpp-server"

// errCert marks certificate validation failures.
var errCert = errors.New("s2s: certificate not valid")

// verifyPeer validates the peer's certificate chain against roots (nil:
// the system roots) and checks that it names domain (RFC 6125 DNS-ID,
// RFC 6120 §13.7.2: the XMPP domain, never an SRV target). Any extended
// key usage is accepted: server certificates serve as client certificates
// on server-to-server streams, and public CAs no longer issue the
// clientAuth usage.
func verifyPeer(cs tls.ConnectionState, roots *x509.CertPool, domain string) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("%w: the peer presented no certificate", errCert)
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		DNSName:       domain,
		Roots:         roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return fmt.Errorf("%w for %s: %w", errCert, domain, err)
	}
	return nil
}

// tlsVersion names a TLS version for logs.
func tlsVersion(cs tls.ConnectionState) string {
	return tls.VersionName(cs.Version)
}
