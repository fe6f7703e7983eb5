package mam

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Stores return them (possibly wrapped with %w).
var (
	// ErrNotFound means there is nothing to return: an empty archive
	// (Store.Bounds) or preferences never set (Store.Prefs).
	ErrNotFound = errors.New("mam: not found")
	// ErrDuplicate means Store.Append was given a message whose (Owner,
	// ID) is already archived (or appears twice in the batch). The whole
	// batch is then rejected: nothing of it is stored.
	ErrDuplicate = errors.New("mam: duplicate archive id")
	// ErrFullTextUnsupported is returned by Store.Query for a Query with
	// Text set when the store's SupportsFullText is false.
	ErrFullTextUnsupported = errors.New("mam: full-text search not supported")
)

// Archiving preference defaults (XEP-0441 / XEP-0313 prefs 'default').
const (
	PrefAlways = "always" // archive every message
	PrefRoster = "roster" // archive messages with contacts in the roster
	PrefNever  = "never"  // archive nothing (except the Always list)
)

// Message is one archived message in one user's archive. A 1:1 message
// between two local users is archived twice, once in each archive, with
// the same ID (IDs are unique per owner, not globally).
type Message struct {
	// ID is the archive id: time-ordered (see the id layout in id.go), positive, unique
	// within Owner's archive. It is the XEP-0359 stanza-id (FormatID) and
	// the paging key: archive order is ID order.
	ID int64
	// Owner is the bare JID (jid.JID.String(), normalized) whose archive
	// holds the message.
	Owner string
	// With is the bare JID of the other party (the recipient of an
	// outgoing message, the sender of an incoming one).
	With string
	// WithResource is the resource part of the other party's JID, "" if
	// the address was a bare JID. Queries with a full JID in 'with'
	// match With and WithResource.
	WithResource string
	// Stamp is when the server archived the message, in UTC, truncated to
	// the microsecond (stores must keep at least microsecond precision and
	// return UTC). IDs and stamps are both increasing, so ID order is also
	// Stamp order, and the Stamp's millisecond is the ID's (IDTime), so
	// stores may turn time bounds into id bounds (FirstIDAt, LastIDAt).
	Stamp time.Time
	// Outgoing is true in the sender's archive, false in the recipient's.
	Outgoing bool
	// OriginID is the XEP-0359 <origin-id/> of the message, "" if none.
	OriginID string
	// Body is the plain body text, indexed for full-text search; "" for
	// encrypted or body-less messages.
	Body string
	// Stanza is the serialized message as archived (jabber:client
	// namespace), carrying the <stanza-id/> by Owner.
	Stanza []byte
}

// Query selects messages in one archive. Every non-zero filter must hold
// (they are ANDed). Paging is keyset paging on ID: stores implement it with
// index range scans (ID > AfterID / ID < BeforeID, ORDER BY ID LIMIT Max),
// never with OFFSET.
type Query struct {
	// Owner is the archive's bare JID. Required.
	Owner string
	// With, if not "", keeps messages whose With equals it (a bare JID).
	With string
	// WithResource, if not "" (and With is set), also requires
	// Message.WithResource to equal it (a full-JID 'with' filter).
	WithResource string
	// Start and End bound Stamp, both inclusive; the zero time means
	// unbounded.
	Start, End time.Time
	// AfterID and BeforeID bound ID, both exclusive; 0 means no bound.
	// The ids need not exist in the archive (the Service checks existence
	// with Has where the protocol requires it).
	AfterID, BeforeID int64
	// IDs, if not empty, keeps only messages whose ID is in the list.
	// Unknown ids are ignored.
	IDs []int64
	// Text, if not "", keeps messages whose Body matches the full-text
	// query (every word must match; tokenization, case folding and
	// stemming are the backend's: SQLite FTS5, PostgreSQL tsvector).
	// Stores whose SupportsFullText is false return
	// ErrFullTextUnsupported.
	Text string
	// Max is the most messages to return. Max <= 0 returns no messages
	// (a count-only query when Count is set); Complete then says whether
	// any message matches.
	Max int
	// Last selects the page at the end of the matching range: the newest
	// Max matching messages (those just before BeforeID, if set), still
	// returned in chronological order. Without Last the page is the oldest
	// Max matching messages (those just after AfterID, if set).
	Last bool
	// Count asks the store to fill Page.Count.
	Count bool
}

// Page is the result of a Query.
type Page struct {
	// Messages are in chronological (ID ascending) order, whether or not
	// Query.Last was set.
	Messages []Message
	// Complete is true when no further matching message exists in the
	// paging direction: after the last returned message (or after AfterID
	// when none was returned) without Last; before the first returned
	// message (or before BeforeID) with Last.
	Complete bool
	// Count is the number of messages matching the query's filters (Owner,
	// With, WithResource, Start, End, IDs, Text), ignoring AfterID,
	// BeforeID, Max and Last: the size of the whole result set (XEP-0059
	// <count/>). It is -1 when Query.Count was false.
	Count int
}

// Prefs are a user's archiving preferences (XEP-0441).
type Prefs struct {
	// Default is PrefAlways, PrefRoster or PrefNever.
	Default string
	// Always and Never list JIDs (normalized jid.JID.String() values,
	// bare or full: XEP-0441 §2.3 matches a bare entry against the bare
	// address, a full entry against the full address) whose messages are
	// always / never archived, whatever Default says. Order is not
	// significant; stores may return them in any order.
	Always, Never []string
}

// Store persists message archives. Implementations (sql/sqlite,
// sql/postgres, and an in-memory one in tests) must be safe for
// concurrent use. Owner strings are normalized bare JIDs.
type Store interface {
	// Append archives msgs atomically (all or nothing, in one
	// transaction: the Service batches concurrent writers into one call).
	// A message whose (Owner, ID) exists, or appears twice in msgs, fails
	// the whole call with an error wrapping ErrDuplicate.
	Append(ctx context.Context, msgs []Message) error
	// Query returns one page of q.Owner's archive. See Query and Page.
	Query(ctx context.Context, q Query) (Page, error)
	// Bounds returns the oldest and newest messages of owner's archive
	// (the same message if it holds one). Their Stanza may be left empty.
	// An empty archive returns ErrNotFound.
	Bounds(ctx context.Context, owner string) (first, last Message, err error)
	// Has reports whether owner's archive holds a message with that id.
	Has(ctx context.Context, owner string, id int64) (bool, error)
	// Prefs returns owner's archiving preferences, ErrNotFound if never
	// set (or reset).
	Prefs(ctx context.Context, owner string) (Prefs, error)
	// SetPrefs replaces owner's preferences. A zero Prefs (Default "")
	// deletes them, so Prefs returns ErrNotFound again (used when an
	// account is deleted).
	SetPrefs(ctx context.Context, owner string, p Prefs) error
	// DeleteBefore deletes at most limit (limit > 0) of the oldest
	// messages whose Stamp is strictly before before, from owner's archive
	// or, if owner is "", from every archive. It returns how many it
	// deleted; retention calls it repeatedly until it returns less than
	// limit, so each call should be one short transaction.
	DeleteBefore(ctx context.Context, before time.Time, owner string, limit int) (int, error)
	// SupportsFullText reports whether Query supports Query.Text.
	SupportsFullText() bool
}

// BatchSizer is implemented by a Store that knows the group commit size
// it writes best: the service uses it when Config.MaxBatch is 0.
type BatchSizer interface {
	// MaxBatch is the most messages one Append should carry (positive).
	MaxBatch() int
}
