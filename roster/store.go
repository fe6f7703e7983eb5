package roster

import (
	"context"
	"errors"
)

// ErrNotFound is returned for an item or pending request that does not exist.
var ErrNotFound = errors.New("roster: not found")

// Subscription states (RFC 6121 §2.1.2.5).
const (
	SubNone = "none"
	SubTo   = "to"
	SubFrom = "from"
	SubBoth = "both"
)

// Item is one roster entry. Contact is a canonical bare JID.
type Item struct {
	Contact      string
	Name         string
	Groups       []string // sorted, no duplicates
	Subscription string   // SubNone, SubTo, SubFrom, SubBoth
	Ask          bool     // pending outbound subscription request (ask='subscribe')
	Version      int64    // roster version at which the item last changed
	Removed      bool     // only in Changes results: the item was deleted at Version
}

// Pending is an inbound subscription request not yet answered, kept so it
// can be delivered when the user next sends initial presence.
type Pending struct {
	Contact string // canonical bare JID of the requester
	Stanza  []byte // the serialized <presence type='subscribe'/> as received
}

// Store keeps rosters (RFC 6121 §2) with versions (XEP-0237).
//
// Every user has a roster version, an int64 that starts at 0 and grows by one
// with each change (Put or Delete). Deletions leave a tombstone so Changes
// can report them.
type Store interface {
	// Roster returns the user's items (without tombstones), sorted by
	// contact, and the current version.
	Roster(ctx context.Context, user string) ([]Item, int64, error)
	// Item returns one item; ErrNotFound if absent (or removed).
	Item(ctx context.Context, user, contact string) (Item, error)
	// Put inserts or replaces an item and returns the new roster version,
	// which it also stores in the item.
	Put(ctx context.Context, user string, it Item) (int64, error)
	// Delete removes an item (leaving a tombstone) and returns the new
	// version; ErrNotFound if there is no such item.
	Delete(ctx context.Context, user, contact string) (int64, error)
	// Changes returns the items (including tombstones, Removed=true) whose
	// version is greater than since, ordered by version, and the current
	// version.
	Changes(ctx context.Context, user string, since int64) ([]Item, int64, error)
	// Count returns the number of items (without tombstones).
	Count(ctx context.Context, user string) (int, error)

	// AddPending records (or replaces) an inbound subscription request.
	AddPending(ctx context.Context, user string, p Pending) error
	// PendingRequests lists inbound requests in arrival order.
	PendingRequests(ctx context.Context, user string) ([]Pending, error)
	// RemovePending deletes a request; no error if absent.
	RemovePending(ctx context.Context, user, contact string) error
}
