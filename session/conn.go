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
	"syscall"
	"time"

	"dormouse.im/dormouse/internal/netpoll"
	"dormouse.im/dormouse/internal/wire"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/stream"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// Conn is one client connection.
type Conn struct {
	srv *Server
	nc  net.Conn // the TCP connection
	ip  netip.Addr
	seq uint64       // the connection's number, for logs
	lg  *slog.Logger // the connection's logger (log.go)
	// who is who the connection is once known (log.go); set by the reader.
	who atomic.Pointer[identity]

	// ctx is cancelled when the connection ends; it is used until
	// authentication (SASL, the login throttle, pre-authentication
	// stanzas). A connection that parks has authenticated: it cancels ctx
	// and keeps only rctx (park.go), so an idle connection does not hold
	// a cancelable context; cancel is then nil and ctx is rctx.
	ctx    context.Context
	cancel context.CancelFunc
	// rctx is ctx's parent, without cancellation, for routing and storage
	// lookups, which run on the reader goroutine before ctx is cancelled
	// anyway: database/sql then neither derives a context nor starts a
	// goroutine per query, and ctx does not keep the map of children it
	// would otherwise allocate for the connection's life.
	rctx context.Context

	// Reader-goroutine state.
	// The bools are kept together (and in Session): a parked connection
	// is mostly this struct, and padding would move it to the next size
	// class.
	conn        net.Conn // nc, or the TLS connection over it
	dec         *xml.Decoder
	direct      bool
	secure      bool
	authed      bool
	bound       bool
	lost        bool // the stream ended by a transport failure, not </stream:stream> or a stream error
	csiInactive bool // XEP-0352 state asked for before bind
	// Parking (park.go), reader state too.
	canPark   bool // nc is a socket and Config.ParkAfter >= 0
	idleFired bool // parked for Config.IdleTimeout: ping the client
	host      string
	user      string  // localpart after SASL
	jid       jid.JID // full JID after bind
	authTries int
	authBy    int64 // Unix nanoseconds: the stream must authenticate by then
	tokens    float64
	lastFill  int64 // Unix nanoseconds of the last token refill; 0: none yet
	// cb is the channel-binding data by type until authentication (cb.go).
	cb map[string][]byte

	rc syscall.RawConn // nc's, once parked (park.go)
	// parkedAt is when the connection parked in the poller (Unix
	// nanoseconds; 0: not parked there), for the idle sweep.
	parkedAt atomic.Int64
	// poll is the connection's poller registration, once parked there;
	// Disarm on it decides who wakes the reader.
	poll atomic.Pointer[netpoll.Handle]

	// sess is the bound session (set by the reader at bind or resume).
	sess atomic.Pointer[Session]
	// superseded: the session was resumed on another connection; this one
	// only closes.
	superseded atomic.Bool
	// closeSent: the server is ending this stream with a stream error.
	closeSent atomic.Bool

	wmu      sync.Mutex   // serializes writes to conn
	stopping atomic.Bool  // the stream is being closed; reads keep their short deadline
	stopAt   atomic.Int64 // that deadline (Unix nanoseconds), set before stopping

	// q is the outbound queue: stanzas and stream-level elements, written
	// in batches by a writer goroutine that runs only while there is
	// something to write. Its lock is the last in the lock order.
	q wire.Queue
}

func newConn(s *Server, nc net.Conn, ip netip.Addr, direct bool) *Conn {
	rctx := context.WithValue(context.Background(), remoteAddrKey{}, ip)
	ctx, cancel := context.WithCancel(rctx)
	c := &Conn{
		srv: s, nc: nc, conn: nc, ip: ip, direct: direct,
		ctx: ctx, cancel: cancel, rctx: rctx,
		authBy: time.Now().Add(s.Config.AuthTimeout).UnixNano(),
		tokens: float64(s.Config.StanzaBurst),
	}
	if _, ok := nc.(syscall.Conn); ok && s.Config.ParkAfter >= 0 {
		c.canPark = true
	}
	c.q.Init(wire.QueueConfig{NS: stanza.NSClient, Write: c.writeBatch, End: c.writeEnded})
	c.seq = s.connSeq.Add(1)
	c.lg = slog.New(&attrHandler{s.Log.Handler(), c.logAttrs})
	return c
}

// JID returns the bound full JID (zero before bind).
func (c *Conn) JID() jid.JID { return c.jid }

// Deliver queues a stanza for writing: through the bound session, or
// directly before bind.
func (c *Conn) Deliver(st *stanza.Stanza) bool {
	if s := c.sess.Load(); s != nil {
		return s.Deliver(st)
	}
	return c.enqueue(wire.Item{St: st})
}

// enqueue queues an item for writing; a stanza that is not Force only
// while fewer than Config.MaxQueue wait.
func (c *Conn) enqueue(it wire.Item) bool { return c.q.Push(it, c.srv.Config.MaxQueue) }

// CloseWithError ends the stream with a stream error after the queued
// stanzas are written. Safe to call from any goroutine.
func (c *Conn) CloseWithError(e *stream.Error) {
	b := e.AppendXML(nil)
	b = append(b, stream.Close...)
	if !c.enqueue(wire.Item{Raw: b, Close: true}) {
		return
	}
	c.closeSent.Store(true)
	c.log().Info("closing stream", "condition", string(e.Condition), "text", e.Text)
}

// writeBatch writes one batch of the outbound queue under the write
// deadline.
func (c *Conn) writeBatch(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.srv.Config.WriteTimeout))
	_, err := c.conn.Write(b)
	return err
}

// writeEnded closes the connection after a failed write (err) or the write
// of the stream's last element.
func (c *Conn) writeEnded(err error) {
	if err != nil {
		c.log().Debug("write failed; closing", "err", err)
	}
	c.shutdownConn(err == nil)
}

// shutdownConn closes the connection; graceful waits briefly for the peer's
// closing tag.
func (c *Conn) shutdownConn(graceful bool) {
	at := time.Now().Add(2 * time.Second)
	if c.superseded.Load() {
		at = time.Now()
	}
	c.stopAt.Store(at.UnixNano())
	c.stopping.Store(true)
	if graceful {
		if tc, ok := c.nc.(*net.TCPConn); ok && !c.secure {
			_ = tc.CloseWrite()
		}
		_ = c.nc.SetReadDeadline(at)
		c.wake()
		return // the reader sees EOF or the deadline and closes nc
	}
	c.wake()
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
	if c.superseded.Load() {
		return 0, errSuperseded
	}
	if c.stopping.Load() {
		// Closing: keep the short deadline set by shutdownConn (idle may
		// have replaced it).
		_ = c.nc.SetReadDeadline(time.Unix(0, c.stopAt.Load()))
		return c.conn.Read(p)
	}
	if !c.authed {
		_ = c.nc.SetReadDeadline(time.Unix(0, c.authBy))
		return c.conn.Read(p)
	}
	linger := false
	switch {
	case c.idleFired:
		// Parked for the idle timeout: the deadline has passed.
		c.idleFired = false
		_ = c.nc.SetReadDeadline(time.Now())
	case c.canPark && c.dec.Quiet():
		// Between elements with nothing buffered: park after ParkAfter, or
		// after wakeLinger if woken connections wait for a reader
		// (wake.go; a deadline that has passed would not even read what
		// the socket holds).
		linger = true
		after := min(c.srv.Config.ParkAfter, c.srv.Config.IdleTimeout)
		if c.srv.wakeBacklog() {
			after = min(after, wakeLinger)
		}
		_ = c.nc.SetReadDeadline(time.Now().Add(after))
	default:
		_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.Config.IdleTimeout))
	}
	// interruptRead or shutdownConn may have set their deadline before the
	// one above: restore it.
	if c.superseded.Load() {
		return 0, errSuperseded
	}
	if c.stopping.Load() {
		_ = c.nc.SetReadDeadline(time.Unix(0, c.stopAt.Load()))
		return c.conn.Read(p)
	}
	n, err := c.conn.Read(p)
	if linger && n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, errLinger
	}
	if err != nil && c.bound && !c.stopping.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
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

// interruptRead wakes a reader blocked on the connection (its session was
// resumed elsewhere: deadlineReader then returns errSuperseded).
func (c *Conn) interruptRead() {
	_ = c.nc.SetReadDeadline(time.Now())
	c.wake()
}

// pingGrace is how long an idle client has to answer the server's ping.
const pingGrace = time.Minute

// serve runs the connection until it ends or parks (park.go: another
// goroutine then continues it).
func (c *Conn) serve() {
	c.log().Debug("connection accepted", "direct_tls", c.direct)
	if c.direct {
		if err := c.handshake(); err != nil {
			c.log().Info("TLS handshake failed", "err", err)
			c.finish()
			return
		}
	}
	c.dec = xml.NewDecoder(deadlineReader{c}, xml.Limits{MaxStanzaSize: c.srv.Config.MaxStanzaSize})
	c.end(c.run(false))
}

// end finishes the connection after its reader stopped with err, unless
// it parked.
func (c *Conn) end(err error) {
	if errors.Is(err, errParked) {
		return
	}
	c.endWith(err)
	c.finish()
}

func (c *Conn) handshake() error {
	tc := tls.Server(c.nc, c.srv.tlsCfg)
	_ = c.nc.SetDeadline(time.Now().Add(c.srv.Config.AuthTimeout))
	// rctx: a cancellable context would keep, for the connection's life,
	// the child crypto/tls derives from it (the handshake is bounded by
	// the deadline above, and closing nc aborts it).
	err := tc.HandshakeContext(c.rctx)
	cert := c.srv.takeHandshakeCert(c.nc) // forgotten whether or not the handshake succeeded
	if err != nil {
		return err
	}
	_ = c.nc.SetDeadline(time.Time{})
	c.conn = tc
	c.secure = true
	c.setChannelBindings(tc, cert)
	return nil
}

// endWith reports how the stream ended to the peer where that is useful,
// and records whether the connection was lost (which hibernates a
// resumable session) rather than closed.
func (c *Conn) endWith(err error) {
	var se *stream.Error
	var syn *xml.SyntaxError
	var tooHigh *handledTooHigh
	switch {
	case errors.Is(err, errSuperseded):
		c.log().Debug("reader stopped: session resumed elsewhere")
	case err == nil || errors.Is(err, errClosedByPeer):
		c.enqueue(wire.Item{Raw: []byte(stream.Close), Close: true})
	case errors.As(err, &se):
		c.CloseWithError(se)
	case errors.As(err, &syn):
		c.CloseWithError(stream.FromSyntax(syn))
	case errors.As(err, &tooHigh):
		c.log().Info("closing stream", "condition", "undefined-condition", "err", err)
		c.closeSent.Store(true)
		c.enqueue(wire.Item{Raw: append(tooHigh.appendXML(nil), stream.Close...), Close: true})
	case errors.Is(err, os.ErrDeadlineExceeded) && !c.resumable():
		c.CloseWithError(&stream.Error{Condition: stream.ConnectionTimeout, Text: "no activity"})
	case errors.Is(err, os.ErrDeadlineExceeded):
		// A resumable session whose client stopped answering: treat the
		// connection as lost and keep the session for a resumption.
		c.lost = true
		c.log().Info("connection timed out; hibernating")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		c.lost = true
		c.log().Debug("connection closed by peer")
	default:
		c.lost = true
		c.log().Debug("connection ended", "err", err)
	}
}

// resumable reports whether the bound session has XEP-0198 resumption
// enabled.
func (c *Conn) resumable() bool {
	s := c.sess.Load()
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id != ""
}

var errClosedByPeer = errors.New("session: stream closed by peer")

// finish hands the session over (hibernation) or ends it, waits for queued
// writes (bounded), and closes.
func (c *Conn) finish() {
	lost := c.lost && !c.closeSent.Load()
	if lost {
		// Nobody to write to: unblock the writer now.
		c.unpoll()
		c.nc.Close()
	}
	if s := c.sess.Load(); s != nil {
		s.connEnded(c, lost)
	}
	// Let the writer flush what is queued (a final stream error), bounded
	// by the write deadline.
	if done := c.q.Close(); done != nil {
		<-done
	}
	c.q.Free()
	c.dropCtx()
	c.unpoll()
	c.nc.Close()
	if c.dec != nil {
		c.dec.Release()
	}
	c.log().Debug("connection closed") // the handler names the session
	c.srv.connDone(c)
}

// log returns the connection's logger.
func (c *Conn) log() *slog.Logger { return c.lg }
