package appserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"
)

// Forget deletes the registrations unused (no registration, no publish)
// for maxAge, by the service's clock, and returns how many.
func (s *Service) Forget(ctx context.Context, maxAge time.Duration) (int64, error) {
	n, err := s.store.ForgetUnused(ctx, s.clock.Now().Add(-maxAge))
	if err != nil {
		s.log.Error("forget unused registrations", "err", err)
		return 0, fmt.Errorf("appserver: forget: %w", err)
	}
	if n > 0 {
		s.log.Info("forgot unused registrations", "count", n, "unused_for", maxAge)
	}
	return n, nil
}

// StartForget runs Forget(maxAge) on the cron schedule spec (six fields,
// seconds first, as mam.purge_schedule) until stop is called. An
// overlapping run is skipped and a panic recovered.
func (s *Service) StartForget(spec string, maxAge time.Duration) (stop func(ctx context.Context) error, err error) {
	if maxAge <= 0 {
		return nil, fmt.Errorf("appserver: forget needs a positive age, not %s", maxAge)
	}
	sched, err := cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow).Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("appserver: schedule %q: %w", spec, err)
	}
	logger := cronLogger{s.log.With("job", "forget")}
	c := cron.New(cron.WithLogger(logger), cron.WithChain(cron.Recover(logger), cron.SkipIfStillRunning(logger)))
	jobCtx, cancel := context.WithCancel(context.Background())
	c.Schedule(sched, cron.FuncJob(func() { _, _ = s.Forget(jobCtx, maxAge) }))
	c.Start()
	return func(ctx context.Context) error {
		cancel()
		select {
		case <-c.Stop().Done():
			return nil
		case <-ctx.Done():
			return fmt.Errorf("appserver: stop forget job: %w", ctx.Err())
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
