package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// ftsIndexDelay is how long the indexer waits, once woken by an Append,
// before it indexes the queue: the messages archived meanwhile are
// indexed in the same statement. It bounds the indexing lag under light
// load; under heavy load the lag is this plus the time to index what
// gathered (a statement of ftsIndexBatch messages takes tens of
// milliseconds).
const ftsIndexDelay = 100 * time.Millisecond

// ftsIndexBatch is the most queued messages one indexing statement takes.
const ftsIndexBatch = 5000

// ftsIndexAll indexes up to $1 queued messages of any archive, skipping
// those another indexer (another node's, or a full-text query's) holds.
// A message deleted meanwhile is dropped from the queue by the join.
const ftsIndexAll = `WITH taken AS (
	DELETE FROM archive_fts_queue WHERE ctid = ANY (ARRAY (
		SELECT ctid FROM archive_fts_queue LIMIT $1 FOR UPDATE SKIP LOCKED))
	RETURNING owner, id)
INSERT INTO archive_fts (owner, id, body_tsv)
	SELECT a.owner, a.id, to_tsvector('simple', a.body) FROM taken JOIN archive a USING (owner, id)
	ON CONFLICT DO NOTHING`

// ftsIndexOwner indexes the queued messages of archive $1. It waits for
// an indexer holding some of them, whose commit then indexes them: after
// it returns, every message of $1 committed before it started is in
// archive_fts.
const ftsIndexOwner = `WITH taken AS (
	DELETE FROM archive_fts_queue WHERE owner = $1 RETURNING owner, id)
INSERT INTO archive_fts (owner, id, body_tsv)
	SELECT a.owner, a.id, to_tsvector('simple', a.body) FROM taken JOIN archive a USING (owner, id)
	ON CONFLICT DO NOTHING`

// ftsIndexer moves the full-text queue (archive_fts_queue, filled by a
// trigger as messages are archived) into the index archive_fts, off the
// commit path of Append. It runs on one goroutine, started by the first
// Append that queues anything and stopped by Close, and indexes the whole
// queue (other nodes' and earlier processes' leftovers included)
// ftsIndexDelay after each wake. A failed statement (the database
// restarting, say) is retried on the next wake; full-text queries do not
// depend on it, as each indexes its own archive's queue first.
type ftsIndexer struct {
	db     *DB
	once   sync.Once
	wake   chan struct{} // buffered (1)
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex // guards stopped
	stop   bool       // Close was called: start no goroutine
}

// queued wakes the indexer (starting it on first use) after an Append.
func (x *ftsIndexer) queued() {
	x.once.Do(func() {
		x.mu.Lock()
		defer x.mu.Unlock()
		if x.stop {
			return
		}
		var ctx context.Context
		ctx, x.cancel = context.WithCancel(context.Background())
		x.wake = make(chan struct{}, 1)
		x.wg.Go(func() { x.run(ctx) })
	})
	if x.wake == nil {
		return
	}
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// close stops the indexer and waits for it; a statement under way is
// cancelled and rolled back (its messages stay queued).
func (x *ftsIndexer) close() {
	x.mu.Lock()
	x.stop = true
	cancel := x.cancel
	x.mu.Unlock()
	if cancel != nil {
		cancel()
		x.wg.Wait()
	}
}

// run is the indexer's loop.
func (x *ftsIndexer) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-x.wake:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(ftsIndexDelay):
		}
		for ctx.Err() == nil {
			n, err := x.db.indexFTS(ctx, "")
			if err != nil || n < ftsIndexBatch {
				break
			}
		}
	}
}

// indexFTS indexes queued messages: up to ftsIndexBatch of any archive if
// owner is "", else all of owner's. It returns how many it indexed.
func (db *DB) indexFTS(ctx context.Context, owner string) (int64, error) {
	var err error
	var n int64
	if owner == "" {
		tag, e := db.pool.Exec(ctx, ftsIndexAll, ftsIndexBatch)
		n, err = tag.RowsAffected(), e
	} else {
		tag, e := db.pool.Exec(ctx, ftsIndexOwner, owner)
		n, err = tag.RowsAffected(), e
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: full-text indexing: %w", err)
	}
	return n, nil
}
