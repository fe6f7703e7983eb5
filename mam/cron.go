package mam

import (
	"context"
	"fmt"
	"time"

	"dormouse.im/dormouse/internal/cronjob"
)

// ValidateSchedule reports whether spec is a valid retention schedule: a
// cron expression of six fields, seconds first, as in
// mam.purge_schedule = "0 30 3 * * *".
func ValidateSchedule(spec string) error {
	if err := cronjob.Validate(spec); err != nil {
		return fmt.Errorf("mam: purge schedule: %w", err)
	}
	return nil
}

// StartRetention schedules RunRetention(maxAge) by spec (see
// ValidateSchedule; times are in the local time zone) until stop is
// called. A run still going when the next is due makes that one skip, and
// a panicking run is logged and recovered. stop cancels a running pass
// and waits for it to return, or for ctx to end. opts (cronjob.Once) make
// one node of a cluster run each pass.
func (s *Service) StartRetention(spec string, maxAge time.Duration, opts ...cronjob.Option) (stop func(ctx context.Context) error, err error) {
	if err := ValidateSchedule(spec); err != nil {
		return nil, err
	}
	if maxAge <= 0 {
		return nil, fmt.Errorf("mam: retention needs a positive maximum age, not %s", maxAge)
	}
	stopJob, err := cronjob.Start(spec, s.log.With("job", "retention"), func(ctx context.Context) {
		_, _ = s.RunRetention(ctx, maxAge) // RunRetention logs its outcome
	}, opts...)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		if err := stopJob(ctx); err != nil {
			return fmt.Errorf("mam: stop retention: %w", err)
		}
		return nil
	}, nil
}
