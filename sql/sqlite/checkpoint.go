package sqlite

import (
	"context"
	dbsql "database/sql"
	"database/sql/driver"
	"errors"
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
	// ckptBusyTimeout bounds a RESTART checkpoint's wait for the readers
	// of the old WAL (the writer's busy_timeout while it runs): it holds
	// the write lock meanwhile, and a long query would otherwise hold
	// every write back for up to the writer's usual busy_timeout, and fail
	// some. Past it the checkpoint gives up (SQLITE_BUSY) and is tried
	// again at the next wake, at least ckptPause later: while a long query
	// keeps the old WAL, writes wait at most this long in every ckptPause.
	ckptBusyTimeout = 25 * time.Millisecond
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
// RESTART checkpoint on the writer connection, in its turn among the
// writes, copies what came since the last passive one (about ckptPause of
// writes) and syncs, and the next write starts the WAL over.
//
// With synchronous=NORMAL, a checkpoint is also when the WAL is synced to
// the disk: within about ckptPause of an archive write, ckptIdle of any
// other (see Open for what each setting survives).
type checkpointer struct {
	c            *dbsql.DB // one connection, not query-only: the passive checkpoints
	w            *dbsql.DB // the writer: the RESTART checkpoints
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
	k.c, k.w = c, db.w
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
		if frames, err := k.checkpoint(ctx); err == nil && frames >= k.restartPages {
			_ = k.restart(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(ckptPause):
		}
		idle.Reset(ckptIdle)
	}
}

// checkpoint runs a passive checkpoint and returns the WAL's size in
// pages.
func (k *checkpointer) checkpoint(ctx context.Context) (int, error) {
	var busy, frames, copied int
	err := k.c.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
	k.runs.Add(1)
	if err != nil {
		return 0, fmt.Errorf("sqlite: wal_checkpoint(PASSIVE): %w", err)
	}
	return frames, nil
}

// restart runs a RESTART checkpoint on the writer connection: it takes its
// turn among the writes (a checkpoint on another connection would seldom
// find the write lock free under load), copies what the passive ones left
// and waits, at most ckptBusyTimeout, for the readers of the old WAL, so
// that the next write starts the WAL over. The writer's busy_timeout is
// lowered for it and set back after; a connection whose setting cannot be
// set back is dropped from the pool (the next one gets the usual one).
func (k *checkpointer) restart(ctx context.Context) error {
	conn, err := k.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: wal_checkpoint(RESTART): %w", err)
	}
	defer conn.Close()
	k.runs.Add(1)
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", ckptBusyTimeout.Milliseconds())); err != nil {
		return fmt.Errorf("sqlite: wal_checkpoint(RESTART): %w", err)
	}
	var busy, frames, copied int
	err = conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &frames, &copied)
	if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("PRAGMA busy_timeout = %d", busyTimeout.Milliseconds())); rerr != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		err = errors.Join(err, rerr)
	}
	if err != nil {
		return fmt.Errorf("sqlite: wal_checkpoint(RESTART): %w", err)
	}
	return nil
}
