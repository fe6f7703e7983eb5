package mam

import (
	"context"
	"fmt"
	"time"

	"mellium.im/xmpp/jid"
)

// Purge deletes the messages archived before before, from owner's archive
// (a bare JID string) or from every archive if owner is "", in chunks of
// PurgeChunk messages (one short transaction each, so writers are not held
// up), and returns how many it deleted. It stops early, with ctx's error,
// if ctx ends. XEP-0313 §3.2: only the oldest messages go, so the archive
// has no holes.
func (s *Service) Purge(ctx context.Context, before time.Time, owner string) (int, error) {
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := s.store.DeleteBefore(ctx, before, owner, PurgeChunk)
		total += n
		if err != nil {
			return total, fmt.Errorf("mam: purge before %s: %w", FormatStamp(before), err)
		}
		if n < PurgeChunk {
			return total, nil
		}
	}
}

// endOfTime is after every archive stamp.
func endOfTime() time.Time { return time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC) }

// DeleteArchive deletes user's whole archive and preferences, for account
// deletion.
func (s *Service) DeleteArchive(ctx context.Context, user jid.JID) error {
	owner := user.Bare().String()
	if _, err := s.Purge(ctx, endOfTime(), owner); err != nil {
		return err
	}
	if err := s.store.SetPrefs(ctx, owner, Prefs{}); err != nil {
		return fmt.Errorf("mam: delete preferences of %s: %w", owner, err)
	}
	s.prefs.drop(owner)
	return nil
}

// RunRetention runs one retention pass: it purges the messages older than
// maxAge by the service's clock from every archive. It is the job that
// StartRetention schedules; tests call it directly with a fake clock.
func (s *Service) RunRetention(ctx context.Context, maxAge time.Duration) (int, error) {
	if maxAge <= 0 {
		return 0, fmt.Errorf("mam: retention needs a positive maximum age, not %s", maxAge)
	}
	before := s.cfg.Now().Add(-maxAge)
	start := time.Now()
	n, err := s.Purge(ctx, before, "")
	if err != nil {
		s.log.Error("archive retention failed", "before", FormatStamp(before), "deleted", n, "err", err)
		return n, err
	}
	s.log.Info("archive retention done", "before", FormatStamp(before), "deleted", n,
		"took", time.Since(start).Round(time.Millisecond))
	return n, nil
}
