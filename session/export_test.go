package session

import "time"

// SetWakeLimit sets how many goroutines read woken connections and how
// long their queue may stall (wake.go); call it before the server serves.
func (s *Server) SetWakeLimit(n int, stall time.Duration) { s.wake.limit, s.wake.stall = n, stall }
