package component

import (
	"context"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"dormouse.im/dormouse/internal/wire"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/stream"
	"dormouse.im/dormouse/xml"
)

// closeWait bounds how long a closing connection waits for its last write
// and for the peer's closing tag.
const closeWait = 2 * time.Second

// Conn is one component connection. It implements stanza.Target.
type Conn struct {
	srv     *Server
	nc      net.Conn
	started time.Time
	logp    atomic.Pointer[slog.Logger] // replaced once the domain is known

	ctx    context.Context // cancelled when the connection is finished
	cancel context.CancelFunc

	// Reader-goroutine state.
	dec      *xml.Decoder
	domain   string // the component's domain, from its stream header
	secret   string
	streamID string
	routed   bool // AddComponent succeeded

	stopping atomic.Bool // closing: reads keep the short deadline set by shutdownConn

	// q is the outbound queue, written by a writer goroutine that runs
	// while there is something to write; it is held (stanzas wait) until
	// the handshake reply.
	q wire.Queue

	omu    sync.Mutex // guards opened; taken before q's lock
	opened bool       // our stream header is queued
}

func newConn(s *Server, nc net.Conn) *Conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &Conn{srv: s, nc: nc, started: time.Now(), ctx: ctx, cancel: cancel}
	// The writer goroutine is counted in srv.wg. It starts only while the
	// connection's goroutine, counted there too, still accepts items
	// (finish closes the queue before it returns), so adding to the
	// WaitGroup cannot race with Shutdown's Wait.
	c.q.Init(wire.QueueConfig{NS: stanza.NSComponent, Write: c.writeBatch, End: c.writeEnded, Go: func(f func()) {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			f()
		}()
	}})
	c.logp.Store(s.log.With("conn", stream.NewID()[:8], "remote", nc.RemoteAddr().String()))
	return c
}

func (c *Conn) log() *slog.Logger { return c.logp.Load() }

// Deliver queues a stanza for the component. It does not block: it returns
// false when the connection is closing or its queue is full.
func (c *Conn) Deliver(st *stanza.Stanza) bool {
	return c.enqueue(wire.Item{St: st})
}

// CloseWithError ends the stream with a stream error after the queued
// stanzas are written. Safe to call from any goroutine.
func (c *Conn) CloseWithError(e *stream.Error) {
	b := e.AppendXML(nil)
	b = append(b, stream.Close...)
	if c.enqueue(wire.Item{Raw: b, Close: true}) {
		c.log().Info("closing stream", "condition", string(e.Condition), "text", e.Text)
	}
}

func (c *Conn) enqueue(it wire.Item) bool {
	if it.St != nil {
		return c.q.Push(it, c.srv.MaxQueue)
	}
	c.omu.Lock()
	defer c.omu.Unlock()
	if !c.opened {
		// A stream error must follow our stream header (RFC 6120 §4.9.1.2).
		it.Raw = append(appendHeader(nil, "", stream.NewID()), it.Raw...)
		c.opened = true
	}
	return c.q.Push(it, c.srv.MaxQueue)
}

// open queues our stream header.
func (c *Conn) open(from, id string) bool {
	c.omu.Lock()
	defer c.omu.Unlock()
	if c.opened {
		return false
	}
	c.opened = true
	return c.q.Push(wire.Item{Raw: appendHeader(nil, from, id)}, 0)
}

// hold makes stanzas wait in the queue: called before the domain is routed
// here, so that nothing is written before the handshake reply.
func (c *Conn) hold() { c.q.Hold() }

// release queues b ahead of the held stanzas and lets the writer run.
func (c *Conn) release(b []byte) bool { return c.q.Release(wire.Item{Raw: b}) }

// writeBatch writes one batch of the outbound queue under the write
// deadline.
func (c *Conn) writeBatch(b []byte) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.WriteTimeout))
	_, err := c.nc.Write(b)
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

// shutdownConn closes the connection; graceful half-closes it and gives the
// peer a moment to send its closing tag.
func (c *Conn) shutdownConn(graceful bool) {
	c.stopping.Store(true)
	if !graceful {
		c.nc.Close()
		return
	}
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(closeWait))
	// The reader sees the closing tag, EOF or the deadline and finishes.
}

// appendHeader appends our stream header. XEP-0114 streams have no version
// attribute, so no stream features follow.
func appendHeader(b []byte, from, id string) []byte {
	b = append(b, "<?xml version='1.0'?><stream:stream xmlns='"+stanza.NSComponent+"' xmlns:stream='"+stream.NS+"'"...)
	if from != "" {
		b = append(b, " from='"...)
		b = xml.AppendEscapedAttr(b, from)
		b = append(b, '\'')
	}
	if id != "" {
		b = append(b, " id='"...)
		b = xml.AppendEscapedAttr(b, id)
		b = append(b, '\'')
	}
	return append(b, '>')
}

var (
	errClosedByPeer = errors.New("component: stream closed by peer")
	errClosing      = errors.New("component: connection closing")
)

// serve runs the connection until it ends.
func (c *Conn) serve() {
	c.log().Debug("connection accepted")
	// One absolute deadline covers the stream header and the handshake.
	_ = c.nc.SetReadDeadline(c.started.Add(c.srv.HandshakeTimeout))
	c.dec = xml.NewDecoder(c.nc, xml.Limits{MaxStanzaSize: c.srv.MaxStanzaSize})
	err := c.run()
	if c.routed {
		// Stop routing here before saying goodbye.
		c.srv.Router.RemoveComponent(c.domain, c)
		c.log().Info("component disconnected")
	}
	c.endWith(err)
	c.finish()
}

func (c *Conn) run() error {
	if err := c.openStream(); err != nil {
		return err
	}
	if err := c.handshake(); err != nil {
		return err
	}
	return c.readStanzas()
}

// openStream reads the component's stream header and answers with ours.
func (c *Conn) openStream() error {
	h, err := c.dec.Header()
	if err != nil {
		return err
	}
	if h.DefaultNS != stanza.NSComponent {
		return &stream.Error{Condition: stream.InvalidNamespace, Text: "the default namespace must be " + stanza.NSComponent}
	}
	to := h.AttrValue("to")
	if to == "" {
		return &stream.Error{Condition: stream.HostUnknown, Text: "the stream header has no 'to' address"}
	}
	domain, ok := canonicalDomain(to)
	if !ok {
		return &stream.Error{Condition: stream.HostUnknown, Text: "'to' is not a domain"}
	}
	if c.srv.Router.IsLocal(domain) {
		// Never let a component take over the users of a served host.
		c.log().Warn("component refused: the domain is a served host", "component", domain)
		return &stream.Error{Condition: stream.HostUnknown, Text: "no component is configured for " + domain}
	}
	secret, ok := c.srv.secrets[domain]
	if !ok {
		c.log().Warn("component refused: unknown domain", "component", domain)
		return &stream.Error{Condition: stream.HostUnknown, Text: "no component is configured for " + domain}
	}
	c.domain, c.secret, c.streamID = domain, secret, stream.NewID()
	c.logp.Store(c.log().With("component", domain))
	if !c.open(domain, c.streamID) {
		return errClosing
	}
	return nil
}

// handshake reads and checks <handshake/> (XEP-0114 §3) and routes the
// domain here.
func (c *Conn) handshake() error {
	el, err := c.dec.Next()
	if errors.Is(err, xml.ErrStreamEnd) {
		return errClosedByPeer
	}
	if err != nil {
		return err
	}
	if el.Name.Space != stanza.NSComponent || el.Name.Local != "handshake" {
		return &stream.Error{Condition: stream.NotAuthorized, Text: "send the handshake first"}
	}
	sum := sha1.Sum([]byte(c.streamID + c.secret))
	want := hex.EncodeToString(sum[:])
	got := strings.ToLower(strings.TrimSpace(el.Text()))
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		c.log().Warn("component handshake failed")
		return &stream.Error{Condition: stream.NotAuthorized, Text: "handshake failed"}
	}
	c.hold()
	if err := c.srv.Router.AddComponent(c.domain, c); err != nil {
		c.log().Warn("component refused: the domain is already connected", "err", err)
		return &stream.Error{Condition: stream.Conflict, Text: "a component is already connected for " + c.domain}
	}
	c.routed = true
	// A connected component may stay idle indefinitely (TCP keepalives
	// detect dead peers), unless the connection is already closing.
	_ = c.nc.SetReadDeadline(time.Time{})
	if c.stopping.Load() {
		_ = c.nc.SetReadDeadline(time.Now().Add(closeWait))
	}
	if !c.release([]byte("<handshake/>")) {
		return errClosing
	}
	c.log().Info("component connected")
	return nil
}

// readStanzas routes the component's stanzas until the stream ends.
func (c *Conn) readStanzas() error {
	for {
		el, err := c.dec.Next()
		if errors.Is(err, xml.ErrStreamEnd) {
			return errClosedByPeer
		}
		if err != nil {
			return err
		}
		if el.Name.Space != stanza.NSComponent {
			return &stream.Error{Condition: stream.UnsupportedStanzaType, Text: "unsupported element {" + el.Name.Space + "}" + el.Name.Local}
		}
		switch el.Name.Local {
		case "message", "presence", "iq":
			if err := c.stanza(el); err != nil {
				return err
			}
		case "handshake":
			return &stream.Error{Condition: stream.PolicyViolation, Text: "the handshake is already done"}
		default:
			return &stream.Error{Condition: stream.UnsupportedStanzaType, Text: "unknown element " + el.Name.Local}
		}
	}
}

// stanza checks the addresses of a stanza from the component and routes it.
// Components address their stanzas themselves: a missing or malformed 'to'
// or 'from' is improper-addressing, a 'from' outside the component's domain
// invalid-from (RFC 6120 §4.9.3.7, §4.9.3.9).
func (c *Conn) stanza(el *xml.Element) error {
	st, err := stanza.New(el)
	if err != nil {
		return &stream.Error{Condition: stream.ImproperAddressing, Text: "malformed 'to' or 'from' address"}
	}
	switch {
	case st.From.Domainpart() == "":
		return &stream.Error{Condition: stream.ImproperAddressing, Text: "a component must set 'from' on every stanza"}
	case st.From.Domainpart() != c.domain:
		return &stream.Error{Condition: stream.InvalidFrom, Text: "'from' is not at " + c.domain}
	case st.To.Domainpart() == "":
		return &stream.Error{Condition: stream.ImproperAddressing, Text: "a component must set 'to' on every stanza"}
	}
	c.srv.Router.Route(c.ctx, st)
	return nil
}

// endWith reports how the stream ended to the peer where that is useful.
func (c *Conn) endWith(err error) {
	var se *stream.Error
	var syn *xml.SyntaxError
	switch {
	case errors.Is(err, errClosing):
	case errors.Is(err, errClosedByPeer):
		c.enqueue(wire.Item{Raw: []byte(stream.Close), Close: true})
	case errors.As(err, &se):
		c.CloseWithError(se)
	case errors.As(err, &syn):
		c.CloseWithError(stream.FromSyntax(syn))
	case errors.Is(err, os.ErrDeadlineExceeded) && !c.stopping.Load():
		c.CloseWithError(&stream.Error{Condition: stream.ConnectionTimeout, Text: "the handshake did not complete in time"})
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		c.log().Debug("connection closed by peer")
	default:
		c.log().Debug("connection ended", "err", err)
	}
}

// finish waits (bounded) for the last write and closes the connection.
func (c *Conn) finish() {
	if wait := c.q.Close(); wait != nil {
		t := time.NewTimer(closeWait)
		select {
		case <-wait:
		case <-t.C:
		}
		t.Stop()
	}
	c.cancel()
	c.nc.Close()
	c.dec.Release()
	c.log().Debug("connection closed")
}
