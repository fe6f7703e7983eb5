//go:build !unix

package session

// pending reports whether the socket fd has something to read. Without a
// peek, it says no: the waiter relies on the runtime poller's next
// readiness event.
func pending(uintptr) bool { return false }
