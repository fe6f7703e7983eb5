package pep

import "time"

// Quiesce waits until no background work (caps lookups, last items) runs,
// for at most d; it reports whether it got there.
func (s *Service) Quiesce(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for s.busy.Load() != 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}
