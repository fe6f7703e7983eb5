// Package cronjob runs the server's maintenance jobs (archive retention,
// forgetting unused push registrations, upload expiry) on cron schedules
// parsed by github.com/robfig/cron/v3: six fields, seconds first
// ("0 30 3 * * *" is 03:30:00 every day, local time), no descriptors. A
// run still going when the next is due makes that one skip; a panicking
// run is logged and recovered.
//
// # One node of a cluster
//
// With the option Once, each pass (a job's name and its scheduled time,
// the slot) runs on one node only: before running, the node asks a
// Locker, which storage implements (PostgreSQL: an advisory lock held
// during the run and a record of the last slot run; see
// dormouse.im/dormouse/sql/postgres.Jobs). A node that is refused skips
// the pass. Without Once (a single node, SQLite) every pass runs. This
// package knows nothing of storage: the Locker is an interface.
package cronjob

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"
)

func parser() cron.Parser {
	return cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)
}

// Validate reports whether spec is a valid schedule.
func Validate(spec string) error {
	if _, err := parser().Parse(spec); err != nil {
		return fmt.Errorf("invalid schedule %q (want 6 fields: second minute hour day-of-month month day-of-week): %w", spec, err)
	}
	return nil
}

// Locker decides which node of a cluster runs a pass of a job.
type Locker interface {
	// TryLock makes this node the runner of the pass of job scheduled at
	// slot, if no node is running job and no node has run this slot (or
	// a later one). ok false: skip the pass. unlock (when ok) ends the
	// run and must be called once.
	TryLock(ctx context.Context, job string, slot time.Time) (unlock func(), ok bool, err error)
}

// Option modifies Start.
type Option func(*options)

type options struct {
	locker Locker
	name   string
}

// Once runs each pass on one node of a cluster only: the one that l lets
// run job name's pass (see Locker). A nil l changes nothing.
func Once(l Locker, name string) Option {
	return func(o *options) { o.locker, o.name = l, name }
}

// Start runs job by spec until stop is called. The job's context is
// cancelled by stop, which then waits for a running job to return, or for
// its own ctx to end.
func Start(spec string, log *slog.Logger, job func(ctx context.Context), opts ...Option) (stop func(ctx context.Context) error, err error) {
	sched, err := parser().Parse(spec)
	if err != nil {
		return nil, Validate(spec)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	jobCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		var last time.Time
		for {
			// Passes missed while a run went on are skipped; a wall clock
			// set back does not run a slot twice.
			slot := sched.Next(later(time.Now(), last))
			t := time.NewTimer(time.Until(slot))
			select {
			case <-jobCtx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			o.run(jobCtx, log, slot, job)
			last = slot
		}
	}()
	return func(ctx context.Context) error {
		cancel()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// run runs one pass scheduled at slot, if the Locker (if any) lets it.
func (o *options) run(ctx context.Context, log *slog.Logger, slot time.Time, job func(ctx context.Context)) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("scheduled job panicked", "panic", r, "slot", slot)
		}
	}()
	if o.locker != nil {
		unlock, ok, err := o.locker.TryLock(ctx, o.name, slot)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				log.Error("scheduled job skipped: cannot take its cluster lock", "slot", slot, "err", err)
			}
			return
		case !ok:
			log.Debug("scheduled job run by another node", "slot", slot)
			return
		}
		defer unlock()
	}
	job(ctx)
}
