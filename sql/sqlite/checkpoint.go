package sqlite

import (
	"context"
	dbsql "database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// ckptRestartPages is the size of the WAL (4 KiB pages) past which the
	// checkpointer, after a passive checkpoint, runs a RESTART checkpoint
	// so that the next write starts the WAL over: 32 MiB.
	ckptRestartPages = 8192
	// ckptPause is the least time between two checkpoints while writes
	// come: the pages written in between are copied together.
	ckptPause = 100 * time.Millisecond
	// ckptIdle is the longest a write waits for its checkpoint when no
	// archive write wakes the checkpointer (the other stores' writes).
	ckptIdle = 5 * time.Second
)

// checkpointer copies the WAL into the database file (a checkpoint) on a
// connection of its own, so that no write waits for it. The writer has
// wal_autocheckpoint off: left on, SQLite checkpoints inside the commit
// that takes the WAL past its limit, and every write queued behind that
// commit waits the whole copy and its syncs (tens to hundreds of
// milliseconds every 32 MiB of WAL, the bulk of the archive's p99 latency
// under load).
//
// Woken by archive writes (and every ckptIdle otherwise), it runs a
// PASSIVE checkpoint, which copies the WAL's pages beside the writer
// without its lock, then pauses ckptPause. A passive checkpoint never
// catches up with a writer that keeps writing, and the WAL starts over only
// once it has been copied whole: once it holds ckptRestartPages pages, a
// RESTART checkpoint takes the write lock for the copy of what came since
// the last passive one (about ckptPause of writes) and its syncs, and the
// next write starts the WAL over.
//
// With synchronous=NORMAL, a checkpoint is also when the WAL is synced to
// the disk: within about ckptPause of an archive write, ckptIdle of any
// other (see Open for what each setting survives).
type checkpointer struct {
	c            *dbsql.DB // one connection, not query-only
	wake         chan struct{}
	restartPages int
	runs         atomic.Int64 // checkpoints run (passive and restart)

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startCheckpointer starts db's checkpointer on c, its own connection; it
// runs until db.ckpt.stop, which closes c.
func (db *DB) startCheckpointer(ctx context.Context, c *dbsql.DB) {
	k := &db.ckpt
	k.c = c
	k.wake = make(chan struct{}, 1)
	if k.restartPages == 0 {
		k.restartPages = ckptRestartPages
	}
	ctx, k.cancel = context.WithCancel(context.WithoutCancel(ctx))
	k.wg.Go(func() { k.run(ctx) })
}

// written wakes the checkpointer after a write.
func (k *checkpointer) written() {
	if k.wake == nil {
		return
	}
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// stop stops the checkpointer, waits for it and closes its connection.
func (k *checkpointer) stop() error {
	if k.cancel == nil {
		return nil
	}
	k.cancel()
	k.wg.Wait()
	return k.c.Close()
}

func (k *checkpointer) run(ctx context.Context) {
	idle := time.NewTimer(ckptIdle)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-k.wake:
		case <-idle.C:
		}
		// A failure (the database locked by another process for longer
		// than busy_timeout, say) is retried at the next wake; the
		// writes do not depend on it.
		if frames, err := k.checkpoint(ctx, "PASSIVE"); err == nil && frames >= k.restartPages {
			_, _ = k.checkpoint(ctx, "RESTART")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(ckptPause):
		}
		idle.Reset(ckptIdle)
	}
}

// checkpoint runs one checkpoint of the given mode and returns the WAL's
// size in pages.
func (k *checkpointer) checkpoint(ctx context.Context, mode string) (int, error) {
	var busy, frames, copied int
	err := k.c.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &copied)
	k.runs.Add(1)
	if err != nil {
		return 0, fmt.Errorf("sqlite: wal_checkpoint(%s): %w", mode, err)
	}
	return frames, nil
}
