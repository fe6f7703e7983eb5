package appserver

import (
	"sync"
	"time"
)

// BreakerState is a circuit breaker's state.
type BreakerState int

// Breaker states (the metric's values).
const (
	BreakerClosed   BreakerState = 0 // requests flow
	BreakerOpen     BreakerState = 1 // requests fail fast until the cool-down ends
	BreakerHalfOpen BreakerState = 2 // one trial request is let through
)

// breaker is a per-app circuit breaker: after threshold consecutive
// temporary failures (5xx, 429, timeouts) it opens for cooldown, then lets
// one trial through; a success closes it, a failure opens it again.
type breaker struct {
	threshold int
	cooldown  time.Duration
	onChange  func(BreakerState)

	mu       sync.Mutex
	state    BreakerState
	failures int
	until    time.Time // end of the open period
	trial    bool      // a half-open trial is in flight
}

// allow reports whether a request may go out now.
func (b *breaker) allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerOpen:
		if now.Before(b.until) {
			return false
		}
		b.set(BreakerHalfOpen)
		b.trial = true
		return true
	case BreakerHalfOpen:
		if b.trial {
			return false
		}
		b.trial = true
		return true
	}
	return true
}

// done records a request's result: failed means a temporary failure.
func (b *breaker) done(now time.Time, failed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.trial = false
	if !failed {
		b.failures = 0
		b.set(BreakerClosed)
		return
	}
	b.failures++
	if b.state == BreakerHalfOpen || b.failures >= b.threshold {
		b.until = now.Add(b.cooldown)
		b.set(BreakerOpen)
	}
}

func (b *breaker) set(s BreakerState) {
	if b.state != s {
		b.state = s
		if b.onChange != nil {
			b.onChange(s)
		}
	}
}
