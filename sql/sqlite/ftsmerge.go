package sqlite

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// ftsMergePages is about the most FTS5 pages (of about 4 KB) one
// background merge step of archive_fts writes. FTS5 stops a merge step
// only between two terms, so a step merging a term that is in most
// messages writes that term's whole doclist; the steps are short
// otherwise (about a millisecond on small segments), and an Append waiting
// behind one waits that long.
const ftsMergePages = 32

// ftsMergeEvery is the number of archive writes (commits adding a segment
// to archive_fts) after which the merger looks for merge work again once it
// found none. FTS5's 'merge' with a positive page count merges a level only
// when it holds 'usermerge' (by default 4) segments, and then merges all of
// them. Every 16 writes, one step merges 16 small segments at once: in the
// store benchmarks, merging every 8 (in transactions of their own) cost
// 5-15% more CPU per append than FTS5's automerge inside the commits;
// every 16, about the same. crisismerge is 32 (migration 0004), above it.
const ftsMergeEvery = 16

// ftsMerger merges the segments of the full-text index archive_fts in the
// background. The index is created with automerge off (migration 0004), so
// that an Append commit does no merge work: each adds one small segment,
// and the merger, woken after every ftsMergeEvery of them, runs bounded
// steps of FTS5's incremental 'merge' command, each its own short
// transaction on the writer connection, as long as a step uses its whole
// budget. database/sql hands the writer connection to a waiting Append between two
// steps, so appends and merge steps interleave under load, and the merges
// use the idle time otherwise. FTS5's crisismerge (a level reaching 32
// segments is merged by the write adding the 32nd) bounds the index if the
// merger falls behind or is not running (another process, say).
//
// The steps are not free of stalls: FTS5 ends a merge step only between
// two terms, so merging large segments holding a word found in most
// messages takes as long as that word's whole list (hundreds of
// milliseconds for a million messages). Such steps come rarely, in steady
// state, and in the idle time if there is any; automerge ran them inside
// some Append's commit.
//
// The merger runs on one goroutine started by Open and stopped by Close;
// writes and wake are safe for concurrent use.
type ftsMerger struct {
	writes atomic.Int64  // archive writes since the merger last found no work
	wake   chan struct{} // buffered (1): writes reached ftsMergeEvery

	cancel context.CancelFunc // stops run
	wg     sync.WaitGroup     // run
}

// startFTSMerger starts the merger of db's full-text index; it runs until
// db.merger.stop.
func (db *DB) startFTSMerger(ctx context.Context) {
	ctx, db.merger.cancel = context.WithCancel(context.WithoutCancel(ctx))
	db.merger.wake = make(chan struct{}, 1)
	db.merger.wg.Go(func() { db.runFTSMerger(ctx) })
}

// stop stops the merger and waits for it; a merge step under way is
// interrupted and rolled back.
func (m *ftsMerger) stop() {
	if m.cancel != nil {
		m.cancel()
		m.wg.Wait()
	}
}

// written records n committed archive writes (each adding a segment to
// archive_fts, delete markers for deletions, or nothing when no message of
// theirs is indexed) and wakes the merger every ftsMergeEvery of them.
func (m *ftsMerger) written(n int64) {
	if m.wake == nil {
		return
	}
	if m.writes.Add(n) >= ftsMergeEvery {
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}
}

// runFTSMerger is the merger's loop: on each wake, merge steps until one
// does not use its whole budget. A step failing (the database busy with
// another process's write, say) ends the round too, without a log (no
// Append is the worse for it): the next wake tries again, and crisismerge
// covers the gap.
func (db *DB) runFTSMerger(ctx context.Context) {
	m := &db.merger
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		}
		for ctx.Err() == nil {
			seen := m.writes.Load()
			changes, err := db.mergeFTSStep(ctx)
			if err != nil {
				break
			}
			if changes < ftsMergePages {
				// Nothing to do, or a merge finished well within the
				// budget (a merge writes each page and deletes each
				// input page: two changes a page at least): probably
				// nothing is left. Instead of a step to make sure,
				// look again after ftsMergeEvery writes.
				m.writes.Add(-seen)
				break
			}
		}
	}
}

// mergeFTSStep runs one step of FTS5's incremental merge of archive_fts,
// writing about ftsMergePages pages at most, and returns the number of
// rows it changed in the index's tables (FTS5's documented test of
// whether a step did anything: 2 or more).
func (db *DB) mergeFTSStep(ctx context.Context) (int64, error) {
	c, err := db.w.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("sqlite: archive_fts merge: %w", err)
	}
	defer c.Close()
	var before, after int64
	if err := c.QueryRowContext(ctx, `SELECT total_changes()`).Scan(&before); err != nil {
		return 0, fmt.Errorf("sqlite: archive_fts merge: %w", err)
	}
	if _, err := c.ExecContext(ctx, `INSERT INTO archive_fts (archive_fts, rank) VALUES ('merge', ?)`, ftsMergePages); err != nil {
		return 0, fmt.Errorf("sqlite: archive_fts merge: %w", err)
	}
	if err := c.QueryRowContext(ctx, `SELECT total_changes()`).Scan(&after); err != nil {
		return 0, fmt.Errorf("sqlite: archive_fts merge: %w", err)
	}
	return after - before, nil
}
