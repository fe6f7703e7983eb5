package tlsutil

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// logBuffer collects log output safely.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testLogger() (*slog.Logger, *logBuffer) {
	b := new(logBuffer)
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

func readLeaf(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c := firstCert(data)
	if c == nil {
		t.Fatalf("%s holds no certificate", path)
	}
	return c
}

func writePair(t *testing.T, dir string, certPEM, keyPEM []byte) (string, string) {
	t.Helper()
	c, k := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(c, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return c, k
}

func TestSelfSignedGenerateAndReuse(t *testing.T) {
	dir := t.TempDir()
	log, logs := testLogger()
	cfg, path, err := LoadOrCreate("", "", dir, []string{"example.org", "école.example", "[::1]"}, log)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "tls", "selfsigned.crt"); path != want {
		t.Errorf("path = %q, want %q", path, want)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "self-signed") ||
		!strings.Contains(logs.String(), path) {
		t.Errorf("no warning naming the self-signed certificate in log:\n%s", logs)
	}
	// Permissions.
	for p, want := range map[string]fs.FileMode{
		filepath.Join(dir, "tls"):                   0o700 | fs.ModeDir,
		filepath.Join(dir, "tls", "selfsigned.crt"): 0o600,
		filepath.Join(dir, "tls", "selfsigned.key"): 0o600,
	} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s mode = %v, want %v", p, fi.Mode(), want)
		}
	}
	leaf := readLeaf(t, path)
	for _, n := range []string{"example.org", "*.example.org", "xn--cole-9oa.example", "*.xn--cole-9oa.example", "localhost"} {
		if !slices.Contains(leaf.DNSNames, n) {
			t.Errorf("certificate lacks DNS name %s (has %q)", n, leaf.DNSNames)
		}
	}
	if len(leaf.IPAddresses) != 2 {
		t.Errorf("IP addresses = %v, want 127.0.0.1 and ::1", leaf.IPAddresses)
	}
	if d := time.Until(leaf.NotAfter); d < 364*24*time.Hour || d > 366*24*time.Hour {
		t.Errorf("valid for %v, want a year", d)
	}
	c, err := cfg.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil || c == nil || !c.Leaf.Equal(leaf) {
		t.Fatalf("GetCertificate = %v, %v; want the generated certificate", c, err)
	}
	if cfg.MinVersion != tls.VersionTLS12 || !slices.Contains(cfg.NextProtos, "xmpp-client") {
		t.Errorf("config MinVersion %x NextProtos %q", cfg.MinVersion, cfg.NextProtos)
	}

	// Second start reuses it, subset of hosts too.
	before, _ := os.ReadFile(path)
	r, err := New("", "", dir, []string{"example.org"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) || !r.Certificate().Leaf.Equal(leaf) {
		t.Error("second start regenerated the certificate")
	}
	if !r.IsSelfSigned() {
		t.Error("IsSelfSigned = false")
	}
}

func TestSelfSignedRegenerate(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string) // after a first generation for example.org
		hosts   []string
	}{
		{"new host", func(*testing.T, string) {}, []string{"example.org", "example.net"}},
		{"expiring", func(t *testing.T, dir string) {
			c, k, err := generate([]string{"example.org"}, time.Now(), 10*24*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			writeFiles(filepath.Join(dir, "tls"), filepath.Join(dir, "tls", SelfSignedCert), c, filepath.Join(dir, "tls", SelfSignedKey), k)
		}, []string{"example.org"}},
		{"key mismatch", func(t *testing.T, dir string) {
			_, k, _ := SelfSigned(nil, time.Hour)
			os.WriteFile(filepath.Join(dir, "tls", SelfSignedKey), k, 0o600)
		}, []string{"example.org"}},
		{"corrupt", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "tls", SelfSignedCert), []byte("garbage"), 0o600)
		}, []string{"example.org"}},
		{"key missing", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "tls", SelfSignedKey))
		}, []string{"example.org"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, path, err := LoadOrCreate("", "", dir, []string{"example.org"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			first := readLeaf(t, path)
			tt.prepare(t, dir)
			log, logs := testLogger()
			r, err := New("", "", dir, tt.hosts, log)
			if err != nil {
				t.Fatal(err)
			}
			leaf := readLeaf(t, path)
			if leaf.Equal(first) {
				t.Fatal("certificate was not regenerated")
			}
			if !r.Certificate().Leaf.Equal(leaf) {
				t.Error("certificate in use is not the one written")
			}
			for _, h := range tt.hosts {
				if err := leaf.VerifyHostname(h); err != nil {
					t.Error(err)
				}
				if err := leaf.VerifyHostname("sub." + h); err != nil {
					t.Error(err)
				}
			}
			if !strings.Contains(logs.String(), "generated a self-signed") {
				t.Errorf("log lacks the generation warning:\n%s", logs)
			}
		})
	}
}

func TestSelfSignedNotBeforeFuture(t *testing.T) {
	dir := t.TempDir()
	// Generated by a clock two days ahead.
	if _, err := newReloader("", "", dir, nil, nil, func() time.Time { return time.Now().Add(48 * time.Hour) }); err != nil {
		t.Fatal(err)
	}
	first := readLeaf(t, filepath.Join(dir, "tls", SelfSignedCert))
	if _, err := New("", "", dir, nil, nil); err != nil {
		t.Fatal(err)
	}
	if readLeaf(t, filepath.Join(dir, "tls", SelfSignedCert)).Equal(first) {
		t.Error("a not yet valid certificate was kept")
	}
}

func TestExplicitFiles(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM, err := SelfSigned([]string{"example.org"}, 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := writePair(t, dir, certPEM, keyPEM)
	log, logs := testLogger()
	r, err := New(certFile, keyFile, filepath.Join(dir, "data"), []string{"example.org", "other.example"}, log)
	if err != nil {
		t.Fatal(err)
	}
	if r.CertFile() != certFile || r.IsSelfSigned() {
		t.Errorf("CertFile = %q, IsSelfSigned = %v", r.CertFile(), r.IsSelfSigned())
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("data directory was created although certificate files are configured")
	}
	if !strings.Contains(logs.String(), "does not cover a served host") || !strings.Contains(logs.String(), "host=other.example") {
		t.Errorf("no warning about the uncovered host:\n%s", logs)
	}
	if strings.Contains(logs.String(), "expire") {
		t.Errorf("unexpected expiry warning:\n%s", logs)
	}

	// Reload picks up renewed files; a failed reload keeps the old one.
	old := r.Certificate()
	certPEM2, keyPEM2, _ := SelfSigned([]string{"example.org"}, time.Hour)
	writePair(t, dir, certPEM2, keyPEM2)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	renewed := r.Certificate()
	if renewed.Leaf.Equal(old.Leaf) {
		t.Error("Reload did not load the new certificate")
	}
	if !strings.Contains(logs.String(), "expires soon") {
		t.Errorf("no warning about the expiring certificate:\n%s", logs)
	}
	os.WriteFile(keyFile, keyPEM, 0o600) // no longer matches
	if err := r.Reload(); err == nil {
		t.Error("Reload of a mismatched pair succeeded")
	}
	if !r.Certificate().Leaf.Equal(renewed.Leaf) {
		t.Error("failed Reload replaced the certificate")
	}
}

func TestExplicitExpiredLoadsWithWarning(t *testing.T) {
	dir := t.TempDir()
	c, k, err := generate([]string{"example.org"}, time.Now().Add(-48*time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := writePair(t, dir, c, k)
	log, logs := testLogger()
	if _, _, err := LoadOrCreate(certFile, keyFile, "", []string{"example.org"}, log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"TLS certificate has expired") {
		t.Errorf("no expiry warning:\n%s", logs)
	}
}

func TestExplicitErrors(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM, _ := SelfSigned([]string{"example.org"}, time.Hour)
	_, otherKey, _ := SelfSigned([]string{"example.org"}, time.Hour)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert, key := write("cert.pem", certPEM), write("key.pem", keyPEM)
	other := write("other.pem", otherKey)
	empty := write("empty.pem", nil)
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name, cert, key, want string
		is                    error
	}{
		{"missing cert", missing, key, `certificate file "` + missing + `" does not exist`, fs.ErrNotExist},
		{"missing key", cert, missing, `key file "` + missing + `" does not exist`, fs.ErrNotExist},
		{"mismatch", cert, other, "does not match certificate", nil},
		{"swapped", key, cert, "are they swapped?", nil},
		{"no cert", empty, key, "holds no PEM CERTIFICATE block", nil},
		{"no key", cert, empty, "holds no PEM private key block", nil},
		{"cert only", cert, "", "must both be set", nil},
		{"key only", "", key, "must both be set", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := LoadOrCreate(tt.cert, tt.key, dir, nil, nil)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), "tlsutil: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
		})
	}
	if _, _, err := LoadOrCreate("", "", "", nil, nil); err == nil {
		t.Error("no error without certificate files and data directory")
	}
	if _, _, err := LoadOrCreate("", "", dir, []string{"bad host"}, nil); err == nil {
		t.Error("no error for an invalid host name")
	}
}

// handshake runs a TLS handshake over loopback TCP (whose buffers, unlike
// net.Pipe's, let both sides write at once, as a failing TLS 1.3 client and
// a server sending session tickets do) and returns both sides' errors and
// the client's connection state.
func handshake(t *testing.T, server, client *tls.Config) (serverErr, clientErr error, state tls.ConnectionState) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	deadline := time.Now().Add(10 * time.Second)
	done := make(chan error, 1)
	go func() {
		sc, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer sc.Close()
		sc.SetDeadline(deadline)
		done <- tls.Server(sc, server).Handshake()
	}()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	cc.SetDeadline(deadline)
	c := tls.Client(cc, client)
	clientErr = c.Handshake()
	if clientErr != nil {
		cc.Close()
	}
	serverErr = <-done
	return serverErr, clientErr, c.ConnectionState()
}

func TestHandshake(t *testing.T) {
	dir := t.TempDir()
	server, path, err := LoadOrCreate("", "", dir, []string{"example.org"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pemData, _ := os.ReadFile(path)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemData) {
		t.Fatal("cannot add certificate to pool")
	}
	for _, name := range []string{"example.org", "muc.example.org", "localhost"} {
		t.Run(name, func(t *testing.T) {
			serr, cerr, st := handshake(t, server, &tls.Config{
				RootCAs: roots, ServerName: name, NextProtos: []string{"xmpp-client"},
			})
			if serr != nil || cerr != nil {
				t.Fatalf("server: %v, client: %v", serr, cerr)
			}
			if st.NegotiatedProtocol != "xmpp-client" {
				t.Errorf("ALPN = %q", st.NegotiatedProtocol)
			}
		})
	}
	t.Run("STARTTLS without ALPN", func(t *testing.T) {
		serr, cerr, st := handshake(t, server, &tls.Config{RootCAs: roots, ServerName: "example.org", MaxVersion: tls.VersionTLS12})
		if serr != nil || cerr != nil {
			t.Fatalf("server: %v, client: %v", serr, cerr)
		}
		if st.Version != tls.VersionTLS12 {
			t.Errorf("version %x", st.Version)
		}
	})
	t.Run("wrong host", func(t *testing.T) {
		_, cerr, _ := handshake(t, server, &tls.Config{RootCAs: roots, ServerName: "example.com"})
		if cerr == nil {
			t.Error("client accepted a certificate for another host")
		}
	})
	t.Run("TLS 1.1 refused", func(t *testing.T) {
		serr, cerr, _ := handshake(t, server, &tls.Config{
			RootCAs: roots, ServerName: "example.org",
			MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11,
		})
		if serr == nil || cerr == nil {
			t.Fatalf("TLS 1.1 handshake: server %v, client %v; want both to fail", serr, cerr)
		}
		if !strings.Contains(serr.Error(), "version") {
			t.Errorf("server error %q does not mention the version", serr)
		}
	})
}

func TestReloadConcurrent(t *testing.T) {
	r, err := New("", "", t.TempDir(), []string{"example.org"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				if c, _ := r.GetCertificate(nil); c == nil {
					t.Error("nil certificate")
				}
			}
		})
		wg.Go(func() {
			if err := r.Reload(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func TestSelfSigned(t *testing.T) {
	if _, _, err := SelfSigned(nil, 0); err == nil {
		t.Error("SelfSigned accepted a zero validity")
	}
	start := time.Now()
	certPEM, keyPEM, err := SelfSigned([]string{"Example.ORG.", "127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("SelfSigned took %v", d)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"example.org", "*.example.org", "localhost"}; !slices.Equal(pair.Leaf.DNSNames, want) {
		t.Errorf("DNS names %q, want %q", pair.Leaf.DNSNames, want)
	}
	if pair.Leaf.Subject.CommonName != "example.org" {
		t.Errorf("CN = %q", pair.Leaf.Subject.CommonName)
	}
	if pair.Leaf.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("key algorithm %v", pair.Leaf.PublicKeyAlgorithm)
	}
}

func BenchmarkSelfSigned(b *testing.B) {
	for b.Loop() {
		if _, _, err := SelfSigned([]string{"example.org"}, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}
