package mam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"
)

// scheduleParser parses retention schedules: six fields, seconds first
// ("0 30 3 * * *" is 03:30:00 every day), no descriptors.
func scheduleParser() cron.Parser {
	return cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)
}

// ValidateSchedule reports whether spec is a valid retention schedule: a
// cron expression of six fields, seconds first, as in
// mam.purge_schedule = "0 30 3 * * *".
func ValidateSchedule(spec string) error {
	if _, err := scheduleParser().Parse(spec); err != nil {
		return fmt.Errorf("mam: invalid purge schedule %q (want 6 fields: second minute hour day-of-month month day-of-week): %w", spec, err)
	}
	return nil
}

// StartRetention schedules RunRetention(maxAge) by spec (see
// ValidateSchedule; times are in the local time zone) until stop is
// called. A run still going when the next is due makes that one skip, and
// a panicking run is logged and recovered. stop cancels a running pass
// and waits for it to return, or for ctx to end.
func (s *Service) StartRetention(spec string, maxAge time.Duration) (stop func(ctx context.Context) error, err error) {
	sched, err := scheduleParser().Parse(spec)
	if err != nil {
		return nil, ValidateSchedule(spec)
	}
	if maxAge <= 0 {
		return nil, fmt.Errorf("mam: retention needs a positive maximum age, not %s", maxAge)
	}
	logger := cronLogger{s.log.With("job", "retention")}
	c := cron.New(cron.WithSeconds(), cron.WithLogger(logger),
		cron.WithChain(cron.Recover(logger), cron.SkipIfStillRunning(logger)))
	jobCtx, cancel := context.WithCancel(context.Background())
	c.Schedule(sched, cron.FuncJob(func() {
		_, _ = s.RunRetention(jobCtx, maxAge) // RunRetention logs its outcome
	}))
	c.Start()
	return func(ctx context.Context) error {
		cancel()
		select {
		case <-c.Stop().Done():
			return nil
		case <-ctx.Done():
			return fmt.Errorf("mam: stop retention: %w", ctx.Err())
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
