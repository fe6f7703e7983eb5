// Package cronjob runs a maintenance job on a cron schedule (robfig/cron,
// six fields, seconds first) for features such as MAM retention and upload
// expiry: a run still going when the next is due makes that one skip, a
// panicking run is logged and recovered, and stopping cancels a running
// pass and waits for it.
package cronjob

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/robfig/cron/v3"
)

// Parser parses schedules: six fields, seconds first.
func Parser() cron.Parser {
	return cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)
}

// Start runs job by spec (local time) until stop is called. job's context
// is cancelled by stop, which then waits for a running pass to return, or
// for its own ctx to end.
func Start(spec string, log *slog.Logger, job func(ctx context.Context)) (stop func(ctx context.Context) error, err error) {
	sched, err := Parser().Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("cronjob: schedule %q: %w", spec, err)
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
			return fmt.Errorf("cronjob: stop: %w", ctx.Err())
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
