package tlsutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/idna"
)

const (
	// ALPNClient is the ALPN protocol of client-to-server XMPP over direct
	// TLS (XEP-0368).
	ALPNClient = "xmpp-client"

	// SelfSignedValidity is how long a generated certificate is valid.
	SelfSignedValidity = 365 * 24 * time.Hour

	// RenewBefore is how long before it expires a generated certificate is
	// replaced, and an explicit one is warned about.
	RenewBefore = 30 * 24 * time.Hour

	// SelfSignedDir is the directory, under the data directory, that holds
	// the generated certificate.
	SelfSignedDir = "tls"
	// SelfSignedCert and SelfSignedKey are the file names of the generated
	// certificate and its key in SelfSignedDir.
	SelfSignedCert = "selfsigned.crt"
	SelfSignedKey  = "selfsigned.key"
)

// LoadOrCreate returns a server TLS configuration and the path of the
// certificate file in use (for startup output). See New.
func LoadOrCreate(certFile, keyFile, dataDir string, hosts []string, log *slog.Logger) (*tls.Config, string, error) {
	r, err := New(certFile, keyFile, dataDir, hosts, log)
	if err != nil {
		return nil, "", err
	}
	return r.ServerConfig(), r.CertFile(), nil
}

// Reloader holds the server certificate and hands it to TLS handshakes. It
// is safe for concurrent use.
type Reloader struct {
	certFile, keyFile string // in use: explicit, or the self-signed pair
	selfSigned        bool
	hosts             []string
	log               *slog.Logger
	now               func() time.Time

	mu   sync.Mutex // serializes Reload
	cert atomic.Pointer[tls.Certificate]
}

// New loads the certificate: from certFile and keyFile if they are set
// (both or neither), or else the self-signed certificate in
// <dataDir>/tls, generating it if it is missing, does not cover every host
// or expires within RenewBefore. hosts are the served domains (as
// config.ServedHosts returns them: Unicode labels are converted to
// A-labels, "[::1]" and "127.0.0.1" are IP addresses). log may be nil.
func New(certFile, keyFile, dataDir string, hosts []string, log *slog.Logger) (*Reloader, error) {
	return newReloader(certFile, keyFile, dataDir, hosts, log, time.Now)
}

func newReloader(certFile, keyFile, dataDir string, hosts []string, log *slog.Logger, now func() time.Time) (*Reloader, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile, log: log, now: now}
	switch {
	case certFile != "" && keyFile != "":
	case certFile != "" || keyFile != "":
		return nil, errors.New("tlsutil: a certificate file and a key file must both be set, or neither (for a self-signed certificate)")
	case dataDir == "":
		return nil, errors.New("tlsutil: no certificate configured and no data directory to keep a self-signed one in")
	default:
		r.selfSigned = true
		dir := filepath.Join(dataDir, SelfSignedDir)
		r.certFile = filepath.Join(dir, SelfSignedCert)
		r.keyFile = filepath.Join(dir, SelfSignedKey)
	}
	for _, h := range hosts {
		n, err := sanName(h)
		if err != nil {
			return nil, err
		}
		if n != "" && !slices.Contains(r.hosts, n) {
			r.hosts = append(r.hosts, n)
		}
	}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload loads the certificate again: it re-reads explicit files, or checks
// the self-signed certificate and regenerates it if needed. On error the
// certificate in use is kept.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var (
		cert *tls.Certificate
		err  error
	)
	if r.selfSigned {
		cert, err = r.loadSelfSigned()
	} else {
		cert, err = loadPair(r.certFile, r.keyFile)
		if err == nil {
			r.checkExplicit(cert.Leaf)
		}
	}
	if err != nil {
		return err
	}
	r.cert.Store(cert)
	return nil
}

// GetCertificate returns the certificate in use; it is the
// tls.Config.GetCertificate of ServerConfig.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// Certificate returns the certificate in use (Leaf is set).
func (r *Reloader) Certificate() *tls.Certificate { return r.cert.Load() }

// CertFile returns the path of the certificate file in use.
func (r *Reloader) CertFile() string { return r.certFile }

// IsSelfSigned reports whether the certificate is the generated one.
func (r *Reloader) IsSelfSigned() bool { return r.selfSigned }

// ServerConfig returns a new server TLS configuration using r's
// certificate: TLS 1.2 or later, modern key exchanges (hybrid
// post-quantum first), and ALPN "xmpp-client". Note that a client offering
// ALPN protocols none of which is in NextProtos is refused (crypto/tls);
// clone the configuration and extend NextProtos to serve other protocols.
func (r *Reloader) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CurvePreferences: []tls.CurveID{
			tls.X25519MLKEM768, tls.SecP256r1MLKEM768,
			tls.X25519, tls.CurveP256, tls.CurveP384,
		},
		NextProtos:     []string{ALPNClient},
		GetCertificate: r.GetCertificate,
	}
}

// loadSelfSigned returns the self-signed certificate, generating it if
// needed.
func (r *Reloader) loadSelfSigned() (*tls.Certificate, error) {
	cert, err := loadPair(r.certFile, r.keyFile)
	reason := ""
	switch {
	case errors.Is(err, fs.ErrNotExist):
		reason = "none yet"
	case errors.Is(err, fs.ErrPermission):
		return nil, err // not ours to overwrite: wrong user?
	case err != nil:
		reason = err.Error()
	default:
		reason = r.selfSignedStale(cert.Leaf)
	}
	if reason == "" {
		r.log.Warn("using a self-signed TLS certificate: clients will not trust it unless told to; set tls.cert and tls.key to use a real one",
			"cert", r.certFile, "not_after", cert.Leaf.NotAfter)
		return cert, nil
	}
	certPEM, keyPEM, err := generate(r.hosts, r.now(), SelfSignedValidity)
	if err != nil {
		return nil, err
	}
	if err := writeFiles(filepath.Dir(r.certFile), r.certFile, certPEM, r.keyFile, keyPEM); err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: generated certificate: %w", err)
	}
	r.log.Warn("generated a self-signed TLS certificate: clients will not trust it unless told to; set tls.cert and tls.key to use a real one",
		"cert", r.certFile, "reason", reason, "names", pair.Leaf.DNSNames, "not_after", pair.Leaf.NotAfter)
	return &pair, nil
}

// selfSignedStale returns why the generated certificate leaf must be
// replaced, or "".
func (r *Reloader) selfSignedStale(leaf *x509.Certificate) string {
	now := r.now()
	if now.Before(leaf.NotBefore) {
		return "not valid yet"
	}
	if leaf.NotAfter.Sub(now) < RenewBefore {
		return "expires " + leaf.NotAfter.Format(time.RFC3339)
	}
	for _, n := range requiredNames(r.hosts) {
		if !hasName(leaf, n) {
			return "does not cover " + n
		}
	}
	return ""
}

// checkExplicit logs warnings about a configured certificate.
func (r *Reloader) checkExplicit(leaf *x509.Certificate) {
	now := r.now()
	switch {
	case now.After(leaf.NotAfter):
		r.log.Warn("TLS certificate has expired: clients will refuse it", "cert", r.certFile, "not_after", leaf.NotAfter)
	case now.Before(leaf.NotBefore):
		r.log.Warn("TLS certificate is not valid yet: clients will refuse it", "cert", r.certFile, "not_before", leaf.NotBefore)
	case leaf.NotAfter.Sub(now) < RenewBefore:
		r.log.Warn("TLS certificate expires soon", "cert", r.certFile, "not_after", leaf.NotAfter)
	}
	for _, h := range r.hosts {
		if err := leaf.VerifyHostname(strings.Trim(h, "[]")); err != nil {
			r.log.Warn("TLS certificate does not cover a served host: clients of that host will refuse it",
				"cert", r.certFile, "host", h, "names", leaf.DNSNames)
		}
	}
	r.log.Info("TLS certificate loaded", "cert", r.certFile, "subject", leaf.Subject.String(), "not_after", leaf.NotAfter)
}

// loadPair reads and parses a PEM certificate (chain) and key. Its errors
// tell the operator what is wrong; a missing file wraps fs.ErrNotExist.
func loadPair(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("tlsutil: certificate file %q does not exist: %w", certFile, err)
		}
		return nil, fmt.Errorf("tlsutil: read certificate file: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("tlsutil: key file %q does not exist: %w", keyFile, err)
		}
		return nil, fmt.Errorf("tlsutil: read key file: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if msg := diagnose(certFile, certPEM, keyFile, keyPEM); msg != "" {
			return nil, fmt.Errorf("tlsutil: %s: %w", msg, err)
		}
		return nil, fmt.Errorf("tlsutil: load certificate %q and key %q: %w", certFile, keyFile, err)
	}
	return &pair, nil
}

// diagnose explains why a certificate and key do not make a pair, or
// returns "".
func diagnose(certFile string, certPEM []byte, keyFile string, keyPEM []byte) string {
	certBlock, certKey := pemKinds(certPEM)
	keyCert, keyBlock := pemKinds(keyPEM)
	switch {
	case !certBlock && certKey && keyCert && !keyBlock:
		return fmt.Sprintf("certificate file %q holds a private key and key file %q a certificate: are they swapped?", certFile, keyFile)
	case !certBlock:
		return fmt.Sprintf("certificate file %q holds no PEM CERTIFICATE block", certFile)
	case !keyBlock:
		return fmt.Sprintf("key file %q holds no PEM private key block", keyFile)
	}
	leaf, key := firstCert(certPEM), firstKey(keyPEM)
	if leaf == nil || key == nil {
		return ""
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if ok && !pub.Equal(leaf.PublicKey) {
		return fmt.Sprintf("private key %q does not match certificate %q (the first certificate in the file must be the server's)", keyFile, certFile)
	}
	return ""
}

// pemKinds reports whether data holds a CERTIFICATE block and a private key
// block.
func pemKinds(data []byte) (cert, key bool) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return cert, key
		}
		switch {
		case b.Type == "CERTIFICATE":
			cert = true
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			key = true
		}
	}
}

func firstCert(data []byte) *x509.Certificate {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil
		}
		if b.Type == "CERTIFICATE" {
			c, _ := x509.ParseCertificate(b.Bytes)
			return c
		}
	}
}

func firstKey(data []byte) crypto.Signer {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil
		}
		if !strings.HasSuffix(b.Type, "PRIVATE KEY") {
			continue
		}
		var k any
		var err error
		switch b.Type {
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		default:
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		}
		if err != nil {
			return nil
		}
		s, _ := k.(crypto.Signer)
		return s
	}
}

// SelfSigned returns a new self-signed ECDSA P-256 certificate and its
// PKCS #8 key, PEM-encoded, valid from an hour ago for validFor, naming
// every host, *.host (for domain names), localhost, 127.0.0.1 and ::1.
// Generating one takes well under a millisecond.
func SelfSigned(hosts []string, validFor time.Duration) (certPEM, keyPEM []byte, err error) {
	if validFor <= 0 {
		return nil, nil, fmt.Errorf("tlsutil: validity must be positive (got %v)", validFor)
	}
	var names []string
	for _, h := range hosts {
		n, err := sanName(h)
		if err != nil {
			return nil, nil, err
		}
		if n != "" {
			names = append(names, n)
		}
	}
	return generate(names, time.Now(), validFor)
}

// generate makes a self-signed certificate for names (already sanName'd)
// valid from an hour before now for validFor.
func generate(names []string, now time.Time, validFor time.Duration) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsutil: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("tlsutil: generate serial number: %w", err)
	}
	cn := "localhost"
	if len(names) > 0 {
		cn = strings.Trim(names[0], "[]")
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Dormouse self-signed"}},
		NotBefore:             now.Add(-time.Hour), // tolerate clients' clock skew
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	for _, n := range requiredNames(names) {
		if ip := net.ParseIP(strings.Trim(n, "[]")); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsutil: create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsutil: encode key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

// sanName returns host as it appears in a certificate: a lower-case
// A-label domain name without trailing dot, or an IP address ("::1" for
// "[::1]"). It returns "" for an empty host.
func sanName(host string) (string, error) {
	h := strings.TrimSuffix(strings.TrimSpace(host), ".")
	if h == "" {
		return "", nil
	}
	if ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")); ip != nil {
		return ip.String(), nil
	}
	a, err := idna.Lookup.ToASCII(h)
	if err != nil {
		return "", fmt.Errorf("tlsutil: invalid host name %q: %w", host, err)
	}
	return strings.ToLower(a), nil
}

// requiredNames lists the names a generated certificate for hosts carries:
// each host, *.host for domain names, localhost, 127.0.0.1 and ::1.
func requiredNames(hosts []string) []string {
	var out []string
	add := func(n string) {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for _, h := range hosts {
		add(h)
		if net.ParseIP(h) == nil {
			add("*." + h)
		}
	}
	add("localhost")
	add("127.0.0.1")
	add("::1")
	return out
}

// hasName reports whether the certificate lists the exact name n (a DNS
// name, wildcard or IP address) among its subject alternative names.
func hasName(leaf *x509.Certificate, n string) bool {
	if ip := net.ParseIP(n); ip != nil {
		return slices.ContainsFunc(leaf.IPAddresses, ip.Equal)
	}
	return slices.ContainsFunc(leaf.DNSNames, func(d string) bool { return strings.EqualFold(d, n) })
}

// writeFiles writes the key and certificate atomically with mode 0600,
// creating dir with mode 0700. The key is written first: if the process
// dies in between, the next start sees a mismatched pair and regenerates.
func writeFiles(dir, certFile string, certPEM []byte, keyFile string, keyPEM []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("tlsutil: create certificate directory: %w", err)
	}
	if err := writeFileAtomic(keyFile, keyPEM); err != nil {
		return err
	}
	return writeFileAtomic(certFile, certPEM)
}

func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("tlsutil: write %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("tlsutil: write %s: %w", path, err)
	}
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("tlsutil: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("tlsutil: write %s: %w", path, err)
	}
	return nil
}
