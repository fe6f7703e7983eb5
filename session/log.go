package session

import (
	"context"
	"log/slog"
)

// Loggers. A connection or session does not keep a logger made with
// Logger.With (the handler would preformat its attributes and keep them
// for the connection's life, some hundreds of bytes each): attrHandler
// adds the attributes when a record is handled.

// attrHandler adds attributes to each record when it is handled: add
// appends the connection's or session's current ones.
type attrHandler struct {
	h   slog.Handler
	add func(*slog.Record)
}

func (h *attrHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *attrHandler) Handle(ctx context.Context, r slog.Record) error {
	h.add(&r)
	return h.h.Handle(ctx, r)
}

func (h *attrHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &attrHandler{h.h.WithAttrs(as), h.add}
}

func (h *attrHandler) WithGroup(name string) slog.Handler {
	return &attrHandler{h.h.WithGroup(name), h.add}
}

// logAttrs adds a connection's attributes: its sequence number, the
// client's address, then who it authenticated as.
func (c *Conn) logAttrs(r *slog.Record) {
	r.AddAttrs(slog.Uint64("conn", c.seq), slog.String("remote", c.nc.RemoteAddr().String()))
	if s := c.sess.Load(); s != nil {
		r.AddAttrs(slog.String("jid", s.jid.String()))
	} else if who := c.who.Load(); who != nil {
		r.AddAttrs(slog.String(who.key, who.value))
	}
}

// identity is who a connection is once authenticated ("user"), until its
// session (bind or resumption) names it.
type identity struct{ key, value string }

// setWho records who the connection is, for its log records.
func (c *Conn) setWho(key, value string) {
	c.who.Store(&identity{key, value})
}

// logAttrs adds a session's full JID.
func (s *Session) logAttrs(r *slog.Record) {
	r.AddAttrs(slog.String("jid", s.jid.String()))
}
