package auth

import (
	"crypto"
	_ "crypto/sha512" // SHA-384 and SHA-512 for ServerEndPoint
	"crypto/x509"
	"slices"
	"strings"
)

// SSDPString is the string S of XEP-0474 §5.1 (version 0.5): the
// mechanisms sorted (i;octet) and joined by 0x1E, then, if channel-binding
// types were advertised (XEP-0440; cbTypes not nil), 0x1F and the sorted
// types joined by 0x1E. The SCRAM "h" attribute is its hash.
func SSDPString(mechs []Mechanism, cbTypes []string) []byte {
	ms := make([]string, len(mechs))
	for i, m := range mechs {
		ms[i] = string(m)
	}
	slices.Sort(ms)
	s := []byte(strings.Join(ms, "\x1e"))
	if cbTypes != nil {
		cs := slices.Clone(cbTypes)
		slices.Sort(cs)
		s = append(s, 0x1f)
		s = append(s, strings.Join(cs, "\x1e")...)
	}
	return s
}

// ServerEndPoint is the tls-server-end-point channel-binding data of a
// certificate (RFC 5929 §4.1): its hash with the hash function of its
// signature algorithm, SHA-256 if that is MD5 or SHA-1 or there is none
// (Ed25519).
func ServerEndPoint(cert *x509.Certificate) []byte {
	h := crypto.SHA256
	switch cert.SignatureAlgorithm {
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		h = crypto.SHA384
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		h = crypto.SHA512
	}
	d := h.New()
	d.Write(cert.Raw)
	return d.Sum(nil)
}
