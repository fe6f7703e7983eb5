package session

import (
	"context"
	"slices"
	"time"

	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// Events receives the lifecycle of stream-managed sessions (XEP-0198
// hibernation and resumption), for features that act on it without session
// importing them: push notifications (XEP-0357) subscribe here, and server
// connects them (Server.Events is a list; each subscriber sees every call,
// in list order). Every method is called without any session lock held, must
// not block (hand slow work to a goroutine of your own), and may be called
// concurrently for different sessions. Embed NopEvents to implement only
// some of them.
//
// For one session the calls are ordered, and made one at a time:
// Hibernated, then any number of StanzaQueued, then Resumed (and possibly
// Hibernated again) or TimedOut. InactiveStanza comes only while the
// session is live. A slow subscriber delays the session's other events
// (and the Deliver calls that cause them), never other sessions.
type Events interface {
	// Hibernated: the connection of a resumable session was lost without
	// </stream:stream>. The session stays bound and available to contacts
	// and queues what is routed to it. unacked are the stanzas sent to the
	// client that it has not acknowledged, oldest first: the client may
	// never have seen them (push wakes it for the important ones). The
	// slice is the receiver's; the stanzas are shared and read-only.
	Hibernated(ctx context.Context, full jid.JID, unacked []*stanza.Stanza)
	// StanzaQueued: st was routed to the session while it is hibernated.
	// st is shared and read-only.
	StanzaQueued(ctx context.Context, full jid.JID, st *stanza.Stanza)
	// Resumed: the client resumed the session on a new connection.
	Resumed(ctx context.Context, full jid.JID)
	// TimedOut: a hibernated session was not resumed in time, or its queue
	// overflowed (Config.SM.MaxQueue). It has been unbound, and rescued
	// messages were handed to the Rescuer.
	TimedOut(ctx context.Context, full jid.JID, rescued int)
	// InactiveStanza: st was queued to a live session whose client said
	// it is inactive (XEP-0352), either held back or, if urgent, sent at
	// once. A suspended app may not read it: push can wake it. st is
	// shared and read-only.
	InactiveStanza(ctx context.Context, full jid.JID, st *stanza.Stanza)
}

// NopEvents implements Events and does nothing.
type NopEvents struct{}

func (NopEvents) Hibernated(context.Context, jid.JID, []*stanza.Stanza)   {}
func (NopEvents) StanzaQueued(context.Context, jid.JID, *stanza.Stanza)   {}
func (NopEvents) Resumed(context.Context, jid.JID)                        {}
func (NopEvents) TimedOut(context.Context, jid.JID, int)                  {}
func (NopEvents) InactiveStanza(context.Context, jid.JID, *stanza.Stanza) {}

// eventList calls every subscriber in order.
type eventList []Events

func (l eventList) Hibernated(ctx context.Context, full jid.JID, unacked []*stanza.Stanza) {
	for i, e := range l {
		if i > 0 {
			unacked = slices.Clone(unacked) // each receiver owns its slice
		}
		e.Hibernated(ctx, full, unacked)
	}
}

func (l eventList) StanzaQueued(ctx context.Context, full jid.JID, st *stanza.Stanza) {
	for _, e := range l {
		e.StanzaQueued(ctx, full, st)
	}
}

func (l eventList) Resumed(ctx context.Context, full jid.JID) {
	for _, e := range l {
		e.Resumed(ctx, full)
	}
}

func (l eventList) TimedOut(ctx context.Context, full jid.JID, rescued int) {
	for _, e := range l {
		e.TimedOut(ctx, full, rescued)
	}
}

func (l eventList) InactiveStanza(ctx context.Context, full jid.JID, st *stanza.Stanza) {
	for _, e := range l {
		e.InactiveStanza(ctx, full, st)
	}
}

// ResumePolicy chooses how long a session stays resumable (XEP-0198): the
// session asks it when the client enables resumption, with the time the
// client asked for (0: none) and the time the server's configuration
// gives; it returns the time to apply and announce in <enabled max/>.
// Push notifications (XEP-0357) use it to keep sessions with push enabled
// resumable longer.
type ResumePolicy func(ctx context.Context, full jid.JID, requested, configured time.Duration) time.Duration
