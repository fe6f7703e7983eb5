package mam

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// Namespaces and disco#info features.
const (
	// NS is the XEP-0313 namespace (queries, results, fin, metadata) and
	// the XEP-0441 preferences namespace; also a disco feature.
	NS = "urn:xmpp:mam:2"
	// NSExtended is the disco feature for before-id, after-id, ids,
	// flipped pages and archive metadata (XEP-0313 §7).
	NSExtended = "urn:xmpp:mam:2#extended"
	// NSSID is the XEP-0359 namespace of <stanza-id/> and <origin-id/>.
	NSSID = stanza.NSSID
	// NSRSM is XEP-0059 Result Set Management.
	NSRSM = "http://jabber.org/protocol/rsm"
	// NSXDataValidate is XEP-0122 Data Forms Validation.
	NSXDataValidate = "http://jabber.org/protocol/xdata-validate"
	// NSFulltext is the namespace of the Clark-notation full-text search
	// field {urn:xmpp:fulltext:0}fulltext (XEP-0431); also a disco
	// feature, advertised only when the store supports it.
	NSFulltext = "urn:xmpp:fulltext:0"
)

// FulltextField is the query form field for full-text search.
const FulltextField = "{" + NSFulltext + "}fulltext"

// Defaults for Config.
const (
	DefaultMaxPage              = 50
	DefaultMaxConcurrentQueries = 2
	DefaultQueryWait            = 5 * time.Second
	DefaultMaxBatch             = 256
	DefaultBatchLinger          = 2 * time.Millisecond
	// PurgeChunk is how many messages Purge deletes per Store call.
	PurgeChunk = 10000
)

// Config configures the archive. The zero value is usable.
type Config struct {
	// Default is the archiving default of users who never set their
	// preferences (mam.default): PrefAlways (the default when ""),
	// PrefRoster or PrefNever.
	Default string
	// MaxPage is the most results one query returns (mam.max_page); a
	// client's larger RSM <max/> is clamped to it, and a query without
	// <max/> gets it. 0 means DefaultMaxPage.
	MaxPage int
	// MaxConcurrentQueries bounds the archive queries one user runs at a
	// time, over all resources (mam.max_concurrent_queries); 0 means
	// DefaultMaxConcurrentQueries. A query beyond it waits up to QueryWait
	// for a slot, then fails with resource-constraint.
	MaxConcurrentQueries int
	// QueryWait is how long a query waits for a slot; 0 means
	// DefaultQueryWait.
	QueryWait time.Duration
	// Count includes the RSM <count/> (and <first index/>) in every query
	// result. Counting costs a scan of the matching rows on every page,
	// and clients rarely use it (XEP-0313 made it optional), so it is off
	// by default; a query with <max>0</max> is always counted.
	Count bool
	// MaxBatch is the most messages written in one group commit; 0 means
	// the store's size (BatchSizer) or, for a store without one,
	// DefaultMaxBatch. A negative value turns group commit off: every
	// archived message is its own Store.Append.
	MaxBatch int
	// BatchLinger is how long, under load, a group commit waits for more
	// messages before it commits: larger batches cost
	// the store much less per message, and every archived message waits
	// at most this much longer. Without load (no commit in the last
	// BatchLinger) messages commit at once. 0 means DefaultBatchLinger; a
	// negative value never waits.
	BatchLinger time.Duration
	// Roster answers whether a contact is in a user's roster, for users
	// whose default is PrefRoster. Nil means nobody is (only the Always
	// list is archived for them).
	Roster Roster
	// Now is the clock for archive stamps, ids and retention; nil means
	// time.Now.
	Now func() time.Time
	// ClusterNode is 0 for a single node, or this node's number (1-255,
	// distinct in a cluster sharing one archive): the ids it gives out
	// carry it, so that two nodes never give out the same id.
	ClusterNode int
	// Metrics, if set, receives storage and query timings. (Counts:
	// Stats.)
	Metrics Metrics
}

// Metrics receives the service's timings; *metrics.Metrics implements it.
type Metrics interface {
	// StorageDone reports one storage operation ("archive_append", one
	// group commit; "mam_query", one page): its duration and result.
	StorageDone(op string, d time.Duration, err error)
	// MAMQueried reports the time to answer one archive query.
	MAMQueried(d time.Duration)
}

// noMetrics is Metrics when none is configured.
type noMetrics struct{}

func (noMetrics) StorageDone(string, time.Duration, error) {}
func (noMetrics) MAMQueried(time.Duration)                 {}

// Stats counts the service's work since it started, for metrics.
type Stats struct {
	Archived uint64 // messages written to archives (a message between two local users counts twice)
}

// Stats returns the counts.
func (s *Service) Stats() Stats { return Stats{Archived: s.archived.Load()} }

// Roster tells whether contact (compared as a bare JID) is in user's
// roster. The server (package server) adapts the roster store to it.
type Roster interface {
	InRoster(ctx context.Context, user, contact jid.JID) (bool, error)
}

// Service archives messages and answers archive queries. Its methods are
// safe for concurrent use.
type Service struct {
	store Store
	r     *router.Router // concrete: the archive hook runs for every message, and strings passed to an interface method escape to the heap
	cfg   Config
	log   *slog.Logger

	ids     idGen
	batch   *batcher   // group commit; nil when Config.MaxBatch < 0
	queries querySlots // bounds concurrent queries per user
	prefs   prefsCache // archiving preferences of recent users
	failLog rateLimit  // archiving failures logged at most once a second

	archived atomic.Uint64 // Stats
}

// New returns an archive service that keeps messages in store and sends
// query results through r. log may be nil.
func New(cfg Config, store Store, r *router.Router, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("xep", "0313")
	if cfg.Default == "" {
		cfg.Default = PrefAlways
	}
	if cfg.MaxPage <= 0 {
		cfg.MaxPage = DefaultMaxPage
	}
	if cfg.MaxConcurrentQueries <= 0 {
		cfg.MaxConcurrentQueries = DefaultMaxConcurrentQueries
	}
	if cfg.QueryWait <= 0 {
		cfg.QueryWait = DefaultQueryWait
	}
	if cfg.BatchLinger == 0 {
		cfg.BatchLinger = DefaultBatchLinger
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = DefaultMaxBatch
		if bs, ok := store.(BatchSizer); ok && bs.MaxBatch() > 0 {
			cfg.MaxBatch = bs.MaxBatch()
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = noMetrics{}
	}
	if cfg.Default == PrefRoster && cfg.Roster == nil {
		log.Warn("mam default is 'roster' but no roster is wired: only 'always' lists will be archived")
	}
	s := &Service{store: store, r: r, cfg: cfg, log: log, failLog: rateLimit{interval: time.Second}}
	s.ids.now = cfg.Now
	s.ids.node = int64(cfg.ClusterNode & (1<<idNodeBits - 1))
	s.queries.init(cfg.MaxConcurrentQueries)
	s.prefs.init(prefsCacheSize)
	if cfg.MaxBatch > 0 {
		s.batch = &batcher{append: s.append, max: cfg.MaxBatch, linger: max(cfg.BatchLinger, 0)}
	}
	return s
}

// append writes msgs to the store (one transaction) and reports it.
func (s *Service) append(ctx context.Context, msgs []Message) error {
	start := time.Now()
	err := s.store.Append(ctx, msgs)
	s.cfg.Metrics.StorageDone("archive_append", time.Since(start), err)
	if err == nil {
		s.archived.Add(uint64(len(msgs)))
	}
	return err
}

// ValidateDefault reports whether d is a valid archiving default ("" is
// accepted and means PrefAlways), for the validation of the configuration
// (package config).
func ValidateDefault(d string) error {
	switch d {
	case "", PrefAlways, PrefRoster, PrefNever:
		return nil
	}
	return fmt.Errorf("mam: invalid archiving default %q: want %q, %q or %q", d, PrefAlways, PrefRoster, PrefNever)
}

// Register adds the StageArchive hook, the IQ handlers (query, form,
// metadata and preferences, on the account's bare JID) and the disco
// features, on the account and on the server.
func (s *Service) Register(m *router.Mux) {
	m.Use(router.StageArchive, s.ArchiveHook())
	m.HandleIQ(router.ToAccount, NS, "query", s.handleQuery)
	m.HandleIQ(router.ToAccount, NS, "metadata", s.handleMetadata)
	m.HandleIQ(router.ToAccount, NS, "prefs", s.handlePrefs)
	features := s.Features()
	m.AddFeature(router.ToAccount, features...)
	m.AddFeature(router.ToServer, features...)
}

// Features returns the disco#info features the archive advertises:
// NS, NSExtended, NSSID, and NSFulltext when the store supports it.
func (s *Service) Features() []string {
	f := []string{NS, NSExtended, NSSID}
	if s.store.SupportsFullText() {
		f = append(f, NSFulltext)
	}
	return f
}

// Store returns the service's store.
func (s *Service) Store() Store { return s.store }
