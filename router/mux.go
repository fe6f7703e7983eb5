package router

import (
	"context"
	"errors"
	"slices"
	"sort"

	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// ErrDrop is returned by a hook to stop routing a stanza silently, where a
// specification says so (for example presence from a blocked entity).
var ErrDrop = errors.New("router: drop stanza")

// Addressee says who an IQ is addressed to.
type Addressee uint8

const (
	// ToServer is an IQ addressed to a served domain (or with no 'to').
	ToServer Addressee = iota
	// ToAccount is an IQ addressed to an account's bare JID (RFC 6120
	// §10.3.3): the server answers on the account's behalf.
	ToAccount
)

// IQHandler answers an IQ of type get or set. It returns the reply to send
// (usually iq.Result(payload)), or an error, which the router turns into an
// error reply (a *stanza.Error keeps its condition; any other error becomes
// internal-server-error and is logged). A handler that replies later
// returns (nil, ErrAsync).
type IQHandler func(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error)

// ErrAsync is returned by an IQHandler that will send its reply itself.
var ErrAsync = errors.New("router: reply sent asynchronously")

// PresenceHandler processes a presence stanza from a local entity.
type PresenceHandler func(ctx context.Context, p *stanza.Stanza) error

// Stage names a step of message routing.
type Stage uint8

// The routing stages, in order.
const (
	StagePolicy Stage = iota
	StageArchive
	StageCopy
	StageUndelivered
	numStages
)

// Routing is what hooks see of a stanza being routed. The router reuses
// it once the stanza is routed: a hook must not keep the pointer.
type Routing struct {
	// St is the stanza. A hook that changes it replaces it with a copy
	// first (stanzas may be shared).
	St *stanza.Stanza
	// Delivered counts the resources or components the stanza was handed
	// to (set by the delivery step, read by StageUndelivered hooks).
	Delivered int
	// Sent is the message as the sender's archive stored it (with the
	// sender's XEP-0359 stanza-id), set by the archive stage when it
	// archived the message for a local sender; sent carbons forward it so
	// the sender's other devices see the id of their own archive. The
	// recipient never sees it (XEP-0313 §3.5).
	Sent *stanza.Stanza
	// Handled is set by a StageUndelivered hook that took responsibility
	// for the stanza (stored it offline, for example). If no hook sets it,
	// the router bounces the stanza according to RFC 6121 §8.5.
	Handled bool
	// Hidden is set for a message to a local JID without an account when
	// Privacy.HideAccounts hides which accounts exist: StageUndelivered
	// hooks must answer as for an existing account without resources (set
	// Handled where they would have taken the message, return the same
	// errors) but keep nothing and notify no one.
	Hidden bool
}

// Hook is one named step in a stage. It returns nil to continue, ErrDrop to
// stop silently, or an error (usually a *stanza.Error) to stop and bounce the
// stanza to its sender.
type Hook struct {
	Name  string
	Kinds []stanza.Kind // stanza kinds the hook sees; empty means messages only
	Func  func(ctx context.Context, r *Routing) error
}

// LifecycleFunc is called when a resource changes state.
type LifecycleFunc func(ctx context.Context, full jid.JID)

type iqKey struct {
	to    Addressee
	space string
	local string
}

// Identity is a disco#info identity (XEP-0030).
type Identity struct {
	Category, Type, Name string
}

// Mux collects the handlers and hooks features register. Register
// everything before the server starts; a Mux is not safe for concurrent
// modification.
type Mux struct {
	iq          map[iqKey]IQHandler
	public      map[iqKey]PublicIQHandler  // HandlePublicIQ
	presence    map[string]PresenceHandler // by presence type
	hooks       [numStages][]Hook
	onAvailable []LifecycleFunc
	onGone      []LifecycleFunc
	features    [2][]string // by Addressee
	identities  []Identity
	accountIDs  []Identity // identities of accounts (XEP-0163: pubsub/pep)
}

// NewMux returns an empty Mux.
func NewMux() *Mux {
	return &Mux{iq: map[iqKey]IQHandler{}, presence: map[string]PresenceHandler{}}
}

// HandleIQ registers h for IQs to addressee whose payload is {space}local.
// An empty local matches any element in the namespace.
func (m *Mux) HandleIQ(to Addressee, space, local string, h IQHandler) {
	m.iq[iqKey{to, space, local}] = h
}

// HandlePresence registers h for presence stanzas of the given types
// ("" is available presence).
func (m *Mux) HandlePresence(h PresenceHandler, types ...string) {
	for _, t := range types {
		m.presence[t] = h
	}
}

// Use appends a hook to a stage.
func (m *Mux) Use(s Stage, h Hook) {
	if len(h.Kinds) == 0 {
		h.Kinds = []stanza.Kind{stanza.KindMessage}
	}
	m.hooks[s] = append(m.hooks[s], h)
}

// OnAvailable registers f to run after a resource sends initial presence.
func (m *Mux) OnAvailable(f LifecycleFunc) { m.onAvailable = append(m.onAvailable, f) }

// OnGone registers f to run after a resource's session ended (it is no
// longer bound).
func (m *Mux) OnGone(f LifecycleFunc) { m.onGone = append(m.onGone, f) }

// AddFeature advertises a disco#info feature for the addressee. Advertise
// only what is implemented.
func (m *Mux) AddFeature(to Addressee, vars ...string) {
	m.features[to] = append(m.features[to], vars...)
}

// AddIdentity adds a server identity for disco#info.
func (m *Mux) AddIdentity(id Identity) { m.identities = append(m.identities, id) }

// Features returns the sorted, de-duplicated features for the addressee.
func (m *Mux) Features(to Addressee) []string {
	f := slices.Clone(m.features[to])
	sort.Strings(f)
	return slices.Compact(f)
}

// AddAccountIdentity adds an identity to accounts' disco#info, such as
// pubsub/pep for a personal eventing service (XEP-0163 §6.1).
func (m *Mux) AddAccountIdentity(id Identity) { m.accountIDs = append(m.accountIDs, id) }

// AccountIdentities returns the identities added to accounts.
func (m *Mux) AccountIdentities() []Identity { return slices.Clone(m.accountIDs) }

// Identities returns the server identities.
func (m *Mux) Identities() []Identity { return slices.Clone(m.identities) }

func (m *Mux) iqHandler(to Addressee, space, local string) IQHandler {
	if h, ok := m.iq[iqKey{to, space, local}]; ok {
		return h
	}
	return m.iq[iqKey{to, space, ""}]
}

func (h *Hook) sees(k stanza.Kind) bool { return slices.Contains(h.Kinds, k) }
