package offline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"dormouse.im/dormouse/stanza"
)

// Rescue takes a message of a client session that ended with it
// unacknowledged (XEP-0198 Stream Management, urn:xmpp:sm:3, version 1.6:
// resumption timeout, hibernated queue overflow, server shutdown, replaced
// resource, clean close with stanzas still unacknowledged). It implements
// session.Rescuer; package server wires it.
//
// The message goes to another available resource of the account, else to
// offline storage: StoreMessage stores it and, if a resource with a
// non-negative priority is available, delivers the stored messages to it
// at once (and deletes them), so every rescued message reaches the user
// exactly once, in order, now or at the next login. Nothing is bounced to
// the sender. A message addressed to the ended resource is readdressed to
// the account's bare JID, since that resource is gone; st is not changed.
// A message not worth keeping (session.Rescuable and offline storage apply
// the same rule, so only XEP-0334 hints get here) is dropped quietly.
//
// A message that carries a XEP-0359 stanza-id is archived too; it is still
// rescued to offline storage, because a client that does not sync from the
// archive would otherwise never see it; the stanza-id lets clients that
// get both drop the duplicate.
func (s *Service) Rescue(ctx context.Context, st *stanza.Stanza) error {
	if st.To.Resourcepart() != "" {
		st = st.Copy()
		st.SetTo(st.To.Bare())
	}
	err := s.StoreMessage(ctx, st)
	switch {
	case err == nil:
		s.log.LogAttrs(ctx, slog.LevelDebug, "message rescued", slog.String("xep", "0198"), slog.String("stanza", st.Describe()))
		return nil
	case errors.Is(err, ErrSkipped):
		return nil
	}
	return fmt.Errorf("offline: rescuing %s: %w", st.Describe(), err)
}
