package upload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/robfig/cron/v3"
)

// ExpirySchedule is when StartExpiry runs: every hour at minute 17
// (cron, seconds first).
const ExpirySchedule = "0 17 * * * *"

// RunExpiry deletes the files created before now - Config.ExpireAfter and
// returns how many it deleted.
func (s *Service) RunExpiry(ctx context.Context) (int, error) {
	if s.cfg.ExpireAfter <= 0 {
		return 0, nil
	}
	cutoff := s.cfg.Now().Add(-s.cfg.ExpireAfter)
	return s.deleteWhere(ctx, func(m Meta) bool { return m.Created.Before(cutoff) })
}

// DeleteOwner deletes every file of owner (a bare JID): the account is
// being removed.
func (s *Service) DeleteOwner(ctx context.Context, owner string) (int, error) {
	return s.deleteWhere(ctx, func(m Meta) bool { return m.Owner == owner })
}

func (s *Service) deleteWhere(ctx context.Context, match func(Meta) bool) (int, error) {
	var doomed []Meta
	err := s.store.List(ctx, func(m Meta) error {
		if match(m) {
			doomed = append(doomed, m)
		}
		return nil
	})
	n := 0
	for _, m := range doomed {
		if err := s.store.Delete(ctx, m.ID); err != nil {
			return n, err
		}
		s.release(m.Owner, m.Size)
		n++
	}
	if n > 0 {
		s.log.LogAttrs(ctx, slog.LevelInfo, "uploaded files deleted", slog.Int("files", n))
	}
	return n, err
}

// StartExpiry runs RunExpiry by ExpirySchedule until stop is called; stop
// waits for a running pass, or for ctx to end.
func (s *Service) StartExpiry() (stop func(ctx context.Context) error) {
	logger := cronLogger{s.log.With("job", "upload-expiry")}
	c := cron.New(cron.WithSeconds(), cron.WithLogger(logger),
		cron.WithChain(cron.Recover(logger), cron.SkipIfStillRunning(logger)))
	jobCtx, cancel := context.WithCancel(context.Background())
	_, _ = c.AddFunc(ExpirySchedule, func() {
		if _, err := s.RunExpiry(jobCtx); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Error("upload expiry failed", "err", err)
		}
	})
	c.Start()
	return func(ctx context.Context) error {
		cancel()
		select {
		case <-c.Stop().Done():
			return nil
		case <-ctx.Done():
			return fmt.Errorf("upload: stop expiry: %w", ctx.Err())
		}
	}
}

// cronLogger adapts slog to cron.Logger.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug(msg, kv...) }

func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error(msg, append(kv, "err", err)...)
}
