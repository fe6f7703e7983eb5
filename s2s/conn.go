package s2s

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/stream"
	"dormouse.im/dormouse/xml"
)

// conn is one TCP connection carrying a server stream, either way.
type conn struct {
	nc           net.Conn // the TLS connection once TLS is up
	dec          *xml.Decoder
	tls          *tls.Conn // nil before TLS
	direct       bool      // TLS from the first byte (XEP-0368)
	writeTimeout time.Duration

	wmu sync.Mutex // serializes writes
}

func newConn(nc net.Conn, maxStanza int, writeTimeout time.Duration) *conn {
	return &conn{nc: nc, dec: xml.NewDecoder(nc, xml.Limits{MaxStanzaSize: maxStanza}), writeTimeout: writeTimeout}
}

// write writes b under the write deadline.
func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	_, err := c.nc.Write(b)
	return err
}

// next reads the next top-level element; the end of the peer's stream is
// errClosedByPeer, a <stream:error/> a *peerStreamError.
func (c *conn) next() (*xml.Element, error) {
	el, err := c.dec.Next()
	if errors.Is(err, xml.ErrStreamEnd) {
		return nil, errClosedByPeer
	}
	if err != nil {
		return nil, err
	}
	if el.Name.Space == stream.NS && el.Name.Local == "error" {
		return nil, peerError(el)
	}
	return el, nil
}

// startTLS runs the TLS handshake (client or server side) and restarts
// the decoder on it. Input the peer sent in plaintext after the STARTTLS
// command is a protocol violation (RFC 6120 §5.4.3.3).
func (c *conn) startTLS(ctx context.Context, cfg *tls.Config, client bool) error {
	if c.dec.Buffered() > 0 {
		return &stream.Error{Condition: stream.PolicyViolation, Text: "data after the STARTTLS command"}
	}
	var tc *tls.Conn
	if client {
		tc = tls.Client(c.nc, cfg)
	} else {
		tc = tls.Server(c.nc, cfg)
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("%w: TLS handshake: %w", errTLS, err)
	}
	c.tls, c.nc = tc, tc
	c.dec.Reset(tc)
	return nil
}

// restart makes the decoder read a new stream (after SASL).
func (c *conn) restart() { c.dec.Reset(c.nc) }

func (c *conn) close() {
	c.nc.Close()
	c.dec.Release()
}

// tlsState describes the connection's TLS for logs and status.
func (c *conn) tlsState() string {
	if c.tls == nil {
		return "none"
	}
	return tlsVersion(c.tls.ConnectionState())
}

// appendHeader appends a server stream header (RFC 6120 §4.7) declaring
// the dialback prefix (XEP-0220 §2.1).
func appendHeader(b []byte, from, to, id string) []byte {
	b = append(b, "<?xml version='1.0'?><stream:stream xmlns='"+stanza.NSServer+"' xmlns:stream='"+stream.NS+"' xmlns:db='"+NSDialback+"'"...)
	if from != "" {
		b = appendAttr(b, "from", from)
	}
	if to != "" {
		b = appendAttr(b, "to", to)
	}
	if id != "" {
		b = appendAttr(b, "id", id)
	}
	return append(b, " version='1.0'>"...)
}

// checkHeader checks a peer's stream header: the streams namespace (the
// decoder checked the element name), jabber:server content, version 1.0
// (no TLS without it, RFC 6120 §4.7.5).
func checkHeader(h *xml.StreamHeader) error {
	if h.DefaultNS != stanza.NSServer {
		return &stream.Error{Condition: stream.InvalidNamespace, Text: "the default namespace must be " + stanza.NSServer}
	}
	if v := h.AttrValue("version"); v == "" || v[0] < '1' {
		return &stream.Error{Condition: stream.UnsupportedVersion, Text: "XMPP 1.0 streams (version='1.0') are required"}
	}
	return nil
}

// Errors by reason; failure metrics and bounces depend on them.
var (
	errTLS          = errors.New("s2s: TLS failed")
	errAuth         = errors.New("s2s: authentication failed")
	errClosedByPeer = errors.New("s2s: stream closed by peer")
	errShutdown     = errors.New("s2s: shutting down")
)

// peerStreamError is a <stream:error/> the peer sent.
type peerStreamError struct {
	Condition string
	Text      string
}

func (e *peerStreamError) Error() string {
	if e.Text != "" {
		return "s2s: the peer sent stream error " + e.Condition + ": " + e.Text
	}
	return "s2s: the peer sent stream error " + e.Condition
}

func peerError(el *xml.Element) *peerStreamError {
	e := &peerStreamError{Condition: "undefined-condition"}
	for _, c := range el.Elements() {
		if c.Name.Space != stream.NSErrors {
			continue
		}
		if c.Name.Local == "text" {
			e.Text = c.Text()
		} else {
			e.Condition = c.Name.Local
		}
	}
	return e
}

// features is what the peer's <stream:features/> offers.
type features struct {
	StartTLS bool
	External bool // SASL EXTERNAL
	Dialback bool // urn:xmpp:features:dialback
}

func parseFeatures(el *xml.Element) (features, error) {
	var f features
	if el.Name.Space != stream.NS || el.Name.Local != "features" {
		return f, &stream.Error{Condition: stream.BadFormat, Text: "expected stream features"}
	}
	f.StartTLS = el.Child(stream.NSTLS, "starttls") != nil
	f.Dialback = el.Child(NSDialbackFeature, "dialback") != nil
	if m := el.Child(stream.NSSASL, "mechanisms"); m != nil {
		for _, x := range m.ChildrenNamed(stream.NSSASL, "mechanism") {
			if x.Text() == "EXTERNAL" {
				f.External = true
			}
		}
	}
	return f, nil
}
