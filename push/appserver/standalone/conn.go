package standalone

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
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

// Config configures the component connection.
type Config struct {
	Addr   string // host:port of the server's component listener
	Domain string // the component's domain (push.example.org)
	Secret string // the shared secret the server has for Domain

	MinBackoff, MaxBackoff time.Duration // defaults 1s and 1m
	Timeout                time.Duration // dial, handshake and each write; default 10s
	KeepAlive              time.Duration // whitespace keepalive interval; default 60s
	MaxStanzaSize          int           // default 256 KiB
}

// Handler handles the stanzas the component receives (router.Service's
// shape). A non-nil error is answered to the sender as an error stanza.
type Handler interface {
	HandleStanza(ctx context.Context, st *stanza.Stanza) error
}

// ErrNotConnected is returned by Send while no stream is up.
var ErrNotConnected = errors.New("standalone: not connected")

// Conn is a component connection that reconnects.
type Conn struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex // guards nc and serializes writes
	nc     net.Conn   // nil while down
	change chan struct{}
}

// New returns a connection; Run connects it.
func New(cfg Config, log *slog.Logger) *Conn {
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(time.Minute, cfg.MinBackoff)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = time.Minute
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Conn{cfg: cfg, log: log.With("component", cfg.Domain, "server", cfg.Addr), change: make(chan struct{})}
}

// Connected returns a channel closed at the next change of the
// connection's state (up or down), and whether it is up now.
func (c *Conn) Connected() (<-chan struct{}, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.change, c.nc != nil
}

func (c *Conn) setConn(nc net.Conn) {
	c.mu.Lock()
	c.nc = nc
	close(c.change)
	c.change = make(chan struct{})
	c.mu.Unlock()
}

// Send writes st on the current stream (implements appserver.Sender).
func (c *Conn) Send(_ context.Context, st *stanza.Stanza) error {
	return c.write(st.AppendXML(nil, stanza.NSComponent))
}

func (c *Conn) write(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nc == nil {
		return ErrNotConnected
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.cfg.Timeout))
	if _, err := c.nc.Write(b); err != nil {
		c.nc.Close() // the reader notices and reconnects
		return fmt.Errorf("standalone: write: %w", err)
	}
	return nil
}

// Run connects and serves h until ctx ends, reconnecting with backoff. It
// returns ctx's error.
func (c *Conn) Run(ctx context.Context, h Handler) error {
	backoff := c.cfg.MinBackoff
	for {
		err := c.session(ctx, h, func() { backoff = c.cfg.MinBackoff })
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.log.Warn("component connection lost; reconnecting", "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, c.cfg.MaxBackoff)
	}
}

// session runs one connection: dial, handshake, read loop.
func (c *Conn) session(ctx context.Context, h Handler, authenticated func()) error {
	d := net.Dialer{Timeout: c.cfg.Timeout}
	nc, err := d.DialContext(ctx, "tcp", c.cfg.Addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	// Close the socket when ctx ends, to stop the reader.
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = nc.Write([]byte(stream.Close))
		c.mu.Unlock()
		nc.Close()
	})
	defer stop()

	dec := xml.NewDecoder(nc, xml.Limits{MaxStanzaSize: c.cfg.MaxStanzaSize})
	_ = nc.SetDeadline(time.Now().Add(c.cfg.Timeout))
	if _, err := nc.Write(stream.Header{NS: stanza.NSComponent, To: c.cfg.Domain}.AppendOpen(nil)); err != nil {
		return err
	}
	hdr, err := dec.Header()
	if err != nil {
		return fmt.Errorf("stream header: %w", err)
	}
	id := hdr.AttrValue("id")
	if id == "" {
		return errors.New("the server sent no stream id")
	}
	sum := sha1.Sum([]byte(id + c.cfg.Secret))
	if _, err := nc.Write([]byte("<handshake>" + hex.EncodeToString(sum[:]) + "</handshake>")); err != nil {
		return err
	}
	el, err := dec.Next()
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	if el.Name != (xml.Name{Space: stanza.NSComponent, Local: "handshake"}) {
		return fmt.Errorf("handshake refused: %s", describe(el))
	}
	_ = nc.SetDeadline(time.Time{})
	authenticated()
	c.setConn(nc)
	defer c.setConn(nil)
	c.log.Info("component connected")

	kaDone := make(chan struct{})
	defer close(kaDone)
	go func() { // ends with the session: kaDone
		t := time.NewTicker(c.cfg.KeepAlive)
		defer t.Stop()
		for {
			select {
			case <-kaDone:
				return
			case <-t.C:
				if err := c.write([]byte{' '}); err != nil {
					return
				}
			}
		}
	}()

	for {
		el, err := dec.Next()
		if err != nil {
			return err
		}
		st, err := stanza.New(el)
		if err != nil {
			if errors.Is(err, stanza.ErrNotStanza) {
				return fmt.Errorf("stream closed: %s", describe(el))
			}
			c.log.Debug("bad stanza", "err", err)
			continue
		}
		if err := h.HandleStanza(ctx, st); err != nil && st.Type != stanza.TypeError && st.Type != stanza.TypeResult {
			if werr := c.Send(ctx, st.ErrorReply(stanza.AsError(err))); werr != nil {
				return werr
			}
		}
	}
}

// describe summarizes an unexpected element (a stream error, usually).
func describe(el *xml.Element) string {
	if el.Name == (xml.Name{Space: xml.NSStream, Local: "error"}) {
		if c := el.FirstChild(); c != nil {
			return "stream error " + c.Name.Local
		}
	}
	return "<" + el.Name.Local + " xmlns='" + el.Name.Space + "'>"
}
