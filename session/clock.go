package session

import "time"

// Clock is the time source of the session timers: the hibernation timeout
// and the delayed XEP-0198 ack request. Production uses the system clock;
// tests inject a fake one and advance it, so no test waits for a timer.
//
// AfterFunc calls f once, in its own goroutine (or, for a fake clock, in the
// goroutine that advances the time), after d has elapsed; stop cancels the
// call and reports whether it did (false if f already ran or is running).
// A pending timer holds no goroutine.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// systemClock is the real time.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}
