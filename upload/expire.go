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
	return s.deleteWhere(ctx, OwnedBy(owner))
}

func (s *Service) deleteWhere(ctx context.Context, match func(Meta) bool) (int, error) {
	n, err := DeleteWhere(ctx, s.store, match, func(m Meta) { s.release(m.Owner, m.Size) })
	if n > 0 {
		s.log.LogAttrs(ctx, slog.LevelInfo, "uploaded files deleted", slog.Int("files", n))
	}
	return n, err
}

// DeleteWhere deletes the files of store that match, calling deleted (if
// not nil) after each, and returns how many it deleted. Without a running
// Service (dormouse user del) it is how an account's files go:
// DeleteWhere(ctx, DiskStore{Dir: dir}, OwnedBy(account), nil).
func DeleteWhere(ctx context.Context, store Store, match func(Meta) bool, deleted func(Meta)) (int, error) {
	var doomed []Meta
	err := store.List(ctx, func(m Meta) error {
		if match(m) {
			doomed = append(doomed, m)
		}
		return nil
	})
	n := 0
	for _, m := range doomed {
		if err := store.Delete(ctx, m.ID); err != nil {
			return n, err
		}
		if deleted != nil {
			deleted(m)
		}
		n++
	}
	return n, err
}

// OwnedBy matches the files of owner (a bare JID).
func OwnedBy(owner string) func(Meta) bool {
	return func(m Meta) bool { return m.Owner == owner }
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
