package postgres

import (
	"context"
	"fmt"
	"time"

	"dormouse.im/dormouse/internal/cronjob"
)

// jobLockClass is the first key of the advisory locks of scheduled jobs;
// the second is a hash of the schema and the job's name, so that the
// nodes of one cluster (one schema) share the lock and other schemas of
// the database do not.
const jobLockClass = 0x646d6a62 // "dmjb"

// Jobs lets one node of a cluster run each pass of a scheduled job
// (cronjob.Locker).
type Jobs struct{ db *DB }

var _ cronjob.Locker = Jobs{}

// Jobs returns the scheduled jobs' lock.
func (db *DB) Jobs() Jobs { return Jobs{db: db} }

// TryLock takes, on a connection of its own, the session advisory lock of
// job without waiting, then claims slot in cron_runs (only if it is later
// than the last slot claimed). ok is true when both succeed: the caller
// runs the pass, then calls unlock, which releases the lock and the
// connection. A node that dies while running loses its connection and so
// the lock; the slot it claimed is not run again (the next pass catches
// up: the jobs are idempotent).
func (j Jobs) TryLock(ctx context.Context, job string, slot time.Time) (unlock func(), ok bool, err error) {
	conn, err := j.db.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("postgres: job %s: %w", job, err)
	}
	const key = `hashtext(coalesce(current_schema(), '') || '.' || $2)`
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, `+key+`)`, int32(jobLockClass), job).Scan(&ok); err != nil || !ok {
		conn.Release()
		if err != nil {
			return nil, false, fmt.Errorf("postgres: job %s: lock: %w", job, err)
		}
		return nil, false, nil
	}
	release := func() {
		// Never return a connection that may still hold the lock to the
		// pool: close it if the unlock fails.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1, `+key+`)`, int32(jobLockClass), job); err != nil {
			_ = conn.Conn().Close(uctx)
		}
		conn.Release()
	}
	tag, err := conn.Exec(ctx, `INSERT INTO cron_runs (job, slot) VALUES ($1, $2)
		ON CONFLICT (job) DO UPDATE SET slot = EXCLUDED.slot WHERE cron_runs.slot < EXCLUDED.slot`, job, slot)
	if err != nil || tag.RowsAffected() == 0 {
		release()
		if err != nil {
			return nil, false, fmt.Errorf("postgres: job %s: claim %v: %w", job, slot, err)
		}
		return nil, false, nil
	}
	return release, true, nil
}
