// Package sm connects XEP-0198 Stream Management (urn:xmpp:sm:3, version
// 1.6) sessions to offline storage: it provides the session.Rescuer that
// takes the unacknowledged messages of a session that ends without being
// resumed (resume timeout, hibernated queue overflow, server shutdown,
// replaced resource, clean close with stanzas still unacknowledged).
//
// The protocol itself (acks, resumption, hibernation) lives in package
// session, next to the connection it manages; this package only decides
// where rescued messages go, so session does not import offline.
//
// Rescued messages go to another available resource of the account, else
// to offline storage (XEP-0160): Offline.StoreMessage stores the message
// and, if a resource with a non-negative priority is available, delivers
// the stored messages to it at once (and deletes them), so every rescued
// message reaches the user exactly once, in order, now or at the next
// login. Nothing is bounced to the sender.
//
// MAM seam: a message that carries a XEP-0359 stanza-id is archived too;
// it is still rescued to offline storage, because a client that does not
// sync from the archive would otherwise never see it. When the archive
// lands, a Rescuer may skip offline storage for accounts whose clients
// sync from MAM (Prosody's "assume MAM usage"); the stanza-id lets clients
// that get both drop the duplicate.
package sm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"dormouse.im/dormouse/session"
	"dormouse.im/dormouse/stanza"
)

// Offline is what the Rescuer needs from offline storage;
// *offline.Service implements it.
type Offline interface {
	// StoreMessage stores a message for the bare JID of its 'to' and
	// delivers it right away if the user has an available resource. It
	// returns an error wrapping skipped for a message not worth keeping.
	StoreMessage(ctx context.Context, st *stanza.Stanza) error
}

// Rescuer hands rescued messages to offline storage. It implements
// session.Rescuer.
type Rescuer struct {
	off     Offline
	skipped error
	log     *slog.Logger
}

var _ session.Rescuer = (*Rescuer)(nil)

// NewRescuer returns a Rescuer storing through off. skipped is the
// sentinel off wraps for a message it does not keep (offline.ErrSkipped);
// such a message is dropped quietly (session.Rescuable and offline storage
// apply the same rule, so this only happens for XEP-0334 hints). log may
// be nil.
func NewRescuer(off Offline, skipped error, log *slog.Logger) *Rescuer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Rescuer{off: off, skipped: skipped, log: log.With("xep", "0198")}
}

// Rescue stores st for its recipient (delivering it to another available
// resource if there is one). A message addressed to the ended resource is
// readdressed to the account's bare JID, since that resource is gone.
func (r *Rescuer) Rescue(ctx context.Context, st *stanza.Stanza) error {
	if st.To.Resourcepart() != "" {
		st = st.Copy()
		st.SetTo(st.To.Bare())
	}
	err := r.off.StoreMessage(ctx, st)
	switch {
	case err == nil:
		r.log.LogAttrs(ctx, slog.LevelDebug, "message rescued", slog.String("stanza", st.Describe()))
		return nil
	case r.skipped != nil && errors.Is(err, r.skipped):
		return nil
	}
	return fmt.Errorf("sm: rescuing %s: %w", st.Describe(), err)
}
