package session

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/stream"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// item is one entry of the outbound queue: a stanza, or raw bytes of a
// stream-level element.
type item struct {
	st    *stanza.Stanza
	raw   []byte
	close bool // close the connection after writing this item
}

// Conn is one client connection.
type Conn struct {
	srv *Server
	nc  net.Conn // the TCP connection
	ip  netip.Addr
	// logp is the connection's logger; the reader goroutine replaces it as
	// the session learns who it is, other goroutines read it.
	logp atomic.Pointer[slog.Logger]

	ctx    context.Context
	cancel context.CancelFunc

	// Reader-goroutine state.
	conn      net.Conn // nc, or the TLS connection over it
	dec       *xml.Decoder
	direct    bool
	secure    bool
	authed    bool
	bound     bool
	host      string
	user      string  // localpart after SASL
	jid       jid.JID // full JID after bind
	authTries int
	started   time.Time
	tokens    float64
	lastFill  time.Time

	wmu      sync.Mutex  // serializes writes to conn
	stopping atomic.Bool // the stream is being closed; reads keep their short deadline

	mu      sync.Mutex // guards the fields below
	queue   []item
	spare   []item
	writing bool
	closed  bool      // no more items accepted
	idle    sync.Cond // signalled when writing becomes false; L is &mu
}

func newConn(s *Server, nc net.Conn, ip netip.Addr, direct bool) *Conn {
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), remoteAddrKey{}, ip))
	c := &Conn{
		srv: s, nc: nc, conn: nc, ip: ip, direct: direct,
		ctx: ctx, cancel: cancel,
		started: time.Now(),
		tokens:  float64(s.Config.StanzaBurst),
	}
	c.idle.L = &c.mu
	c.logp.Store(s.Log.With("conn", stream.NewID()[:8], "remote", nc.RemoteAddr().String()))
	return c
}

// JID returns the bound full JID (zero before bind).
func (c *Conn) JID() jid.JID { return c.jid }

// Deliver queues a stanza for writing. It implements stanza.Target.
func (c *Conn) Deliver(st *stanza.Stanza) bool {
	return c.enqueue(item{st: st})
}

func (c *Conn) enqueue(it item) bool {
	c.mu.Lock()
	if c.closed || (it.st != nil && len(c.queue) >= c.srv.Config.MaxQueue) {
		c.mu.Unlock()
		return false
	}
	if it.close {
		c.closed = true
	}
	c.queue = append(c.queue, it)
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	if start {
		go c.writeLoop()
	}
	return true
}

// CloseWithError ends the stream with a stream error after the queued
// stanzas are written. Safe to call from any goroutine.
func (c *Conn) CloseWithError(e *stream.Error) {
	b := e.AppendXML(nil)
	b = append(b, stream.Close...)
	if !c.enqueue(item{raw: b, close: true}) {
		return
	}
	c.log().Info("closing stream", "condition", string(e.Condition), "text", e.Text)
}

// writeLoop drains the queue in batches: one write per batch under a
// deadline. It exits when the queue is empty.
func (c *Conn) writeLoop() {
	var buf []byte
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.writing = false
			c.idle.Broadcast()
			c.mu.Unlock()
			return
		}
		batch := c.queue
		c.queue = c.spare[:0]
		c.mu.Unlock()

		buf = buf[:0]
		closeAfter := false
		for i := range batch {
			it := &batch[i]
			if it.st != nil {
				buf = it.st.AppendXML(buf, stanza.NSClient)
			} else {
				buf = append(buf, it.raw...)
			}
			closeAfter = closeAfter || it.close
			batch[i] = item{}
		}
		c.wmu.Lock()
		_ = c.conn.SetWriteDeadline(time.Now().Add(c.srv.Config.WriteTimeout))
		_, err := c.conn.Write(buf)
		c.wmu.Unlock()
		c.mu.Lock()
		c.spare = batch[:0]
		if err != nil || closeAfter {
			c.closed = true
			c.queue = nil
			c.writing = false
			c.idle.Broadcast()
			c.mu.Unlock()
			if err != nil {
				c.log().Debug("write failed; closing", "err", err)
			}
			c.shutdownConn(closeAfter && err == nil)
			return
		}
		c.mu.Unlock()
		if cap(buf) > 64<<10 {
			buf = nil // do not keep a large buffer around
		}
	}
}

// shutdownConn closes the connection; graceful waits briefly for the peer's
// closing tag.
func (c *Conn) shutdownConn(graceful bool) {
	c.stopping.Store(true)
	if graceful {
		if tc, ok := c.nc.(*net.TCPConn); ok && !c.secure {
			_ = tc.CloseWrite()
		}
		_ = c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
		return // the reader sees EOF or the deadline and closes nc
	}
	c.nc.Close()
}

// writeNow writes b synchronously (stream negotiation before bind).
func (c *Conn) writeNow(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.srv.Config.WriteTimeout))
	_, err := c.conn.Write(b)
	return err
}

// deadlineReader refreshes the read deadline before every read: an absolute
// deadline until authentication, the idle timeout after it. Whitespace
// keepalives count as activity because they are reads.
type deadlineReader struct{ c *Conn }

func (r deadlineReader) Read(p []byte) (int, error) {
	c := r.c
	if c.stopping.Load() {
		// Closing: keep the short deadline set by shutdownConn.
		return c.conn.Read(p)
	}
	if !c.authed {
		_ = c.nc.SetReadDeadline(c.started.Add(c.srv.Config.AuthTimeout))
		return c.conn.Read(p)
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.Config.IdleTimeout))
	n, err := c.conn.Read(p)
	if err != nil && c.bound && errors.Is(err, os.ErrDeadlineExceeded) {
		// Idle for IdleTimeout: ask the client whether it is still there
		// (XEP-0199) before giving up on it.
		ping := stanza.Build(stanza.KindIQ, stanza.TypeGet, "idle-"+stream.NewID(), jid.JID{}, c.jid)
		ping.SetFrom(c.jid.Domain())
		ping.El.AddChild(xml.NewElement("urn:xmpp:ping", "ping"))
		if c.Deliver(ping) {
			_ = c.nc.SetReadDeadline(time.Now().Add(pingGrace))
			return c.conn.Read(p)
		}
	}
	return n, err
}

// pingGrace is how long an idle client has to answer the server's ping.
const pingGrace = time.Minute

// serve runs the connection until it ends.
func (c *Conn) serve() {
	defer c.finish()
	c.log().Debug("connection accepted", "direct_tls", c.direct)
	if c.direct {
		if err := c.handshake(); err != nil {
			c.log().Info("TLS handshake failed", "err", err)
			return
		}
	}
	c.dec = xml.NewDecoder(deadlineReader{c}, xml.Limits{MaxStanzaSize: c.srv.Config.MaxStanzaSize})
	err := c.run()
	c.endWith(err)
}

func (c *Conn) handshake() error {
	tc := tls.Server(c.nc, c.srv.Config.TLS)
	_ = c.nc.SetDeadline(time.Now().Add(c.srv.Config.AuthTimeout))
	if err := tc.HandshakeContext(c.ctx); err != nil {
		return err
	}
	_ = c.nc.SetDeadline(time.Time{})
	c.conn = tc
	c.secure = true
	return nil
}

// endWith reports how the stream ended to the peer where that is useful.
func (c *Conn) endWith(err error) {
	var se *stream.Error
	var syn *xml.SyntaxError
	switch {
	case err == nil || errors.Is(err, errClosedByPeer):
		c.enqueue(item{raw: []byte(stream.Close), close: true})
	case errors.As(err, &se):
		c.CloseWithError(se)
	case errors.As(err, &syn):
		c.CloseWithError(stream.FromSyntax(syn))
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.CloseWithError(&stream.Error{Condition: stream.ConnectionTimeout, Text: "no activity"})
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		c.log().Debug("connection closed by peer")
	default:
		c.log().Debug("connection ended", "err", err)
	}
}

var errClosedByPeer = errors.New("session: stream closed by peer")

// finish waits for queued writes (bounded), unbinds and closes.
func (c *Conn) finish() {
	if c.bound {
		c.srv.Router.Unbind(c.ctx, c.jid, c)
	}
	// Let the writer flush what is queued (a final stream error), bounded
	// by the write deadline.
	c.mu.Lock()
	c.closed = true
	for c.writing {
		c.idle.Wait()
	}
	c.mu.Unlock()
	c.cancel()
	c.nc.Close()
	c.log().Debug("connection closed", "jid", c.jid.String())
}

// log returns the connection's logger.
func (c *Conn) log() *slog.Logger { return c.logp.Load() }
