package session

import (
	"context"
	"errors"

	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// Events receives the lifecycle of stream-managed sessions (XEP-0198
// hibernation and resumption), for features that act on it without session
// importing them: push notifications (XEP-0357) subscribe here, and cmd
// connects them. Every method is called without any session lock held, must
// not block (hand slow work to a goroutine of your own), and may be called
// concurrently for different sessions. Embed NopEvents to implement only
// some of them.
//
// For one session the calls are ordered: Hibernated, then any number of
// StanzaQueued, then Resumed (and possibly Hibernated again) or TimedOut.
type Events interface {
	// Hibernated: the connection of a resumable session was lost without
	// </stream:stream>. The session stays bound and available to contacts
	// and queues what is routed to it. queued is how many stanzas it holds
	// that the client has not acknowledged (some may be only held back by
	// CSI, not yet sent).
	Hibernated(ctx context.Context, full jid.JID, queued int)
	// StanzaQueued: st was routed to the session while it is hibernated.
	// st is shared and read-only.
	StanzaQueued(ctx context.Context, full jid.JID, st *stanza.Stanza)
	// Resumed: the client resumed the session on a new connection.
	Resumed(ctx context.Context, full jid.JID)
	// TimedOut: a hibernated session was not resumed in time, or its queue
	// overflowed (Config.SM.MaxQueue). It has been unbound, and rescued
	// messages were handed to the Rescuer.
	TimedOut(ctx context.Context, full jid.JID, rescued int)
}

// NopEvents implements Events and does nothing.
type NopEvents struct{}

func (NopEvents) Hibernated(context.Context, jid.JID, int)              {}
func (NopEvents) StanzaQueued(context.Context, jid.JID, *stanza.Stanza) {}
func (NopEvents) Resumed(context.Context, jid.JID)                      {}
func (NopEvents) TimedOut(context.Context, jid.JID, int)                {}

// Rescuer takes over the messages of a session that ended with stanzas the
// client never acknowledged (XEP-0198 §4: the server treats them as if sent
// to an unavailable resource): a resume timeout, a queue overflow, a clean
// close with unacknowledged stanzas, a replaced resource, or the server
// shutting down. The session calls it only for messages Rescuable reports
// worth keeping, in queue order, after the session is unbound from the
// router. cmd connects it to a function that delivers to another available
// resource of the account, else stores the message offline (see package
// dormouse.im/dormouse/sm). It must not bounce the message to its sender.
type Rescuer interface {
	Rescue(ctx context.Context, st *stanza.Stanza) error
}

// RescueFunc adapts a function to the Rescuer interface.
type RescueFunc func(ctx context.Context, st *stanza.Stanza) error

// Rescue calls f(ctx, st).
func (f RescueFunc) Rescue(ctx context.Context, st *stanza.Stanza) error { return f(ctx, st) }

// ErrNoRescuer is logged for each message lost because Server.Rescuer is
// not set.
var ErrNoRescuer = errors.New("session: no rescuer configured; message dropped")
