package router

import (
	"context"
	"fmt"
	"time"

	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// Relation is what a requester is to the account whose bare JID an IQ is
// addressed to.
type Relation uint8

const (
	// Stranger: the requester may not see the account's presence, or the
	// account does not exist. Both look the same to handlers, so that no
	// answer tells them apart.
	Stranger Relation = iota
	// Contact: the account shares its presence with the requester (a
	// subscription 'from' or 'both' on the account's side, RFC 6121
	// §2.1.2.5), or the requester is the server itself.
	Contact
	// Self: the account's own sessions.
	Self
)

func (r Relation) String() string {
	switch r {
	case Stranger:
		return "stranger"
	case Contact:
		return "contact"
	case Self:
		return "self"
	}
	return fmt.Sprintf("Relation(%d)", uint8(r))
}

// Relations tells the router who may see an account's presence.
type Relations interface {
	// Subscribed reports whether account (a local bare JID) shares its
	// presence with requester (a bare JID): account's roster has requester
	// with subscription 'from' or 'both'. For a JID without an account it
	// reports false, after the same amount of work as for an account that
	// does not know requester.
	Subscribed(ctx context.Context, account, requester jid.JID) (bool, error)
}

// SetRelations sets what the router asks to tell contacts from strangers;
// call it before serving. Without it, every requester counts as a contact
// of every existing account (and IQs to a missing account are answered as
// for a stranger).
func (r *Router) SetRelations(rel Relations) { r.relations = rel }

// PublicIQHandler answers IQs to an account's bare JID from everyone:
// the account itself, its contacts, strangers, and also for local JIDs
// without an account, where rel is Stranger. For a stranger it must answer
// a missing account exactly as an existing one that published nothing, and
// do the same work in both cases (one store lookup that finds nothing), so
// neither the answer nor its timing tells them apart.
type PublicIQHandler func(ctx context.Context, iq *stanza.Stanza, rel Relation) (*stanza.Stanza, error)

// HandlePublicIQ registers h, instead of a HandleIQ(ToAccount, …) handler,
// for IQs to an account's bare JID (or without 'to', from the account's
// own sessions) whose payload is {space}local, for an account that
// publishes something strangers may read (a vCard, an open PEP node).
func (m *Mux) HandlePublicIQ(space, local string, h PublicIQHandler) {
	if m.public == nil {
		m.public = map[iqKey]PublicIQHandler{}
	}
	m.public[iqKey{ToAccount, space, local}] = h
}

func (m *Mux) publicIQHandler(space, local string) PublicIQHandler {
	if h, ok := m.public[iqKey{ToAccount, space, local}]; ok {
		return h
	}
	return m.public[iqKey{ToAccount, space, ""}]
}

// Privacy configures what the router lets strangers learn about accounts
// ([privacy] in the configuration).
type Privacy struct {
	// HideAccounts: messages and subscription requests to a local JID
	// without an account are silently ignored (RFC 6121 §8.5.1 allows
	// it) instead of bounced, so that the sender sees the same as for an
	// account that is offline.
	HideAccounts bool
	// MaxNewPeers is how many distinct strangers (local bare JIDs it has
	// no subscription with, in either direction) an account may send IQs,
	// messages or subscription requests to within Window before each
	// stanza to a further one is delayed. 0: no limit.
	MaxNewPeers int
	// Window is the period over which peers are counted. Default 1 h.
	Window time.Duration
	// BaseDelay is the delay of the first stanza beyond MaxNewPeers; each
	// further one doubles it, up to MaxDelay. Defaults 1 s and 30 s.
	BaseDelay, MaxDelay time.Duration
	// MaxSenders bounds the number of accounts tracked at once. Default
	// 10000.
	MaxSenders int
	// MaxContacts bounds the number of contacts remembered per account
	// and window (to spare a lookup for each stanza to them). Default 256.
	MaxContacts int
	// Clock is the time source for windows and delays. Default the
	// system clock.
	Clock Clock
}

// Clock is a time source. AfterFunc calls f once after d; stop cancels
// it. It has the shape of session.Clock (declared where it is used, as
// router does not import session), so xmpptest.FakeClock serves both.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
func (systemClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// Default Privacy values.
const (
	DefaultPeerWindow  = time.Hour
	DefaultPeerDelay   = time.Second
	DefaultPeerMaxWait = 30 * time.Second
	DefaultMaxSenders  = 10000
	DefaultMaxContacts = 256
)

// SetPrivacy configures account privacy; call it before serving.
func (r *Router) SetPrivacy(p Privacy) {
	if p.Window <= 0 {
		p.Window = DefaultPeerWindow
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = DefaultPeerDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultPeerMaxWait
	}
	p.MaxDelay = max(p.MaxDelay, p.BaseDelay)
	if p.MaxSenders <= 0 {
		p.MaxSenders = DefaultMaxSenders
	}
	if p.MaxContacts <= 0 {
		p.MaxContacts = DefaultMaxContacts
	}
	if p.Clock == nil {
		p.Clock = systemClock{}
	}
	r.privacy = p
	r.peers = nil
	if p.MaxNewPeers > 0 {
		r.peers = newPeerTracker(p)
	}
}

// HidesAccounts reports whether stanzas to missing accounts are ignored
// rather than bounced (Privacy.HideAccounts); the roster asks it for
// subscription requests.
func (r *Router) HidesAccounts() bool { return r.privacy.HideAccounts }

// relation returns what requester is to account (a local bare JID). The
// work done for a stranger does not depend on whether account exists.
func (r *Router) relation(ctx context.Context, account, requester jid.JID) (Relation, error) {
	requester = requester.Bare()
	switch {
	case requester.Equal(account):
		return Self, nil
	case requester.Localpart() == "" && r.IsLocal(requester.Domainpart()):
		return Contact, nil // the server itself
	case r.relations == nil:
		ok, err := r.accountExists(ctx, account)
		if err != nil || !ok {
			return Stranger, err
		}
		return Contact, nil
	}
	ok, err := r.relations.Subscribed(ctx, account, requester)
	if err != nil {
		return Stranger, fmt.Errorf("router: relation of %s to %s: %w", requester.String(), account.String(), err)
	}
	if ok {
		return Contact, nil
	}
	return Stranger, nil
}

// serveAccountIQ answers an IQ to a local bare JID (RFC 6121 §8.5.1,
// §8.5.2.x): the account's contacts and its own sessions reach every
// handler; strangers reach only the public ones and otherwise get
// service-unavailable, the answer for a JID without an account; and a JID
// without an account is answered as for a stranger, so that no stranger
// learns whether it exists.
func (r *Router) serveAccountIQ(ctx context.Context, st *stanza.Stanza) {
	if st.Type == stanza.TypeResult || st.Type == stanza.TypeError {
		return // nothing waits for these (see serveIQ)
	}
	rel, err := r.relation(ctx, st.To.Bare(), st.From)
	if err != nil {
		r.fail(ctx, st, err)
		return
	}
	r.serveIQ(ctx, st, ToAccount, rel, false)
}

// accountIQHandler returns the handler for an IQ to an account from a
// requester with relation rel: a public one (called with rel), else for
// contacts and the account itself a HandleIQ(ToAccount, …) one.
func (r *Router) accountIQHandler(space, local string, rel Relation) (IQHandler, PublicIQHandler) {
	if ph := r.mux.publicIQHandler(space, local); ph != nil {
		return nil, ph
	}
	if rel == Stranger {
		return nil, nil
	}
	return r.mux.iqHandler(ToAccount, space, local), nil
}
