package router

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"dormouse.im/dormouse/internal/sequence"
	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// AccountChecker reports whether a local bare JID is an existing account.
type AccountChecker interface {
	AccountExists(ctx context.Context, bare jid.JID) (bool, error)
}

// SetAccounts sets the account checker used to tell unknown local users
// (RFC 6121 §8.5.1) from users without resources. Without one, every local
// bare JID counts as an account.
func (r *Router) SetAccounts(a AccountChecker) { r.accounts = a }

// Route routes a stanza from a local entity (a client session, a component,
// or the server itself). Its 'from' must already be stamped and checked by
// the caller. Route never blocks on another session: delivery enqueues.
// Errors are answered to the sender with an error stanza (never for
// stanzas of type error), so Route has no error result.
func (r *Router) Route(ctx context.Context, st *stanza.Stanza) {
	if r.observer != nil {
		defer r.observed(st.Kind, time.Now())
	}
	if r.pending.answer(st) {
		return // an answer to the server's own request (SendIQ)
	}
	if r.peers != nil && r.throttlePeers(ctx, st) != nil {
		return // the sender's session ended while it was slowed down
	}
	rt := r.routing(st)
	defer r.routings.Put(rt)
	if err := r.runHooks(ctx, StagePolicy, rt); err != nil {
		sequence.Turn(ctx)
		r.fail(ctx, st, err)
		return
	}
	st = rt.St
	switch st.Kind {
	case stanza.KindIQ:
		r.routeIQ(ctx, st)
	case stanza.KindPresence:
		r.routePresence(ctx, st)
	case stanza.KindMessage:
		r.routeMessage(ctx, rt)
	}
}

// routing returns a cleared Routing for st from the pool; the caller puts
// it back when the hooks are done with it (hooks must not keep it).
func (r *Router) routing(st *stanza.Stanza) *Routing {
	rt, _ := r.routings.Get().(*Routing)
	if rt == nil {
		rt = new(Routing)
	}
	*rt = Routing{St: st}
	return rt
}

func (r *Router) observed(k stanza.Kind, start time.Time) {
	r.observer.Routed(k.String(), time.Since(start))
}

func (r *Router) runHooks(ctx context.Context, s Stage, rt *Routing) error {
	for i := range r.mux.hooks[s] {
		h := &r.mux.hooks[s][i]
		if !h.sees(rt.St.Kind) {
			continue
		}
		if err := h.Func(ctx, rt); err != nil {
			if !errors.Is(err, ErrDrop) {
				var se *stanza.Error
				if !errors.As(err, &se) {
					r.log.LogAttrs(ctx, slog.LevelError, "routing hook failed",
						slog.String("hook", h.Name), slog.Any("err", err))
				}
			}
			return err
		}
	}
	return nil
}

// fail answers st with an error derived from err, unless err is ErrDrop or
// st is itself an error (RFC 6120 §8.3.1: never answer an error with an
// error).
func (r *Router) fail(ctx context.Context, st *stanza.Stanza, err error) {
	if errors.Is(err, ErrDrop) || st.IsError() || err == nil {
		return
	}
	if st.Kind == stanza.KindIQ && (st.Type == stanza.TypeResult) {
		return
	}
	var se *stanza.Error
	if !errors.As(err, &se) {
		r.log.LogAttrs(ctx, slog.LevelError, "stanza processing failed",
			slog.String("stanza", st.Describe()), slog.Any("err", err))
	}
	reply := st.ErrorReply(stanza.AsError(err))
	if reply.From.Domainpart() == "" {
		d, _ := jid.New("", r.main, "")
		if st.From.Domainpart() != "" {
			d = st.From.Domain()
		}
		reply.SetFrom(d)
	}
	r.Deliver(ctx, reply)
}

// Bounce answers st with the stanza error e (nothing for error stanzas).
func (r *Router) Bounce(ctx context.Context, st *stanza.Stanza, e *stanza.Error) {
	r.fail(ctx, st, e)
}

func (r *Router) routeIQ(ctx context.Context, st *stanza.Stanza) {
	to := st.To
	switch {
	case to.Domainpart() == "":
		// RFC 6120 §10.3.3: the account's own bare JID.
		r.serveIQ(ctx, st, ToAccount, Self, true)
	case to.Localpart() == "" && r.IsLocal(to.Domainpart()) && to.Resourcepart() == "":
		r.serveIQ(ctx, st, ToServer, Contact, false)
	case r.IsLocal(to.Domainpart()) && to.Resourcepart() == "":
		r.serveAccountIQ(ctx, st)
	case r.IsLocal(to.Domainpart()):
		if r.deliverFull(ctx, st) == 0 {
			r.fail(ctx, st, stanza.NewError(stanza.ServiceUnavailable, ""))
		}
	default:
		r.routeRemote(ctx, st)
	}
}

// serveIQ answers an IQ the server handles: to a served domain, or on an
// account's behalf (to, from a requester with relation rel; noTo: the IQ
// had no 'to', and the server's handlers answer what the account's do
// not).
func (r *Router) serveIQ(ctx context.Context, st *stanza.Stanza, to Addressee, rel Relation, noTo bool) {
	switch st.Type {
	case stanza.TypeResult, stanza.TypeError:
		// Answers to the server's own requests went to SendIQ before
		// routing; nothing waits for these.
		return
	case stanza.TypeGet, stanza.TypeSet:
	default:
		r.fail(ctx, st, stanza.NewError(stanza.BadRequest, "invalid iq type"))
		return
	}
	payloads := st.El.Elements()
	if len(payloads) != 1 {
		r.fail(ctx, st, stanza.NewError(stanza.BadRequest, "an iq get or set must have exactly one child element"))
		return
	}
	p := payloads[0]
	var (
		h     IQHandler
		ph    PublicIQHandler
		reply *stanza.Stanza
		err   error
	)
	if to == ToAccount {
		h, ph = r.accountIQHandler(p.Name.Space, p.Name.Local, rel)
	} else {
		h = r.mux.iqHandler(to, p.Name.Space, p.Name.Local)
	}
	if h == nil && ph == nil && noTo {
		h = r.mux.iqHandler(ToServer, p.Name.Space, p.Name.Local)
	}
	switch {
	case ph != nil:
		reply, err = ph(ctx, st, rel)
	case h != nil:
		reply, err = h(ctx, st)
	default:
		// RFC 6121 §8.5.1 and §8.5.2: a namespace nobody answers, the
		// same for a stranger as for a JID without an account.
		err = stanza.NewError(stanza.ServiceUnavailable, "")
	}
	switch {
	case errors.Is(err, ErrAsync):
	case err != nil:
		r.fail(ctx, st, err)
	case reply != nil:
		r.Deliver(ctx, reply)
	}
}

func (r *Router) routePresence(ctx context.Context, st *stanza.Stanza) {
	if h := r.mux.presence[st.Type]; h != nil {
		if err := h(ctx, st); err != nil {
			r.fail(ctx, st, err)
		}
		return
	}
	if st.Type == stanza.TypeError {
		r.Deliver(ctx, st)
		return
	}
	if st.To.Domainpart() == "" {
		return
	}
	r.Deliver(ctx, st)
}

func (r *Router) routeMessage(ctx context.Context, rt *Routing) {
	st := rt.St
	if st.To.Domainpart() == "" {
		// RFC 6120 §10.3.1: no 'to' means the sender's own bare JID.
		st = st.Copy()
		st.SetTo(st.From.Bare())
		rt.St = st
	}
	to := st.To
	if !r.IsLocal(to.Domainpart()) {
		// The sender's archive and the sender's carbons (XEP-0280 §8)
		// concern messages to remote entities too (contacts on other
		// servers, chat rooms and other components).
		if err := r.archiveAndCopy(ctx, rt); err != nil {
			r.fail(ctx, st, err)
			return
		}
		r.routeRemote(ctx, rt.St)
		return
	}
	if to.Localpart() == "" {
		// Messages to the server itself: nothing here consumes them.
		sequence.Turn(ctx)
		if st.Type != stanza.TypeError && st.Type != stanza.TypeHeadline {
			r.fail(ctx, st, stanza.NewError(stanza.ServiceUnavailable, ""))
		}
		return
	}
	exists, err := r.accountExists(ctx, to.Bare())
	if err != nil {
		sequence.Turn(ctx)
		r.fail(ctx, st, err)
		return
	}
	if exists {
		if err := r.archiveAndCopy(ctx, rt); err != nil {
			r.fail(ctx, st, err)
			return
		}
		st = rt.St
		rt.Delivered = r.Deliver(ctx, st)
		if rt.Delivered > 0 {
			return
		}
	} else {
		// RFC 6121 §8.5.1: no such account.
		sequence.Turn(ctx)
		if !r.privacy.HideAccounts {
			if st.Type != stanza.TypeError && st.Type != stanza.TypeHeadline {
				r.fail(ctx, st, stanza.NewError(stanza.ServiceUnavailable, ""))
			}
			return
		}
		// Answered as for an account without resources, which the
		// StageUndelivered hooks see flagged Hidden: they decide as for
		// an account, but keep nothing.
		rt.Hidden = true
	}
	switch st.Type {
	case stanza.TypeError, stanza.TypeHeadline:
		return // RFC 6121 §8.5.2.2.1: silently ignore
	case stanza.TypeGroupchat:
		r.fail(ctx, st, stanza.NewError(stanza.ServiceUnavailable, ""))
		return
	}
	if err := r.runHooks(ctx, StageUndelivered, rt); err != nil {
		r.fail(ctx, st, err)
		return
	}
	if !rt.Handled {
		r.fail(ctx, st, stanza.NewError(stanza.ServiceUnavailable, ""))
	}
}

// archiveAndCopy runs the StageArchive hooks, waits for the sender's turn
// (a pipelining sender's earlier messages routed, see Sequencer), then runs
// the StageCopy hooks.
func (r *Router) archiveAndCopy(ctx context.Context, rt *Routing) error {
	err := r.runHooks(ctx, StageArchive, rt)
	sequence.Turn(ctx)
	if err != nil {
		return err
	}
	return r.runHooks(ctx, StageCopy, rt)
}

// AccountExists reports whether bare is an existing local account (always
// true without an AccountChecker).
func (r *Router) AccountExists(ctx context.Context, bare jid.JID) (bool, error) {
	return r.accountExists(ctx, bare)
}

func (r *Router) accountExists(ctx context.Context, bare jid.JID) (bool, error) {
	if r.accounts == nil {
		return true, nil
	}
	// A user with a bound resource is an account: no storage round trip
	// on the hot path of messages between online users.
	r.mu.RLock()
	_, online := r.users[bare.Bare().String()]
	r.mu.RUnlock()
	if online {
		return true, nil
	}
	return r.accounts.AccountExists(ctx, bare)
}

// routeRemote handles stanzas for domains this server does not serve:
// services and connected components, else the Remote (server-to-server
// federation), else remote-server-not-found.
func (r *Router) routeRemote(ctx context.Context, st *stanza.Stanza) {
	if svc := r.service(st.To.Domainpart()); svc != nil {
		if err := svc.HandleStanza(ctx, st); err != nil {
			r.fail(ctx, st, err)
		}
		return
	}
	if r.remote != nil {
		if err := r.remote.Send(ctx, st); err != nil {
			r.fail(ctx, st, err)
		}
		return
	}
	r.fail(ctx, st, stanza.NewError(stanza.RemoteServerNotFound, "server-to-server federation is not supported"))
}

// Send is Deliver for stanzas the server generates on an entity's behalf
// (presence broadcasts, probe answers, subscription stanzas): it runs the
// StagePolicy hooks first, so blocking applies to them too. It returns how
// many recipients took the stanza (0 if a hook stopped it).
func (r *Router) Send(ctx context.Context, st *stanza.Stanza) int {
	rt := r.routing(st)
	defer r.routings.Put(rt)
	if err := r.runHooks(ctx, StagePolicy, rt); err != nil {
		return 0
	}
	return r.Deliver(ctx, rt.St)
}

// Deliver hands st to its recipients without running hooks and returns how
// many took it: the bound resource for a full JID (for messages of type
// chat and normal falling back to the bare JID rules if it is not bound),
// the resources chosen by RFC 6121 §8.5.2 for a bare JID, or a component.
// Features use it to send stanzas they generate (replies, pushes).
func (r *Router) Deliver(ctx context.Context, st *stanza.Stanza) int {
	to := st.To
	if to.Domainpart() == "" {
		return 0
	}
	if r.pending.answer(st) {
		return 1 // an answer to the server's own request (SendIQ)
	}
	if !r.IsLocal(to.Domainpart()) {
		if svc := r.service(to.Domainpart()); svc != nil {
			if svc.HandleStanza(ctx, st) == nil {
				return 1
			}
			return 0
		}
		if r.remote != nil && r.remote.Send(ctx, st) == nil {
			return 1
		}
		return 0
	}
	if to.Localpart() == "" {
		return 0
	}
	if to.Resourcepart() != "" {
		if n := r.deliverFull(ctx, st); n > 0 {
			return n
		}
		if st.Kind == stanza.KindMessage && (st.Type == stanza.TypeChat || st.Type == stanza.TypeNormal || st.Type == "") {
			return r.deliverBare(st)
		}
		return 0
	}
	return r.deliverBare(st)
}

func (r *Router) deliverFull(_ context.Context, st *stanza.Stanza) int {
	r.mu.RLock()
	x := r.lookupLocked(st.To)
	var t Target
	if x != nil {
		t = x.Target
	}
	r.mu.RUnlock()
	if t == nil && r.cluster != nil {
		if x, ok := r.cluster.RemoteResource(st.To); ok {
			t = x.Target
		}
	}
	if t != nil && t.Deliver(st) {
		return 1
	}
	return 0
}

// Recipients returns snapshots of the local resources Deliver would hand
// the message st to, without delivering it (RFC 6121 §8.5): the bound
// resource of a full JID; for a bare JID, or an unbound full JID and a
// message of type chat or normal, the resources deliverBare picks. Carbons
// (XEP-0280 §7) copies a message to the resources that do not get it.
// Deliver may still differ when a resource refuses the stanza (its queue
// is full).
func (r *Router) Recipients(st *stanza.Stanza) []Resource {
	to := st.To
	if st.Kind != stanza.KindMessage || to.Localpart() == "" || !r.IsLocal(to.Domainpart()) {
		return nil
	}
	remote := r.remoteResources(to)
	r.mu.RLock()
	defer r.mu.RUnlock()
	if to.Resourcepart() != "" {
		if x := r.lookupLocked(to); x != nil {
			return []Resource{*x}
		}
		for _, x := range remote {
			if x.JID.Equal(to) {
				return []Resource{*x}
			}
		}
		if st.Type != stanza.TypeChat && st.Type != stanza.TypeNormal && st.Type != "" {
			return nil
		}
	}
	var out []Resource
	for _, x := range r.bareRecipientsLocked(st, remote, nil) {
		out = append(out, *x)
	}
	return out
}

// bareRecipientsLocked appends to ts the resources that get st, addressed
// to a bare JID, by RFC 6121 §8.5.2.1, among the local resources and
// remote (those on other nodes of a cluster). r.mu must be held.
func (r *Router) bareRecipientsLocked(st *stanza.Stanza, remote []*Resource, ts []*Resource) []*Resource {
	var local []*Resource
	if u := r.users[st.To.Bare().String()]; u != nil {
		local = u.resources
	}
	switch st.Kind {
	case stanza.KindMessage:
		if st.Type == stanza.TypeGroupchat {
			return ts // RFC 6121 §8.5.2.1.1: never to a bare JID
		}
		best := int8(-1)
		for _, rs := range [2][]*Resource{local, remote} {
			for _, x := range rs {
				if x.Available && x.Priority >= 0 {
					best = max(best, x.Priority)
				}
			}
		}
		for _, rs := range [2][]*Resource{local, remote} {
			for _, x := range rs {
				if !x.Available || x.Priority < 0 {
					continue
				}
				// chat and normal: the highest-priority resources;
				// headline: every non-negative one.
				if st.Type == stanza.TypeHeadline || x.Priority == best {
					ts = append(ts, x)
				}
			}
		}
	case stanza.KindPresence:
		// RFC 6121 §3.1.3, §4.5: presence, including subscription
		// requests, goes to the available resources.
		for _, rs := range [2][]*Resource{local, remote} {
			for _, x := range rs {
				if x.Available {
					ts = append(ts, x)
				}
			}
		}
	}
	return ts
}

// deliverBare applies RFC 6121 §8.5.2.1 for a bare JID with resources.
func (r *Router) deliverBare(st *stanza.Stanza) int {
	var buf [8]*Resource
	var targets [8]Target
	ts := targets[:0]
	remote := r.remoteResources(st.To)
	r.mu.RLock()
	for _, x := range r.bareRecipientsLocked(st, remote, buf[:0]) {
		ts = append(ts, x.Target)
	}
	r.mu.RUnlock()
	n := 0
	for _, t := range ts {
		if t.Deliver(st) {
			n++
		}
	}
	return n
}
