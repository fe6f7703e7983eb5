// Package cronjob runs the server's maintenance jobs (archive retention,
// forgetting unused push registrations) on cron schedules with
// github.com/robfig/cron/v3: six fields, seconds first ("0 30 3 * * *" is
// 03:30:00 every day, local time), no descriptors. A run still going when
// the next is due makes that one skip; a panicking run is logged and
// recovered.
package cronjob

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

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

// Start runs job by spec until stop is called. The job's context is
// cancelled by stop, which then waits for a running job to return, or for
// its own ctx to end.
func Start(spec string, log *slog.Logger, job func(ctx context.Context)) (stop func(ctx context.Context) error, err error) {
	sched, err := parser().Parse(spec)
	if err != nil {
		return nil, Validate(spec)
	}
	logger := cronLogger{log}
	c := cron.New(cron.WithSeconds(), cron.WithLogger(logger),
		cron.WithChain(cron.Recover(logger), cron.SkipIfStillRunning(logger)))
	jobCtx, cancel := context.WithCancel(context.Background())
	c.Schedule(sched, cron.FuncJob(func() { job(jobCtx) }))
	c.Start()
	return func(ctx context.Context) error {
		cancel()
		select {
		case <-c.Stop().Done():
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}, nil
}

// cronLogger adapts slog to cron.Logger.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug(msg, kv...) }

func (l cronLogger) Error(err error, msg string, kv ...any) {
	if errors.Is(err, context.Canceled) {
		return
	}
	l.log.Error(msg, append(kv, "err", err)...)
}
