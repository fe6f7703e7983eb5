package s2s

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/stream"
	"dormouse.im/dormouse/xml"
)

// Authentication methods, as logged and counted.
const (
	AuthExternal = "sasl-external"
	AuthDialback = "dialback"
)

var errStreamClosed = errors.New("s2s: stream closed")

// outStream is the outgoing stream of one (local, remote) domain pair.
type outStream struct {
	s       *Service
	p       pair
	created time.Time
	wake    chan struct{} // a stanza was queued
	quit    chan struct{} // closed by stop
	stopped sync.Once

	mu     sync.Mutex // guards the fields below
	queue  []*stanza.Stanza
	closed bool // takes no more stanzas
	c      *conn
	auth   string
	tls    string
	addr   string
	direct bool
	cancel context.CancelFunc // ends the connection attempt
}

func newOutStream(s *Service, p pair) *outStream {
	return &outStream{s: s, p: p, created: time.Now(), wake: make(chan struct{}, 1), quit: make(chan struct{})}
}

func (o *outStream) log() *slog.Logger {
	return o.s.log.With("direction", "out", "local", o.p.local, "domain", o.p.remote)
}

// push queues st; errStreamClosed if the stream ended meanwhile.
func (o *outStream) push(st *stanza.Stanza) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return errStreamClosed
	}
	if len(o.queue) >= o.s.cfg.MaxQueue {
		return stanza.NewError(stanza.ResourceConstraint, "too many stanzas are waiting for "+o.p.remote)
	}
	o.queue = append(o.queue, st)
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return nil
}

// stop ends the stream (shutdown).
func (o *outStream) stop() {
	o.stopped.Do(func() { close(o.quit) })
	o.mu.Lock()
	if o.cancel != nil {
		o.cancel()
	}
	o.mu.Unlock()
}

func (o *outStream) info() StreamInfo {
	o.mu.Lock()
	defer o.mu.Unlock()
	return StreamInfo{Direction: "out", Local: o.p.local, Remote: o.p.remote, Auth: o.auth, TLS: o.tls, DirectTLS: o.direct, Since: o.created, Addr: o.addr}
}

// end closes the stream for new stanzas and bounces the queued ones with
// condition c.
func (o *outStream) end(c stanza.Condition, text string) {
	o.mu.Lock()
	o.closed = true
	q := o.queue
	o.queue = nil
	o.mu.Unlock()
	o.s.removeOut(o)
	o.bounce(q, c, text)
}

func (o *outStream) bounce(q []*stanza.Stanza, c stanza.Condition, text string) {
	for _, st := range q {
		o.s.r.Bounce(context.Background(), st, stanza.NewError(c, text))
	}
	if len(q) > 0 {
		o.log().Info("bounced stanzas", "count", len(q), "condition", string(c))
	}
}

// run connects, authenticates and writes until the stream ends.
func (o *outStream) run() {
	ctx, cancel := context.WithTimeout(context.Background(), o.s.cfg.ConnectTimeout)
	o.mu.Lock()
	o.cancel = cancel
	o.mu.Unlock()
	select {
	case <-o.quit:
		cancel()
	default:
	}
	start := time.Now()
	c, auth, err := o.s.dialOut(ctx, o.p.local, o.p.remote, false)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w: %w", err, ctx.Err())
	}
	cancel()
	if err != nil {
		o.s.stats.failures[reason(err)].Add(1)
		o.log().Warn("outgoing stream failed", "reason", ReasonNames[reason(err)], "err", err)
		o.s.failed(o.p.remote, err)
		o.end(bounceCondition(err), "cannot reach "+o.p.remote+": "+ReasonNames[reason(err)]+" failure")
		return
	}
	o.s.succeeded(o.p.remote)
	_ = c.nc.SetDeadline(time.Time{})
	o.mu.Lock()
	o.c, o.auth, o.tls, o.addr, o.direct = c, auth, c.tlsState(), c.nc.RemoteAddr().String(), c.direct
	o.mu.Unlock()
	o.log().Info("outgoing stream established", "auth", auth, "tls", c.tlsState(), "direct_tls", c.direct, "addr", o.addr, "setup", time.Since(start).Round(time.Millisecond))
	readerDone := make(chan error, 1)
	o.s.wg.Add(1)
	go func() {
		defer o.s.wg.Done()
		readerDone <- o.read(c)
	}()
	o.write(c, readerDone)
}

// read reads what the peer sends on our outgoing stream until it ends.
// Streams are unidirectional: a peer sends nothing but the end of its
// stream, a stream error, or dialback verification answers we do not ask
// here; anything else is ignored.
func (o *outStream) read(c *conn) error {
	for {
		el, err := c.next()
		if err != nil {
			return err
		}
		if el.Name.Space == NSDialback && el.Name.Local == "verify" {
			// A peer asking us about a key on this stream.
			if b := o.s.answerVerify(el); b != nil {
				_ = c.write(b)
			}
		}
	}
}

// write drains the queue into the connection until the stream ends: idle,
// shutdown, the peer closed, or a write failed.
func (o *outStream) write(c *conn, readerDone <-chan error) {
	idle := time.NewTimer(o.s.cfg.IdleTimeout)
	defer idle.Stop()
	var buf []byte
	for {
		o.mu.Lock()
		batch := o.queue
		o.queue = nil
		o.mu.Unlock()
		if len(batch) > 0 {
			buf = buf[:0]
			for _, st := range batch {
				buf = st.AppendXML(buf, stanza.NSServer)
			}
			if err := c.write(buf); err != nil {
				o.log().Warn("outgoing stream write failed", "err", err)
				o.bounce(batch, stanza.RemoteServerTimeout, "the connection to "+o.p.remote+" failed")
				o.end(stanza.RemoteServerTimeout, "the connection to "+o.p.remote+" failed")
				c.close()
				return
			}
			o.s.stats.stanzasOut.Add(uint64(len(batch)))
			if cap(buf) > 64<<10 {
				buf = nil
			}
			idle.Reset(o.s.cfg.IdleTimeout)
			continue
		}
		select {
		case <-o.wake:
		case <-idle.C:
			o.mu.Lock()
			if len(o.queue) > 0 {
				o.mu.Unlock()
				continue
			}
			o.closed = true
			o.mu.Unlock()
			o.s.removeOut(o)
			o.log().Info("outgoing stream idle: closing")
			o.close(c, readerDone, nil)
			return
		case <-o.quit:
			o.end(stanza.RemoteServerTimeout, "the server is shutting down")
			o.close(c, readerDone, &stream.Error{Condition: stream.SystemShutdown})
			return
		case err := <-readerDone:
			o.log().Info("outgoing stream ended by peer", "err", err)
			o.end(stanza.RemoteServerTimeout, "the stream to "+o.p.remote+" ended")
			_ = c.write([]byte(stream.Close))
			c.close()
			return
		}
	}
}

// close ends the stream (with a stream error if e is set), waits a moment
// for the peer's closing tag, and closes the connection.
func (o *outStream) close(c *conn, readerDone <-chan error, e *stream.Error) {
	var b []byte
	if e != nil {
		b = e.AppendXML(b)
	}
	b = append(b, stream.Close...)
	_ = c.write(b)
	_ = c.nc.SetReadDeadline(time.Now().Add(closeWait))
	<-readerDone
	c.close()
}

// dialOut resolves remote and connects to its endpoints in order until a
// stream is negotiated (verifyOnly: TLS is up and the stream open, for a
// dialback verification; else authenticated, with the method returned).
func (s *Service) dialOut(ctx context.Context, local, remote string, verifyOnly bool) (*conn, string, error) {
	eps, err := endpoints(ctx, s.resolver, s.cfg.Hosts, remote)
	if err != nil {
		return nil, "", err
	}
	for _, e := range eps {
		trace(ctx, "endpoint %s", e)
	}
	var errs []error
	for _, e := range eps {
		start := time.Now()
		nc, err := dialEndpoint(ctx, s.resolver, s.dialer, e)
		if err != nil {
			if !errors.Is(err, errDNS) {
				err = fmt.Errorf("%w: %s: %w", errTCP, e, err)
			}
			trace(ctx, "connect %s: FAILED: %v", e, err)
			errs = append(errs, err)
			continue
		}
		trace(ctx, "connect %s: connected to %s in %v", e, nc.RemoteAddr(), time.Since(start).Round(time.Millisecond))
		c, auth, err := s.negotiateOut(ctx, nc, e.DirectTLS, local, remote, verifyOnly)
		if err == nil {
			return c, auth, nil
		}
		trace(ctx, "%s: FAILED: %v", e, err)
		nc.Close()
		errs = append(errs, fmt.Errorf("%s: %w", e, err))
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 1 {
		return nil, "", errs[0]
	}
	return nil, "", errors.Join(errs...)
}

// negotiateOut opens a stream from local to remote on nc: TLS (direct or
// STARTTLS, always), the certificate check, then SASL EXTERNAL or
// dialback.
func (s *Service) negotiateOut(ctx context.Context, nc net.Conn, direct bool, local, remote string, verifyOnly bool) (*conn, string, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	c := newConn(nc, s.cfg.MaxStanzaSize, writeTimeout)
	fail := func(err error) (*conn, string, error) {
		c.dec.Release()
		return nil, "", err
	}
	if direct {
		if err := c.startTLS(ctx, s.clientTLS(local, remote, true), true); err != nil {
			return fail(err)
		}
		c.direct = true
	}
	certChecked, certOK, saslDone, saslTried := false, false, false, false
	for range 4 { // at most: plain, TLS, after SASL
		if err := c.write(appendHeader(nil, local, remote, "")); err != nil {
			return fail(fmt.Errorf("%w: %w", errTCP, err))
		}
		h, err := c.dec.Header()
		if err != nil {
			return fail(fmt.Errorf("%w: reading the stream header: %w", errTCP, err))
		}
		if err := checkHeader(h); err != nil {
			return fail(fmt.Errorf("%w: %w", errAuth, err))
		}
		id := h.AttrValue("id")
		el, err := c.next()
		if err != nil {
			return fail(fmt.Errorf("reading stream features: %w", err))
		}
		f, err := parseFeatures(el)
		if err != nil {
			return fail(err)
		}
		if saslDone {
			return c, AuthExternal, nil
		}
		if c.tls == nil {
			if !f.StartTLS {
				return fail(fmt.Errorf("%w: %s does not offer STARTTLS", errTLS, remote))
			}
			if err := c.write([]byte("<starttls xmlns='" + stream.NSTLS + "'/>")); err != nil {
				return fail(fmt.Errorf("%w: %w", errTCP, err))
			}
			el, err := c.next()
			if err != nil {
				return fail(fmt.Errorf("%w: %w", errTLS, err))
			}
			if el.Name.Space != stream.NSTLS || el.Name.Local != "proceed" {
				return fail(fmt.Errorf("%w: STARTTLS refused", errTLS))
			}
			if err := c.startTLS(ctx, s.clientTLS(local, remote, false), true); err != nil {
				return fail(err)
			}
			trace(ctx, "STARTTLS: %s", c.tlsState())
			continue
		}
		if !certChecked {
			certChecked = true
			if direct {
				trace(ctx, "direct TLS: %s", c.tlsState())
			}
			cs := c.tls.ConnectionState()
			cerr := verifyPeer(cs, s.cfg.RootCAs, remote)
			certOK = cerr == nil
			if certOK {
				trace(ctx, "certificate: valid for %s (issued by %s, expires %s)", remote,
					cs.PeerCertificates[0].Issuer.CommonName, cs.PeerCertificates[0].NotAfter.Format(time.DateOnly))
			} else {
				trace(ctx, "certificate: NOT valid: %v", cerr)
			}
			if !certOK {
				if !s.isInsecure(remote) {
					return fail(cerr)
				}
				s.log.Warn("certificate not valid; dialback allowed by insecure_domains", "direction", "out", "domain", remote, "err", cerr)
			}
		}
		if verifyOnly {
			return c, "", nil
		}
		if certOK && f.External && !saslTried {
			saslTried = true
			ok, err := saslExternal(c, local)
			if err != nil {
				return fail(err)
			}
			trace(ctx, "SASL EXTERNAL as %s: %s", local, map[bool]string{true: "success", false: "refused"}[ok])
			if ok {
				saslDone = true
				c.restart()
				continue
			}
			s.log.Info("SASL EXTERNAL refused; trying dialback", "direction", "out", "domain", remote)
		}
		if !f.Dialback {
			trace(ctx, "dialback: not advertised by %s; trying anyway", remote)
		}
		if err := dialbackOut(c, s.cfg.Secret, local, remote, id); err != nil {
			return fail(err)
		}
		trace(ctx, "dialback as %s: valid", local)
		return c, AuthDialback, nil
	}
	return fail(fmt.Errorf("%w: too many stream restarts", errAuth))
}

// saslExternal authenticates as local with SASL EXTERNAL (RFC 6120 §6,
// RFC 4422 Appendix A), the authorization identity being the domain.
func saslExternal(c *conn, local string) (bool, error) {
	b := []byte("<auth xmlns='" + stream.NSSASL + "' mechanism='EXTERNAL'>")
	b = append(b, base64.StdEncoding.EncodeToString([]byte(local))...)
	b = append(b, "</auth>"...)
	if err := c.write(b); err != nil {
		return false, fmt.Errorf("%w: %w", errTCP, err)
	}
	el, err := c.next()
	if err != nil {
		return false, fmt.Errorf("%w: %w", errAuth, err)
	}
	if el.Name.Space != stream.NSSASL {
		return false, fmt.Errorf("%w: unexpected <%s/> during SASL", errAuth, el.Name.Local)
	}
	switch el.Name.Local {
	case "success":
		return true, nil
	case "failure":
		return false, nil
	}
	return false, fmt.Errorf("%w: unexpected <%s/> during SASL", errAuth, el.Name.Local)
}

// dialbackOut asks the receiving server to verify our key (XEP-0220 §2.1)
// and waits for its answer.
func dialbackOut(c *conn, secret []byte, local, remote, id string) error {
	if id == "" {
		return fmt.Errorf("%w: the peer's stream header has no id", errAuth)
	}
	key := dialbackKey(secret, remote, local, id)
	if err := c.write(appendDialback(nil, dbElement{From: local, To: remote, Key: key})); err != nil {
		return fmt.Errorf("%w: %w", errTCP, err)
	}
	for {
		el, err := c.next()
		if err != nil {
			return fmt.Errorf("%w: waiting for the dialback result: %w", errAuth, err)
		}
		if el.Name.Space != NSDialback || el.Name.Local != "result" {
			continue
		}
		d, err := parseDialback(el)
		if err != nil || d.From != remote || d.To != local {
			continue
		}
		if d.Type == "valid" {
			return nil
		}
		return fmt.Errorf("%w: dialback: %s answered %s%s", errAuth, remote, d.Type, dialbackErrorText(el))
	}
}

func dialbackErrorText(el *xml.Element) string {
	e := el.Child(NSDialback, "error")
	if e == nil {
		e = el.Child("jabber:server", "error")
	}
	if e == nil {
		return ""
	}
	if x := e.FirstChild(); x != nil {
		return " (" + x.Name.Local + ")"
	}
	return ""
}

// verifyDialback asks the authoritative server of originating whether key
// is the one it issued for a stream with id to receiving (XEP-0220 §2.1.2),
// over a connection of its own.
func (s *Service) verifyDialback(ctx context.Context, receiving, originating, id, key string) (bool, error) {
	c, _, err := s.dialOut(ctx, receiving, originating, true)
	if err != nil {
		return false, err
	}
	defer func() {
		_ = c.write([]byte(stream.Close))
		c.close()
	}()
	if err := c.write(appendDialback(nil, dbElement{Verify: true, From: receiving, To: originating, ID: id, Key: key})); err != nil {
		return false, fmt.Errorf("%w: %w", errTCP, err)
	}
	for {
		el, err := c.next()
		if err != nil {
			return false, fmt.Errorf("%w: waiting for db:verify: %w", errAuth, err)
		}
		if el.Name.Space != NSDialback || el.Name.Local != "verify" {
			continue
		}
		d, err := parseDialback(el)
		if err != nil || d.From != originating || d.To != receiving || d.ID != id {
			continue
		}
		return d.Type == "valid", nil
	}
}

// answerVerify answers a db:verify request about a key this server issued
// (XEP-0220 §2.1.2, authoritative server side), or returns nil for an
// element that is not one.
func (s *Service) answerVerify(el *xml.Element) []byte {
	d, err := parseDialback(el)
	if err != nil || !d.Verify || d.Type != "" || !s.r.Serves(d.To) {
		return nil
	}
	typ := "invalid"
	if checkKey(s.cfg.Secret, d.From, d.To, d.ID, d.Key) {
		typ = "valid"
	}
	return appendDialback(nil, dbElement{Verify: true, From: d.To, To: d.From, ID: d.ID, Type: typ})
}

type traceKey struct{}

// trace reports a step of setting up a stream to the function in ctx
// (Check), if any.
func trace(ctx context.Context, format string, args ...any) {
	if f, ok := ctx.Value(traceKey{}).(func(string)); ok {
		f(fmt.Sprintf(format, args...))
	}
}

// Check sets up a stream from local to remote as Send would, reporting
// each step to report (resolution, connection, TLS, certificate,
// authentication), then closes it. It returns why it failed. It needs no
// running server, except that a peer verifying dialback connects back to
// local's server.
func (s *Service) Check(ctx context.Context, local, remote string, report func(string)) error {
	ctx = context.WithValue(ctx, traceKey{}, report)
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	start := time.Now()
	c, auth, err := s.dialOut(ctx, local, remote, false)
	if err != nil {
		return fmt.Errorf("%s failure: %w", ReasonNames[reason(err)], err)
	}
	report(fmt.Sprintf("authenticated with %s over %s in %v", auth, c.tlsState(), time.Since(start).Round(time.Millisecond)))
	_ = c.write([]byte(stream.Close))
	c.close()
	return nil
}
