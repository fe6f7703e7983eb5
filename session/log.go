package session

import (
	"context"
	"log/slog"
)

// Loggers. A connection or session does not keep a logger made with
// Logger.With (the handler would preformat its attributes and keep them
// for the connection's life, some hundreds of bytes each): connHandler and
// sessHandler add the attributes when a record is handled.

// connHandler adds a connection's attributes (its sequence number, the
// client's address, then who it authenticated as) to each record.
type connHandler struct {
	h slog.Handler
	c *Conn
}

func (h *connHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *connHandler) Handle(ctx context.Context, r slog.Record) error {
	c := h.c
	r.AddAttrs(slog.Uint64("conn", c.seq), slog.String("remote", c.nc.RemoteAddr().String()))
	if s := c.sess.Load(); s != nil {
		r.AddAttrs(slog.String("jid", s.jid.String()))
	} else if who := c.who.Load(); who != nil {
		r.AddAttrs(slog.String(who.key, who.value))
	}
	return h.h.Handle(ctx, r)
}

func (h *connHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &connHandler{h.h.WithAttrs(as), h.c}
}

func (h *connHandler) WithGroup(name string) slog.Handler {
	return &connHandler{h.h.WithGroup(name), h.c}
}

// identity is who a connection is once authenticated ("user"), until its
// session (bind or resumption) names it.
type identity struct{ key, value string }

// setWho records who the connection is, for its log records.
func (c *Conn) setWho(key, value string) {
	c.who.Store(&identity{key, value})
}

// sessHandler adds a session's full JID to each record.
type sessHandler struct {
	h slog.Handler
	s *Session
}

func (h *sessHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *sessHandler) Handle(ctx context.Context, r slog.Record) error {
	r.AddAttrs(slog.String("jid", h.s.jid.String()))
	return h.h.Handle(ctx, r)
}

func (h *sessHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &sessHandler{h.h.WithAttrs(as), h.s}
}

func (h *sessHandler) WithGroup(name string) slog.Handler {
	return &sessHandler{h.h.WithGroup(name), h.s}
}
