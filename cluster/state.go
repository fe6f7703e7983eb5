package cluster

import (
	"context"

	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// The session events (package session's Events, which the server hands
// the cluster): a session that hibernates or resumes changes what the
// registry says of it (Config.State reads the new state).

// Hibernated publishes that full's session hibernated.
func (c *Cluster) Hibernated(_ context.Context, full jid.JID, _ []*stanza.Stanza) {
	c.LocalChanged(full)
}

// Resumed publishes that full's session resumed.
func (c *Cluster) Resumed(_ context.Context, full jid.JID) { c.LocalChanged(full) }

// TimedOut does nothing: the session was unbound, which the router told.
func (c *Cluster) TimedOut(context.Context, jid.JID, int) {}

// StanzaQueued does nothing: the node holding the hibernated session
// decides about push notifications itself.
func (c *Cluster) StanzaQueued(context.Context, jid.JID, *stanza.Stanza) {}

// InactiveStanza does nothing (see StanzaQueued).
func (c *Cluster) InactiveStanza(context.Context, jid.JID, *stanza.Stanza) {}
