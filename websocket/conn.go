package websocket

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"dormouse.im/dormouse/stream"
	ws "github.com/coder/websocket"
)

// conn is one WebSocket seen as the byte stream of a classic XMPP stream
// (a net.Conn for session.Server.ServeConn).
type conn struct {
	ws            *ws.Conn
	local, remote net.Addr

	// msgs hands the pump's messages to Read one at a time: the pump reads
	// the next only when the session took the previous (back-pressure).
	msgs chan message
	// handing is set while the pump waits for the session to take a
	// message: it reads nothing then, pongs included.
	handing atomic.Bool

	// Read's state (the session's reader goroutine).
	in   []byte // translated bytes not yet read
	buf  []byte // in's array, reused
	rerr error  // the error every later Read returns

	dmu    sync.Mutex
	rdl    time.Time     // read deadline
	rdlSet chan struct{} // closed when rdl changes

	wmu sync.Mutex // serializes Write (the session does too)
	wdl atomic.Int64
	out outbound

	closeOnce sync.Once
	closed    chan struct{}
	onClose   func() // called once by Close (set before the session starts)
}

type message struct {
	data []byte
	err  error
}

func newConn(c *ws.Conn, local, remote net.Addr) *conn {
	return &conn{
		ws: c, local: local, remote: remote,
		msgs:   make(chan message),
		rdlSet: make(chan struct{}),
		closed: make(chan struct{}),
	}
}

// pump reads the WebSocket's messages until it fails or conn closes.
func (c *conn) pump(ctx context.Context) {
	for {
		typ, data, err := c.ws.Read(ctx)
		if err == nil && typ != ws.MessageText {
			err = frameError("XMPP over WebSocket uses text messages only (RFC 7395 §3.2)")
		}
		c.handing.Store(true)
		select {
		case c.msgs <- message{data, err}:
		case <-c.closed:
			c.handing.Store(false)
			return
		}
		c.handing.Store(false)
		if err != nil {
			return
		}
	}
}

// Read returns the translated stream: os.ErrDeadlineExceeded when the read
// deadline passes (the WebSocket stays open), io.EOF when the browser
// closed the WebSocket.
func (c *conn) Read(p []byte) (int, error) {
	for len(c.in) == 0 {
		if c.rerr != nil {
			return 0, c.rerr
		}
		c.dmu.Lock()
		dl, changed := c.rdl, c.rdlSet
		c.dmu.Unlock()
		var timeout <-chan time.Time
		var t *time.Timer
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			t = time.NewTimer(d)
			timeout = t.C
		}
		select {
		case m := <-c.msgs:
			if m.err != nil {
				c.rerr = readError(m.err)
				break
			}
			in, err := Inbound(c.buf[:0], m.data)
			c.buf = in[:0]
			c.in = in
			if err != nil {
				c.rerr = err
			}
		case <-changed:
		case <-timeout:
			return 0, os.ErrDeadlineExceeded
		case <-c.closed:
			c.rerr = net.ErrClosed
		}
		if t != nil {
			t.Stop()
		}
	}
	n := copy(p, c.in)
	c.in = c.in[n:]
	return n, nil
}

// readError maps the end of the WebSocket to the errors of a TCP stream: a
// close frame (the browser went away) or a broken connection is io.EOF, so
// the session treats it as a lost connection (a resumable session
// hibernates). A message over the read limit is the policy-violation a
// too large stanza is over TCP (RFC 6120 §4.9.3.12): the session ends
// rather than hibernating (the WebSocket library already closed it with
// status 1009). Framing errors (*stream.Error) stay as they are.
func readError(err error) error {
	switch {
	case errors.Is(err, ws.ErrMessageTooBig):
		return &stream.Error{Condition: stream.PolicyViolation, Text: "message too large"}
	case ws.CloseStatus(err) != -1 || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
		return io.EOF
	}
	return err
}

// Write sends each complete element of b as a message, under the write
// deadline; a missed deadline closes the WebSocket.
func (c *conn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	ctx := context.Background()
	if dl := c.wdl.Load(); dl != 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Unix(0, dl))
		defer cancel()
	}
	err := c.out.write(b, func(m []byte) error { return c.ws.Write(ctx, ws.MessageText, m) })
	if err != nil {
		return 0, err
	}
	return len(b), nil
}

// Close ends the connection; the handler's goroutine closes the WebSocket
// with a closing handshake.
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		if c.onClose != nil {
			c.onClose()
		}
	})
	return nil
}

func (c *conn) LocalAddr() net.Addr  { return c.local }
func (c *conn) RemoteAddr() net.Addr { return c.remote }

func (c *conn) SetDeadline(t time.Time) error {
	_ = c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *conn) SetReadDeadline(t time.Time) error {
	c.dmu.Lock()
	c.rdl = t
	close(c.rdlSet)
	c.rdlSet = make(chan struct{})
	c.dmu.Unlock()
	return nil
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	if t.IsZero() {
		c.wdl.Store(0)
	} else {
		c.wdl.Store(t.UnixNano())
	}
	return nil
}
