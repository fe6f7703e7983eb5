package appserver

import (
	"context"
	"fmt"
	"time"

	"dormouse.im/dormouse/internal/cronjob"
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
// overlapping run is skipped and a panic recovered. opts (cronjob.Once)
// make one node of a cluster run each pass.
func (s *Service) StartForget(spec string, maxAge time.Duration, opts ...cronjob.Option) (stop func(ctx context.Context) error, err error) {
	if maxAge <= 0 {
		return nil, fmt.Errorf("appserver: forget needs a positive age, not %s", maxAge)
	}
	stop, err = cronjob.Start(spec, s.log.With("job", "forget"), func(ctx context.Context) { _, _ = s.Forget(ctx, maxAge) }, opts...)
	if err != nil {
		return nil, fmt.Errorf("appserver: %w", err)
	}
	return stop, nil
}
