// Package tlsutil provides the server's TLS certificate and configuration.
//
// With a certificate and key file configured (tls.cert, tls.key), [New] and
// [LoadOrCreate] load them and explain plainly what is wrong if they cannot:
// a missing file, a key that does not match the certificate, files given
// the wrong way round. An expired certificate, one that is not yet valid,
// expires within 30 days or does not name a served host is still loaded,
// with a warning in the log.
//
// Without them, a self-signed certificate is kept in <data_dir>/tls
// (selfsigned.crt, selfsigned.key, mode 0600 in a 0700 directory). It is
// generated on first start, and again when it does not cover every served
// host (and its subdomains: *.host), expires within 30 days, or cannot be
// read. It is an ECDSA P-256 certificate valid for a year naming every host,
// *.host, localhost, 127.0.0.1 and ::1. Its use is logged as a warning:
// clients will not trust it unless told to.
//
// The server *tls.Config takes the certificate from a [Reloader] through
// GetCertificate, so [Reloader.Reload] replaces it for new connections
// without a restart (e.g. on SIGHUP after the files were renewed).
//
// [SelfSigned] makes a certificate quickly for other packages' tests.
package tlsutil
