package upload

import (
	"context"
	"errors"
	"log/slog"

	"dormouse.im/dormouse/internal/cronjob"
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
func (s *Service) StartExpiry() (stop func(ctx context.Context) error, err error) {
	return cronjob.Start(ExpirySchedule, s.log.With("job", "upload-expiry"), func(ctx context.Context) {
		if _, err := s.RunExpiry(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Error("upload expiry failed", "err", err)
		}
	})
}
